#include "status_writer.h"

#include "schedkit/policy/encode.h"

namespace schedkit::scale {

using nlohmann::json;

json nodeStateStatusPatch(const std::string& node, const policy::SchedulerNodeStateStatus& status) {
  policy::SchedulerNodeStateStatus s = status;
  // The CRD's caps; the simulator's own strings are well inside the length limits.
  if (s.conditions.size() > 8) s.conditions.resize(8);
  for (auto& c : s.conditions) {
    if (c.reason.empty()) c.reason = "Unknown";
  }
  if (s.recentEvents.size() > policy::kMaxRecentEvents) {
    s.recentEvents.resize(policy::kMaxRecentEvents);
  }
  return {{"apiVersion", policy::kApiVersion},
          {"kind", policy::kNodeStateKind},
          {"metadata", {{"name", node}}},
          {"status", policy::encodeNodeStateStatus(s)}};
}

json newNodeState(const std::string& node, const std::string& nodeUid) {
  json obj = {{"apiVersion", policy::kApiVersion},
              {"kind", policy::kNodeStateKind},
              {"metadata", {{"name", node}}},
              {"spec", {{"nodeName", node}}}};
  if (!nodeUid.empty()) {
    obj["metadata"]["ownerReferences"] =
        json::array({{{"apiVersion", "v1"}, {"kind", "Node"}, {"name", node}, {"uid", nodeUid}}});
  }
  return obj;
}

StatusWriter::StatusWriter(kube::Client& client, std::vector<std::string> names,
                           StatusWriterOptions opts)
    : client_(client),
      names_(std::move(names)),
      opts_(opts),
      bucket_(client.clock(), opts.qps, std::max(1, opts.burst)) {
  pending_.resize(names_.size());
  queued_.assign(names_.size(), 0);
  written_.resize(names_.size());
  uids_.resize(names_.size());
}

StatusWriter::~StatusWriter() { stop(); }

void StatusWriter::setNodeUids(std::vector<std::string> uids) {
  std::lock_guard lk(mu_);
  uids_ = std::move(uids);
  uids_.resize(names_.size());
}

void StatusWriter::start() {
  for (int t = 0; t < std::max(1, opts_.threads); ++t) threads_.emplace_back([this] { run(); });
}

void StatusWriter::stop() {
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
  }
  cancel_->cancel();
  cv_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void StatusWriter::submit(std::size_t node, const policy::SchedulerNodeStateStatus& status) {
  {
    std::lock_guard lk(mu_);
    ++stats_.submitted;
    if (pending_[node]) ++stats_.coalesced;
    pending_[node] = status;
    if (queued_[node] != 0) return;
    queued_[node] = 1;
    queue_.push_back(node);
  }
  cv_.notify_one();
}

bool StatusWriter::idle() const {
  std::lock_guard lk(mu_);
  return queue_.empty() && inflight_ == 0;
}

bool StatusWriter::waitIdle(const std::atomic<bool>& stop) const {
  std::unique_lock lk(mu_);
  while (!(queue_.empty() && inflight_ == 0)) {
    if (stop.load() || stopping_) return false;
    cv_.wait_for(lk, std::chrono::milliseconds(100));
  }
  return !stop.load();
}

std::size_t StatusWriter::queued() const {
  std::lock_guard lk(mu_);
  return queue_.size();
}

std::size_t StatusWriter::inflight() const {
  std::lock_guard lk(mu_);
  return inflight_;
}

StatusWriterStats StatusWriter::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

std::map<policy::NodePhase, std::size_t> StatusWriter::writtenPhases() const {
  std::lock_guard lk(mu_);
  return writtenCounts_;
}

Status StatusWriter::writeOnce(std::size_t node, const policy::SchedulerNodeStateStatus& status) {
  const auto& res = kube::resources::kSchedulerNodeStates;
  const kube::ApplyOptions ao{.fieldManager = kAgentFieldManager, .force = true};
  auto applied = client_.applyStatus(res, nodeStateStatusPatch(names_[node], status), ao);
  if (applied.isOk()) return Status::ok();
  if (applied.status().code() != StatusCode::kNotFound) return applied.status();
  // Deleted under us (kubectl delete sns): an agent creates its object again.
  std::string uid;
  {
    std::lock_guard lk(mu_);
    uid = uids_[node];
  }
  auto created = client_.create(res, "", newNodeState(names_[node], uid),
                                {.fieldManager = kAgentFieldManager});
  if (!created.isOk() && created.status().code() != StatusCode::kAlreadyExists) {
    return created.status().withContext("creating SchedulerNodeState " + names_[node]);
  }
  {
    std::lock_guard lk(mu_);
    ++stats_.recreated;
  }
  applied = client_.applyStatus(res, nodeStateStatusPatch(names_[node], status), ao);
  return applied.isOk() ? Status::ok() : applied.status();
}

void StatusWriter::run() {
  Backoff backoff({.initial = std::chrono::seconds(1),
                   .max = std::chrono::seconds(30),
                   .factor = 2.0,
                   .jitter = 0.3});
  std::unique_lock lk(mu_);
  for (;;) {
    cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    std::size_t node = queue_.front();
    queue_.pop_front();
    queued_[node] = 0;
    policy::SchedulerNodeStateStatus st = std::move(*pending_[node]);
    pending_[node].reset();
    ++inflight_;
    lk.unlock();

    Duration wait = bucket_.reserve();
    bool go = true;
    if (wait > Duration::zero()) go = client_.sleeper().sleepFor(wait, cancel_);
    Status s = go ? writeOnce(node, st) : cancelled("stopping");

    lk.lock();
    --inflight_;
    stats_.throttled += wait;
    if (s.isOk()) {
      ++stats_.writes;
      backoff.reset();
      if (written_[node]) --writtenCounts_[*written_[node]];
      written_[node] = st.phase;
      ++writtenCounts_[st.phase];
      cv_.notify_all();
      continue;
    }
    if (stopping_) return;
    ++stats_.failures;
    if (stats_.failures == 1 || stats_.failures % 100 == 0) {
      client_.log().warn("cannot write a node state; will retry",
                         {{"node", names_[node]},
                          {"error", s},
                          {"failures", static_cast<unsigned long long>(stats_.failures)}});
    }
    // Retry what failed unless something newer is already waiting; the node stays "queued"
    // (held by this thread) so idle() does not report a drained writer meanwhile.
    if (!pending_[node]) pending_[node] = std::move(st);
    Duration delay = backoff.next(client_.random());
    ++inflight_;
    lk.unlock();
    bool slept = client_.sleeper().sleepFor(delay, cancel_);
    lk.lock();
    --inflight_;
    if (!slept || stopping_) return;
    if (pending_[node] && queued_[node] == 0) {
      queued_[node] = 1;
      queue_.push_back(node);
    }
    cv_.notify_all();
  }
}

}  // namespace schedkit::scale
