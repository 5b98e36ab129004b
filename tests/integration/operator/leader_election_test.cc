// LeaderElector against the real kube-apiserver of hack/testenv: two replicas of the operator
// (two clients, two identities) in one process, with short durations so hand-overs are quick.

#include "runtime/leader_election.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <regex>
#include <string>
#include <thread>

#include "../kube/kube_helpers.h"
#include "schedkit/kube/errors.h"

namespace schedkit::op {
namespace {

using namespace std::chrono_literals;
using testenv::eventually;
using testenv::RealKube;
using testenv::report;
using testenv::uniqueName;

const std::string kNs = "schedkit-le-it";
constexpr Duration kLeaseDuration = 3s;
constexpr Duration kRenewDeadline = 2s;
constexpr Duration kRetryPeriod = 500ms;

double ms(Duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// One replica: its own client and elector; the callbacks record when it led.
class Replica {
 public:
  Replica(RealKube& real, const Logger& log, const std::string& lease, std::string identity,
          bool releaseOnStop)
      : id_(std::move(identity)), clock_(real.clock), client_(real.admin()) {
    LeaderElectionConfig c;
    c.ns = kNs;
    c.name = lease;
    c.identity = id_;
    c.leaseDuration = kLeaseDuration;
    c.renewDeadline = kRenewDeadline;
    c.retryPeriod = kRetryPeriod;
    c.releaseOnStop = releaseOnStop;
    LeaderElector::Callbacks cb;
    cb.onStartedLeading = [this] { setLeading(true); };
    cb.onStoppedLeading = [this] { setLeading(false); };
    elector_ = std::make_unique<LeaderElector>(*client_, real.clock, log, c, std::move(cb));
  }

  const std::string& id() const { return id_; }
  LeaderElector& elector() { return *elector_; }
  bool leading() const {
    std::lock_guard lk(mu_);
    return leading_;
  }
  int starts() const {
    std::lock_guard lk(mu_);
    return starts_;
  }
  std::optional<MonoTime> startedAt() const {
    std::lock_guard lk(mu_);
    return started_at_;
  }
  // A crash as far as the lease can tell: gone, without a release (with releaseOnStop=false).
  void kill() { elector_.reset(); }

 private:
  void setLeading(bool on) {
    std::lock_guard lk(mu_);
    leading_ = on;
    if (on) {
      ++starts_;
      started_at_ = clock_.now();
    }
  }

  std::string id_;
  const Clock& clock_;
  std::unique_ptr<kube::Client> client_;
  mutable std::mutex mu_;
  bool leading_ = false;
  int starts_ = 0;
  std::optional<MonoTime> started_at_;
  std::unique_ptr<LeaderElector> elector_;  // last: destroyed before what its callbacks touch
};

// Samples two replicas every few milliseconds while it lives: never may both lead. Declare it
// after them, so it stops first.
class NoOverlap {
 public:
  NoOverlap(const Replica& a, const Replica& b)
      : thread_([this, &a, &b] {
          while (!done_) {
            if (a.leading() && b.leading()) ++overlaps_;
            std::this_thread::sleep_for(5ms);
          }
        }) {}
  ~NoOverlap() {
    done_ = true;
    thread_.join();
    EXPECT_EQ(overlaps_.load(), 0) << "both replicas led at the same time";
  }
  NoOverlap(const NoOverlap&) = delete;
  NoOverlap& operator=(const NoOverlap&) = delete;

 private:
  std::atomic<bool> done_{false};
  std::atomic<int> overlaps_{0};
  std::thread thread_;
};

class LeaderElectionIT : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(admin_, nullptr);
    auto ns = admin_->create(kube::resources::kNamespaces, "", {{"metadata", {{"name", kNs}}}});
    ASSERT_TRUE(ns.isOk() || kube::isAlreadyExists(ns.status())) << ns.status().toString();
  }

  // Waits until exactly one of them leads; returns it.
  Replica* oneLeader(Replica& a, Replica& b) {
    EXPECT_TRUE(eventually([&] { return a.leading() || b.leading(); }, 10s));
    if (a.leading() == b.leading()) return nullptr;
    return a.leading() ? &a : &b;
  }

  kube::Json leaseObject(const std::string& name) {
    auto l = admin_->get(kube::resources::kLeases, kNs, name);
    EXPECT_TRUE(l.isOk()) << l.status().toString();
    return l.isOk() ? *l : kube::Json::object();
  }

  RealKube real_;
  Logger log_{Logger::stderrLogger(real_.clock, LogFormat::kText, LogLevel::kInfo)};
  std::unique_ptr<kube::Client> admin_ = real_.admin();
};

TEST_F(LeaderElectionIT, ExactlyOneLeadsAndAReleaseHandsOverWithinARetryPeriod) {
  const std::string lease = uniqueName("le-release");
  Replica a(real_, log_, lease, "replica-a", true);
  Replica b(real_, log_, lease, "replica-b", true);
  NoOverlap watch(a, b);
  a.elector().start();
  b.elector().start();
  Replica* leader = oneLeader(a, b);
  ASSERT_NE(leader, nullptr);
  Replica* standby = leader == &a ? &b : &a;

  // Several retry periods: the leader keeps renewing, the standby keeps waiting.
  std::this_thread::sleep_for(4 * kRetryPeriod);
  EXPECT_TRUE(leader->leading());
  EXPECT_TRUE(leader->elector().isLeader());
  EXPECT_FALSE(standby->leading());
  EXPECT_FALSE(standby->elector().isLeader());
  EXPECT_GE(leader->elector().stats().renewals, 2u);
  EXPECT_EQ(standby->elector().stats().acquisitions, 0u);
  EXPECT_EQ(standby->elector().leader(), leader->id());

  kube::Json held = leaseObject(lease);
  EXPECT_EQ(held["spec"]["holderIdentity"], leader->id());
  EXPECT_EQ(held["spec"]["leaseDurationSeconds"], 3);
  EXPECT_EQ(held["spec"]["leaseTransitions"], 0);
  const std::regex micro(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z)");
  EXPECT_TRUE(std::regex_match(held["spec"].value("renewTime", ""), micro)) << held.dump();
  EXPECT_TRUE(std::regex_match(held["spec"].value("acquireTime", ""), micro)) << held.dump();

  const MonoTime stopped = real_.clock.now();
  leader->elector().stop();  // onStoppedLeading, then holderIdentity "" + 1s
  const MonoTime released = real_.clock.now();
  ASSERT_TRUE(eventually([&] { return standby->leading(); }, 10s));
  const Duration takeover = *standby->startedAt() - stopped;
  report("leader election: takeover after a release (ms)", ms(takeover), "ms");
  report("leader election: stop() with release (ms)", ms(released - stopped), "ms");
  EXPECT_LE(takeover, kRetryPeriod + 500ms) << "about one retry period";

  kube::Json taken = leaseObject(lease);
  EXPECT_EQ(taken["spec"]["holderIdentity"], standby->id());
  EXPECT_EQ(taken["spec"]["leaseDurationSeconds"], 3);
  EXPECT_EQ(taken["spec"]["leaseTransitions"], 1);
  EXPECT_FALSE(leader->leading());
  EXPECT_EQ(leader->starts(), 1);
}

TEST_F(LeaderElectionIT, ACrashedLeaderIsReplacedOnceItsLeaseExpires) {
  const std::string lease = uniqueName("le-crash");
  Replica a(real_, log_, lease, "replica-a", false);
  Replica b(real_, log_, lease, "replica-b", false);
  NoOverlap watch(a, b);
  a.elector().start();
  b.elector().start();
  Replica* leader = oneLeader(a, b);
  ASSERT_NE(leader, nullptr);
  Replica* standby = leader == &a ? &b : &a;
  std::this_thread::sleep_for(2 * kRetryPeriod);
  ASSERT_TRUE(leader->leading());
  const std::uint64_t renewals = leader->elector().stats().renewals;

  const MonoTime crashed = real_.clock.now();
  leader->kill();  // no release: the lease says it is still held until it expires
  ASSERT_TRUE(eventually([&] { return standby->leading(); }, 10s));
  const Duration takeover = *standby->startedAt() - crashed;
  report("leader election: takeover after a crash (ms)", ms(takeover), "ms");
  // Not before the lease can have expired (its last renewal was at most a retry period before
  // the crash), and within leaseDuration + retryPeriod.
  EXPECT_GE(takeover, kLeaseDuration - kRetryPeriod - 200ms);
  EXPECT_LE(takeover, kLeaseDuration + kRetryPeriod + 1s);  // + the polls' request times
  EXPECT_GE(renewals, 1u);

  kube::Json taken = leaseObject(lease);
  EXPECT_EQ(taken["spec"]["holderIdentity"], standby->id());
  EXPECT_EQ(taken["spec"]["leaseTransitions"], 1);
  EXPECT_GE(standby->elector().stats().transitions, 2u);  // saw the old leader, then itself
}

}  // namespace
}  // namespace schedkit::op
