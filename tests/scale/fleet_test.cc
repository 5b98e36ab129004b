// The simulated agents' state machine, on a SimClock: what schedkit-fleet-sim writes for each
// node must match what a real agent would.

#include "fleet.h"

#include <gtest/gtest.h>

#include <map>

#include "schedkit/policy/resolve.h"

namespace schedkit::scale {
namespace {

using policy::NodePhase;

policy::SchedulerPolicy hostPathPolicy(std::int64_t generation = 1) {
  policy::SchedulerPolicy p;
  p.metadata.name = "sim-fifo";
  p.metadata.uid = "0b5e6a4e-1111-2222-3333-444455556666";
  p.metadata.generation = generation;
  p.spec.scheduler.hostPath = "/usr/lib/schedkit/fifo.bpf.o";
  p.spec.scheduler.opsName = "simfifo";
  p.spec.nodeSelector.matchLabels = {{"schedkit.io/pool", "sim"}};
  return p;
}

const policy::Condition* condition(const policy::SchedulerNodeStateStatus& s,
                                   const std::string& type) {
  for (const auto& c : s.conditions) {
    if (c.type == type) return &c;
  }
  return nullptr;
}

class FleetModelTest : public ::testing::Test {
 protected:
  FleetModelTest()
      : model_(clock_, {std::chrono::milliseconds(200), "6.18.15"}, {"sim-00000", "sim-00001"},
               {{"schedkit.io/pool", "sim"}},
               [this](std::size_t i, const policy::SchedulerNodeStateStatus& s) {
                 ++writes_[i];
                 last_[i] = s;
               }) {
    model_.publishIdle();
  }

  SimClock clock_;
  std::map<std::size_t, int> writes_;
  std::map<std::size_t, policy::SchedulerNodeStateStatus> last_;
  FleetModel model_;
};

TEST_F(FleetModelTest, StartsIdle) {
  EXPECT_EQ(writes_[0], 1);
  EXPECT_EQ(last_[0].phase, NodePhase::kIdle);
  EXPECT_EQ(last_[0].kernel.release, "6.18.15");
  EXPECT_TRUE(last_[0].kernel.schedExt);
  ASSERT_NE(condition(last_[0], "Ready"), nullptr);
  EXPECT_EQ(condition(last_[0], "Ready")->status, "True");
  EXPECT_EQ(condition(last_[0], "Ready")->reason, "NoPolicy");
}

TEST_F(FleetModelTest, AttachesAfterTheDelayAndWritesOnlyChanges) {
  EXPECT_EQ(model_.setPolicies({hostPathPolicy()}), 2u);
  EXPECT_EQ(last_[0].phase, NodePhase::kAttaching);
  EXPECT_EQ(last_[0].policy, "sim-fifo");
  EXPECT_EQ(last_[0].revision, policy::revisionOf(hostPathPolicy().spec));
  ASSERT_EQ(last_[0].observedPolicies.size(), 1u);
  EXPECT_FALSE(model_.settled());

  clock_.advance(std::chrono::milliseconds(199));
  EXPECT_EQ(last_[0].phase, NodePhase::kAttaching);
  clock_.advance(std::chrono::milliseconds(1));
  EXPECT_TRUE(model_.settled());
  const auto& s = last_[0];
  EXPECT_EQ(s.phase, NodePhase::kRunning);
  ASSERT_TRUE(s.active.has_value());
  EXPECT_EQ(s.active->opsName, "simfifo_1");
  EXPECT_EQ(s.active->image, "/usr/lib/schedkit/fifo.bpf.o");
  EXPECT_EQ(s.active->pid, 0);  // a BPF object has no process
  EXPECT_EQ(condition(s, "SchedulerAttached")->status, "True");
  EXPECT_EQ(condition(s, "SchedulerAttached")->observedGeneration, 1);
  EXPECT_EQ(s.recentEvents.front().reason, "Attached");

  int before = writes_[0];
  model_.setPolicies({hostPathPolicy()});  // e.g. the operator wrote the policy's status
  EXPECT_EQ(writes_[0], before);
}

TEST_F(FleetModelTest, ImageNodesPullAndUseTheResolvedDigestOfTheRolloutRevision) {
  policy::SchedulerPolicy p = hostPathPolicy();
  p.spec.scheduler.hostPath.clear();
  p.spec.scheduler.image = "registry.example.com/scx/fifo:1";
  p.status.resolvedImage = "registry.example.com/scx/fifo@sha256:abcd";
  model_.setPolicies({p});
  EXPECT_EQ(last_[0].phase, NodePhase::kPulling);
  clock_.advance(std::chrono::milliseconds(200));
  ASSERT_TRUE(last_[0].active.has_value());
  EXPECT_EQ(last_[0].active->image, "registry.example.com/scx/fifo:1");  // no rollout status yet
  EXPECT_GT(last_[0].active->pid, 0);

  p.status.rollout = policy::RolloutStatus{};
  p.status.rollout->revision = policy::revisionOf(p.spec);
  p.status.rollout->admittedBelow = static_cast<int>(policy::kBucketCount);
  model_.setPolicies({p});  // same revision: the running scheduler stays
  EXPECT_EQ(last_[0].phase, NodePhase::kRunning);
  ASSERT_TRUE(last_[0].active.has_value());
  EXPECT_EQ(last_[0].active->image, "registry.example.com/scx/fifo:1");
  // Attaching again now pulls the operator's digest.
  ASSERT_TRUE(model_.fallback(1).isOk());
  ASSERT_TRUE(model_.recover(1).isOk());
  clock_.advance(std::chrono::milliseconds(200));
  ASSERT_TRUE(last_[1].active.has_value());
  EXPECT_EQ(last_[1].active->image, "registry.example.com/scx/fifo@sha256:abcd");
}

TEST_F(FleetModelTest, FallbackHoldsUntilTheGenerationChanges) {
  model_.setPolicies({hostPathPolicy()});
  clock_.advance(std::chrono::milliseconds(200));
  ASSERT_TRUE(model_.fallback(1).isOk());
  const auto& s = last_[1];
  EXPECT_EQ(s.phase, NodePhase::kFallenBack);
  EXPECT_FALSE(s.active.has_value());
  EXPECT_EQ(s.restarts, 3);
  ASSERT_TRUE(s.lastExit.has_value());
  EXPECT_EQ(s.lastExit->kind, 1026);
  EXPECT_EQ(s.lastExit->kindName, "ERROR_STALL");
  EXPECT_EQ(s.lastExit->reason, "runnable task stall");
  EXPECT_EQ(condition(s, "Degraded")->status, "True");
  EXPECT_EQ(last_[0].phase, NodePhase::kRunning);
  EXPECT_EQ(model_.fallback(1).code(), StatusCode::kFailedPrecondition);

  model_.setPolicies({hostPathPolicy()});
  clock_.advance(std::chrono::seconds(5));
  EXPECT_EQ(last_[1].phase, NodePhase::kFallenBack);

  model_.setPolicies({hostPathPolicy(2)});
  clock_.advance(std::chrono::milliseconds(200));
  EXPECT_EQ(last_[1].phase, NodePhase::kRunning);
  EXPECT_EQ(last_[1].restarts, 0);
  EXPECT_EQ(last_[1].active->opsName, "simfifo_2");
  EXPECT_EQ(last_[1].lastExit->kindName, "ERROR_STALL");  // kept, as the agent does
}

TEST_F(FleetModelTest, RecoverAttachesAgain) {
  model_.setPolicies({hostPathPolicy()});
  clock_.advance(std::chrono::milliseconds(200));
  EXPECT_EQ(model_.recover(0).code(), StatusCode::kFailedPrecondition);
  ASSERT_TRUE(model_.fallback(0).isOk());
  ASSERT_TRUE(model_.recover(0).isOk());
  EXPECT_EQ(last_[0].phase, NodePhase::kAttaching);
  clock_.advance(std::chrono::milliseconds(200));
  EXPECT_EQ(last_[0].phase, NodePhase::kRunning);
}

TEST_F(FleetModelTest, FallbackNeedsAPolicy) {
  EXPECT_EQ(model_.fallback(0).code(), StatusCode::kFailedPrecondition);
}

TEST_F(FleetModelTest, CanaryRunsOnlyAdmittedNodes) {
  policy::SchedulerPolicy p = hostPathPolicy();
  p.spec.rollout.strategy = policy::RolloutStrategy::kCanary;
  p.spec.rollout.canary = policy::CanarySpec{};
  model_.setPolicies({p});
  EXPECT_EQ(last_[0].phase, NodePhase::kIdle);  // first rollout, not admitted yet

  std::uint32_t b0 = policy::nodeBucket("sim-00000", p.metadata.uid);
  std::uint32_t b1 = policy::nodeBucket("sim-00001", p.metadata.uid);
  ASSERT_NE(b0, b1);
  p.status.rollout = policy::RolloutStatus{};
  p.status.rollout->revision = policy::revisionOf(p.spec);
  p.status.rollout->admittedBelow = static_cast<int>(std::min(b0, b1)) + 1;
  model_.setPolicies({p});
  clock_.advance(std::chrono::milliseconds(200));
  std::size_t admitted = b0 < b1 ? 0 : 1;
  EXPECT_EQ(last_[admitted].phase, NodePhase::kRunning);
  EXPECT_EQ(last_[1 - admitted].phase, NodePhase::kIdle);
}

TEST_F(FleetModelTest, RelabelledNodeDetaches) {
  model_.setPolicies({hostPathPolicy()});
  clock_.advance(std::chrono::milliseconds(200));
  model_.setLabels(0, {{"schedkit.io/pool", "other"}});
  EXPECT_EQ(last_[0].phase, NodePhase::kIdle);
  EXPECT_FALSE(last_[0].active.has_value());
  EXPECT_EQ(last_[0].recentEvents.front().reason, "Detached");
  EXPECT_EQ(last_[1].phase, NodePhase::kRunning);
}

}  // namespace
}  // namespace schedkit::scale
