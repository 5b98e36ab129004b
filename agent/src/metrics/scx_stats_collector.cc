#include "metrics/scx_stats_collector.h"

#include <map>

namespace schedkit::agent {

namespace {

using Labels = std::map<std::string, std::string>;

prometheus::ClientMetric metricWith(const Labels& labels, double v, bool counter) {
  prometheus::ClientMetric m;
  for (const auto& [k, val] : labels) m.label.push_back({k, val});
  if (counter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
  return m;
}

}  // namespace

ScxStatsCollector::ScxStatsCollector(ScxStatsDeps deps)
    : fs_(deps.fs), clock_(deps.clock), log_(std::move(deps.log)), maxSamples_(deps.maxSamples) {
  io_.transport = std::move(deps.transport);
  for (const char* r : kScxStatsErrorReasons) io_.errors[r] = 0;
}

void ScxStatsCollector::onStatus(const policy::SchedulerNodeStateStatus& st) {
  std::optional<Running> r;
  if (st.phase == policy::NodePhase::kRunning && st.active) {
    r = Running{st.policy,         st.active->opsName, imageDigestOf(st.active->image),
                st.kernel.release, st.active->pid,     st.active->enableSeq};
  }
  std::lock_guard lk(stateMu_);
  running_ = std::move(r);
}

void ScxStatsCollector::forgetInstance(Io& io) const {
  if (io.instance) io.transport->disconnect();
  io.instance.reset();
  io.metaTried = false;
  io.meta = {};
  io.truncationLogged = false;
  io.state = ReadState::kNone;
  io.lastReason.clear();
}

std::string ScxStatsCollector::kernelRelease(Io& io, const Running& r) const {
  if (!r.kernelRelease.empty()) return r.kernelRelease;
  if (!io.osRelease) {
    auto rel = fs_.readFile("/proc/sys/kernel/osrelease", 256);
    std::string s = rel.isOk() ? *rel : std::string();
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    io.osRelease = s;
  }
  return *io.osRelease;
}

// Logs when the read state changes (first read, failure, another failure reason, recovery),
// never once per scrape.
void ScxStatsCollector::noteResult(Io& io, const Running& r, const Status& s,
                                   std::size_t samples) const {
  if (s.isOk()) {
    if (io.state != ReadState::kOk) {
      log_.info(io.state == ReadState::kNone ? "reading the scheduler's scx stats"
                                             : "the scheduler's scx stats are readable again",
                {{"scheduler", r.ops}, {"samples", static_cast<unsigned long>(samples)}});
    }
    io.state = ReadState::kOk;
    io.lastReason.clear();
    return;
  }
  std::string reason(scxStatsErrorReason(s));
  if (io.state != ReadState::kFailed || io.lastReason != reason) {
    log_.warn("cannot read the scheduler's scx stats",
              {{"scheduler", r.ops}, {"reason", reason}, {"error", s}});
  }
  io.state = ReadState::kFailed;
  io.lastReason = reason;
}

std::vector<prometheus::MetricFamily> ScxStatsCollector::Collect() const {
  std::lock_guard iolk(ioMu_);
  Io& io = io_;
  std::optional<Running> r;
  {
    std::lock_guard lk(stateMu_);
    r = running_;
  }
  std::vector<prometheus::MetricFamily> out;
  auto finish = [&]() -> std::vector<prometheus::MetricFamily> {
    prometheus::MetricFamily f{kScxStatsErrorsMetric,
                               "Failed reads of the running scheduler's scx_stats, by reason",
                               prometheus::MetricType::Counter,
                               {}};
    for (const auto& [reason, n] : io.errors)
      f.metric.push_back(metricWith({{"reason", reason}}, n, true));
    out.push_back(std::move(f));
    return std::move(out);
  };

  // The only cost while no scheduler serves stats: one stat() of the socket path.
  std::optional<ScxSocketFile> sock = r ? io.transport->statSocket() : std::nullopt;
  if (!sock) {
    forgetInstance(io);
    return finish();
  }
  if (io.stale && *io.stale == *sock) return finish();
  io.stale.reset();
  Instance key{r->pid, r->ops, r->enableSeq, *sock};
  if (io.instance != key) {
    forgetInstance(io);
    io.instance = key;
  }

  MonoTime start = clock_.now();
  auto resp = io.transport->call(scxStatsRequest());
  double seconds = std::chrono::duration<double>(clock_.now() - start).count();
  if (!resp.isOk() && resp.status().code() == StatusCode::kNotFound) {
    // Nobody listens: the scheduler has no stats server, and the file is an earlier one's.
    log_.info("ignoring a stats socket that refuses connections until it is replaced",
              {{"scheduler", r->ops}, {"error", resp.status()}});
    forgetInstance(io);
    io.stale = *sock;
    return finish();
  }

  Status failure = resp.status();
  ScxStatsSamples flat;
  if (resp.isOk()) {
    if (!io.metaTried) {
      io.metaTried = true;
      auto m = io.transport->call(scxStatsMetaRequest());
      auto parsed = m.isOk() ? parseScxStatsMeta(*m) : Result<ScxStatsMeta>(m.status());
      if (parsed.isOk()) {
        io.meta = std::move(parsed).value();
      } else {
        log_.info("no scx stats metadata; HELP texts will be generic",
                  {{"scheduler", r->ops}, {"error", parsed.status()}});
      }
    }
    auto f = flattenScxStats(*resp, io.meta, maxSamples_);
    if (f.isOk()) {
      flat = std::move(f).value();
    } else {
      failure = f.status();
    }
  }
  if (!failure.isOk()) ++io.errors[std::string(scxStatsErrorReason(failure))];
  noteResult(io, *r, failure, flat.samples.size());
  if (flat.dropped > 0 && !io.truncationLogged) {
    io.truncationLogged = true;
    log_.warn("the scheduler reports more scx stats than are exported; the rest are dropped",
              {{"scheduler", r->ops},
               {"exported", static_cast<unsigned long>(flat.samples.size())},
               {"dropped", static_cast<unsigned long>(flat.dropped)}});
  }

  Labels id{{"policy", r->policy},
            {"image_digest", r->imageDigest},
            {"kernel_release", kernelRelease(io, *r)},
            {"scheduler", r->ops}};
  std::map<std::string, std::size_t> family;
  for (const auto& s : flat.samples) {
    auto [it, added] = family.emplace(s.name, out.size());
    if (added) out.push_back({s.name, s.help, prometheus::MetricType::Gauge, {}});
    Labels l = id;
    for (const auto& [k, v] : s.labels) l[k] = v;
    out[it->second].metric.push_back(metricWith(l, s.value, false));
  }
  out.push_back({kScxStatsUpMetric,
                 "1 when the last read of the running scheduler's scx_stats worked",
                 prometheus::MetricType::Gauge,
                 {metricWith(id, failure.isOk() ? 1 : 0, false)}});
  out.push_back({kScxStatsReadSecondsMetric,
                 "Duration of the last read of the running scheduler's scx_stats",
                 prometheus::MetricType::Gauge,
                 {metricWith(id, seconds, false)}});
  return finish();
}

}  // namespace schedkit::agent
