#include "schedkit/kube/rate_limiter.h"

#include <algorithm>
#include <cmath>

namespace schedkit::kube {

TokenBucket::TokenBucket(const Clock& clock, double qps, int burst)
    : clock_(clock),
      qps_(qps),
      burst_(std::max(1, burst)),
      tokens_(std::max(1, burst)),
      last_(clock.now()) {}

void TokenBucket::refillLocked() const {
  MonoTime now = clock_.now();
  if (now <= last_) return;
  double secs = std::chrono::duration<double>(now - last_).count();
  tokens_ = std::min(burst_, tokens_ + secs * qps_);
  last_ = now;
}

Duration TokenBucket::reserve() {
  if (qps_ <= 0) return Duration::zero();
  std::lock_guard lk(mu_);
  refillLocked();
  tokens_ -= 1.0;
  if (tokens_ >= 0) return Duration::zero();
  double wait_ns = -tokens_ / qps_ * 1e9;
  return Duration(std::llround(wait_ns));
}

bool TokenBucket::tryTake() {
  if (qps_ <= 0) return true;
  std::lock_guard lk(mu_);
  refillLocked();
  if (tokens_ < 1.0) return false;
  tokens_ -= 1.0;
  return true;
}

double TokenBucket::available() const {
  std::lock_guard lk(mu_);
  refillLocked();
  return tokens_;
}

}  // namespace schedkit::kube
