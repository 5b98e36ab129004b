// Stands in for bpf_runqlat_probe.cc in a build without BPF objects (SCHEDKIT_BUILD_BPF=OFF).
#include "telemetry/runqlat_probe.h"

namespace schedkit::agent {

namespace {
class UnavailableRunqLatencyProbe final : public RunqLatencyProbe {
 public:
  Status attach() override {
    return unavailable("this agent was built without BPF objects (SCHEDKIT_BUILD_BPF=OFF): no "
                       "run-queue latency probe");
  }
  void detach() override {}
  bool attached() const override { return false; }
  Result<RunqHistogram> read() override { return attach(); }
};
}  // namespace

RunqLatencyProbePtr makeBpfRunqLatencyProbe(const Logger&) {
  return std::make_unique<UnavailableRunqLatencyProbe>();
}

}  // namespace schedkit::agent
