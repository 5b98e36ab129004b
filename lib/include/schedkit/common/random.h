#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <random>

#include "schedkit/common/clock.h"

namespace schedkit {

// The only source of randomness (jitter). Tests pin it.
class Random {
 public:
  virtual ~Random() = default;
  virtual std::uint64_t next() = 0;
  // Uniform in [0, 1).
  double unit() { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0); }
};
using RandomPtr = std::unique_ptr<Random>;

class RealRandom final : public Random {
 public:
  RealRandom() : gen_(std::random_device{}()) {}
  explicit RealRandom(std::uint64_t seed) : gen_(seed) {}
  std::uint64_t next() override {
    std::lock_guard lk(mu_);
    return gen_();
  }

 private:
  std::mutex mu_;
  std::mt19937_64 gen_;
};

// Exponential backoff with full-range jitter: delay_n = min(max, initial * factor^n), then
// scaled by a random factor in [1 - jitter, 1].
class Backoff {
 public:
  struct Options {
    Duration initial = std::chrono::seconds(1);
    Duration max = std::chrono::minutes(5);
    double factor = 2.0;
    double jitter = 0.2;  // 0 = deterministic
  };
  Backoff() = default;
  explicit Backoff(Options o) : o_(o) {}

  Duration next(Random& rnd);
  // The delay next() would return before jitter; for status and tests.
  Duration peekBase() const;
  void reset() { attempt_ = 0; }
  int attempts() const { return attempt_; }

 private:
  Options o_;
  int attempt_ = 0;
};

}  // namespace schedkit
