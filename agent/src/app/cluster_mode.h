#pragma once

// The agent against a Kubernetes API server: policies and its own Node from informers, its
// SchedulerNodeState written from a worker thread, Secrets for image pulls, Events.

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "app/image_resolver.h"
#include "node/node_engine.h"
#include "schedkit/kube/client.h"
#include "schedkit/kube/events.h"
#include "schedkit/kube/informer.h"
#include "schedkit/policy/selector.h"
#include "schedkit/policy/types.h"

namespace schedkit::agent {

// Watches every SchedulerPolicy and this node's Node object. Calls onChange (on the loop) with
// the decoded policies and the node's labels once both caches have synced, and after every
// change. Policies the agent cannot decode are skipped with an error log: the API server
// validated them, so that only happens with a newer schema.
class ClusterPolicySource {
 public:
  struct Snapshot {
    std::vector<policy::SchedulerPolicy> policies;
    policy::Labels nodeLabels;
    std::string nodeUid;
    bool nodeFound = false;
  };
  using OnChange = std::function<void(const Snapshot&)>;

  ClusterPolicySource(kube::Client& client, EventLoop& loop, const Logger& log, std::string node);
  ~ClusterPolicySource();
  void start(OnChange onChange);
  void stop();
  const Snapshot& snapshot() const { return snap_; }
  kube::ReflectorStats policyStats() const { return policies_->stats(); }
  kube::ReflectorStats nodeStats() const { return node_->stats(); }

 private:
  void refresh();

  const Logger& log_;
  std::string nodeName_;
  std::unique_ptr<kube::Informer> policies_;
  std::unique_ptr<kube::Informer> node_;
  OnChange onChange_;
  Snapshot snap_;
};

// Writes this node's SchedulerNodeState: creates it (owned by the Node, so it goes with the
// Node) and server-side-applies its status. Runs on its own thread: a slow or absent API server
// never blocks the node loop. Only the latest status is kept; a failed write is retried with
// backoff, so nothing is lost and nothing is written twice.
class NodeStateWriter {
 public:
  NodeStateWriter(kube::Client& client, Clock& clock, Random& random, const Logger& log,
                  std::string node);
  ~NodeStateWriter();
  void setNodeUid(const std::string& uid);  // from the Node informer; thread-safe
  void update(const policy::SchedulerNodeStateStatus& status);  // thread-safe, non-blocking
  void start();
  // Tries to write what is pending (bounded by `timeout`) and joins the thread.
  void stop(Duration timeout);
  std::uint64_t writes() const;
  std::uint64_t failures() const;
  // The object as written (CRD caps applied). Exposed for tests.
  static nlohmann::json statusPatch(const std::string& node,
                                    const policy::SchedulerNodeStateStatus& status);

 private:
  void run();
  Status writeOnce(const policy::SchedulerNodeStateStatus& st, const std::string& uid);

  kube::Client& client_;
  Clock& clock_;
  Random& random_;
  const Logger& log_;
  std::string node_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::optional<policy::SchedulerNodeStateStatus> pending_;
  std::string nodeUid_;
  bool created_ = false;
  bool stopping_ = false;
  std::uint64_t writes_ = 0, failures_ = 0;
  std::thread thread_;
};

// Secrets from the agent's own namespace (imagePullSecrets, cosign keys).
class KubeSecretSource final : public SecretSource {
 public:
  KubeSecretSource(kube::Client& client, std::string ns) : client_(client), ns_(std::move(ns)) {}
  Result<std::map<std::string, std::string>> get(const std::string& name) override;

 private:
  kube::Client& client_;
  std::string ns_;
};

// Node events → Kubernetes Events on the Node and, when there is one, the policy.
class KubeEventSink {
 public:
  KubeEventSink(kube::EventRecorder& recorder, std::string node) : rec_(recorder), node_(std::move(node)) {}
  void setNodeUid(const std::string& uid) { nodeUid_ = uid; }
  void setPolicyUids(std::map<std::string, std::string> uids) { policyUids_ = std::move(uids); }
  void record(const NodeEventRecord& e);

 private:
  kube::EventRecorder& rec_;
  std::string node_;
  std::string nodeUid_;
  std::map<std::string, std::string> policyUids_;
};

}  // namespace schedkit::agent
