#pragma once

// The operator's Prometheus metrics, computed at scrape time from a snapshot the operator
// publishes after each pass (no metric is updated on a hot path):
//   schedkit_operator_leader                            1 while this replica holds the Lease
//   schedkit_operator_reconcile_passes_total
//   schedkit_operator_reconcile_pass_seconds            duration of the last pass
//   schedkit_operator_status_writes_total{result}       ok | conflict | error
//   schedkit_operator_node_label_writes_total{result}   ok | error
//   schedkit_operator_node_label_writes_pending
//   schedkit_operator_api_requests_total                requests sent to the API server
//   schedkit_operator_policy_nodes{policy,state}        matched attached pending fallenBack ...
//   schedkit_operator_rollout_phase{policy,phase}       1 for the current phase
//   schedkit_operator_rollout_admitted_below{policy}

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "schedkit/common/status.h"
#include "schedkit/policy/types.h"

namespace prometheus {
class Registry;
class Exposer;
}  // namespace prometheus

namespace schedkit::op {

struct OperatorSnapshot {
  bool leader = false;
  std::uint64_t passes = 0;
  double lastPassSeconds = 0;
  std::uint64_t statusWrites = 0, statusConflicts = 0, statusFailures = 0;
  std::uint64_t labelWrites = 0, labelFailures = 0, labelPending = 0;
  std::uint64_t apiRequests = 0;
  std::map<std::string, policy::SchedulerPolicyStatus> policies;
};

class OperatorMetrics {
 public:
  OperatorMetrics();
  ~OperatorMetrics();
  Status serve(const std::string& addr);
  void publish(OperatorSnapshot s);  // thread-safe
  std::string render() const;        // the text exposition (tests)

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace schedkit::op
