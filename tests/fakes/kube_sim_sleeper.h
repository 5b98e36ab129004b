#pragma once

#include <mutex>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/kube/sleeper.h"

namespace schedkit {

// A kube::Sleeper on simulated time: sleeping advances the SimClock by exactly the duration
// (firing its timers), and every sleep is recorded for assertions.
class SimSleeper final : public kube::Sleeper {
 public:
  explicit SimSleeper(SimClock& clock) : clock_(clock) {}

  bool sleepFor(Duration d, const net::CancelTokenPtr& cancel) override {
    if (cancel && cancel->cancelled()) return false;
    {
      std::lock_guard lk(mu_);
      sleeps_.push_back(d);
    }
    clock_.advance(d);
    return !(cancel && cancel->cancelled());
  }

  std::vector<Duration> sleeps() const {
    std::lock_guard lk(mu_);
    return sleeps_;
  }
  Duration total() const {
    std::lock_guard lk(mu_);
    Duration t{};
    for (auto d : sleeps_) t += d;
    return t;
  }
  void clear() {
    std::lock_guard lk(mu_);
    sleeps_.clear();
  }

 private:
  SimClock& clock_;
  mutable std::mutex mu_;
  std::vector<Duration> sleeps_;
};

}  // namespace schedkit
