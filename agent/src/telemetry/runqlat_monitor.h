#pragma once

#include <functional>
#include <optional>
#include <string>

#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/policy/types.h"
#include "telemetry/runqlat.h"
#include "telemetry/runqlat_probe.h"

namespace schedkit::agent {

// One read of the probe, for the metrics.
struct RunqLatencyReport {
  std::string policy;            // empty: the guard is off (remove the policy's series)
  RunqHistogram delta;           // counted since the previous read (empty on the first)
  std::optional<Duration> p99;   // over the window so far; nullopt without samples
  bool breached = false;         // a full window with enough samples, p99 above the SLO
  std::string error;             // a failed attach or read, or a malformed histogram
  std::string errorReason;       // attach | read | malformed
};

struct RunqSloBreach {
  Duration p99{};
  Duration window{};
  Duration limit{};
  std::uint64_t samples = 0;
};

struct RunqLatencyMonitorOptions {
  // Fewer latencies than this in a window decide nothing: a p99 of a handful is noise.
  std::uint64_t minSamples = 100;
};

// The SLO guard's bookkeeping (spec.health.runqueueLatency): attaches the probe while a policy
// asks for it, reads it every window/4 (never faster), keeps the deltas of the last window and
// reports its p99 and whether it exceeds the SLO. While the policy's scheduler is being
// evaluated, a breach also calls onBreach. Each evaluated scheduler (and what runs between
// them) starts with a fresh window.
// Single-threaded on the engine's loop, like the engine.
class RunqLatencyMonitor {
 public:
  struct Deps {
    Clock& clock;
    const Logger& log;
    RunqLatencyProbe& probe;
    std::function<void(const RunqLatencyReport&)> onReport;
    std::function<void(const RunqSloBreach&)> onBreach;
  };
  RunqLatencyMonitor(Deps deps, RunqLatencyMonitorOptions opts = {});
  ~RunqLatencyMonitor();

  // What to guard; nullopt turns the guard off and detaches the probe. Idempotent.
  void configure(const std::string& policy, std::optional<policy::RunqueueLatencyGuard> guard);
  // A scheduler whose latency counts is running (confirmed) / is gone. Begin starts a fresh
  // window from a baseline read now.
  void beginEvaluation();
  void endEvaluation();
  void stop();  // agent shutdown: detach, no more timers

  bool enabled() const { return guard_.has_value(); }
  bool evaluating() const { return evaluating_; }

 private:
  void tick();
  void arm();
  void rebase();  // a baseline read; the next delta starts here
  void report(RunqLatencyReport r);

  Deps d_;
  RunqLatencyMonitorOptions o_;
  std::string policy_;
  std::optional<policy::RunqueueLatencyGuard> guard_;
  std::optional<RunqWindow> window_;
  std::optional<RunqHistogram> prev_;
  bool evaluating_ = false;
  TimerId timer_ = 0;
  std::string lastError_;  // logged once per change
};

}  // namespace schedkit::agent
