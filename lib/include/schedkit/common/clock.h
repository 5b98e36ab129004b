#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace schedkit {

using Duration = std::chrono::nanoseconds;
using MonoTime = std::chrono::steady_clock::time_point;   // for intervals and deadlines
using WallTime = std::chrono::system_clock::time_point;   // for what users read (status, events)
using TimerId = std::uint64_t;

// The only source of time. Timers fire on the owner's dispatch thread (the agent's event loop
// for RealClock, the caller of SimClock::advance() in tests).
class Clock {
 public:
  virtual ~Clock() = default;
  virtual MonoTime now() const = 0;
  virtual WallTime wallNow() const = 0;
  // Runs cb once, at or after now() + delay. Returns an id for cancel().
  virtual TimerId callAfter(Duration delay, std::function<void()> cb) = 0;
  // Cancelling an id that already fired or never existed is a no-op.
  virtual void cancel(TimerId id) = 0;
};
using ClockPtr = std::unique_ptr<Clock>;

// Ordered timers; shared by RealClock and SimClock. Thread-safe.
class TimerQueue {
 public:
  TimerId add(MonoTime deadline, std::function<void()> cb);
  void cancel(TimerId id);
  std::optional<MonoTime> nextDeadline() const;
  // Pops and runs, in deadline order, every timer due at or before `now`. Timers added by a
  // callback run in the same call if they are due too. Returns how many ran.
  int runDue(MonoTime now);
  std::size_t size() const;

 private:
  std::optional<std::pair<MonoTime, std::function<void()>>> popDue(MonoTime now);

  mutable std::mutex mu_;
  TimerId next_id_ = 1;
  // (deadline, id) keeps equal deadlines in insertion order.
  std::map<std::pair<MonoTime, TimerId>, std::function<void()>> timers_;
};

// Real time. The event loop asks nextDeadline() to size its wait and calls runDue() when woken;
// `onNewTimer` lets the loop re-arm when another thread adds an earlier timer.
class RealClock final : public Clock {
 public:
  MonoTime now() const override { return std::chrono::steady_clock::now(); }
  WallTime wallNow() const override { return std::chrono::system_clock::now(); }
  TimerId callAfter(Duration delay, std::function<void()> cb) override;
  void cancel(TimerId id) override { timers_.cancel(id); }

  std::optional<MonoTime> nextDeadline() const { return timers_.nextDeadline(); }
  int runDue() { return timers_.runDue(now()); }
  void setOnNewTimer(std::function<void()> fn) { on_new_timer_ = std::move(fn); }

 private:
  TimerQueue timers_;
  std::function<void()> on_new_timer_;
};

// Simulated time for tests: time moves only when advanced, and advancing fires due timers in
// order, with now() equal to each timer's deadline while it runs.
class SimClock final : public Clock {
 public:
  explicit SimClock(WallTime wall_start = WallTime(std::chrono::seconds(1'750'000'000)))
      : wall_start_(wall_start) {}

  MonoTime now() const override;
  WallTime wallNow() const override;
  TimerId callAfter(Duration delay, std::function<void()> cb) override;
  void cancel(TimerId id) override { timers_.cancel(id); }

  void advance(Duration d);
  // Advances straight to the next timer's deadline and fires it (and any due with it).
  // Returns false when no timer is pending.
  bool advanceToNextTimer();
  std::size_t pendingTimers() const { return timers_.size(); }
  std::optional<MonoTime> nextDeadline() const { return timers_.nextDeadline(); }

 private:
  mutable std::mutex mu_;
  MonoTime now_{std::chrono::hours(1)};
  WallTime wall_start_;
  TimerQueue timers_;
};

// Formats wall time as RFC 3339 UTC with seconds ("2026-11-26T03:54:37Z"), as Kubernetes does.
std::string formatRfc3339(WallTime t);
// Same, with microseconds ("...37.123456Z"), as metav1.MicroTime does.
std::string formatRfc3339Micro(WallTime t);
// Parses what the two above write (and any RFC 3339 time with a zone offset); nullopt when
// the text is not one.
std::optional<WallTime> parseRfc3339(std::string_view s);

}  // namespace schedkit
