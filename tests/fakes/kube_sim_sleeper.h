#pragma once

#include <mutex>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/kube/sleeper.h"

namespace schedkit {

// A kube::Sleeper on simulated time: sleeping advances the SimClock (firing its timers) by the
// duration, or until a timer fires the cancel token; every sleep is recorded for assertions.
class SimSleeper final : public kube::Sleeper {
 public:
  explicit SimSleeper(SimClock& clock) : clock_(clock) {}

  // Advances timer by timer, so a timer callback that fires the cancel token cuts the sleep
  // short exactly where a real one would wake. Records the time actually slept.
  bool sleepFor(Duration d, const net::CancelTokenPtr& cancel) override {
    auto cancelled = [&] { return cancel && cancel->cancelled(); };
    if (cancelled()) return false;
    const MonoTime start = clock_.now();
    const MonoTime end = start + d;
    while (!cancelled()) {
      auto next = clock_.nextDeadline();
      MonoTime now = clock_.now();
      if (!next || *next > end) {
        clock_.advance(end - now);
        break;
      }
      clock_.advance(*next > now ? *next - now : Duration::zero());
    }
    {
      std::lock_guard lk(mu_);
      sleeps_.push_back(clock_.now() - start);
    }
    return !cancelled();
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
