#pragma once

#include <mutex>

#include "schedkit/common/clock.h"

namespace schedkit::kube {

// Client-side rate limit: a token bucket refilled at `qps` up to `burst`, timed by the Clock.
// reserve() always succeeds and says how long to wait, so concurrent callers queue in order.
// qps <= 0 means unlimited. Thread-safe.
class TokenBucket {
 public:
  TokenBucket(const Clock& clock, double qps, int burst);

  // Takes a token; returns the wait until it is valid (zero if one was there).
  Duration reserve();
  // Takes a token only if one is there now.
  bool tryTake();
  double available() const;  // may be negative while reservations are queued

 private:
  void refillLocked() const;

  const Clock& clock_;
  double qps_;
  double burst_;
  mutable std::mutex mu_;
  mutable double tokens_;
  mutable MonoTime last_;
};

}  // namespace schedkit::kube
