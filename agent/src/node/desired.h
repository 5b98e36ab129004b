#pragma once

#include <optional>
#include <string>
#include <vector>

#include "node/node_engine.h"
#include "schedkit/policy/selector.h"
#include "schedkit/policy/types.h"

namespace schedkit::agent {

struct DesiredResult {
  std::optional<DesiredScheduler> desired;
  std::vector<policy::ObservedPolicy> observed;
  std::string note;  // why nothing runs although a policy matched (e.g. a canary not admitted)
  policy::SchedulerSpec scheduler;  // the winner's scheduler spec (pull policy, secrets, verify)
};

// Policies + this node's labels → what the node engine should run. The same resolution the
// operator uses (lib/policy), plus the agent's view of the rollout. `standalone` means no
// operator drives canary rollouts, so a Canary policy without rollout status runs at once.
DesiredResult computeDesired(const std::vector<policy::SchedulerPolicy>& policies,
                             const policy::Labels& nodeLabels, const std::string& nodeName,
                             bool standalone);

}  // namespace schedkit::agent
