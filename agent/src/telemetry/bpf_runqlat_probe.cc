// The runqlat skeleton behind RunqLatencyProbe. Compiled only with SCHEDKIT_BUILD_BPF (the
// skeleton embeds bpf/telemetry/runqlat.bpf.o); otherwise no_bpf_runqlat_probe.cc stands in.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "telemetry/runqlat_probe.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wold-style-cast"
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wcast-align"
#include "runqlat.skel.h"
#pragma GCC diagnostic pop

namespace schedkit::agent {

namespace {

static_assert(RUNQLAT_SLOTS == kRunqlatSlots, "bpf/shared/runqlat.h and telemetry/runqlat.h agree");

class BpfRunqLatencyProbe final : public RunqLatencyProbe {
 public:
  explicit BpfRunqLatencyProbe(const Logger& log) : log_(log) {}
  ~BpfRunqLatencyProbe() override { detach(); }

  Status attach() override {
    if (skel_ != nullptr) return Status::ok();
    struct runqlat* s = runqlat__open_and_load();
    if (s == nullptr) {
      return fromErrno(errno, "loading the run-queue latency probe (runqlat.bpf.o: tp_btf "
                              "sched_wakeup/sched_switch, task storage)");
    }
    if (int err = runqlat__attach(s); err != 0) {
      runqlat__destroy(s);
      return fromErrno(err, "attaching the run-queue latency probe to the scheduler tracepoints");
    }
    int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) {
      runqlat__destroy(s);
      return fromErrno(cpus, "counting possible CPUs for the run-queue latency probe");
    }
    skel_ = s;
    cpus_ = static_cast<std::size_t>(cpus);
    log_.info("run-queue latency probe attached", {{"cpus", static_cast<long long>(cpus_)}});
    return Status::ok();
  }

  void detach() override {
    if (skel_ == nullptr) return;
    runqlat__destroy(skel_);
    skel_ = nullptr;
    log_.info("run-queue latency probe detached");
  }

  bool attached() const override { return skel_ != nullptr; }

  Result<RunqHistogram> read() override {
    if (skel_ == nullptr) return failedPrecondition("the run-queue latency probe is not attached");
    std::size_t valueSize = bpf_map__value_size(skel_->maps.runqlat_hist);
    if (valueSize != sizeof(struct runqlat_hist)) {
      return invalidArgument("run-queue latency map value is " + std::to_string(valueSize) +
                             " bytes, expected " + std::to_string(sizeof(struct runqlat_hist)));
    }
    // Per-CPU values come back one per possible CPU, each rounded up to 8 bytes.
    std::size_t stride = (valueSize + 7) / 8 * 8;
    std::vector<unsigned char> buf(stride * cpus_);
    std::uint32_t key = 0;
    if (bpf_map_lookup_elem(bpf_map__fd(skel_->maps.runqlat_hist), &key, buf.data()) != 0) {
      return fromErrno(errno, "reading the run-queue latency histogram");
    }
    RunqHistogram h = RunqHistogram::empty();
    for (std::size_t cpu = 0; cpu < cpus_; ++cpu) {
      struct runqlat_hist v;
      std::memcpy(&v, buf.data() + cpu * stride, sizeof v);
      for (std::size_t i = 0; i < kRunqlatSlots; ++i) h.slots[i] += v.slots[i];
      h.totalNs += v.total_ns;
    }
    return h;
  }

 private:
  const Logger& log_;
  struct runqlat* skel_ = nullptr;
  std::size_t cpus_ = 0;
};

}  // namespace

RunqLatencyProbePtr makeBpfRunqLatencyProbe(const Logger& log) {
  return std::make_unique<BpfRunqLatencyProbe>(log);
}

}  // namespace schedkit::agent
