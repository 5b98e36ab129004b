#include "node/desired.h"

#include "schedkit/policy/resolve.h"

namespace schedkit::agent {

DesiredResult computeDesired(const std::vector<policy::SchedulerPolicy>& policies,
                             const policy::Labels& nodeLabels, const std::string& nodeName,
                             bool standalone) {
  DesiredResult out;
  for (const auto& p : policies) out.observed.push_back({p.metadata.name, p.metadata.generation});
  policy::Resolution r = policy::resolve(policies, nodeLabels);
  if (!r.winner) return out;
  const policy::SchedulerPolicy& p = policies[*r.winner];

  std::optional<policy::DesiredRevision> rev = policy::desiredRevision(p, nodeName);
  if (!rev && standalone && p.spec.rollout.strategy == policy::RolloutStrategy::kCanary &&
      !p.status.rollout) {
    rev = policy::DesiredRevision{policy::revisionSpecOf(p.spec), true};
    out.note = "no operator: canary rollout settings are ignored in standalone mode";
  }
  if (!rev) {
    out.note = "policy " + p.metadata.name + " is rolling out and has not reached this node yet";
    return out;
  }
  DesiredScheduler d;
  d.policy = p.metadata.name;
  d.generation = p.metadata.generation;
  d.failure = p.spec.failurePolicy;
  d.health = p.spec.health;
  LaunchSpec& l = d.launch;
  l.policy = p.metadata.name;
  l.revision = rev->spec.revision;
  l.args = rev->spec.args;
  l.env = rev->spec.env;
  l.mode = rev->spec.mode;
  // The spec's type and ops name describe the current revision. A stable one (held back by a
  // rollout, or rolled back to) records neither: when it names another scheduler than the spec
  // does, its type comes from its own path and its ops name is not checked. Taking the spec's
  // would, after a rollback from a binary to a BPF object, run the object as a program.
  const bool sameScheduler = rev->current || (rev->spec.hostPath == p.spec.scheduler.hostPath &&
                                              rev->spec.image == p.spec.scheduler.image);
  if (sameScheduler) l.expectedOps = p.spec.scheduler.opsName;
  if (!rev->spec.hostPath.empty()) {
    l.path = rev->spec.hostPath;
    policy::SchedulerSpec s;
    if (sameScheduler) s = p.spec.scheduler;
    s.hostPath = rev->spec.hostPath;
    l.type = s.effectiveType();
  } else {
    l.image = policy::imageToRun(p, *rev);
    l.type = policy::SchedulerType::kUnspecified;  // known once the image is pulled
  }
  for (std::size_t i : r.conflicting) {
    if (i != *r.winner) d.conflictsWith.push_back(policies[i].metadata.name);
  }
  out.scheduler = p.spec.scheduler;
  out.desired = std::move(d);
  return out;
}

}  // namespace schedkit::agent
