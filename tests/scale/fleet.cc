#include "fleet.h"

#include <algorithm>

#include "schedkit/common/duration.h"
#include "schedkit/policy/resolve.h"

namespace schedkit::scale {

using policy::NodePhase;

namespace {
// What the kernel's watchdog reports for a stall (scx_exit_kind SCX_EXIT_ERROR_STALL).
constexpr int kExitErrorStall = 1026;
}  // namespace

FleetModel::FleetModel(Clock& clock, FleetOptions opts, std::vector<std::string> names,
                       policy::Labels labels, Publish publish)
    : clock_(clock), opts_(std::move(opts)), publish_(std::move(publish)) {
  nodes_.resize(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    Node& n = nodes_[i];
    n.name = std::move(names[i]);
    n.labels = labels;
    n.status.kernel = {opts_.kernelRelease, true, true, {}};
    index_.emplace(n.name, i);
  }
}

FleetModel::~FleetModel() {
  for (auto& n : nodes_) cancelAttach(n);
}

std::optional<std::size_t> FleetModel::indexOf(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) return std::nullopt;
  return it->second;
}

void FleetModel::publishIdle() {
  for (std::size_t i = 0; i < nodes_.size(); ++i) reconcile(i);
}

std::size_t FleetModel::setPolicies(std::vector<policy::SchedulerPolicy> policies) {
  std::sort(policies.begin(), policies.end(),
            [](const auto& a, const auto& b) { return a.metadata.name < b.metadata.name; });
  policies_ = std::move(policies);
  observed_.clear();
  for (const auto& p : policies_) observed_.push_back({p.metadata.name, p.metadata.generation});
  resolutions_.clear();
  std::size_t changed = 0;
  for (std::size_t i = 0; i < nodes_.size(); ++i) {
    Node& n = nodes_[i];
    std::optional<Want> want = desiredFor(n);
    if (want != n.want) ++changed;
    n.want = std::move(want);
    n.status.observedPolicies = observed_;
    reconcile(i);
  }
  return changed;
}

void FleetModel::setLabels(std::size_t i, policy::Labels labels) {
  Node& n = nodes_[i];
  if (n.labels == labels) return;
  n.labels = std::move(labels);
  n.want = desiredFor(n);
  reconcile(i);
}

// computeDesired() in agent/src/node/desired.cc, cluster mode (an operator drives rollouts).
std::optional<FleetModel::Want> FleetModel::desiredFor(const Node& n) {
  auto it = resolutions_.find(n.labels);
  if (it == resolutions_.end()) {
    it = resolutions_.emplace(n.labels, policy::resolve(policies_, n.labels)).first;
  }
  const policy::Resolution& r = it->second;
  if (!r.winner) return std::nullopt;
  const policy::SchedulerPolicy& p = policies_[*r.winner];
  std::optional<policy::DesiredRevision> rev = policy::desiredRevision(p, n.name);
  if (!rev) return std::nullopt;  // a canary rollout that has not reached this node
  Want w;
  w.policy = p.metadata.name;
  w.generation = p.metadata.generation;
  w.revision = rev->spec.revision;
  w.opsName = p.spec.scheduler.opsName;
  w.maxRestarts = p.spec.failurePolicy.maxRestarts;
  w.window = p.spec.failurePolicy.window;
  if (!rev->spec.hostPath.empty()) {
    w.hostPath = true;
    w.image = rev->spec.hostPath;
    policy::SchedulerSpec s = p.spec.scheduler;
    s.hostPath = rev->spec.hostPath;
    w.bpfObject = s.effectiveType() == policy::SchedulerType::kBpfObject;
  } else {
    w.image = policy::imageToRun(p, *rev);  // resolvedImage only for the rollout's revision
  }
  return w;
}

// NodeEngine::reconcile() without a kernel: attach takes opts_.attachDelay and always works,
// failures come only from fallback().
void FleetModel::reconcile(std::size_t i) {
  Node& n = nodes_[i];
  n.status.policy = n.want ? n.want->policy : "";
  n.status.revision = n.want ? n.want->revision : "";

  // Conflicts are reported once per change, as an event (NodeEngine::setDesired()).
  std::string conflict;
  if (n.want) {
    const policy::Resolution& r = resolutions_.at(n.labels);
    for (std::size_t c : r.conflicting) {
      conflict += (conflict.empty() ? "" : ", ") + policies_[c].metadata.name;
    }
  }
  if (conflict != n.lastConflict) {
    n.lastConflict = conflict;
    if (!conflict.empty()) {
      recordEvent(n, "Warning", "Conflict",
                  "policies " + conflict + " select this node with the same priority; " +
                      n.want->policy + " wins by name order");
    }
  }

  if (!n.want) {
    cancelAttach(n);
    detach(n);
    setPhase(i, NodePhase::kIdle, "NoPolicy", "no SchedulerPolicy selects this node");
    return;
  }
  const Want& want = *n.want;
  std::string key = want.policy + "@" + want.revision + "#" + std::to_string(want.generation);
  if (key != n.failureKey) {
    // A new generation clears the failure history, as the agent's revisionKey() does.
    n.failureKey = key;
    n.fallenBack = false;
    n.status.restarts = 0;
  }
  if (n.runs) {
    if (n.runs->policy == want.policy && n.runs->revision == want.revision && !n.fallenBack) {
      setPhase(i, NodePhase::kRunning, "Attached",
               "scheduler " + n.status.active->opsName + " is enabled");
      return;
    }
    detach(n);
  }
  if (n.fallenBack) {
    cancelAttach(n);
    setPhase(i, NodePhase::kFallenBack, "CircuitOpen",
             "failed " + std::to_string(want.maxRestarts + 1) + " times within " +
                 formatDuration(want.window) + "; running the default scheduler");
    return;
  }
  if (n.starting && n.starting->policy == want.policy && n.starting->revision == want.revision) {
    n.starting = want;
    setPhase(i, n.status.phase, n.phaseReason, n.phaseMessage);  // conditions follow the generation
    return;
  }
  startAttach(i);
}

void FleetModel::startAttach(std::size_t i) {
  Node& n = nodes_[i];
  cancelAttach(n);
  n.starting = n.want;
  ++attaching_;
  n.timer = clock_.callAfter(opts_.attachDelay, [this, i] { onAttached(i); });
  if (n.starting->hostPath) {
    setPhase(i, NodePhase::kAttaching, "Starting", "starting " + n.starting->image);
  } else {
    setPhase(i, NodePhase::kPulling, "Pulling", "pulling " + n.starting->image);
  }
}

void FleetModel::onAttached(std::size_t i) {
  Node& n = nodes_[i];
  n.timer = 0;
  --attaching_;
  if (!n.starting) return;
  n.runs = std::move(n.starting);
  n.starting.reset();
  ++n.enableSeq;
  std::string ops = (n.runs->opsName.empty() ? std::string("simfifo") : n.runs->opsName) + "_" +
                    std::to_string(n.enableSeq);
  std::int64_t pid = n.runs->bpfObject ? 0 : static_cast<std::int64_t>(100000 + i);
  n.status.active = policy::ActiveScheduler{ops, n.runs->image, pid, n.enableSeq,
                                            formatRfc3339(clock_.wallNow())};
  recordEvent(n, "Normal", "Attached",
              "scheduler " + ops + " enabled (enable_seq " + std::to_string(n.enableSeq) + ")");
  reconcile(i);
}

void FleetModel::detach(Node& n) {
  if (!n.runs) return;
  std::string ops = n.status.active ? n.status.active->opsName : n.runs->policy;
  n.runs.reset();
  n.status.active.reset();
  recordEvent(n, "Normal", "Detached",
              "scheduler " + ops + " detached; the node runs the default scheduler");
}

void FleetModel::cancelAttach(Node& n) {
  if (n.timer != 0) {
    clock_.cancel(n.timer);
    n.timer = 0;
    --attaching_;
  }
  n.starting.reset();
}

Status FleetModel::fallback(std::size_t i) {
  Node& n = nodes_[i];
  if (!n.want) return failedPrecondition(n.name + " runs no policy; nothing to fall back from");
  if (n.fallenBack) return failedPrecondition(n.name + " has already fallen back");
  const Want& want = *n.want;
  std::string ops = n.status.active ? n.status.active->opsName
                                    : (want.opsName.empty() ? want.policy : want.opsName);
  cancelAttach(n);
  // The scheduler died under the watchdog: no Detached event, just the exit.
  n.runs.reset();
  n.status.active.reset();
  std::string now = formatRfc3339(clock_.wallNow());
  policy::ExitRecord x{now, kExitErrorStall, "ERROR_STALL", "runnable task stall",
                       "kworker/u16:3[" + std::to_string(4000 + i % 1000) +
                           "] failed to run for 30.512s (injected by schedkit-fleet-sim)"};
  n.status.lastExit = x;
  n.status.restarts = want.maxRestarts;
  n.fallenBack = true;
  recordEvent(n, "Warning", "FallenBack",
              ops + " failed " + std::to_string(want.maxRestarts + 1) + " times within " +
                  formatDuration(want.window) + " (" + x.reason + ": " + x.message +
                  "); staying on the default scheduler");
  reconcile(i);
  return Status::ok();
}

Status FleetModel::recover(std::size_t i) {
  Node& n = nodes_[i];
  if (!n.fallenBack) return failedPrecondition(n.name + " has not fallen back");
  n.fallenBack = false;
  recordEvent(n, "Normal", "Reset", "failure history cleared by an operator; attaching again");
  reconcile(i);
  return Status::ok();
}

PhaseCounts FleetModel::counts() const {
  PhaseCounts c;
  for (const auto& n : nodes_) c.byPhase[n.status.phase]++;
  c.attaching = attaching_;
  return c;
}

void FleetModel::setPhase(std::size_t i, NodePhase phase, std::string reason, std::string message) {
  Node& n = nodes_[i];
  n.status.phase = phase;
  n.phaseReason = std::move(reason);
  n.phaseMessage = std::move(message);
  publish(i);
}

void FleetModel::recordEvent(Node& n, const std::string& type, const std::string& reason,
                             const std::string& message) {
  policy::NodeEvent ev{formatRfc3339(clock_.wallNow()), type, reason, message};
  auto& events = n.status.recentEvents;
  events.insert(events.begin(), std::move(ev));
  if (events.size() > policy::kMaxRecentEvents) events.resize(policy::kMaxRecentEvents);
}

// NodeEngine::updateConditions().
void FleetModel::updateConditions(Node& n) {
  std::int64_t gen = n.want ? n.want->generation : 0;
  auto set = [&](const std::string& type, bool value, const std::string& reason,
                 const std::string& message) {
    std::string v = value ? "True" : "False";
    auto& conds = n.status.conditions;
    auto it = std::find_if(conds.begin(), conds.end(),
                           [&](const policy::Condition& c) { return c.type == type; });
    if (it == conds.end()) {
      conds.push_back({type, v, gen, formatRfc3339(clock_.wallNow()), reason, message});
      return;
    }
    if (it->status != v) it->lastTransitionTime = formatRfc3339(clock_.wallNow());
    it->status = v;
    it->observedGeneration = gen;
    it->reason = reason;
    it->message = message;
  };
  NodePhase p = n.status.phase;
  bool attached = p == NodePhase::kRunning;
  bool ready = attached || p == NodePhase::kIdle;
  bool degraded = p == NodePhase::kFallenBack || p == NodePhase::kFailed ||
                  p == NodePhase::kIncompatible || p == NodePhase::kRestarting;
  set("Ready", ready, n.phaseReason, n.phaseMessage);
  set("SchedulerAttached", attached, attached ? "Attached" : n.phaseReason,
      attached ? n.phaseMessage : "no schedkit scheduler is enabled");
  set("Degraded", degraded, degraded ? n.phaseReason : "AsExpected",
      degraded ? n.phaseMessage : "");
}

void FleetModel::publish(std::size_t i) {
  Node& n = nodes_[i];
  updateConditions(n);
  if (n.published && *n.published == n.status) return;
  n.published = n.status;
  publish_(i, n.status);
}

}  // namespace schedkit::scale
