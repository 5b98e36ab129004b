#pragma once

// Run-queue latency: pure helpers over the log2 histogram bpf/telemetry/runqlat.bpf.c keeps
// (slot layout in bpf/shared/runqlat.h), and the sliding window the SLO guard evaluates.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/common/status.h"

namespace schedkit::agent {

inline constexpr std::size_t kRunqlatSlots = 32;  // RUNQLAT_SLOTS

// Counts per log2 microsecond slot (slot i < 31: [2^(i-1), 2^i) µs, slot 0: [0, 1) µs, the last
// slot: everything from 2^30 µs), and the sum of the latencies counted.
struct RunqHistogram {
  std::vector<std::uint64_t> slots;
  std::uint64_t totalNs = 0;

  static RunqHistogram empty() { return {std::vector<std::uint64_t>(kRunqlatSlots, 0), 0}; }
  std::uint64_t count() const;
  // Adds another histogram of the same shape.
  void add(const RunqHistogram& o);
  friend bool operator==(const RunqHistogram&, const RunqHistogram&) = default;
};

// Upper bound of slot i in seconds (2^i µs); the last slot has none (+Inf).
double runqSlotUpperSeconds(std::size_t i);
// The histogram's finite bucket bounds, in seconds: 1 µs, 2 µs, ... 2^30 µs (31 values).
std::vector<double> runqBucketBoundsSeconds();

// What was counted between two cumulative reads. Errors (never a crash) when a histogram has
// the wrong number of slots or a count went backwards (the object was reloaded): the caller
// logs and starts over from `cur`.
Result<RunqHistogram> runqDelta(const RunqHistogram& prev, const RunqHistogram& cur);

// The q-quantile (0 < q ≤ 1) of a log2 histogram, interpolated linearly inside the slot where
// the rank falls (as Prometheus' histogram_quantile does). The open last slot yields its lower
// bound. nullopt without samples or with a malformed histogram.
std::optional<Duration> runqQuantile(const RunqHistogram& h, double q);

// Sliding window over the deltas read every `step` (each delta covers one step since the
// previous read): the newest ceil(window/step) slices. Evaluated only once that many slices
// were added since the last reset, so a scheduler's first seconds never count as a full window.
class RunqWindow {
 public:
  RunqWindow(Duration window, Duration step);
  void add(MonoTime at, const RunqHistogram& delta);
  void reset();
  // Whether enough slices were added since the last reset to span the window.
  bool covered() const;
  RunqHistogram sum() const;
  std::size_t slices() const { return slices_.size(); }
  Duration window() const { return window_; }
  Duration step() const { return step_; }

 private:
  Duration window_, step_;
  std::size_t keep_;  // slices in one window: ceil(window / step)
  std::deque<std::pair<MonoTime, RunqHistogram>> slices_;
};

// How often to read for a window: a quarter of it, at least 1 s, at most the window.
Duration runqReadStep(Duration window);

}  // namespace schedkit::agent
