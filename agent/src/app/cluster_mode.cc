#include "app/cluster_mode.h"

#include <algorithm>

#include "schedkit/policy/decode.h"
#include "schedkit/policy/encode.h"

namespace schedkit::agent {

using nlohmann::json;

// ---- ClusterPolicySource ----

ClusterPolicySource::ClusterPolicySource(kube::Client& client, EventLoop& loop, const Logger& log,
                                         std::string node)
    : log_(log), nodeName_(std::move(node)) {
  kube::ReflectorOptions po;
  policies_ = std::make_unique<kube::Informer>(client, kube::resources::kSchedulerPolicies, po,
                                               kube::Informer::dispatchTo(loop));
  kube::ReflectorOptions no;
  no.fieldSelector = "metadata.name=" + nodeName_;
  node_ = std::make_unique<kube::Informer>(client, kube::resources::kNodes, no,
                                           kube::Informer::dispatchTo(loop));
}

ClusterPolicySource::~ClusterPolicySource() { stop(); }

void ClusterPolicySource::start(OnChange onChange) {
  onChange_ = std::move(onChange);
  kube::Informer::Handlers h{
      [this](const json&) { refresh(); },
      [this](const json&, const json&) { refresh(); },
      [this](const json&) { refresh(); },
      [this](bool) { refresh(); },
  };
  policies_->addHandlers(h);
  node_->addHandlers(h);
  policies_->start();
  node_->start();
}

void ClusterPolicySource::stop() {
  if (policies_) policies_->stop();
  if (node_) node_->stop();
}

void ClusterPolicySource::refresh() {
  // Until both caches hold a full list, "no policy" would mean "not known yet".
  if (!policies_->hasSynced() || !node_->hasSynced()) return;
  Snapshot s;
  for (const auto& obj : policies_->list()) {
    auto p = policy::decodePolicy(*obj, {.rejectUnknownFields = false});
    if (!p.isOk()) {
      log_.error("ignoring a SchedulerPolicy the agent cannot read", {{"error", p.status()}});
      continue;
    }
    s.policies.push_back(std::move(p).value());
  }
  std::sort(s.policies.begin(), s.policies.end(),
            [](const auto& a, const auto& b) { return a.metadata.name < b.metadata.name; });
  if (auto n = node_->get(nodeName_)) {
    s.nodeFound = true;
    s.nodeUid = n->value("/metadata/uid"_json_pointer, std::string());
    if (auto it = n->find("metadata"); it != n->end() && it->contains("labels")) {
      for (const auto& [k, v] : (*it)["labels"].items()) {
        if (v.is_string()) s.nodeLabels[k] = v.get<std::string>();
      }
    }
  }
  if (!s.nodeFound) log_.warn("this node's Node object does not exist (yet)", {{"node", nodeName_}});
  snap_ = std::move(s);
  onChange_(snap_);
}

// ---- NodeStateWriter ----

namespace {
std::string cut(const std::string& s, std::size_t max) {
  if (s.size() <= max) return s;
  std::string out = s.substr(0, max - 3);
  // Do not split a UTF-8 sequence.
  while (!out.empty() && (static_cast<unsigned char>(out.back()) & 0xC0) == 0x80) out.pop_back();
  if (!out.empty() && (static_cast<unsigned char>(out.back()) & 0x80) != 0) out.pop_back();
  return out + "...";
}
}  // namespace

NodeStateWriter::NodeStateWriter(kube::Client& client, Clock& clock, Random& random,
                                 const Logger& log, std::string node)
    : client_(client), clock_(clock), random_(random), log_(log), node_(std::move(node)) {}

NodeStateWriter::~NodeStateWriter() { stop(std::chrono::seconds(0)); }

void NodeStateWriter::setNodeUid(const std::string& uid) {
  std::lock_guard lk(mu_);
  nodeUid_ = uid;
}

void NodeStateWriter::update(const policy::SchedulerNodeStateStatus& status) {
  {
    std::lock_guard lk(mu_);
    pending_ = status;
  }
  cv_.notify_all();
}

void NodeStateWriter::start() { thread_ = std::thread([this] { run(); }); }

void NodeStateWriter::stop(Duration timeout) {
  if (!thread_.joinable()) return;
  {
    std::unique_lock lk(mu_);
    // Give a pending write a chance to land (SIGTERM with a fresh status).
    cv_.wait_for(lk, timeout, [&] { return !pending_.has_value(); });
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

std::uint64_t NodeStateWriter::writes() const {
  std::lock_guard lk(mu_);
  return writes_;
}
std::uint64_t NodeStateWriter::failures() const {
  std::lock_guard lk(mu_);
  return failures_;
}

json NodeStateWriter::statusPatch(const std::string& node,
                                  const policy::SchedulerNodeStateStatus& status) {
  policy::SchedulerNodeStateStatus s = status;
  // The CRD's caps (crds/schedkit.io_schedulernodestates.yaml).
  if (s.conditions.size() > 8) s.conditions.resize(8);
  for (auto& c : s.conditions) {
    c.message = cut(c.message, 4096);
    if (c.reason.empty()) c.reason = "Unknown";
  }
  for (auto& e : s.recentEvents) {
    e.reason = cut(e.reason, 128);
    e.message = cut(e.message, 1024);
  }
  if (s.lastExit) s.lastExit->message = cut(s.lastExit->message, 4096);
  if (s.kernel.features.size() > 32) s.kernel.features.resize(32);
  return {{"apiVersion", policy::kApiVersion},
          {"kind", policy::kNodeStateKind},
          {"metadata", {{"name", node}}},
          {"status", policy::encodeNodeStateStatus(s)}};
}

Status NodeStateWriter::writeOnce(const policy::SchedulerNodeStateStatus& st, const std::string& uid) {
  const auto& res = kube::resources::kSchedulerNodeStates;
  if (!created_) {
    auto existing = client_.get(res, "", node_);
    if (!existing.isOk() && existing.status().code() != StatusCode::kNotFound) return existing.status();
    if (!existing.isOk()) {
      json obj = {{"apiVersion", policy::kApiVersion},
                  {"kind", policy::kNodeStateKind},
                  {"metadata", {{"name", node_}}},
                  {"spec", {{"nodeName", node_}}}};
      if (!uid.empty()) {
        // Owned by the Node: deleting the Node deletes its state.
        obj["metadata"]["ownerReferences"] = json::array(
            {{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node_}, {"uid", uid}}});
      }
      auto created = client_.create(res, "", obj, {.fieldManager = "schedkit-agent"});
      if (!created.isOk() && created.status().code() != StatusCode::kAlreadyExists) {
        return created.status().withContext("creating SchedulerNodeState " + node_);
      }
      log_.info("created SchedulerNodeState", {{"name", node_}, {"owner_uid", uid}});
    }
    created_ = true;
  }
  auto applied = client_.applyStatus(res, statusPatch(node_, st),
                                     {.fieldManager = "schedkit-agent", .force = true});
  if (!applied.isOk()) {
    if (applied.status().code() == StatusCode::kNotFound) created_ = false;  // deleted under us
    return applied.status().withContext("writing SchedulerNodeState status");
  }
  return Status::ok();
}

void NodeStateWriter::run() {
  Backoff backoff({.initial = std::chrono::seconds(1), .max = std::chrono::seconds(30),
                   .factor = 2.0, .jitter = 0.3});
  for (;;) {
    policy::SchedulerNodeStateStatus st;
    std::string uid;
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || pending_.has_value(); });
      if (!pending_) return;  // stopping with nothing to write
      st = *pending_;
      uid = nodeUid_;
    }
    Status s = writeOnce(st, uid);
    std::unique_lock lk(mu_);
    if (s.isOk()) {
      ++writes_;
      backoff.reset();
      // Only clear what we wrote: a newer status that arrived meanwhile is written next.
      if (pending_ && *pending_ == st) pending_.reset();
      cv_.notify_all();
      continue;
    }
    ++failures_;
    Duration delay = backoff.next(random_);
    log_.warn("cannot write the node state; will retry", {{"error", s}, {"retry_in", delay}});
    if (stopping_) return;
    cv_.wait_for(lk, delay, [&] { return stopping_; });
    if (stopping_) return;
  }
}

// ---- KubeSecretSource ----

Result<std::map<std::string, std::string>> KubeSecretSource::get(const std::string& name) {
  SK_ASSIGN_OR_RETURN(json s, client_.get(kube::resources::kSecrets, ns_, name));
  std::map<std::string, std::string> out;
  if (s.contains("data") && s["data"].is_object()) {
    for (const auto& [k, v] : s["data"].items()) {
      if (v.is_string()) out[k] = v.get<std::string>();
    }
  }
  return out;
}

// ---- KubeEventSink ----

void KubeEventSink::record(const NodeEventRecord& e) {
  kube::EventRecord r;
  r.type = e.type == "Warning" ? kube::EventType::kWarning : kube::EventType::kNormal;
  r.reason = e.reason;
  r.action = e.reason;
  r.note = e.message;
  r.regarding = {"v1", "Node", "", node_, nodeUid_, "", ""};
  kube::ObjectReference pol;
  auto it = policyUids_.find(e.policy);
  if (!e.policy.empty()) {
    pol = {policy::kApiVersion, policy::kPolicyKind, "", e.policy,
           it == policyUids_.end() ? "" : it->second, "", ""};
    r.related = pol;
  }
  rec_.record(r);
  // What matters for a rollout is also told on the policy itself (kubectl describe sp).
  static const char* kPolicyReasons[] = {"Attached", "FallenBack", "PullFailed", "Incompatible",
                                         "Conflict", "KillSwitch"};
  if (!e.policy.empty() &&
      std::find_if(std::begin(kPolicyReasons), std::end(kPolicyReasons),
                   [&](const char* x) { return e.reason == x; }) != std::end(kPolicyReasons)) {
    kube::EventRecord p = r;
    p.regarding = pol;
    p.related = kube::ObjectReference{"v1", "Node", "", node_, nodeUid_, "", ""};
    p.note = "node " + node_ + ": " + e.message;
    rec_.record(p);
  }
}

}  // namespace schedkit::agent
