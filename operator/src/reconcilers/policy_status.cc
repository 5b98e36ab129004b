#include "reconcilers/policy_status.h"

#include <algorithm>

#include "schedkit/common/duration.h"
#include "schedkit/policy/resolve.h"

namespace schedkit::op {

using policy::NodePhase;
using policy::RolloutPhase;
using policy::RolloutStatus;

namespace {

constexpr int kAllBuckets = static_cast<int>(policy::kBucketCount);

bool isDigestReference(const std::string& image) {
  return image.find("@sha256:") != std::string::npos;
}
bool isLayoutReference(const std::string& image) { return image.rfind("oci:", 0) == 0; }

// Ejections worth listing: SysRq and the error kinds (UNREG* are orderly detaches).
bool isEjection(int kind) { return kind == 67 || kind >= 1024; }

std::string plural(int n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

std::string shortRev(const std::string& r) { return r.substr(0, 12); }

// How the nodes of this policy stand against the revision being rolled out.
struct Tally {
  int winners = 0;
  int admitted = 0;      // winners with bucket < admittedBelow
  int settled = 0;       // admitted and Running the revision
  int unsettled = 0;     // admitted, still switching (not settled, fallen back or incompatible)
  int failedOnRev = 0;   // admitted and fallen back while on the revision
  std::optional<WallTime> lastSince;  // latest active.since among settled nodes
  bool sinceUnknown = false;          // a settled node did not say since when
};

Tally tally(const PolicyInput& in, const std::string& rev, int admittedBelow) {
  Tally t;
  const std::string& name = in.policy.metadata.name;
  for (const auto& n : in.nodes) {
    if (!n.winner) continue;
    ++t.winners;
    if (static_cast<int>(n.bucket) >= admittedBelow) continue;
    ++t.admitted;
    const auto* s = n.state;
    bool onRev = s && s->policy == name && s->revision == rev;
    if (onRev && s->phase == NodePhase::kIncompatible) continue;  // can run nothing; not waited for
    if (onRev && s->phase == NodePhase::kFallenBack) {
      ++t.failedOnRev;
      continue;
    }
    if (onRev && s->phase == NodePhase::kRunning) {
      ++t.settled;
      std::optional<WallTime> since;
      if (s->active) since = parseRfc3339(s->active->since);
      if (!since) {
        t.sinceUnknown = true;
      } else if (!t.lastSince || *since > *t.lastSince) {
        t.lastSince = since;
      }
      continue;
    }
    ++t.unsettled;
  }
  return t;
}

// The smallest admittedBelow above `from` that admits `count` more winner nodes (all of them, and
// nodes yet to come, once none would be left out). Nodes sharing a bucket are admitted together.
int admitMore(const PolicyInput& in, int from, int count) {
  std::vector<std::uint32_t> rest;
  for (const auto& n : in.nodes) {
    if (n.winner && static_cast<int>(n.bucket) >= from) rest.push_back(n.bucket);
  }
  if (count >= static_cast<int>(rest.size())) return kAllBuckets;
  if (count <= 0) return from;
  std::sort(rest.begin(), rest.end());
  int below = static_cast<int>(rest[static_cast<std::size_t>(count) - 1]) + 1;
  // Every node left is admitted anyway: say so, so nodes that join later are admitted too.
  if (below > static_cast<int>(rest.back())) return kAllBuckets;
  return std::min(below, kAllBuckets);
}

policy::RevisionSpec pinnedRevision(const policy::SchedulerPolicy& p, const std::string& image) {
  policy::RevisionSpec r = policy::revisionSpecOf(p.spec);
  if (!image.empty()) r.image = image;
  return r;
}

}  // namespace

std::string imageToPin(const policy::SchedulerPolicy& p) {
  const std::string& image = p.spec.scheduler.image;
  if (image.empty() || isLayoutReference(image) || isDigestReference(image)) return "";
  const auto& ro = p.status.rollout;
  if (ro && ro->revision == policy::revisionOf(p.spec) && !p.status.resolvedImage.empty()) return "";
  return image;
}

void setCondition(std::vector<policy::Condition>& conds, const std::string& type, bool status,
                  std::string reason, std::string message, std::int64_t generation,
                  const std::string& now) {
  const char* v = status ? "True" : "False";
  auto it = std::find_if(conds.begin(), conds.end(), [&](const auto& c) { return c.type == type; });
  if (it == conds.end()) {
    conds.push_back({type, v, generation, now, std::move(reason), std::move(message)});
    return;
  }
  if (it->status != v) it->lastTransitionTime = now;
  it->status = v;
  it->observedGeneration = generation;
  it->reason = std::move(reason);
  it->message = std::move(message);
}

PolicyOutput reconcilePolicy(const PolicyInput& in) {
  const policy::SchedulerPolicy& p = in.policy;
  const std::string& name = p.metadata.name;
  const std::int64_t gen = p.metadata.generation;
  const std::string now = formatRfc3339(in.now);
  const std::string rev = policy::revisionOf(p.spec);
  const auto& spec = p.spec.rollout;
  const bool canary = spec.strategy == policy::RolloutStrategy::kCanary;

  PolicyOutput out;
  policy::SchedulerPolicyStatus& st = out.status;
  st = p.status;
  st.observedGeneration = gen;
  auto event = [&](bool warning, std::string reason, std::string message) {
    out.events.push_back({warning, std::move(reason), std::move(message)});
  };

  // ---- roll-up ----
  policy::NodeCounts c;
  std::vector<policy::FallbackRecord> fallbacks;
  for (const auto& n : in.nodes) {
    ++c.matched;
    if (n.conflicted) ++c.conflicted;
    if (!n.winner) continue;
    const auto* s = n.state;
    if (s && s->policy == name && s->lastExit && isEjection(s->lastExit->kind)) {
      const auto& e = *s->lastExit;
      fallbacks.push_back({n.name, e.time, e.kind, e.kindName, e.reason, e.message});
    }
    if (!s || s->policy != name) {
      ++c.pending;  // the agent has not taken the policy up yet (or is not admitted and idle)
      continue;
    }
    switch (s->phase) {
      case NodePhase::kRunning: ++c.attached; break;
      case NodePhase::kFallenBack: ++c.fallenBack; break;
      case NodePhase::kIncompatible: ++c.incompatible; break;
      case NodePhase::kFailed: ++c.failed; break;
      default: ++c.pending; break;
    }
  }
  st.nodes = c;
  std::sort(fallbacks.begin(), fallbacks.end(), [](const auto& a, const auto& b) {
    auto ta = parseRfc3339(a.time), tb = parseRfc3339(b.time);
    if (ta != tb) return ta > tb;  // newest first; unparseable times last
    return a.node < b.node;
  });
  if (fallbacks.size() > policy::kMaxRecentFallbacks) fallbacks.resize(policy::kMaxRecentFallbacks);
  st.recentFallbacks = std::move(fallbacks);

  // ---- image pin ----
  std::string pinned;  // the digest reference nodes run for this revision, when there is one
  bool pinBlocked = false;
  const std::string& image = p.spec.scheduler.image;
  if (!imageToPin(p).empty() && in.pin.state == ImagePin::State::kNotNeeded) {
    pinned.clear();  // pinning is off: agents resolve the tag for themselves
  } else if (!imageToPin(p).empty()) {
    if (in.pin.state == ImagePin::State::kResolved) {
      pinned = in.pin.image;
      if (st.resolvedImage != pinned) {
        event(false, "ImageResolved", image + " resolved to " + pinned);
      }
    } else {
      pinBlocked = true;
    }
  } else if (isDigestReference(image)) {
    pinned = image;
  } else if (!image.empty() && !isLayoutReference(image)) {
    pinned = st.resolvedImage;  // already pinned for this revision
  }
  st.resolvedImage = pinned;

  // ---- rollout ----
  const std::optional<RolloutStatus> old = p.status.rollout;
  RolloutStatus ro;
  const bool paused = p.spec.paused;
  if (paused) {
    if (old) ro = *old;
  } else if (!old || old->revision != rev) {
    ro.revision = rev;
    ro.stable = old ? old->stable : std::nullopt;
    ro.phase = RolloutPhase::kPending;
    ro.admittedBelow = 0;
    if (old && old->phase != RolloutPhase::kComplete) {
      event(false, "RolloutSuperseded",
            "revision " + shortRev(old->revision) + " is replaced by " + shortRev(rev) +
                " before it completed");
    }
  } else {
    ro = *old;
  }

  auto startRollout = [&]() {
    ro.phase = RolloutPhase::kProgressing;
    const Tally all = tally(in, rev, kAllBuckets);
    const int maxU = spec.maxUnavailable.resolve(all.winners);
    if (ro.stable && ro.stable->revision == rev) {
      ro.admittedBelow = kAllBuckets;  // back to what runs already
    } else if (!ro.stable && !canary) {
      ro.admittedBelow = kAllBuckets;  // a first Immediate rollout is not gated (see the header)
    } else {
      int first = canary ? (spec.canary ? spec.canary->nodes : 1) : maxU;
      ro.admittedBelow = admitMore(in, 0, first);
    }
    const Tally t = tally(in, rev, ro.admittedBelow);
    std::string how = canary ? "canary on " + plural(t.admitted, "node", "nodes")
                             : plural(t.admitted, "node", "nodes") + " first (maxUnavailable " +
                                   spec.maxUnavailable.toString() + ")";
    if (ro.admittedBelow == kAllBuckets) how = "all " + plural(all.winners, "node", "nodes");
    event(false, "RolloutStarted", "rolling out revision " + shortRev(rev) + ": " + how);
  };

  std::string waitReason, waitMessage;  // why a Progressing rollout is not moving on
  if (!paused && ro.phase == RolloutPhase::kPending) {
    if (pinBlocked && !(!ro.stable && !canary)) {
      const bool failed = in.pin.state == ImagePin::State::kFailed;
      waitReason = failed ? "ImageResolveFailed" : "ResolvingImage";
      waitMessage = failed ? "cannot resolve " + image + " to a digest: " + in.pin.error
                           : "resolving " + image + " to a digest";
      // Told once per failure: the Event goes out with the status write that first says so.
      auto was = std::find_if(p.status.conditions.begin(), p.status.conditions.end(),
                              [](const auto& k) { return k.type == "Ready"; });
      if (failed && (was == p.status.conditions.end() || was->reason != waitReason ||
                     was->message.rfind(waitMessage, 0) != 0)) {
        event(true, "ImageResolveFailed", waitMessage + "; the rollout waits, nodes keep what they run");
      }
    } else {
      startRollout();
    }
  }

  if (!paused && ro.phase == RolloutPhase::kProgressing) {
    Tally t = tally(in, rev, ro.admittedBelow);
    if (spec.haltOnFallbacks > 0 && t.failedOnRev >= spec.haltOnFallbacks) {
      std::string why = plural(t.failedOnRev, "node", "nodes") + " fell back on revision " +
                        shortRev(rev) + " (haltOnFallbacks " + std::to_string(spec.haltOnFallbacks) + ")";
      if (spec.autoRollback) {
        ro.phase = RolloutPhase::kRolledBack;
        ro.admittedBelow = 0;
        event(true, "RolledBack",
              why + "; nodes return to " +
                  (ro.stable ? "revision " + shortRev(ro.stable->revision) : "the default scheduler"));
      } else {
        ro.phase = RolloutPhase::kHalted;
        event(true, "RolloutHalted", why + "; autoRollback is off, admitted nodes keep the revision");
      }
    } else {
      const int firstThreshold =
          canary ? admitMore(in, 0, spec.canary ? spec.canary->nodes : 1) : 0;
      const bool inCanary = canary && ro.admittedBelow < kAllBuckets && ro.admittedBelow <= firstThreshold;
      const int maxU = std::max(1, spec.maxUnavailable.resolve(t.winners));
      bool mayAdmit = true;
      if (inCanary) {
        const Duration bake = spec.canary ? spec.canary->bakeTime : std::chrono::minutes(10);
        if (t.unsettled > 0 || t.settled == 0) {
          mayAdmit = false;
          waitReason = "Canary";
          waitMessage = "waiting for the canary: " + std::to_string(t.settled) + " of " +
                        plural(t.admitted, "node runs", "nodes run") + " revision " + shortRev(rev);
        } else {
          WallTime bakedAt = (t.lastSince && !t.sinceUnknown ? *t.lastSince : in.now) + bake;
          if (in.now < bakedAt) {
            mayAdmit = false;
            out.requeueAfter = std::chrono::duration_cast<Duration>(bakedAt - in.now);
            waitReason = "Baking";
            waitMessage = "canary " + plural(t.settled, "node runs", "nodes run") + " revision " +
                          shortRev(rev) + "; baking until " + formatRfc3339(bakedAt);
            if (t.sinceUnknown) out.requeueAfter = bake;
          } else {
            event(false, "CanaryBaked",
                  "canary ran revision " + shortRev(rev) + " for " + formatDuration(bake) +
                      " without a fallback; admitting the rest");
          }
        }
      }
      if (mayAdmit && ro.admittedBelow < kAllBuckets) {
        int budget = maxU - t.unsettled;
        if (budget > 0) {
          int before = t.admitted;
          ro.admittedBelow = admitMore(in, ro.admittedBelow, budget);
          t = tally(in, rev, ro.admittedBelow);
          if (t.admitted > before) {
            event(false, "RolloutStep",
                  "admitted " + plural(t.admitted - before, "more node", "more nodes") + " (" +
                      std::to_string(t.admitted) + " of " + std::to_string(t.winners) + ")");
          }
        } else {
          waitReason = "RollingOut";
          waitMessage = plural(t.unsettled, "node is", "nodes are") + " switching (maxUnavailable " +
                        spec.maxUnavailable.toString() + ")";
        }
      }
      if (ro.admittedBelow == kAllBuckets && t.unsettled == 0) {
        ro.phase = RolloutPhase::kComplete;
        ro.stable = pinnedRevision(p, pinned);
        waitReason.clear();
        event(false, "RolloutComplete",
              "revision " + shortRev(rev) + " runs on " + plural(t.settled, "node", "nodes"));
      } else if (waitReason.empty()) {
        waitReason = "RollingOut";
        waitMessage = std::to_string(t.settled) + " of " + std::to_string(t.winners) +
                      " nodes run revision " + shortRev(rev);
      }
    }
  }
  if (!paused || old) st.rollout = ro;

  // ---- conditions ----
  const bool halted = ro.phase == RolloutPhase::kHalted || ro.phase == RolloutPhase::kRolledBack;
  const bool rolling = !paused && (ro.phase == RolloutPhase::kPending || ro.phase == RolloutPhase::kProgressing);
  std::string counts = std::to_string(c.attached) + " of " + std::to_string(c.matched) +
                       " matched nodes attached";
  if (c.pending) counts += ", " + std::to_string(c.pending) + " pending";
  if (c.fallenBack) counts += ", " + std::to_string(c.fallenBack) + " fallen back";
  if (c.failed) counts += ", " + std::to_string(c.failed) + " failed";
  if (c.incompatible) counts += ", " + std::to_string(c.incompatible) + " incompatible";
  if (c.conflicted) counts += ", " + std::to_string(c.conflicted) + " conflicted";

  std::string readyReason, readyMessage = counts;
  bool ready = false;
  if (paused) {
    readyReason = "Paused";
    readyMessage = "the policy is paused: nodes act as if it did not exist";
  } else if (halted) {
    readyReason = ro.phase == RolloutPhase::kRolledBack ? "RolledBack" : "RolloutHalted";
  } else if (rolling) {
    readyReason = waitReason.empty() ? "RollingOut" : waitReason;
    readyMessage = waitMessage.empty() ? counts : waitMessage + "; " + counts;
  } else if (c.fallenBack) {
    readyReason = "NodesFallenBack";
  } else if (c.failed) {
    readyReason = "NodesFailed";
  } else if (c.pending) {
    readyReason = "NodesPending";
  } else {
    ready = true;
    readyReason = c.matched == 0 ? "NoMatchingNodes" : "AllNodesReady";
    if (c.matched == 0) readyMessage = "no node matches the selector";
  }

  std::string progReason, progMessage;
  if (paused) {
    progReason = "Paused";
    progMessage = "the policy is paused";
  } else if (rolling) {
    progReason = waitReason.empty() ? "RollingOut" : waitReason;
    progMessage = waitMessage;
  } else if (halted) {
    progReason = ro.phase == RolloutPhase::kRolledBack ? "RolledBack" : "RolloutHalted";
    progMessage = "revision " + shortRev(rev) + " stopped: change the spec to roll out again";
  } else {
    progReason = "RolloutComplete";
    progMessage = "revision " + shortRev(rev) + " is rolled out";
  }

  bool degraded = c.fallenBack > 0 || c.failed > 0 || c.incompatible > 0;
  std::string degReason = c.fallenBack ? "NodesFallenBack"
                          : c.failed   ? "NodesFailed"
                          : c.incompatible ? "NodesIncompatible"
                                           : "AsExpected";
  bool reconciling = !paused && !halted && (rolling || c.pending > 0);

  auto& conds = st.conditions;
  setCondition(conds, "Ready", ready, readyReason, readyMessage, gen, now);
  setCondition(conds, "Progressing", rolling, progReason, progMessage, gen, now);
  setCondition(conds, "Degraded", degraded, degReason, degraded ? counts : "", gen, now);
  // kstatus' generic conditions, so GitOps tools (Argo CD, Flux, kpt) judge the policy.
  setCondition(conds, "Reconciling", reconciling,
               reconciling ? (rolling ? progReason : "NodesPending") : "Reconciled",
               reconciling ? (rolling ? progMessage : counts) : "", gen, now);
  setCondition(conds, "Stalled", halted, halted ? progReason : "NotStalled",
               halted ? progMessage : "", gen, now);
  setCondition(conds, "Conflict", c.conflicted > 0, c.conflicted ? "EqualPriority" : "NoConflict",
               c.conflicted ? plural(c.conflicted, "node is", "nodes are") +
                                  " also matched by another policy of priority " +
                                  std::to_string(p.spec.priority) + " (name order decides)"
                            : "",
               gen, now);
  return out;
}

}  // namespace schedkit::op
