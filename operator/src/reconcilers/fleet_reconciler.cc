#include "reconcilers/fleet_reconciler.h"

#include <algorithm>

#include "reconcilers/node_labels.h"
#include "schedkit/policy/decode.h"
#include "schedkit/policy/encode.h"
#include "schedkit/policy/resolve.h"

namespace schedkit::op {

using nlohmann::json;

// ---- NodeLabelWriter ----

NodeLabelWriter::NodeLabelWriter(kube::Client& client, Random& random, const Logger& log)
    : client_(client), random_(random), log_(log) {}

NodeLabelWriter::~NodeLabelWriter() { stop(); }

void NodeLabelWriter::want(const std::string& node, std::map<std::string, std::string> labels,
                           const std::map<std::string, std::string>& current) {
  {
    std::lock_guard lk(mu_);
    if (labels == current) {
      // Confirmed by the cache (or nothing to do): forget the write, so a later edit by someone
      // else is put right again.
      written_.erase(node);
      pending_.erase(node);
      return;
    }
    auto w = written_.find(node);
    if (w != written_.end() && w->second == labels) {
      pending_.erase(node);  // applied already; the cache has not caught up
      return;
    }
    pending_[node] = std::move(labels);
  }
  cv_.notify_all();
}

void NodeLabelWriter::start() { thread_ = std::thread([this] { run(); }); }

void NodeLabelWriter::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::uint64_t NodeLabelWriter::writes() const {
  std::lock_guard lk(mu_);
  return writes_;
}
std::uint64_t NodeLabelWriter::failures() const {
  std::lock_guard lk(mu_);
  return failures_;
}
std::size_t NodeLabelWriter::pending() const {
  std::lock_guard lk(mu_);
  return pending_.size();
}

void NodeLabelWriter::run() {
  Backoff backoff({std::chrono::milliseconds(500), std::chrono::seconds(30), 2.0, 0.3});
  for (;;) {
    std::string node;
    std::map<std::string, std::string> labels;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      auto it = pending_.begin();
      node = it->first;
      labels = std::move(it->second);
      pending_.erase(it);
    }
    // Server-side apply of only the operator's keys: a key left out is removed if the operator
    // owned it, and nobody else's labels are touched.
    json l = json::object();
    for (const auto& [k, v] : labels) l[k] = v;
    json body = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", {{"name", node}, {"labels", l}}}};
    auto r = client_.apply(kube::resources::kNodes, body, {.fieldManager = kFieldManager, .force = true});
    std::unique_lock lk(mu_);
    if (r.isOk() || r.status().code() == StatusCode::kNotFound) {
      if (r.isOk()) {
        ++writes_;
        written_[node] = labels;
      } else {
        written_.erase(node);  // the node is gone
      }
      backoff.reset();
      continue;
    }
    ++failures_;
    if (!pending_.count(node)) pending_[node] = labels;  // unless a newer wish arrived
    Duration wait = backoff.next(random_);
    log_.warn("cannot label node; will retry", {{"node", node}, {"error", r.status()}, {"retry_in", wait}});
    cv_.wait_for(lk, wait, [&] { return stopping_; });
    if (stopping_) return;
  }
}

// ---- FleetReconciler ----

const std::optional<policy::SchedulerPolicy>& FleetReconciler::decodePolicy(const json& obj) {
  auto& e = policies_[kube::objectKey(obj)];
  std::string rv = kube::resourceVersionOf(obj);
  if (e.resourceVersion != rv || rv.empty()) {
    e.resourceVersion = rv;
    auto p = policy::decodePolicy(obj, {.rejectUnknownFields = false});
    if (p.isOk()) {
      e.value = std::move(p).value();
    } else {
      e.value.reset();
      ++stats_.undecodable;
      d_.log.error("cannot read a SchedulerPolicy; leaving it alone",
                   {{"name", kube::objectKey(obj)}, {"error", p.status()}});
    }
  }
  return e.value;
}

const std::optional<policy::SchedulerNodeStateStatus>& FleetReconciler::decodeState(const json& obj) {
  auto& e = states_[kube::objectKey(obj)];
  std::string rv = kube::resourceVersionOf(obj);
  if (e.resourceVersion != rv || rv.empty()) {
    e.resourceVersion = rv;
    auto s = policy::decodeNodeState(obj, {.rejectUnknownFields = false});
    if (s.isOk()) {
      e.value = std::move(s->status);
    } else {
      e.value.reset();
      ++stats_.undecodable;
      d_.log.warn("cannot read a SchedulerNodeState; counting its node as pending",
                  {{"name", kube::objectKey(obj)}, {"error", s.status()}});
    }
  }
  return e.value;
}

const policy::Labels& FleetReconciler::nodeLabels(const json& obj) {
  auto& e = labels_[kube::objectKey(obj)];
  std::string rv = kube::resourceVersionOf(obj);
  if (e.first != rv || rv.empty()) {
    e.first = rv;
    e.second.clear();
    auto m = obj.find("metadata");
    if (m != obj.end() && m->contains("labels") && (*m)["labels"].is_object()) {
      for (const auto& [k, v] : (*m)["labels"].items()) {
        if (v.is_string()) e.second[k] = v.get<std::string>();
      }
    }
  }
  return e.second;
}

bool FleetReconciler::writeStatus(const json& obj, const policy::SchedulerPolicyStatus& status) {
  json body = obj;
  body["status"] = policy::encodePolicyStatus(status);
  body["metadata"].erase("managedFields");
  auto r = d_.client.updateStatus(kube::resources::kSchedulerPolicies, body,
                                  {.fieldManager = kFieldManager});
  if (r.isOk()) {
    ++stats_.statusWrites;
    return true;
  }
  if (r.status().code() == StatusCode::kAborted || r.status().code() == StatusCode::kNotFound) {
    ++stats_.statusConflicts;  // a newer version (or none) is on its way through the informer
    d_.log.debug("status write lost a race; the next pass retries",
                 {{"policy", kube::objectKey(obj)}, {"error", r.status()}});
    return false;
  }
  ++stats_.statusFailures;
  d_.log.warn("cannot write policy status; will retry",
              {{"policy", kube::objectKey(obj)}, {"error", r.status()}});
  return false;
}

std::optional<Duration> FleetReconciler::reconcile(const FleetSnapshot& snap) {
  const MonoTime started = d_.clock.now();
  ++stats_.passes;
  std::optional<Duration> requeue;
  auto soonest = [&](Duration d) {
    if (!requeue || d < *requeue) requeue = d;
  };

  // Policies, in name order (resolution breaks priority ties by name).
  std::vector<policy::SchedulerPolicy> policies;
  std::vector<const json*> objects;
  {
    std::vector<std::pair<const policy::SchedulerPolicy*, const json*>> decoded;
    for (const auto& o : snap.policies) {
      const auto& p = decodePolicy(*o);
      if (p && p->metadata.deletionTimestamp.empty()) decoded.emplace_back(&*p, o.get());
    }
    std::sort(decoded.begin(), decoded.end(), [](const auto& a, const auto& b) {
      return a.first->metadata.name < b.first->metadata.name;
    });
    for (const auto& [p, o] : decoded) {
      policies.push_back(*p);
      objects.push_back(o);
    }
  }
  std::map<std::string, const policy::SchedulerNodeStateStatus*> states;
  for (const auto& o : snap.states) {
    if (const auto& s = decodeState(*o)) states[kube::objectKey(*o)] = &*s;
  }

  // Every node against every policy: the same resolution the agents run.
  std::vector<std::vector<NodeView>> views(policies.size());
  for (const auto& o : snap.nodes) {
    const std::string name = kube::objectKey(*o);
    const policy::Labels& labels = nodeLabels(*o);
    policy::Resolution r = policy::resolve(policies, labels);
    auto st = states.find(name);
    const policy::SchedulerNodeStateStatus* state = st == states.end() ? nullptr : st->second;
    for (std::size_t i : r.matched) {
      bool conflicted = std::find(r.conflicting.begin(), r.conflicting.end(), i) != r.conflicting.end();
      views[i].push_back({name, policy::nodeBucket(name, policies[i].metadata.uid), i == *r.winner,
                          conflicted, state});
    }
    if (d_.labels) {
      d_.labels->want(name, desiredNodeLabels(r.winner ? &policies[*r.winner] : nullptr, state),
                      ownedNodeLabels(labels));
    }
  }

  const WallTime now = d_.clock.wallNow();
  std::map<std::string, policy::SchedulerPolicyStatus> last;
  for (std::size_t i = 0; i < policies.size(); ++i) {
    const policy::SchedulerPolicy& p = policies[i];
    PolicyInput in{p, std::move(views[i]), now, {}};
    if (std::string image = imageToPin(p); !image.empty() && d_.pins) {
      PinCache::Answer a = d_.pins->get(image, p.spec.scheduler.imagePullSecrets);
      in.pin = a.ok ? ImagePin{ImagePin::State::kResolved, a.image, ""}
                    : ImagePin{ImagePin::State::kFailed, "", a.error};
      if (!a.ok) soonest(std::chrono::duration_cast<Duration>(a.retryAt - d_.clock.now()));
    }
    PolicyOutput out = reconcilePolicy(in);
    if (out.requeueAfter) soonest(*out.requeueAfter);
    last[p.metadata.name] = out.status;
    if (policy::encodePolicyStatus(out.status) == policy::encodePolicyStatus(p.status)) continue;
    if (!writeStatus(*objects[i], out.status)) {
      soonest(std::chrono::seconds(5));
      continue;
    }
    d_.log.info("policy status written",
                {{"policy", p.metadata.name},
                 {"rollout", out.status.rollout ? policy::toString(out.status.rollout->phase) : "-"},
                 {"admitted_below", out.status.rollout ? out.status.rollout->admittedBelow : 0},
                 {"matched", out.status.nodes.matched},
                 {"attached", out.status.nodes.attached},
                 {"fallen_back", out.status.nodes.fallenBack}});
    if (d_.events) {
      for (const auto& e : out.events) {
        kube::EventRecord r;
        r.regarding = kube::ObjectReference::of(*objects[i]);
        r.type = e.warning ? kube::EventType::kWarning : kube::EventType::kNormal;
        r.reason = e.reason;
        r.action = "Rollout";
        r.note = e.message;
        d_.events->record(std::move(r));
      }
    }
  }
  last_ = std::move(last);

  // Forget what left the caches.
  auto prune = [](auto& cache, const std::vector<kube::ObjectPtr>& objs) {
    if (cache.size() <= objs.size()) return;
    std::map<std::string, bool> keep;
    for (const auto& o : objs) keep[kube::objectKey(*o)] = true;
    for (auto it = cache.begin(); it != cache.end();) {
      it = keep.count(it->first) ? std::next(it) : cache.erase(it);
    }
  };
  prune(policies_, snap.policies);
  prune(states_, snap.states);
  prune(labels_, snap.nodes);
  stats_.lastPass = d_.clock.now() - started;
  return requeue;
}

}  // namespace schedkit::op
