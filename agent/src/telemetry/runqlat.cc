#include "telemetry/runqlat.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

namespace schedkit::agent {

std::uint64_t RunqHistogram::count() const {
  std::uint64_t n = 0;
  for (auto c : slots) n += c;
  return n;
}

void RunqHistogram::add(const RunqHistogram& o) {
  if (slots.size() < o.slots.size()) slots.resize(o.slots.size(), 0);
  for (std::size_t i = 0; i < o.slots.size(); ++i) slots[i] += o.slots[i];
  totalNs += o.totalNs;
}

double runqSlotUpperSeconds(std::size_t i) {
  if (i + 1 >= kRunqlatSlots) return std::numeric_limits<double>::infinity();
  // An exact integer over 1e6: the nearest double to the decimal bound (8e-06, not 8*1e-6).
  return static_cast<double>(std::uint64_t{1} << i) / 1e6;
}

std::vector<double> runqBucketBoundsSeconds() {
  std::vector<double> b;
  for (std::size_t i = 0; i + 1 < kRunqlatSlots; ++i) b.push_back(runqSlotUpperSeconds(i));
  return b;
}

Result<RunqHistogram> runqDelta(const RunqHistogram& prev, const RunqHistogram& cur) {
  if (cur.slots.size() != kRunqlatSlots || prev.slots.size() != kRunqlatSlots) {
    return invalidArgument("run-queue latency histogram has " + std::to_string(cur.slots.size()) +
                           " slots (previous read " + std::to_string(prev.slots.size()) +
                           "), expected " + std::to_string(kRunqlatSlots));
  }
  RunqHistogram d = RunqHistogram::empty();
  for (std::size_t i = 0; i < kRunqlatSlots; ++i) {
    if (cur.slots[i] < prev.slots[i]) {
      return failedPrecondition("run-queue latency count of slot " + std::to_string(i) +
                                " went backwards (" + std::to_string(prev.slots[i]) + " → " +
                                std::to_string(cur.slots[i]) + "): the probe was reloaded");
    }
    d.slots[i] = cur.slots[i] - prev.slots[i];
  }
  if (cur.totalNs < prev.totalNs) {
    return failedPrecondition("run-queue latency sum went backwards: the probe was reloaded");
  }
  d.totalNs = cur.totalNs - prev.totalNs;
  return d;
}

std::optional<Duration> runqQuantile(const RunqHistogram& h, double q) {
  if (h.slots.size() != kRunqlatSlots || !(q > 0 && q <= 1)) return std::nullopt;
  std::uint64_t total = h.count();
  if (total == 0) return std::nullopt;
  double rank = q * static_cast<double>(total);
  double seen = 0;
  for (std::size_t i = 0; i < kRunqlatSlots; ++i) {
    double c = static_cast<double>(h.slots[i]);
    if (c == 0) continue;
    if (seen + c >= rank) {
      double lo = i == 0 ? 0.0 : runqSlotUpperSeconds(i - 1);
      double hi = runqSlotUpperSeconds(i);
      double secs = std::isinf(hi) ? lo : lo + (hi - lo) * ((rank - seen) / c);
      return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(secs));
    }
    seen += c;
  }
  return std::nullopt;  // unreachable: rank ≤ total
}

Duration runqReadStep(Duration window) {
  Duration step = window / 4;
  step = std::max<Duration>(step, std::chrono::seconds(1));
  return std::min(step, window);
}

RunqWindow::RunqWindow(Duration window, Duration step)
    : window_(window),
      step_(step),
      keep_(static_cast<std::size_t>(
          std::max<Duration::rep>(1, (window.count() + step.count() - 1) / std::max<Duration::rep>(1, step.count())))) {}

void RunqWindow::add(MonoTime at, const RunqHistogram& delta) {
  slices_.emplace_back(at, delta);
  while (slices_.size() > keep_) slices_.pop_front();
}

void RunqWindow::reset() { slices_.clear(); }

bool RunqWindow::covered() const { return slices_.size() >= keep_; }

RunqHistogram RunqWindow::sum() const {
  RunqHistogram s = RunqHistogram::empty();
  for (const auto& sl : slices_) s.add(sl.second);
  return s;
}

}  // namespace schedkit::agent
