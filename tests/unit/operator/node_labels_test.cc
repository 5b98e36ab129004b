#include "reconcilers/node_labels.h"

#include <gtest/gtest.h>

namespace schedkit::op {
namespace {

policy::SchedulerPolicy lavd(std::string opsName = "") {
  policy::SchedulerPolicy p;
  p.metadata.name = "latency";
  p.spec.scheduler.opsName = std::move(opsName);
  return p;
}
policy::SchedulerNodeStateStatus running(std::string ops) {
  policy::SchedulerNodeStateStatus s;
  s.policy = "latency";
  s.phase = policy::NodePhase::kRunning;
  s.active = policy::ActiveScheduler{std::move(ops), "", 1, 1, ""};
  return s;
}

using Labels = std::map<std::string, std::string>;

TEST(NodeLabelsTest, RunningNodeNamesItsSchedulerAndIsReady) {
  auto p = lavd();
  auto s = running("lavd_1.1.4_x86");
  EXPECT_EQ(desiredNodeLabels(&p, &s),
            (Labels{{kSchedulerLabel, "lavd"}, {kSchedulerReadyLabel, "true"}}));
}

TEST(NodeLabelsTest, ThePolicysOpsNameWinsAndNotRunningIsNotReady) {
  auto p = lavd("bpfland");
  auto s = running("whatever");
  s.phase = policy::NodePhase::kFallenBack;
  EXPECT_EQ(desiredNodeLabels(&p, &s),
            (Labels{{kSchedulerLabel, "bpfland"}, {kSchedulerReadyLabel, "false"}}));
  // Not known yet: only readiness.
  auto q = lavd();
  EXPECT_EQ(desiredNodeLabels(&q, nullptr), (Labels{{kSchedulerReadyLabel, "false"}}));
  // The state is about another policy (the agent has not caught up).
  auto other = running("rusty");
  other.policy = "throughput";
  EXPECT_EQ(desiredNodeLabels(&q, &other), (Labels{{kSchedulerReadyLabel, "false"}}));
}

TEST(NodeLabelsTest, NoPolicyNoLabels) { EXPECT_TRUE(desiredNodeLabels(nullptr, nullptr).empty()); }

TEST(NodeLabelsTest, OwnedLabelsIgnoreEveryoneElses) {
  Labels l{{"kubernetes.io/hostname", "a"}, {kSchedulerLabel, "lavd"}};
  EXPECT_EQ(ownedNodeLabels(l), (Labels{{kSchedulerLabel, "lavd"}}));
}

TEST(NodeLabelsTest, LabelValuesAreMadeValid) {
  EXPECT_EQ(toLabelValue("lavd"), "lavd");
  EXPECT_EQ(toLabelValue("_weird name!_"), "weirdname");
  EXPECT_EQ(toLabelValue(std::string(100, 'a')).size(), 63u);
  EXPECT_EQ(toLabelValue("..."), "");
}

}  // namespace
}  // namespace schedkit::op
