#pragma once

// Node labels for workload placement: which scheduler a node runs and whether it is ready, so a
// latency-sensitive workload can say
//   nodeSelector: {schedkit.io/scheduler: lavd, schedkit.io/scheduler-ready: "true"}
// The operator owns exactly these keys (server-side apply, its own field manager) and writes a
// node only when they change.

#include <map>
#include <string>

#include "schedkit/policy/types.h"

namespace schedkit::op {

inline constexpr const char* kSchedulerLabel = "schedkit.io/scheduler";
inline constexpr const char* kSchedulerReadyLabel = "schedkit.io/scheduler-ready";

// The labels a node should carry. `winner` is the policy the node runs (null: none), `state` its
// agent's report (null: none yet). The scheduler label is the policy's opsName, else the running
// ops name up to its first '_' ("lavd_1.0.6_x" → "lavd"), made a valid label value; it is left
// out when neither is known. No policy: no labels.
std::map<std::string, std::string> desiredNodeLabels(const policy::SchedulerPolicy* winner,
                                                     const policy::SchedulerNodeStateStatus* state);

// The operator's keys as the node carries them now.
std::map<std::string, std::string> ownedNodeLabels(const std::map<std::string, std::string>& labels);

// A valid label value from free text ("" when nothing usable is left): at most 63 characters of
// [A-Za-z0-9_.-], starting and ending with an alphanumeric.
std::string toLabelValue(std::string_view s);

}  // namespace schedkit::op
