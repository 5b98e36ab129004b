#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "schedkit/policy/selector.h"
#include "schedkit/policy/types.h"

namespace schedkit::policy {

// The outcome of resolution for one node (DESIGN.md §2 "Resolution and rollout").
struct Resolution {
  // Index into the input of the winning policy, if any policy matched.
  std::optional<std::size_t> winner;
  // Every matching policy (paused ones and ones being deleted excluded), best first.
  std::vector<std::size_t> matched;
  // Set when two or more policies share the top priority: all of them, the winner first.
  // Each reports Conflict; the winner is still the one that runs (lexical name order).
  std::vector<std::size_t> conflicting;

  bool conflict() const { return conflicting.size() > 1; }
};

// One pure function, shared by the agent and the operator: which policy a node runs.
Resolution resolve(const std::vector<SchedulerPolicy>& policies, const Labels& nodeLabels);

// Revision: a short stable hash of what the spec makes the node run (image or hostPath, type,
// args, env, mode). Changing priority, selector, health or rollout settings does not change it.
std::string revisionOf(const SchedulerPolicySpec& spec);
RevisionSpec revisionSpecOf(const SchedulerPolicySpec& spec);

inline constexpr std::uint32_t kBucketCount = 10000;
// Canary bucket of a node for a policy: SHA-256("<policy uid>/<node name>"), first 8 bytes as a
// big-endian integer, mod 10000. Stable across agents, the operator and releases.
std::uint32_t nodeBucket(std::string_view nodeName, std::string_view policyUid);

// What this node should run for a policy under its rollout (DESIGN.md §2 step 3): the current
// revision when the node is admitted (status.rollout.revision is current and the node's bucket is
// below admittedBelow), else the stable revision, else nothing. Without status.rollout (no
// operator) Immediate runs the current revision and Canary nothing; an Immediate first rollout
// (no stable revision) runs at once unless the operator rolled that revision back.
struct DesiredRevision {
  RevisionSpec spec;
  bool current = true;  // false: the stable revision held back by a canary rollout
};
std::optional<DesiredRevision> desiredRevision(const SchedulerPolicy& p, std::string_view nodeName);

// The image a node pulls for a desired revision: the stable revision's pinned digest, or for the
// current revision status.resolvedImage when status.rollout is about that revision, else the
// spec's own reference (the agent resolves it itself).
std::string imageToRun(const SchedulerPolicy& p, const DesiredRevision& d);

}  // namespace schedkit::policy
