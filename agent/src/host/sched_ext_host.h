#pragma once

#include <functional>
#include <memory>
#include <variant>

#include "host/sched_ext.h"
#include "schedkit/common/status.h"

namespace schedkit::agent {

// A kernel event about sched_ext, as the node engine sees it.
struct HostEvent {
  std::variant<KmsgEnabled, KmsgDisabled, KmsgDetail, KmsgBacktrace, KmsgOther, SchedExtUevent> ev;
  // For kmsg events: the kernel's timestamp (µs since boot, CLOCK_MONOTONIC-comparable), used to
  // measure how long detection took.
  std::uint64_t kmsgUsec = 0;
};

// The seam to the kernel's sched_ext state: sysfs for what is, kmsg and uevents for what
// happened. Implementations deliver events on the agent's event loop; nothing polls.
class SchedExtHost {
 public:
  virtual ~SchedExtHost() = default;
  virtual Result<SchedExtState> readState() = 0;
  virtual KernelCaps probe() = 0;
  // Starts delivering events. Records already in the kernel log are skipped: only what happens
  // from now on is reported.
  virtual Status start(std::function<void(const HostEvent&)> onEvent) = 0;
};
using SchedExtHostPtr = std::unique_ptr<SchedExtHost>;

}  // namespace schedkit::agent
