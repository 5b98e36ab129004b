#pragma once

#include <memory>

#include "schedkit/common/clock.h"
#include "schedkit/net/http.h"

namespace schedkit::kube {

// How a blocking client thread waits (rate limits, retry backoff, watch resume). Clock timers
// fire on the event loop, which a blocking thread must not depend on; this seam lets the real
// implementation wait on a condition variable and lets tests advance a SimClock instead.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  // Waits for d, or until `cancel` fires. Returns false when cancelled.
  virtual bool sleepFor(Duration d, const net::CancelTokenPtr& cancel) = 0;
};
using SleeperPtr = std::unique_ptr<Sleeper>;

// Real time, interruptible by the cancel token.
class RealSleeper final : public Sleeper {
 public:
  bool sleepFor(Duration d, const net::CancelTokenPtr& cancel) override;
};

}  // namespace schedkit::kube
