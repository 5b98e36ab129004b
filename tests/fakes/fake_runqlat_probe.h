#pragma once

// A run-queue latency probe whose kernel side is a test: it sets the cumulative histogram the
// next read() returns (or the error it fails with).

#include <cerrno>
#include <string>

#include "telemetry/runqlat_probe.h"

namespace schedkit::agent {

class FakeRunqLatencyProbe final : public RunqLatencyProbe {
 public:
  // Knobs.
  bool failAttach = false;
  bool failRead = false;
  int attaches = 0, detaches = 0, reads = 0;

  RunqHistogram counts = RunqHistogram::empty();  // cumulative, as the kernel keeps it

  Status attach() override {
    if (attached_) return Status::ok();
    ++attaches;
    if (failAttach) return fromErrno(-EPERM, "loading the run-queue latency probe");
    attached_ = true;
    counts = RunqHistogram::empty();
    return Status::ok();
  }
  void detach() override {
    if (!attached_) return;
    ++detaches;
    attached_ = false;
  }
  bool attached() const override { return attached_; }
  Result<RunqHistogram> read() override {
    ++reads;
    if (!attached_) return failedPrecondition("not attached");
    if (failRead) return fromErrno(-EIO, "reading the run-queue latency histogram");
    return counts;
  }

  // Counts n latencies of `us` microseconds each.
  void record(std::uint64_t n, std::uint64_t us) {
    std::size_t slot = 0;
    for (std::uint64_t v = us; v != 0 && slot + 1 < kRunqlatSlots; v >>= 1) ++slot;
    if (counts.slots.size() == kRunqlatSlots) counts.slots[slot] += n;
    counts.totalNs += n * us * 1000;
  }

 private:
  bool attached_ = false;
};

}  // namespace schedkit::agent
