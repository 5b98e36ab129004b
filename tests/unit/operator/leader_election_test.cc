#include "runtime/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "fakes/kube_fixture.h"

namespace schedkit::op {
namespace {

using namespace std::chrono_literals;
using Json = nlohmann::json;

const std::string kLeases = "/apis/coordination.k8s.io/v1/namespaces/schedkit-system/leases";
const std::string kLease = kLeases + "/schedkit-operator";
const std::string kT0 = "2026-12-03T10:00:00.123456Z";  // some other host's wall clock

Json lease(const std::string& holder, const std::string& rv, const std::string& renewTime = kT0,
           std::int64_t transitions = 3, std::int64_t durationSeconds = 15,
           const std::string& acquireTime = kT0) {
  return {{"apiVersion", "coordination.k8s.io/v1"},
          {"kind", "Lease"},
          {"metadata",
           {{"name", "schedkit-operator"},
            {"namespace", "schedkit-system"},
            {"resourceVersion", rv},
            {"labels", {{"app", "schedkit-operator"}}}}},
          {"spec",
           {{"holderIdentity", holder},
            {"leaseDurationSeconds", durationSeconds},
            {"acquireTime", acquireTime},
            {"renewTime", renewTime},
            {"leaseTransitions", transitions}}}};
}

// What op-a POSTs when there is no lease yet; with rv, what the server then stores.
Json createdLease(const std::string& now, const std::string& rv = "") {
  Json j = {{"apiVersion", "coordination.k8s.io/v1"},
            {"kind", "Lease"},
            {"metadata", {{"name", "schedkit-operator"}, {"namespace", "schedkit-system"}}},
            {"spec",
             {{"holderIdentity", "op-a"},
              {"leaseDurationSeconds", 15},
              {"acquireTime", now},
              {"renewTime", now},
              {"leaseTransitions", 0}}}};
  if (!rv.empty()) j["metadata"]["resourceVersion"] = rv;
  return j;
}

// l at version rv, renewed at renewTime: a renewal as sent (rv: the one it is based on).
Json renewedAt(Json l, const std::string& rv, const std::string& renewTime) {
  l["metadata"]["resourceVersion"] = rv;
  l["spec"]["renewTime"] = renewTime;
  return l;
}

// l released at now: no holder, a one-second lease, the term count kept.
Json releasedAt(Json l, const std::string& now) {
  l["spec"]["holderIdentity"] = "";
  l["spec"]["leaseDurationSeconds"] = 1;
  l["spec"]["acquireTime"] = now;
  l["spec"]["renewTime"] = now;
  return l;
}

Json atVersion(Json l, const std::string& rv) {
  l["metadata"]["resourceVersion"] = rv;
  return l;
}

LeaderElectionConfig config(const std::string& identity = "op-a") {
  LeaderElectionConfig c;
  c.ns = "schedkit-system";
  c.identity = identity;
  c.releaseOnStop = false;  // tests that release say so; the destructor then writes nothing
  return c;
}

kube::ClientOptions noRetries() {
  kube::ClientOptions o = KubeFakes::unlimited();
  o.maxRetries = 0;  // one scripted response per request; retries are the client's own tests
  return o;
}

// Records the callbacks in order: "started", "stopped", "leader=<id>".
struct Recorder {
  std::vector<std::string> events;
  LeaderElector::Callbacks callbacks() {
    return {.onStartedLeading = [this] { events.emplace_back("started"); },
            .onStoppedLeading = [this] { events.emplace_back("stopped"); },
            .onNewLeader = [this](const std::string& h) { events.push_back("leader=" + h); }};
  }
};

class LeaderElectionTest : public ::testing::Test {
 protected:
  KubeFakes f{noRetries()};
  ScriptedTransport& t = *f.transport;
  Recorder rec;

  std::unique_ptr<LeaderElector> make(LeaderElectionConfig c = config()) {
    return std::make_unique<LeaderElector>(*f.client, f.clock, f.log, std::move(c),
                                           rec.callbacks());
  }
  std::string wallNow() const { return formatRfc3339Micro(f.clock.wallNow()); }
  // The body of the last request.
  Json lastBody() const { return Json::parse(t.requests().back().body); }
  bool logged(const std::string& what) const {
    for (const auto& l : *f.lines) {
      if (l.find(what) != std::string::npos) return true;
    }
    return false;
  }

  // Becomes leader by creating the lease, which the server stores as version "10"; returns it.
  Json acquireByCreate(LeaderElector& e) {
    const std::string now = wallNow();
    t.expect("GET", kLease).replyStatus(404, "NotFound");
    t.expect("POST", kLeases)
        .withJsonBody(createdLease(now))
        .replyJson(201, createdLease(now, "10"));
    EXPECT_TRUE(e.tryAcquireOrRenew());
    return createdLease(now, "10");
  }

  void TearDown() override { t.expectDone(); }
};

// ---- One attempt from a given state, as a table. ----

struct AttemptCase {
  std::string name{};
  std::optional<Json> read{};    // the lease the GET returns; nullopt: none (404)
  int readStatus = 200;          // a failure instead
  Duration observedFor{};        // the same lease was read this long ago already (0: not)
  int writeStatus = 0;           // the answer to the create/update; 0: no write expected
  bool leader = false;           // after the attempt
  std::string holderSeen{};      // leader() after the attempt
  std::int64_t transitions = 0;  // written leaseTransitions
  bool keepsAcquireTime = false;
  std::uint64_t conflicts = 0, failures = 0;
};

class AttemptTest : public LeaderElectionTest, public ::testing::WithParamInterface<AttemptCase> {};

TEST_P(AttemptTest, DecidesAsClientGoDoes) {
  const AttemptCase& c = GetParam();
  auto e = make();
  if (c.observedFor > Duration::zero()) {
    t.expect("GET", kLease).replyJson(200, *c.read);
    EXPECT_FALSE(e->tryAcquireOrRenew());
    f.clock.advance(c.observedFor);
  }
  const std::string now = wallNow();  // the attempt takes no simulated time
  if (c.readStatus != 200) {
    t.expect("GET", kLease).replyStatus(c.readStatus, "InternalError", "etcd is down");
  } else if (!c.read) {
    t.expect("GET", kLease).replyStatus(404, "NotFound", "leases \"schedkit-operator\" not found");
    auto& post = t.expect("POST", kLeases).withJsonBody(createdLease(now));
    if (c.writeStatus == 201) {
      post.replyJson(201, createdLease(now, "1"));
    } else {
      post.replyStatus(409, "AlreadyExists", "leases \"schedkit-operator\" already exists");
    }
  } else {
    t.expect("GET", kLease).replyJson(200, *c.read);
    if (c.writeStatus != 0) {
      // Conditional on the version read; the rest of the object (labels) kept as read.
      const std::string rv = (*c.read)["metadata"]["resourceVersion"];
      Json body = lease("op-a", rv, now, c.transitions, 15, c.keepsAcquireTime ? kT0 : now);
      auto& put = t.expect("PUT", kLease).withJsonBody(body);
      if (c.writeStatus == 200) {
        put.replyJson(200, atVersion(body, "99"));
      } else {
        put.replyStatus(409, "Conflict", "the object has been modified");
      }
    }
  }
  EXPECT_EQ(e->tryAcquireOrRenew(), c.leader);
  EXPECT_EQ(e->isLeader(), c.leader);
  EXPECT_EQ(e->leader(), c.holderSeen);
  EXPECT_EQ(!rec.events.empty() && rec.events.back() == "started", c.leader);
  auto st = e->stats();
  EXPECT_EQ(st.conflicts, c.conflicts);
  EXPECT_EQ(st.failures, c.failures);
  EXPECT_EQ(st.acquisitions, c.leader ? 1u : 0u);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AttemptTest,
    ::testing::Values(
        AttemptCase{
            .name = "AbsentIsCreated", .writeStatus = 201, .leader = true, .holderSeen = "op-a"},
        AttemptCase{.name = "AbsentButAnotherCreatedItFirst", .writeStatus = 409, .conflicts = 1},
        AttemptCase{
            .name = "HeldByAnotherFirstSeen", .read = lease("op-b", "5"), .holderSeen = "op-b"},
        AttemptCase{.name = "HeldByAnotherUnchangedJustUnderLeaseDuration",
                    .read = lease("op-b", "5"),
                    .observedFor = 15s - 1us,
                    .holderSeen = "op-b"},
        AttemptCase{.name = "HeldByAnotherUnchangedForLeaseDurationIsTakenOver",
                    .read = lease("op-b", "5"),
                    .observedFor = 15s,
                    .writeStatus = 200,
                    .leader = true,
                    .holderSeen = "op-a",
                    .transitions = 4},
        // The lease's own leaseDurationSeconds counts, not ours.
        AttemptCase{.name = "ShorterLeaseOfAnotherExpiresByItsOwnDuration",
                    .read = lease("op-b", "5", kT0, 3, 5),
                    .observedFor = 5s,
                    .writeStatus = 200,
                    .leader = true,
                    .holderSeen = "op-a",
                    .transitions = 4},
        AttemptCase{.name = "ReleasedIsTakenAtOnce",
                    .read = lease("", "5", kT0, 3, 1),
                    .writeStatus = 200,
                    .leader = true,
                    .holderSeen = "op-a",
                    .transitions = 4},
        AttemptCase{.name = "ConflictOnUpdateMeansAnotherWon",
                    .read = lease("", "5", kT0, 3, 1),
                    .writeStatus = 409,
                    .transitions = 4,
                    .conflicts = 1},
        // Ours already (a restart under the same identity): renewed, not a new term.
        AttemptCase{.name = "OursAlreadyIsRenewedKeepingAcquireTimeAndTransitions",
                    .read = lease("op-a", "5"),
                    .writeStatus = 200,
                    .leader = true,
                    .holderSeen = "op-a",
                    .transitions = 3,
                    .keepsAcquireTime = true},
        // Remote wall clocks do not matter: a renewTime decades old is no reason to take over
        // a lease we have just seen, and one far in the future does not keep it alive.
        AttemptCase{.name = "RemoteClockFarInThePastIsNoReasonToTakeOver",
                    .read = lease("op-b", "5", "1971-01-01T00:00:00.000000Z"),
                    .holderSeen = "op-b"},
        AttemptCase{.name = "RemoteClockFarInTheFutureDoesNotKeepItAlive",
                    .read = lease("op-b", "5", "2199-12-31T23:59:59.999999Z"),
                    .observedFor = 15s,
                    .writeStatus = 200,
                    .leader = true,
                    .holderSeen = "op-a",
                    .transitions = 4},
        AttemptCase{.name = "ReadFailureIsCounted", .readStatus = 500, .failures = 1}),
    [](const auto& p) { return p.param.name; });

// ---- Sequences. ----

TEST_F(LeaderElectionTest, ARenewedLeaseKeepsTheFollowerWaiting) {
  auto e = make();
  t.expect("GET", kLease).replyJson(200, lease("op-b", "5", kT0));
  EXPECT_FALSE(e->tryAcquireOrRenew());
  // op-b renews every 10s; 30s pass on our clock, yet it never went 15s unchanged.
  for (int i = 0; i < 3; ++i) {
    f.clock.advance(10s);
    t.expect("GET", kLease)
        .replyJson(200, lease("op-b", std::to_string(6 + i),
                              "2026-12-03T10:00:1" + std::to_string(i) + ".000000Z"));
    EXPECT_FALSE(e->tryAcquireOrRenew());
  }
  EXPECT_EQ(e->leader(), "op-b");
  // One new leader reported, not one per read.
  EXPECT_EQ(rec.events, std::vector<std::string>{"leader=op-b"});
  EXPECT_EQ(e->stats().transitions, 1u);
  EXPECT_EQ(e->stats().attempts, 4u);
  EXPECT_TRUE(logged("new leader observed"));
  EXPECT_TRUE(logged("leader=op-b"));
}

TEST_F(LeaderElectionTest, AChangeOutsideTheRecordDoesNotRestartTheExpiry) {
  auto e = make();
  t.expect("GET", kLease).replyJson(200, lease("op-b", "5"));
  EXPECT_FALSE(e->tryAcquireOrRenew());
  f.clock.advance(10s);
  Json relabelled = lease("op-b", "6");  // someone edited a label; op-b did not renew
  relabelled["metadata"]["labels"]["x"] = "y";
  t.expect("GET", kLease).replyJson(200, relabelled);
  EXPECT_FALSE(e->tryAcquireOrRenew());
  f.clock.advance(5s);  // 15s since the record last changed
  const std::string now = wallNow();
  Json body = relabelled;
  body["spec"] = {{"holderIdentity", "op-a"},
                  {"leaseDurationSeconds", 15},
                  {"acquireTime", now},
                  {"renewTime", now},
                  {"leaseTransitions", 4}};
  t.expect("GET", kLease).replyJson(200, relabelled);
  t.expect("PUT", kLease).withJsonBody(body).replyJson(200, atVersion(body, "7"));
  EXPECT_TRUE(e->tryAcquireOrRenew());
  EXPECT_TRUE(logged("taking over the lease"));
  EXPECT_TRUE(logged("previousHolder=op-b"));
}

TEST_F(LeaderElectionTest, RenewKeepsAcquireTimeAndTransitionsAndSkipsTheRead) {
  auto e = make();
  const std::string acquired = wallNow();
  Json mine = lease("op-a", "5", acquired, 8, 15, acquired);
  t.expect("GET", kLease).replyJson(200, lease("", "5", kT0, 7, 1));
  t.expect("PUT", kLease).withJsonBody(mine).replyJson(200, atVersion(mine, "6"));
  ASSERT_TRUE(e->tryAcquireOrRenew());

  for (int i = 0; i < 3; ++i) {
    f.clock.advance(2s);
    // The holder writes over its own last version without reading (client-go's fast path).
    Json sent = renewedAt(mine, std::to_string(6 + i), wallNow());
    t.expect("PUT", kLease)
        .withJsonBody(sent)
        .replyJson(200, atVersion(sent, std::to_string(7 + i)));
    ASSERT_TRUE(e->tryAcquireOrRenew());
    EXPECT_EQ(lastBody()["spec"]["acquireTime"], acquired);
    EXPECT_EQ(lastBody()["spec"]["leaseTransitions"], 8);
  }
  EXPECT_TRUE(e->isLeader());
  auto st = e->stats();
  EXPECT_EQ(st.acquisitions, 1u);
  EXPECT_EQ(st.renewals, 3u);
  EXPECT_EQ(st.attempts, 4u);
  EXPECT_EQ(rec.events, (std::vector<std::string>{"leader=op-a", "started"}));
  EXPECT_TRUE(logged("acquired the lease"));
  EXPECT_TRUE(logged("identity=op-a"));
  EXPECT_TRUE(logged("lease=schedkit-system/schedkit-operator"));
}

TEST_F(LeaderElectionTest, ARenewConflictReadsTheLeaseAndYieldsToTheNewHolder) {
  auto e = make();
  acquireByCreate(*e);
  f.clock.advance(2s);
  t.expect("PUT", kLease).replyStatus(409, "Conflict", "the object has been modified");
  t.expect("GET", kLease).replyJson(200, lease("op-b", "12"));
  EXPECT_FALSE(e->tryAcquireOrRenew());
  EXPECT_FALSE(e->isLeader());
  EXPECT_EQ(e->leader(), "op-b");
  EXPECT_EQ(rec.events,
            (std::vector<std::string>{"leader=op-a", "started", "stopped", "leader=op-b"}));
  EXPECT_EQ(e->stats().conflicts, 1u);
  EXPECT_EQ(e->stats().transitions, 2u);
  EXPECT_TRUE(logged("lost the lease"));
}

TEST_F(LeaderElectionTest, ARenewConflictFromAnEditStillRenews) {
  auto e = make();
  Json mine = acquireByCreate(*e);
  f.clock.advance(2s);
  const std::string now = wallNow();
  t.expect("PUT", kLease)
      .withJsonBody(renewedAt(mine, "10", now))
      .replyStatus(409, "Conflict", "the object has been modified");
  Json edited = atVersion(mine, "11");
  edited["metadata"]["annotations"] = {{"note", "hi"}};
  t.expect("GET", kLease).replyJson(200, edited);
  Json sent = renewedAt(edited, "11", now);
  t.expect("PUT", kLease).withJsonBody(sent).replyJson(200, atVersion(sent, "12"));
  EXPECT_TRUE(e->tryAcquireOrRenew());
  EXPECT_EQ(e->stats().renewals, 1u);
  EXPECT_EQ(e->stats().conflicts, 1u);
  EXPECT_EQ(rec.events, (std::vector<std::string>{"leader=op-a", "started"}));
}

TEST_F(LeaderElectionTest, RenewFailingBeyondRenewDeadlineStopsLeading) {
  auto e = make();
  Json mine = acquireByCreate(*e);
  // Unreachable from now on: each attempt tries the fast path, then a read.
  for (int at = 2; at <= 8; at += 2) {
    f.clock.advance(2s);
    t.expect("PUT", kLease).fail(unavailable("connection refused"));
    t.expect("GET", kLease).fail(unavailable("connection refused"));
    EXPECT_FALSE(e->tryAcquireOrRenew()) << "at " << at << "s";
    EXPECT_TRUE(e->isLeader()) << "still within renewDeadline at " << at << "s";
  }
  EXPECT_EQ(rec.events, (std::vector<std::string>{"leader=op-a", "started"}));
  f.clock.advance(2s);          // 10s since the last renewal: renewDeadline
  EXPECT_FALSE(e->isLeader());  // already, before the attempt that gives up
  t.expect("PUT", kLease).fail(unavailable("connection refused"));
  t.expect("GET", kLease).fail(unavailable("connection refused"));
  EXPECT_FALSE(e->tryAcquireOrRenew());
  EXPECT_EQ(rec.events, (std::vector<std::string>{"leader=op-a", "started", "stopped"}));
  EXPECT_EQ(e->stats().failures, 10u);
  EXPECT_TRUE(logged("not renewed within renewDeadline"));

  // A candidate again: the read shows our own lease (expired for everyone by now), which is
  // renewed without a new term, and leading starts again.
  f.clock.advance(6s);
  t.expect("GET", kLease).replyJson(200, mine);
  Json sent = renewedAt(mine, "10", wallNow());
  t.expect("PUT", kLease).withJsonBody(sent).replyJson(200, atVersion(sent, "20"));
  EXPECT_TRUE(e->tryAcquireOrRenew());
  EXPECT_EQ(rec.events, (std::vector<std::string>{"leader=op-a", "started", "stopped", "started"}));
  EXPECT_EQ(e->stats().acquisitions, 2u);
}

TEST_F(LeaderElectionTest, StopReleasesTheLeaseAfterOnStoppedLeading) {
  auto c = config();
  c.releaseOnStop = true;
  auto e = make(c);
  Json mine = acquireByCreate(*e);
  f.clock.advance(2s);
  Json released = releasedAt(mine, wallNow());
  t.expect("PUT", kLease)
      .withJsonBody(released)
      .then([&](const net::HttpRequest&) { rec.events.emplace_back("release"); })
      .replyJson(200, atVersion(released, "11"));
  e->stop();
  EXPECT_EQ(rec.events, (std::vector<std::string>{"leader=op-a", "started", "stopped", "release"}));
  EXPECT_FALSE(e->isLeader());
  EXPECT_EQ(e->leader(), "");
  EXPECT_TRUE(logged("released the lease"));
  e->stop();  // idempotent: nothing more is written
}

TEST_F(LeaderElectionTest, ReleaseRetriesOnceOnAConflictWhileStillOurs) {
  auto c = config();
  c.releaseOnStop = true;
  auto e = make(c);
  Json mine = acquireByCreate(*e);
  t.expect("PUT", kLease).replyStatus(409, "Conflict", "the object has been modified");
  Json edited = atVersion(mine, "11");
  edited["metadata"]["labels"] = {{"x", "y"}};
  t.expect("GET", kLease).replyJson(200, edited);
  Json released = releasedAt(edited, wallNow());
  t.expect("PUT", kLease).withJsonBody(released).replyJson(200, atVersion(released, "12"));
  e->stop();
  EXPECT_EQ(lastBody()["metadata"]["resourceVersion"], "11");
  EXPECT_EQ(lastBody()["metadata"]["labels"]["x"], "y");
  EXPECT_EQ(lastBody()["spec"]["holderIdentity"], "");
}

TEST_F(LeaderElectionTest, ReleaseGivesUpWhenTheLeaseIsNoLongerOurs) {
  auto c = config();
  c.releaseOnStop = true;
  auto e = make(c);
  acquireByCreate(*e);
  t.expect("PUT", kLease).replyStatus(409, "Conflict", "the object has been modified");
  t.expect("GET", kLease).replyJson(200, lease("op-b", "30"));
  e->stop();  // no write over op-b's lease
  EXPECT_EQ(e->leader(), "op-b");
}

TEST_F(LeaderElectionTest, StopWithoutReleaseLeavesTheLeaseToExpire) {
  auto e = make();  // releaseOnStop = false
  acquireByCreate(*e);
  e->stop();  // no request scripted: none may come
  EXPECT_EQ(rec.events, (std::vector<std::string>{"leader=op-a", "started", "stopped"}));
  EXPECT_FALSE(e->isLeader());
}

TEST_F(LeaderElectionTest, StopOfAFollowerWritesNothing) {
  auto c = config();
  c.releaseOnStop = true;
  auto e = make(c);
  t.expect("GET", kLease).replyJson(200, lease("op-b", "5"));
  EXPECT_FALSE(e->tryAcquireOrRenew());
  e->stop();
  EXPECT_EQ(rec.events, std::vector<std::string>{"leader=op-b"});
}

TEST_F(LeaderElectionTest, AnInvalidConfigNeverLeads) {
  auto e = make(config(""));
  EXPECT_FALSE(e->tryAcquireOrRenew());
  EXPECT_EQ(e->stats().failures, 1u);
  e->start();  // refuses: no thread, no request
  e->stop();
  EXPECT_TRUE(logged("invalid configuration"));
}

TEST(LeaderElectionConfigTest, ValidatesLikeClientGo) {
  EXPECT_TRUE(validateLeaderElectionConfig(config()).isOk());
  auto bad = [](auto mutate) {
    LeaderElectionConfig c = config();
    mutate(c);
    return validateLeaderElectionConfig(c).code();
  };
  using C = LeaderElectionConfig;
  EXPECT_EQ(bad([](C& c) { c.identity.clear(); }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](C& c) { c.ns.clear(); }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](C& c) { c.renewDeadline = c.leaseDuration; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](C& c) { c.retryPeriod = c.renewDeadline; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](C& c) { c.retryPeriod = 0s; }), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad([](C& c) {
              c.leaseDuration = 900ms;
              c.renewDeadline = 500ms;
              c.retryPeriod = 100ms;
            }),
            StatusCode::kInvalidArgument);
}

// ---- The thread. ----

// A Sleeper the test opens step by step: each sleepFor() parks until wake() (then advances
// the SimClock by the duration) or until the cancel token fires.
class GateSleeper final : public kube::Sleeper {
 public:
  explicit GateSleeper(SimClock& clock) : clock_(clock) {}

  bool sleepFor(Duration d, const net::CancelTokenPtr& cancel) override {
    std::uint64_t id = 0;
    if (cancel) {
      id = cancel->onCancel([this] {
        std::lock_guard lk(mu_);
        cv_.notify_all();
      });
    }
    bool woken;
    {
      std::unique_lock lk(mu_);
      ++started_;
      slept_.push_back(d);
      cv_.notify_all();
      cv_.wait(lk, [&] { return grants_ > 0 || (cancel && cancel->cancelled()); });
      woken = !(cancel && cancel->cancelled());
      if (woken) --grants_;
      ++finished_;
    }
    if (id != 0) cancel->removeCallback(id);
    if (woken) clock_.advance(d);
    return woken;
  }

  // Waits until the n-th sleep has begun and is parked.
  void awaitSleep(int n) {
    std::unique_lock lk(mu_);
    cv_.wait(lk, [&] { return started_ >= n && finished_ < started_; });
  }
  void wake() {
    std::lock_guard lk(mu_);
    ++grants_;
    cv_.notify_all();
  }
  std::vector<Duration> slept() {
    std::lock_guard lk(mu_);
    return slept_;
  }

 private:
  SimClock& clock_;
  std::mutex mu_;
  std::condition_variable cv_;
  int started_ = 0, finished_ = 0, grants_ = 0;
  std::vector<Duration> slept_;
};

TEST(LeaderElectorThreadTest, AcquiresRenewsEveryRetryPeriodAndReleasesOnStop) {
  SimClock clock;
  GateSleeper sleeper{clock};
  FixedRandom random{0};
  MemFilesystem fs;
  Logger log{clock, [](std::string_view) {}};
  auto owned = std::make_unique<ScriptedTransport>();
  ScriptedTransport& t = *owned;
  kube::Client client(KubeFakes::config(), std::move(owned),
                      kube::ClientDeps{clock, random, sleeper, fs, log}, noRetries());
  std::mutex mu;
  std::vector<std::string> events;
  auto note = [&](std::string s) {
    std::lock_guard lk(mu);
    events.push_back(std::move(s));
  };
  auto c = config();
  c.releaseOnStop = true;
  LeaderElector e(client, clock, log, c,
                  {.onStartedLeading = [&] { note("started"); },
                   .onStoppedLeading = [&] { note("stopped"); },
                   .onNewLeader = [&](const std::string& h) { note("leader=" + h); }});

  const std::string t0 = formatRfc3339Micro(clock.wallNow());
  const std::string t2 = formatRfc3339Micro(clock.wallNow() + 2s);
  Json mine = createdLease(t0, "1");
  t.expect("GET", kLease).replyStatus(404, "NotFound");
  t.expect("POST", kLeases).replyJson(201, mine);
  t.expect("PUT", kLease)
      .withJsonBody(renewedAt(mine, "1", t2))
      .replyJson(200, renewedAt(mine, "2", t2));
  Json released = releasedAt(renewedAt(mine, "2", t2), t2);
  t.expect("PUT", kLease).withJsonBody(released).replyJson(200, atVersion(released, "3"));

  e.start();
  sleeper.awaitSleep(1);  // acquired, waiting a retry period
  EXPECT_TRUE(e.isLeader());
  sleeper.wake();
  sleeper.awaitSleep(2);  // renewed
  EXPECT_EQ(e.stats().renewals, 1u);
  e.stop();  // wakes the sleep, ends the thread, releases
  EXPECT_EQ(sleeper.slept(), (std::vector<Duration>{2s, 2s}));
  EXPECT_EQ(Json::parse(t.requests().back().body)["spec"]["holderIdentity"], "");
  EXPECT_EQ(events, (std::vector<std::string>{"leader=op-a", "started", "stopped"}));
  EXPECT_FALSE(e.isLeader());
  t.expectDone();
}

TEST(LeaderElectorThreadTest, WakesAtTheRenewDeadlineWhileRenewalsFail) {
  SimClock clock;
  GateSleeper sleeper{clock};
  FixedRandom random{0};
  MemFilesystem fs;
  Logger log{clock, [](std::string_view) {}};
  auto owned = std::make_unique<ScriptedTransport>();
  ScriptedTransport& t = *owned;
  kube::Client client(KubeFakes::config(), std::move(owned),
                      kube::ClientDeps{clock, random, sleeper, fs, log}, noRetries());
  auto c = config();
  c.renewDeadline = 5s;  // not a multiple of retryPeriod (2s)
  std::atomic<int> stopped{0};
  LeaderElector e(client, clock, log, c, {.onStoppedLeading = [&] { ++stopped; }});

  t.expect("GET", kLease).replyStatus(404, "NotFound");
  t.expect("POST", kLeases).replyJson(201, createdLease(formatRfc3339Micro(clock.wallNow()), "1"));
  for (int i = 0; i < 3; ++i) {  // at 2s, 4s and 5s
    t.expect("PUT", kLease).fail(unavailable("connection refused"));
    t.expect("GET", kLease).fail(unavailable("connection refused"));
  }
  e.start();
  for (int n = 1; n <= 3; ++n) {
    sleeper.awaitSleep(n);
    sleeper.wake();
  }
  sleeper.awaitSleep(4);  // a candidate again
  EXPECT_EQ(stopped.load(), 1);
  EXPECT_FALSE(e.isLeader());
  EXPECT_EQ(sleeper.slept(), (std::vector<Duration>{2s, 2s, 1s, 2s}));
  e.stop();
  t.expectDone();
}

}  // namespace
}  // namespace schedkit::op
