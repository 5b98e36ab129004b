#pragma once

#include <deque>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "attach/attacher.h"
#include "host/sched_ext_host.h"
#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/common/random.h"
#include "schedkit/os/filesystem.h"
#include "schedkit/policy/types.h"
#include "telemetry/runqlat_monitor.h"

namespace schedkit::agent {

// The scheduler this node should run, as resolution decided it.
struct DesiredScheduler {
  std::string policy;
  std::int64_t generation = 0;
  LaunchSpec launch;
  policy::FailurePolicy failure;
  policy::HealthSpec health;
  std::string minKernel;                   // from the image, empty = any sched_ext kernel
  std::vector<std::string> conflictsWith;  // policies tied with this one at the top priority
  // Set while the scheduler cannot be started yet (image being pulled, pull failed): the engine
  // reports it and leaves whatever runs now running.
  std::string blockedReason;
  std::string blockedMessage;
  policy::NodePhase blockedPhase = policy::NodePhase::kPulling;
  friend bool operator==(const DesiredScheduler&, const DesiredScheduler&) = default;
};

// The restart decision for an exit, from the kernel's exit kind (DESIGN.md §3).
enum class ExitAction {
  kNone,            // our own detach
  kRestartNow,      // UNREG_KERN: the kernel asked for a restart (hotplug)
  kHold,            // SysRq-S: an operator's kill switch; never auto-restart
  kBackoffRestart,  // errors, stalls, unexpected unregistration: backoff + circuit breaker
};
ExitAction decideExitAction(ExitKind kind, bool weStoppedIt);

// A Kubernetes-Event-shaped record of something that happened on the node.
struct NodeEventRecord {
  std::string type;    // Normal | Warning
  std::string reason;  // Attached, FallenBack, Restarting, ...
  std::string message;
  std::string policy;  // the policy it concerns, if any
};

struct NodeEngineOptions {
  std::string stateDir = "/var/lib/schedkit";
  // After a scheduler is seen gone (uevent, process exit) without the kernel's reason, how long
  // to wait for the kmsg "disabled (...)" line before acting without it.
  Duration exitReasonGrace = std::chrono::milliseconds(300);
  // SIGTERM → SIGKILL when stopping a process scheduler.
  Duration stopTimeout = std::chrono::seconds(10);
  RunqLatencyMonitorOptions runqLatency;
};

struct NodeEngineDeps {
  Clock& clock;
  Random& random;
  Filesystem& fs;
  const Logger& log;
  SchedExtHost& host;
  Attacher* bpfAttacher = nullptr;
  Attacher* processAttacher = nullptr;
  std::function<void(const policy::SchedulerNodeStateStatus&)> publish;
  std::function<void(const NodeEventRecord&)> onEvent;
  // Every scheduler exit the engine handled (metrics), and how long detection took when the
  // kernel's kmsg timestamp is known.
  std::function<void(const policy::ExitRecord&)> onExit = nullptr;
  std::function<void(Duration)> onDetectLatency = nullptr;
  // The run-queue latency probe for spec.health.runqueueLatency (null: the guard is never
  // evaluated), and every read of it (metrics).
  RunqLatencyProbe* runqProbe = nullptr;
  std::function<void(const RunqLatencyReport&)> onRunqLatency = nullptr;
};

// The node loop (DESIGN.md §3): desired scheduler (from policy resolution) vs what the kernel
// runs → start, stop, restart with backoff, or fall back and stay on the default scheduler.
// Level-triggered: every input calls reconcile(), which is idempotent. Single-threaded: all
// calls come from the agent's event loop (or a test's simulated clock).
class NodeEngine {
 public:
  NodeEngine(NodeEngineDeps deps, NodeEngineOptions opts);
  ~NodeEngine();

  // Probes the kernel, starts kernel events, re-adopts a scheduler a previous agent left running.
  Status start();
  // New resolution result. `observed` lists every policy (name, generation) the agent saw.
  void setDesired(std::optional<DesiredScheduler> desired,
                  std::vector<policy::ObservedPolicy> observed);
  // With detach: stops the scheduler and calls done() once the kernel reports it disabled (or
  // after a timeout). Without: leaves it attached for the next agent and calls done() at once.
  void shutdown(bool detach, std::function<void()> done);
  // An operator's explicit re-enable after a SysRq kill switch or an open circuit breaker.
  void resetFailures();

  void onHostEvent(const HostEvent& e);
  const policy::SchedulerNodeStateStatus& status() const { return status_; }
  const KernelCaps& caps() const { return caps_; }

 private:
  struct Current {
    Attachment a;
    std::string policy;
    std::int64_t baselineSeq = 0;   // enable_seq before start: confirmation needs it to rise
    std::int64_t enableSeq = 0;     // enable_seq once confirmed
    bool confirmed = false;
    bool stopping = false;          // we asked it to go; its exit is expected
    bool gone = false;              // seen gone; waiting for the reason
    bool restartingInProcess = false;  // UNREG_KERN: a binary re-enabling itself
    MonoTime startedAt{};
    WallTime since{};
    TimerId startupTimer = 0;
    TimerId graceTimer = 0;
    TimerId stopTimer = 0;
    TimerId seqTimer = 0;           // re-reads enable_seq, which the kernel bumps last
    int seqRechecks = 0;
  };
  struct ExitInfo {
    policy::ExitRecord record;
    agent::ExitKind kind = ExitKind::kUnknown;
    std::string ops;
    std::uint64_t kmsgUsec = 0;
  };

  void reconcile();
  void startDesired();
  void checkConfirm();
  void onGone(const std::string& why);
  void handleExit(ExitInfo exit);
  void recordFailure(ExitInfo exit, ExitAction action, const std::string& what);
  void beginStop(bool force);
  void finishStop();
  void clearCurrent();
  void onProcessExit(const std::string& id);
  bool isStaleDisable(const HostEvent& e);
  void onStartupTimeout();
  void syncRunqGuard();
  void onSloBreach(const RunqSloBreach& b);
  void adopt();
  Attacher* attacherFor(policy::SchedulerType t);
  bool opsMatches(const std::string& ops) const;
  std::string revisionKey() const;
  void saveAttachment();
  void dropAttachmentRecord();

  void setPhase(policy::NodePhase phase, std::string reason, std::string message);
  void recordEvent(const std::string& type, const std::string& reason, const std::string& message);
  void updateConditions();
  void publish();

  NodeEngineDeps d_;
  NodeEngineOptions o_;
  KernelCaps caps_;
  std::optional<DesiredScheduler> desired_;
  bool desiredKnown_ = false;
  std::optional<Current> current_;
  std::optional<ExitInfo> lastExit_;

  // Failure accounting for the desired revision (reset when it changes).
  std::string failureKey_;
  std::deque<MonoTime> failures_;
  bool circuitOpen_ = false;
  bool killSwitch_ = false;  // SysRq-S: never auto-restart this revision
  TimerId retryTimer_ = 0;
  bool slotBusyReported_ = false;
  std::string lastConflictReport_;
  std::string lastBlockedReport_;

  std::vector<std::function<void()>> shutdownWaiters_;
  bool shuttingDown_ = false;

  policy::SchedulerNodeStateStatus status_;
  std::optional<policy::SchedulerNodeStateStatus> published_;
  std::string phaseReason_, phaseMessage_;
  std::uint64_t pendingLatencyUsec_ = 0;  // kmsg time of an exit not yet published
  std::unique_ptr<RunqLatencyMonitor> runq_;  // with deps.runqProbe
};



}  // namespace schedkit::agent
