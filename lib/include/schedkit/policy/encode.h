#pragma once

#include <nlohmann/json.hpp>

#include "schedkit/policy/types.h"

namespace schedkit::policy {

// Encodes as the API server would return the object (camelCase fields, Go-style durations,
// defaults written out). decodePolicy(encodePolicy(p)) == p for every valid p.
nlohmann::json encodePolicy(const SchedulerPolicy& p);
nlohmann::json encodePolicySpec(const SchedulerPolicySpec& s);
nlohmann::json encodePolicyStatus(const SchedulerPolicyStatus& s);
nlohmann::json encodeNodeState(const SchedulerNodeState& s);
nlohmann::json encodeNodeStateStatus(const SchedulerNodeStateStatus& s);
nlohmann::json encodeLabelSelector(const LabelSelector& s);
nlohmann::json encodeObjectMeta(const ObjectMeta& m);
nlohmann::json encodeConditions(const std::vector<Condition>& c);

}  // namespace schedkit::policy
