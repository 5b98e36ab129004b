#pragma once

#include <memory>

#include "schedkit/common/logger.h"
#include "schedkit/common/status.h"
#include "telemetry/runqlat.h"

namespace schedkit::agent {

// The kernel side of run-queue latency: tracepoint programs that count wakeup → run latency
// into a log2 histogram (bpf/telemetry/runqlat.bpf.c). Attached only while a policy sets
// spec.health.runqueueLatency; detached it costs nothing.
class RunqLatencyProbe {
 public:
  virtual ~RunqLatencyProbe() = default;
  // Loads and attaches the programs; a no-op when attached. Counts start at zero.
  virtual Status attach() = 0;
  virtual void detach() = 0;
  virtual bool attached() const = 0;
  // The cumulative histogram since attach(), summed over CPUs.
  virtual Result<RunqHistogram> read() = 0;
};
using RunqLatencyProbePtr = std::unique_ptr<RunqLatencyProbe>;

// The real probe, from the runqlat skeleton built into the agent (libbpf). In a build without
// BPF objects (SCHEDKIT_BUILD_BPF=OFF) its attach() fails with a clear error.
RunqLatencyProbePtr makeBpfRunqLatencyProbe(const Logger& log);

}  // namespace schedkit::agent
