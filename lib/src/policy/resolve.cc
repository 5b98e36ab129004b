#include "schedkit/policy/resolve.h"

#include <algorithm>

namespace schedkit::policy {

Resolution resolve(const std::vector<SchedulerPolicy>& policies, const Labels& nodeLabels) {
  Resolution r;
  for (std::size_t i = 0; i < policies.size(); ++i) {
    const auto& p = policies[i];
    if (p.spec.paused || !p.metadata.deletionTimestamp.empty()) continue;
    if (matches(p.spec.nodeSelector, nodeLabels)) r.matched.push_back(i);
  }
  std::sort(r.matched.begin(), r.matched.end(), [&](std::size_t a, std::size_t b) {
    const auto& pa = policies[a];
    const auto& pb = policies[b];
    if (pa.spec.priority != pb.spec.priority) return pa.spec.priority > pb.spec.priority;
    return pa.metadata.name < pb.metadata.name;
  });
  if (r.matched.empty()) return r;
  r.winner = r.matched.front();
  const int top = policies[*r.winner].spec.priority;
  for (std::size_t i : r.matched) {
    if (policies[i].spec.priority != top) break;
    r.conflicting.push_back(i);
  }
  if (r.conflicting.size() < 2) r.conflicting.clear();
  return r;
}

RevisionSpec revisionSpecOf(const SchedulerPolicySpec& spec) {
  RevisionSpec r;
  r.revision = revisionOf(spec);
  r.image = spec.scheduler.image;
  r.hostPath = spec.scheduler.hostPath;
  r.args = spec.scheduler.args;
  r.env = spec.scheduler.env;
  r.mode = spec.mode;
  return r;
}

std::optional<DesiredRevision> desiredRevision(const SchedulerPolicy& p, std::string_view nodeName) {
  RevisionSpec current = revisionSpecOf(p.spec);
  const bool immediate = p.spec.rollout.strategy == RolloutStrategy::kImmediate;
  const auto& ro = p.status.rollout;
  // No rollout status: no operator has taken the policy on (yet, or at all). Immediate runs the
  // spec; a Canary waits to be admitted (standalone agents decide for themselves, see the agent).
  if (!ro) {
    if (immediate) return DesiredRevision{current, true};
    return std::nullopt;
  }
  if (ro->revision == current.revision &&
      nodeBucket(nodeName, p.metadata.uid) < static_cast<std::uint32_t>(ro->admittedBelow)) {
    return DesiredRevision{current, true};
  }
  if (ro->stable) {
    // A stable revision equal to the current one needs no admission (e.g. a paused rollout that
    // only changed non-revision fields). Otherwise the node stays on stable until admitted, under
    // either strategy: that is how the operator keeps maxUnavailable.
    return DesiredRevision{*ro->stable, ro->stable->revision == current.revision};
  }
  // No stable revision: there is nothing running to protect. Immediate runs the new spec at once
  // unless the operator has taken this very revision back (admittedBelow 0 after a halt).
  if (immediate && ro->revision != current.revision) return DesiredRevision{current, true};
  return std::nullopt;
}

std::string imageToRun(const SchedulerPolicy& p, const DesiredRevision& d) {
  if (!d.current) return d.spec.image;  // a stable revision carries its pinned digest
  const auto& ro = p.status.rollout;
  // resolvedImage is trusted only when the status is about this very revision: the operator
  // writes both together, so a pin of an older spec is never run for a new one.
  if (!p.status.resolvedImage.empty() && ro && ro->revision == d.spec.revision) {
    return p.status.resolvedImage;
  }
  return d.spec.image;
}

}  // namespace schedkit::policy
