#pragma once

// The simulated fleet behind schedkit-fleet-sim: N nodes, each deciding what to run exactly as
// an agent does (policy::resolve, then policy::desiredRevision) and moving through the agent's
// phases with the agent's status shape, minus the kernel. Pure state: no Kubernetes here. Time
// comes from the Clock (timers fire on its dispatch thread); every call must be made on that
// thread. A status is handed to `publish` only when it differs from the last one published,
// as the agent's NodeEngine::publish() does.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/common/status.h"
#include "schedkit/policy/resolve.h"
#include "schedkit/policy/selector.h"
#include "schedkit/policy/types.h"

namespace schedkit::scale {

struct FleetOptions {
  // From "nothing attached" to "enabled in the kernel": pull plus load, per node.
  Duration attachDelay = std::chrono::milliseconds(200);
  std::string kernelRelease = "6.18.15";
};

struct PhaseCounts {
  std::map<policy::NodePhase, std::size_t> byPhase;
  std::size_t attaching = 0;  // nodes with an attach timer pending
  std::size_t get(policy::NodePhase p) const {
    auto it = byPhase.find(p);
    return it == byPhase.end() ? 0 : it->second;
  }
};

class FleetModel {
 public:
  using Publish = std::function<void(std::size_t node, const policy::SchedulerNodeStateStatus&)>;

  FleetModel(Clock& clock, FleetOptions opts, std::vector<std::string> names, policy::Labels labels,
             Publish publish);
  ~FleetModel();
  FleetModel(const FleetModel&) = delete;
  FleetModel& operator=(const FleetModel&) = delete;

  // Publishes every node's status as an agent that has not yet read policies would: Idle.
  void publishIdle();
  // A new view of the SchedulerPolicies (any order): every node re-resolves. Returns how many
  // nodes now want something different from before.
  std::size_t setPolicies(std::vector<policy::SchedulerPolicy> policies);
  // The Node's labels changed (kubectl label node ...): that node re-resolves.
  void setLabels(std::size_t node, policy::Labels labels);
  const policy::Labels& labels(std::size_t node) const { return nodes_[node].labels; }

  // Fault injection: the running (or starting) scheduler is ejected by the watchdog until the
  // failure budget is spent, so the node falls back to the default scheduler. It stays there
  // until what it should run changes (policy, revision or generation, as the agent's
  // revisionKey) or recover() is called. kFailedPrecondition when nothing is desired there.
  Status fallback(std::size_t node);
  // As an operator's "reset failures": attach again. kFailedPrecondition when not fallen back.
  Status recover(std::size_t node);

  std::size_t size() const { return nodes_.size(); }
  const std::string& name(std::size_t node) const { return nodes_[node].name; }
  std::optional<std::size_t> indexOf(const std::string& name) const;
  const policy::SchedulerNodeStateStatus& status(std::size_t node) const {
    return nodes_[node].status;
  }
  PhaseCounts counts() const;
  // No node is waiting for an attach timer.
  bool settled() const { return attaching_ == 0; }

 private:
  // What a node should run: the agent's DesiredScheduler, reduced to what shows in status.
  struct Want {
    std::string policy;
    std::int64_t generation = 0;
    std::string revision;
    std::string image;  // what active.image reports: digest or tag, or the host path
    bool hostPath = false;
    bool bpfObject = false;
    std::string opsName;  // the policy's expected ops name (empty: any)
    int maxRestarts = 3;
    Duration window = std::chrono::minutes(10);
    friend bool operator==(const Want&, const Want&) = default;
  };
  struct Node {
    std::string name;
    policy::Labels labels;
    std::optional<Want> want;
    std::optional<Want> runs;      // enabled in the (simulated) kernel
    std::optional<Want> starting;  // attach in progress
    TimerId timer = 0;
    bool fallenBack = false;
    std::string failureKey;  // policy@revision#generation the failure state belongs to
    std::int64_t enableSeq = 0;
    std::string phaseReason, phaseMessage;
    std::string lastConflict;  // the conflicting policies last reported
    policy::SchedulerNodeStateStatus status;
    std::optional<policy::SchedulerNodeStateStatus> published;
  };

  std::optional<Want> desiredFor(const Node& n);
  void reconcile(std::size_t i);
  void startAttach(std::size_t i);
  void onAttached(std::size_t i);
  void detach(Node& n);
  void cancelAttach(Node& n);
  void setPhase(std::size_t i, policy::NodePhase phase, std::string reason, std::string message);
  void recordEvent(Node& n, const std::string& type, const std::string& reason,
                   const std::string& message);
  void updateConditions(Node& n);
  void publish(std::size_t i);

  Clock& clock_;
  FleetOptions opts_;
  Publish publish_;
  std::vector<Node> nodes_;
  std::map<std::string, std::size_t> index_;
  std::vector<policy::SchedulerPolicy> policies_;  // sorted by name, as the agent keeps them
  std::vector<policy::ObservedPolicy> observed_;
  std::map<policy::Labels, policy::Resolution> resolutions_;  // labels are shared by most nodes
  std::size_t attaching_ = 0;
};

}  // namespace schedkit::scale
