// The rollout state machine and the roll-up, driven through a simulated fleet: the operator's
// pure reconcile writes the policy status, simulated agents follow it the way real ones do
// (policy::desiredRevision), and time only moves when a test says so.
#include "reconcilers/policy_status.h"

#include <gtest/gtest.h>

#include <map>

#include "schedkit/policy/resolve.h"

namespace schedkit::op {
namespace {

using namespace std::chrono_literals;
using policy::NodePhase;
using policy::RolloutPhase;

const WallTime kStart = WallTime(std::chrono::seconds(1'780'000'000));

const policy::Condition* cond(const policy::SchedulerPolicyStatus& s, const std::string& type) {
  for (const auto& c : s.conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}
bool isTrue(const policy::SchedulerPolicyStatus& s, const std::string& type) {
  const auto* c = cond(s, type);
  return c != nullptr && c->status == "True";
}

// N nodes running one policy; agents attach instantly unless told a node falls back.
struct Fleet {
  explicit Fleet(int n, policy::RolloutStrategy strategy = policy::RolloutStrategy::kImmediate) {
    p.metadata.name = "lavd";
    p.metadata.uid = "7c3f2a10-0000-4000-8000-000000000001";
    p.metadata.generation = 1;
    p.spec.scheduler.hostPath = "/usr/bin/scx_lavd";
    p.spec.rollout.strategy = strategy;
    if (strategy == policy::RolloutStrategy::kCanary) p.spec.rollout.canary = policy::CanarySpec{1, 10min};
    for (int i = 0; i < n; ++i) names.push_back("node-" + std::to_string(i));
  }

  // One operator pass: reconcile, then "write" the status.
  PolicyOutput reconcile() {
    PolicyInput in{p, {}, now, pin};
    for (const auto& n : names) {
      auto it = states.find(n);
      in.nodes.push_back({n, policy::nodeBucket(n, p.metadata.uid), true, conflicted.count(n) > 0,
                          it == states.end() ? nullptr : &it->second});
    }
    PolicyOutput out = reconcilePolicy(in);
    p.status = out.status;
    for (const auto& e : out.events) reasons.push_back(e.reason);
    return out;
  }
  // Every agent acts on the status it sees.
  void agents() {
    for (const auto& n : names) {
      auto d = policy::desiredRevision(p, n);
      auto& s = states[n];
      if (!d) {
        s = {};
        s.phase = NodePhase::kIdle;
        continue;
      }
      if (s.policy == p.metadata.name && s.revision == d->spec.revision &&
          s.phase != NodePhase::kAttaching) {
        continue;  // runs it already (or fell back on it)
      }
      s.policy = p.metadata.name;
      s.revision = d->spec.revision;
      if (slow.count(n)) {
        s.phase = NodePhase::kAttaching;
        s.active.reset();
        continue;
      }
      if (fallsBackOn.count(n) && fallsBackOn[n] == d->spec.revision) {
        s.phase = NodePhase::kFallenBack;
        s.active.reset();
        s.lastExit = policy::ExitRecord{formatRfc3339(now), 1026, "ERROR_STALL", "runnable task stall", "x"};
        continue;
      }
      s.phase = NodePhase::kRunning;
      s.active = policy::ActiveScheduler{"lavd", imageToRunFor(n), 100, 1, formatRfc3339(now)};
    }
  }
  std::string imageToRunFor(const std::string& n) {
    auto d = policy::desiredRevision(p, n);
    return d ? policy::imageToRun(p, *d) : "";
  }
  // Operator and agents until nothing moves (at most `rounds`).
  void settle(int rounds = 50) {
    for (int i = 0; i < rounds; ++i) {
      auto before = p.status;
      auto beforeStates = states;
      reconcile();
      agents();
      if (p.status == before && states == beforeStates) return;
    }
  }
  int admitted() const {
    int n = 0;
    for (const auto& name : names) {
      if (static_cast<int>(policy::nodeBucket(name, p.metadata.uid)) < p.status.rollout->admittedBelow) ++n;
    }
    return n;
  }
  int runningRevision(const std::string& rev) const {
    int n = 0;
    for (const auto& [name, s] : states) n += s.revision == rev && s.phase == NodePhase::kRunning;
    return n;
  }
  // Nodes admitted to the revision that do not run it yet.
  int switching() const {
    int n = 0;
    const std::string rev = policy::revisionOf(p.spec);
    for (const auto& name : names) {
      auto d = policy::desiredRevision(p, name);
      auto it = states.find(name);
      bool runs = it != states.end() && it->second.phase == NodePhase::kRunning &&
                  d && it->second.revision == d->spec.revision;
      if (d && d->spec.revision == rev && !runs) ++n;
    }
    return n;
  }
  void edit(const std::string& path) {
    p.spec.scheduler.hostPath = path;
    ++p.metadata.generation;
  }

  policy::SchedulerPolicy p;
  std::vector<std::string> names;
  std::map<std::string, policy::SchedulerNodeStateStatus> states;
  std::map<std::string, std::string> fallsBackOn;  // node → revision it falls back on
  std::map<std::string, bool> slow;                // nodes that stay Attaching
  std::map<std::string, bool> conflicted;
  std::vector<std::string> reasons;
  WallTime now = kStart;
  ImagePin pin{};
};

TEST(RolloutTest, ImmediateFirstRolloutAdmitsEveryoneAndCompletes) {
  Fleet f(5);
  auto out = f.reconcile();
  ASSERT_TRUE(f.p.status.rollout.has_value());
  EXPECT_EQ(f.p.status.rollout->phase, RolloutPhase::kProgressing);
  EXPECT_EQ(f.p.status.rollout->admittedBelow, 10000);
  EXPECT_TRUE(isTrue(f.p.status, "Reconciling"));
  EXPECT_FALSE(isTrue(f.p.status, "Ready"));
  EXPECT_EQ(f.p.status.nodes.pending, 5);
  f.settle();
  const auto& st = f.p.status;
  EXPECT_EQ(st.rollout->phase, RolloutPhase::kComplete);
  ASSERT_TRUE(st.rollout->stable.has_value());
  EXPECT_EQ(st.rollout->stable->revision, policy::revisionOf(f.p.spec));
  EXPECT_EQ(st.rollout->stable->hostPath, "/usr/bin/scx_lavd");
  EXPECT_EQ(st.nodes.matched, 5);
  EXPECT_EQ(st.nodes.attached, 5);
  EXPECT_TRUE(isTrue(st, "Ready"));
  EXPECT_FALSE(isTrue(st, "Reconciling"));
  EXPECT_FALSE(isTrue(st, "Stalled"));
  EXPECT_FALSE(isTrue(st, "Progressing"));
  EXPECT_EQ(cond(st, "Ready")->observedGeneration, 1);
  EXPECT_EQ(st.observedGeneration, 1);
  EXPECT_EQ(f.reasons, (std::vector<std::string>{"RolloutStarted", "RolloutComplete"}));
}

TEST(RolloutTest, ImmediateNewRevisionKeepsMaxUnavailable) {
  Fleet f(8);
  f.p.spec.rollout.maxUnavailable = {false, 2};
  f.settle();
  const std::string oldRev = policy::revisionOf(f.p.spec);
  f.edit("/usr/bin/scx_lavd2");
  const std::string newRev = policy::revisionOf(f.p.spec);
  // Agents see the new spec before the operator: they stay on stable.
  f.agents();
  EXPECT_EQ(f.runningRevision(oldRev), 8);
  for (auto& n : f.names) f.slow[n] = true;  // switching nodes stay in Attaching for a while
  int steps = 0;
  while (f.runningRevision(newRev) < 8 && steps < 40) {
    f.reconcile();
    f.agents();
    EXPECT_LE(f.switching(), 2) << "step " << steps;
    // Two switch, then finish, then the next two are admitted.
    for (auto& [n, s] : f.states) {
      if (s.phase == NodePhase::kAttaching) f.slow.erase(n);
    }
    f.agents();
    ++steps;
  }
  f.settle();
  EXPECT_EQ(f.runningRevision(newRev), 8);
  EXPECT_EQ(f.p.status.rollout->phase, RolloutPhase::kComplete);
  EXPECT_EQ(f.p.status.rollout->stable->revision, newRev);
  EXPECT_GE(steps, 4);  // 8 nodes, 2 at a time
}

TEST(RolloutTest, CanaryAdmitsTheExactCountThenBakesThenRollsOn) {
  Fleet f(10, policy::RolloutStrategy::kCanary);
  f.p.spec.rollout.canary = policy::CanarySpec{3, 10min};
  f.p.spec.rollout.maxUnavailable = {true, 100};
  auto out = f.reconcile();
  EXPECT_EQ(f.admitted(), 3);
  EXPECT_TRUE(isTrue(f.p.status, "Progressing"));
  f.agents();
  out = f.reconcile();
  EXPECT_EQ(f.admitted(), 3) << "must bake before admitting more";
  ASSERT_TRUE(out.requeueAfter.has_value());
  EXPECT_EQ(*out.requeueAfter, 10min);
  EXPECT_EQ(cond(f.p.status, "Progressing")->reason, "Baking");
  f.now += 9min;
  out = f.reconcile();
  EXPECT_EQ(f.admitted(), 3);
  EXPECT_EQ(*out.requeueAfter, 1min);
  f.now += 1min;
  f.reconcile();
  EXPECT_EQ(f.admitted(), 10);
  f.settle();
  EXPECT_EQ(f.p.status.rollout->phase, RolloutPhase::kComplete);
  EXPECT_EQ(f.p.status.nodes.attached, 10);
  EXPECT_TRUE(isTrue(f.p.status, "Ready"));
  EXPECT_NE(std::find(f.reasons.begin(), f.reasons.end(), "CanaryBaked"), f.reasons.end());
}

TEST(RolloutTest, FirstCanaryRunsNothingOutsideTheCanary) {
  Fleet f(6, policy::RolloutStrategy::kCanary);
  f.reconcile();
  f.agents();
  int running = 0, idle = 0;
  for (const auto& [n, s] : f.states) {
    running += s.phase == NodePhase::kRunning;
    idle += s.phase == NodePhase::kIdle;
  }
  EXPECT_EQ(running, 1);
  EXPECT_EQ(idle, 5);
  f.reconcile();
  EXPECT_EQ(f.p.status.nodes.attached, 1);
  EXPECT_EQ(f.p.status.nodes.pending, 5);
}

TEST(RolloutTest, CanaryFallbackRollsBackToStable) {
  Fleet f(6, policy::RolloutStrategy::kCanary);
  f.p.spec.rollout.maxUnavailable = {true, 100};
  f.settle();
  f.now += 10min;
  f.settle();
  ASSERT_EQ(f.p.status.rollout->phase, RolloutPhase::kComplete);
  const std::string stableRev = policy::revisionOf(f.p.spec);
  f.edit("/usr/bin/broken");
  const std::string badRev = policy::revisionOf(f.p.spec);
  for (const auto& n : f.names) f.fallsBackOn[n] = badRev;
  f.reconcile();
  EXPECT_EQ(f.admitted(), 1);
  f.agents();
  f.reconcile();
  const auto& st = f.p.status;
  EXPECT_EQ(st.rollout->phase, RolloutPhase::kRolledBack);
  EXPECT_EQ(st.rollout->admittedBelow, 0);
  EXPECT_EQ(st.nodes.fallenBack, 1);
  ASSERT_EQ(st.recentFallbacks.size(), 1u);
  EXPECT_EQ(st.recentFallbacks[0].exitKindName, "ERROR_STALL");
  // kstatus: Failed (Stalled, and not Reconciling).
  EXPECT_TRUE(isTrue(st, "Stalled"));
  EXPECT_FALSE(isTrue(st, "Reconciling"));
  EXPECT_FALSE(isTrue(st, "Ready"));
  EXPECT_EQ(cond(st, "Ready")->reason, "RolledBack");
  // The fallen-back node returns to the stable revision; the rest never left it.
  f.settle();
  EXPECT_EQ(f.runningRevision(stableRev), 6);
  EXPECT_EQ(f.p.status.rollout->phase, RolloutPhase::kRolledBack);
  EXPECT_NE(std::find(f.reasons.begin(), f.reasons.end(), "RolledBack"), f.reasons.end());
  // A fixed spec rolls out again from the same stable revision.
  f.edit("/usr/bin/fixed");
  f.settle();
  f.now += 10min;
  f.settle();
  EXPECT_EQ(f.p.status.rollout->phase, RolloutPhase::kComplete);
  EXPECT_FALSE(isTrue(f.p.status, "Stalled"));
}

TEST(RolloutTest, HaltWithoutRollbackKeepsTheAdmittedNodes) {
  Fleet f(4);
  f.p.spec.rollout.autoRollback = false;
  f.p.spec.rollout.maxUnavailable = {false, 1};
  f.settle();
  f.edit("/usr/bin/broken");
  const std::string badRev = policy::revisionOf(f.p.spec);
  for (const auto& n : f.names) f.fallsBackOn[n] = badRev;
  f.settle();
  EXPECT_EQ(f.p.status.rollout->phase, RolloutPhase::kHalted);
  EXPECT_EQ(f.admitted(), 1);
  EXPECT_TRUE(isTrue(f.p.status, "Stalled"));
}

TEST(RolloutTest, HaltOnFallbacksZeroNeverHalts) {
  Fleet f(3);
  f.p.spec.rollout.haltOnFallbacks = 0;
  f.p.spec.rollout.maxUnavailable = {false, 1};
  f.settle();
  f.edit("/usr/bin/flaky");
  f.fallsBackOn["node-0"] = policy::revisionOf(f.p.spec);
  f.settle();
  EXPECT_EQ(f.p.status.rollout->phase, RolloutPhase::kComplete);
  EXPECT_EQ(f.p.status.nodes.fallenBack, 1);
  EXPECT_TRUE(isTrue(f.p.status, "Degraded"));
  EXPECT_FALSE(isTrue(f.p.status, "Ready"));
  EXPECT_EQ(cond(f.p.status, "Ready")->reason, "NodesFallenBack");
}

TEST(RolloutTest, ATagIsPinnedBeforeACanaryStarts) {
  Fleet f(3, policy::RolloutStrategy::kCanary);
  f.p.spec.scheduler.hostPath.clear();
  f.p.spec.scheduler.image = "reg.test/scx/lavd:1.1";
  f.pin = {ImagePin::State::kFailed, "", "registry down"};
  f.reconcile();
  EXPECT_EQ(f.p.status.rollout->phase, RolloutPhase::kPending);
  EXPECT_EQ(f.p.status.rollout->admittedBelow, 0);
  EXPECT_EQ(cond(f.p.status, "Ready")->reason, "ImageResolveFailed");
  EXPECT_NE(cond(f.p.status, "Ready")->message.find("registry down"), std::string::npos);
  EXPECT_TRUE(isTrue(f.p.status, "Reconciling"));
  EXPECT_EQ(imageToPin(f.p), "reg.test/scx/lavd:1.1");
  EXPECT_EQ(std::count(f.reasons.begin(), f.reasons.end(), "ImageResolveFailed"), 1);
  f.reconcile();  // the same failure again: no second Event
  EXPECT_EQ(std::count(f.reasons.begin(), f.reasons.end(), "ImageResolveFailed"), 1);
  f.pin = {ImagePin::State::kResolved, "reg.test/scx/lavd@sha256:abcd", ""};
  f.reconcile();
  EXPECT_EQ(f.p.status.resolvedImage, "reg.test/scx/lavd@sha256:abcd");
  EXPECT_EQ(f.p.status.rollout->phase, RolloutPhase::kProgressing);
  EXPECT_EQ(imageToPin(f.p), "") << "pinned once per revision";
  f.pin = {};
  f.agents();
  for (const auto& [n, s] : f.states) {
    if (s.active) {
      EXPECT_EQ(s.active->image, "reg.test/scx/lavd@sha256:abcd");
    }
  }
  f.settle();
  f.now += 10min;
  f.settle();
  EXPECT_EQ(f.p.status.rollout->phase, RolloutPhase::kComplete);
  EXPECT_EQ(f.p.status.rollout->stable->image, "reg.test/scx/lavd@sha256:abcd");
  EXPECT_NE(std::find(f.reasons.begin(), f.reasons.end(), "ImageResolved"), f.reasons.end());
}

TEST(RolloutTest, APassIsIdempotentAndCarriesNoHiddenState) {
  Fleet f(10, policy::RolloutStrategy::kCanary);
  f.p.spec.rollout.canary = policy::CanarySpec{2, 5min};
  f.reconcile();
  f.agents();
  f.reconcile();  // baking
  auto status = f.p.status;
  f.now += 30s;
  auto again = f.reconcile();
  // Nothing moved: the same status (transition times kept), no events.
  EXPECT_EQ(f.p.status, status);
  EXPECT_TRUE(again.events.empty());
  // A new operator (same inputs, no memory) takes the same step when the bake ends.
  f.now = kStart + 5min;
  Fleet g = f;
  auto a = f.reconcile();
  auto b = g.reconcile();
  EXPECT_EQ(a.status, b.status);
  EXPECT_EQ(a.events, b.events);
  EXPECT_GT(f.admitted(), 2);
}

TEST(RollupTest, CountsPhasesConflictsAndNewestFallbacksFirst) {
  Fleet f(14);
  f.settle();
  f.conflicted["node-0"] = true;
  f.states["node-1"].phase = NodePhase::kIncompatible;
  f.states["node-2"].phase = NodePhase::kFailed;
  f.states["node-3"].phase = NodePhase::kPulling;
  f.states.erase("node-4");  // no report yet
  for (int i = 5; i < 14; ++i) {
    auto& s = f.states["node-" + std::to_string(i)];
    s.phase = i < 7 ? NodePhase::kFallenBack : NodePhase::kRunning;
    s.lastExit = policy::ExitRecord{formatRfc3339(kStart + std::chrono::seconds(i)), 1026, "ERROR_STALL", "stall", ""};
  }
  f.states["node-13"].lastExit->kind = 64;  // an orderly UNREG is no fallback
  f.states["node-12"].lastExit->time = "garbage";
  f.reconcile();
  const auto& st = f.p.status;
  EXPECT_EQ(st.nodes.matched, 14);
  EXPECT_EQ(st.nodes.conflicted, 1);
  EXPECT_EQ(st.nodes.incompatible, 1);
  EXPECT_EQ(st.nodes.failed, 1);
  EXPECT_EQ(st.nodes.pending, 2);
  EXPECT_EQ(st.nodes.fallenBack, 2);
  EXPECT_EQ(st.nodes.attached, 14 - 1 - 1 - 2 - 2);
  ASSERT_EQ(st.recentFallbacks.size(), 8u);
  EXPECT_EQ(st.recentFallbacks[0].node, "node-11");
  EXPECT_EQ(st.recentFallbacks[6].node, "node-5");
  EXPECT_EQ(st.recentFallbacks[7].node, "node-12");  // unparseable time last
  EXPECT_TRUE(isTrue(st, "Conflict"));
  EXPECT_TRUE(isTrue(st, "Degraded"));
  EXPECT_EQ(cond(st, "Degraded")->reason, "NodesFallenBack");
}

TEST(RollupTest, AtMostTenFallbacks) {
  Fleet f(15);
  f.settle();
  for (auto& [n, s] : f.states) {
    s.phase = NodePhase::kFallenBack;
    s.lastExit = policy::ExitRecord{formatRfc3339(kStart), 1024, "ERROR", "scx_bpf_error", ""};
  }
  f.reconcile();
  EXPECT_EQ(f.p.status.recentFallbacks.size(), 10u);
}

TEST(RollupTest, NoMatchingNodesIsReady) {
  Fleet f(0);
  f.reconcile();
  EXPECT_TRUE(isTrue(f.p.status, "Ready"));
  EXPECT_EQ(cond(f.p.status, "Ready")->reason, "NoMatchingNodes");
  EXPECT_EQ(f.p.status.rollout->phase, RolloutPhase::kComplete);
}

TEST(RollupTest, PausedKeepsTheRolloutAndSaysSo) {
  Fleet f(2);
  f.settle();
  auto ro = f.p.status.rollout;
  f.p.spec.paused = true;
  f.names.clear();  // a paused policy matches no node
  f.reconcile();
  EXPECT_EQ(f.p.status.rollout, ro);
  EXPECT_EQ(cond(f.p.status, "Ready")->reason, "Paused");
  EXPECT_FALSE(isTrue(f.p.status, "Reconciling"));
}

TEST(ConditionTest, TransitionTimeMovesOnlyWithTheStatus) {
  std::vector<policy::Condition> c;
  setCondition(c, "Ready", false, "A", "", 1, "t1");
  setCondition(c, "Ready", false, "B", "m", 2, "t2");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].lastTransitionTime, "t1");
  EXPECT_EQ(c[0].reason, "B");
  EXPECT_EQ(c[0].observedGeneration, 2);
  setCondition(c, "Ready", true, "C", "", 2, "t3");
  EXPECT_EQ(c[0].lastTransitionTime, "t3");
}

}  // namespace
}  // namespace schedkit::op
