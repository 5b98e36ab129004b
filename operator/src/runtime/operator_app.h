#pragma once

// The operator: informers on SchedulerPolicies, SchedulerNodeStates and Nodes (warm on every
// replica), and — on the leader only — coalesced reconcile passes on the event loop: an informer
// event schedules a pass shortly after (bursts from thousands of agents fold into one), a pass
// schedules the next when a bake ends or a retry is due, and a slow resync catches anything else.

#include <memory>
#include <optional>
#include <string>

#include "reconcilers/fleet_reconciler.h"
#include "runtime/leader_election.h"
#include "runtime/operator_metrics.h"
#include "runtime/options.h"
#include "schedkit/kube/client.h"
#include "schedkit/kube/events.h"
#include "schedkit/kube/informer.h"
#include "schedkit/os/event_loop.h"

namespace schedkit::op {

struct OperatorDeps {
  Clock& clock;  // timers fire on `loop`
  Random& random;
  EventLoop& loop;
  const Logger& log;
  kube::Client& watchClient;  // informers and the Lease
  kube::Client& writeClient;  // status, labels and Events (bounded retries: never stall a pass long)
  kube::Client* leaseClient = nullptr;  // the Lease (short timeouts); null: watchClient
  kube::Client* labelClient = nullptr;  // node labels (own rate limit); null: writeClient
  ImagePinner* pinner = nullptr;    // null: tags are not pinned
  OperatorMetrics* metrics = nullptr;
};

class Operator {
 public:
  Operator(OperatorDeps deps, OperatorOptions opts);
  ~Operator();
  Status start();
  // Releases the Lease (so a standby takes over at once), stops informers and writers.
  void stop();
  bool leader() const { return leader_; }
  const FleetReconciler& reconciler() const { return *fleet_; }

 private:
  void kick(Duration delay);
  void pass();
  void publishMetrics();

  OperatorDeps d_;
  OperatorOptions o_;
  std::unique_ptr<kube::Informer> policies_, states_, nodes_;
  std::unique_ptr<kube::EventRecorder> events_;
  std::unique_ptr<NodeLabelWriter> labels_;
  std::unique_ptr<PinCache> pins_;
  std::unique_ptr<FleetReconciler> fleet_;
  std::unique_ptr<LeaderElector> elector_;
  bool leader_ = false;
  bool stopped_ = false;
  TimerId timer_ = 0;
  std::optional<MonoTime> timerAt_;
};

// Wires the real dependencies and runs until SIGTERM/SIGINT. Returns the process exit code.
int runOperator(const OperatorOptions& opts);

}  // namespace schedkit::op
