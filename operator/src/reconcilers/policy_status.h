#pragma once

// The policy reconciler's pure core: one SchedulerPolicy, the nodes its selector matches and what
// their agents report → the policy's next status (node counts, the rollout step, conditions,
// recent fallbacks), the Events to record and when to look again. No I/O and no clock of its own:
// the caller passes `now`, so every rollout transition is a table test.
//
// The rollout lives entirely in status.rollout plus the agents' node states, so an operator that
// restarts (or a new leader) continues exactly where the last one stopped:
//   new revision ─► Pending (waiting for the image digest) ─► Progressing ─► Complete
//                                                              │
//                         haltOnFallbacks reached ─► Halted, or RolledBack (admittedBelow 0)
// Progressing admits nodes by bucket (policy::nodeBucket): a Canary first admits exactly
// canary.nodes nodes, waits until they run the revision and then bakeTime more (measured from the
// agents' active.since), then admits the rest; both strategies keep at most maxUnavailable nodes
// switching at a time. An Immediate first rollout (no stable revision) is not gated: its nodes
// have nothing to be unavailable from, and agents run it before any operator looks.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/policy/types.h"

namespace schedkit::op {

struct NodeView {
  std::string name;
  std::uint32_t bucket = 0;  // policy::nodeBucket(name, policy uid)
  bool winner = false;       // this policy is the one the node runs
  bool conflicted = false;   // another policy of equal priority matches the node too
  const policy::SchedulerNodeStateStatus* state = nullptr;  // the agent's report; null: none yet
};

// The digest the current spec's image tag resolves to, as far as the caller got.
struct ImagePin {
  enum class State { kNotNeeded, kResolved, kPending, kFailed };
  State state = State::kNotNeeded;
  std::string image;  // kResolved: registry/repo@sha256:...
  std::string error;  // kFailed: why
};

struct PolicyInput {
  const policy::SchedulerPolicy& policy;
  std::vector<NodeView> nodes;  // every node the selector matches (none for a paused policy)
  WallTime now{};
  ImagePin pin{};
};

struct PolicyEvent {
  bool warning = false;
  std::string reason;
  std::string message;
  friend bool operator==(const PolicyEvent&, const PolicyEvent&) = default;
};

struct PolicyOutput {
  policy::SchedulerPolicyStatus status;
  std::vector<PolicyEvent> events;
  std::optional<Duration> requeueAfter;  // a bake is under way: look again then
};

// What the policy needs from the registry before its rollout can start: a tag to pin. Empty
// when nothing is needed (hostPath, an OCI layout on the node, a digest already, or a status that
// already pins this very revision).
std::string imageToPin(const policy::SchedulerPolicy& p);

PolicyOutput reconcilePolicy(const PolicyInput& in);

// Sets (or adds) a condition, keeping lastTransitionTime unless the status changes.
void setCondition(std::vector<policy::Condition>& conds, const std::string& type, bool status,
                  std::string reason, std::string message, std::int64_t generation,
                  const std::string& now);

}  // namespace schedkit::op
