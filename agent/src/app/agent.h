#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "app/cluster_mode.h"
#include "app/image_resolver.h"
#include "app/options.h"
#include "app/policy_source.h"
#include "metrics/agent_metrics.h"
#include "metrics/health.h"
#include "node/node_engine.h"
#include "schedkit/kube/client.h"
#include "schedkit/kube/events.h"
#include "schedkit/oci/image_store.h"
#include "schedkit/os/event_loop.h"
#include "schedkit/policy/selector.h"

namespace schedkit::agent {

namespace grpcapi {
class EventHub;
}

// Everything the agent touches, built by runAgent() from the real world or by a test from fakes.
struct AgentDeps {
  Clock& clock;
  Random& random;
  EventLoop& loop;
  Filesystem& localFs;  // the agent's own state dir and policy files
  const Logger& log;
  SchedExtHost& host;
  Attacher* bpfAttacher;
  Attacher* processAttacher;
  oci::ImagePuller* puller = nullptr;    // null: image policies stay blocked
  SecretSource* secrets = nullptr;       // image pull secrets and cosign keys
  kube::Client* kubeClient = nullptr;    // null: standalone (AgentOptions::policyFile)
  AgentMetrics* metrics = nullptr;
  grpcapi::EventHub* events = nullptr;  // the gRPC API's watchers
  RunqLatencyProbe* runqProbe = nullptr;  // null: spec.health.runqueueLatency is not evaluated
  HealthState* health = nullptr;          // null: no probes; else told when policies are known
};

// The node agent: a policy source (files or the API server), the node engine, image
// resolution, and the reports (node-state.json, SchedulerNodeState, Events). Single-threaded on
// the event loop, apart from the writers' and informers' own threads.
class Agent {
 public:
  Agent(AgentDeps deps, AgentOptions opts);
  ~Agent();
  Status start();
  // See NodeEngine::shutdown; also stops the informers and flushes the writers.
  void shutdown(bool detach, std::function<void()> done);
  void reloadPolicies();  // SIGHUP (standalone)
  void stopBackground();  // informers and writers; after the loop has stopped

  NodeEngine& engine() { return *engine_; }
  NodeStateWriter* kubeWriter() { return kubeWriter_.get(); }
  kube::EventRecorder* eventRecorder() { return recorder_.get(); }
  ClusterPolicySource* clusterSource() { return cluster_.get(); }

 private:
  void writeStateFile(const policy::SchedulerNodeStateStatus& st);
  void recompute();

  AgentDeps d_;
  AgentOptions o_;
  bool standalone_;
  std::unique_ptr<NodeStateWriter> kubeWriter_;
  std::unique_ptr<kube::EventRecorder> recorder_;
  std::unique_ptr<KubeEventSink> eventSink_;
  std::unique_ptr<NodeEngine> engine_;
  std::unique_ptr<ImageResolver> images_;
  std::unique_ptr<PolicyFileSource> files_;
  std::unique_ptr<ClusterPolicySource> cluster_;
  std::vector<policy::SchedulerPolicy> policies_;
  policy::Labels nodeLabels_;
  bool known_ = false;
};

}  // namespace schedkit::agent
