#include "runtime/operator_metrics.h"

#include <gtest/gtest.h>

namespace schedkit::op {
namespace {

// Every family of the exposition carries its series; the per-policy families come after eight
// others, which once left references into a reallocated vector and lost their series.
TEST(OperatorMetricsTest, EveryPolicyFamilyHasItsSeries) {
  OperatorMetrics m;
  OperatorSnapshot s;
  s.leader = true;
  s.passes = 3;
  policy::SchedulerPolicyStatus st;
  st.nodes.matched = 4;
  st.nodes.attached = 3;
  st.nodes.fallenBack = 1;
  st.rollout.emplace();
  st.rollout->phase = policy::RolloutPhase::kProgressing;
  st.rollout->admittedBelow = 2500;
  s.policies["lavd"] = st;
  s.policies["rusty"] = policy::SchedulerPolicyStatus{};
  m.publish(s);
  std::string text = m.render();
  for (const char* line :
       {"schedkit_operator_leader 1", "schedkit_operator_reconcile_passes_total 3",
        "schedkit_operator_policy_nodes{policy=\"lavd\",state=\"matched\"} 4",
        "schedkit_operator_policy_nodes{policy=\"lavd\",state=\"attached\"} 3",
        "schedkit_operator_policy_nodes{policy=\"lavd\",state=\"fallenBack\"} 1",
        "schedkit_operator_policy_nodes{policy=\"rusty\",state=\"attached\"} 0",
        "schedkit_operator_rollout_admitted_below{policy=\"lavd\"} 2500"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << "\n" << text;
  }
  EXPECT_NE(text.find("schedkit_operator_rollout_phase{policy=\"lavd\",phase=\""), std::string::npos) << text;
}

}  // namespace
}  // namespace schedkit::op
