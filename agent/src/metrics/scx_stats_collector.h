#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "metrics/scx_stats.h"
#include "schedkit/policy/types.h"

namespace schedkit::agent {

// Exports the running scheduler's own scx_stats at scrape time (on the exposer's thread):
//   schedkit_scx_<field>{policy,image_digest,kernel_release,scheduler[,key]}  see flattenScxStats
//   schedkit_scx_stats_up{policy,image_digest,kernel_release,scheduler}  1: last read worked
//   schedkit_scx_stats_read_seconds{...same...}                          last read's duration
//   schedkit_scx_stats_errors_total{reason}                              failed reads
// It reads only while the node status says Running and a socket is at the path: otherwise a
// scrape costs one stat(). A socket that refuses connections (left by an earlier scheduler) is
// ignored until the file is replaced. stats_meta is asked once per scheduler instance.
class ScxStatsCollector final : public prometheus::Collectable {
 public:
  explicit ScxStatsCollector(ScxStatsDeps deps);

  // From the node engine's thread; never blocks on a read in progress.
  void onStatus(const policy::SchedulerNodeStateStatus& st);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  struct Running {
    std::string policy;
    std::string ops;
    std::string imageDigest;
    std::string kernelRelease;
    std::int64_t pid = 0;
    std::int64_t enableSeq = 0;
  };
  // One scheduler instance serving one socket file: what the connection and the meta belong to.
  struct Instance {
    std::int64_t pid = 0;
    std::string ops;
    std::int64_t enableSeq = 0;
    ScxSocketFile socket;
    friend bool operator==(const Instance&, const Instance&) = default;
  };
  enum class ReadState { kNone, kOk, kFailed };
  // Everything a scrape touches, under ioMu_.
  struct Io {
    ScxStatsTransportPtr transport;
    std::optional<Instance> instance;
    std::optional<ScxSocketFile> stale;
    bool metaTried = false;
    ScxStatsMeta meta;
    bool truncationLogged = false;
    ReadState state = ReadState::kNone;
    std::string lastReason;
    std::map<std::string, double> errors;
    std::optional<std::string> osRelease;  // read once when the status has no release
  };

  void forgetInstance(Io& io) const;
  void noteResult(Io& io, const Running& r, const Status& s, std::size_t samples) const;
  std::string kernelRelease(Io& io, const Running& r) const;

  const Filesystem& fs_;
  const Clock& clock_;
  Logger log_;
  std::size_t maxSamples_;

  mutable std::mutex stateMu_;  // short: guards running_
  std::optional<Running> running_;

  mutable std::mutex ioMu_;  // held for a whole scrape
  mutable Io io_;
};

}  // namespace schedkit::agent
