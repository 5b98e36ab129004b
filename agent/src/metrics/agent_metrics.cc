#include "metrics/agent_metrics.h"

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include <mutex>

#include "metrics/scx_stats_collector.h"
#include "node/node_engine.h"
#include "telemetry/runqlat_monitor.h"

namespace schedkit::agent {

namespace {

// Reads /sys/kernel/sched_ext when Prometheus scrapes (on the exposer's thread).
class SchedExtCollector final : public prometheus::Collectable {
 public:
  explicit SchedExtCollector(SchedExtHost& host) : host_(host) {}
  std::vector<prometheus::MetricFamily> Collect() const override {
    std::vector<prometheus::MetricFamily> out;
    auto st = host_.readState();
    if (!st.isOk()) return out;
    auto gauge = [&](const char* name, const char* help, double v) {
      prometheus::MetricFamily f{name, help, prometheus::MetricType::Gauge, {}};
      prometheus::ClientMetric m;
      m.gauge.value = v;
      f.metric.push_back(m);
      out.push_back(std::move(f));
    };
    gauge("schedkit_sched_ext_enabled", "1 when a sched_ext scheduler is enabled",
          st->state == EnableState::kEnabled ? 1 : 0);
    gauge("schedkit_sched_ext_switch_all", "1 when every task is on sched_ext (full mode)",
          st->switchAll ? 1 : 0);
    gauge("schedkit_sched_ext_enable_seq", "Successful sched_ext enables since boot",
          static_cast<double>(st->enableSeq));
    gauge("schedkit_sched_ext_nr_rejected", "Tasks sched_ext refused since boot",
          static_cast<double>(st->nrRejected));
    gauge("schedkit_sched_ext_hotplug_seq", "CPU hotplug events since boot",
          static_cast<double>(st->hotplugSeq));
    if (!st->events.empty()) {
      prometheus::MetricFamily f{"schedkit_sched_ext_events",
                                 "The running scheduler's sched_ext event counters (root/events)",
                                 prometheus::MetricType::Gauge, {}};
      for (const auto& [name, v] : st->events) {
        prometheus::ClientMetric m;
        m.label.push_back({"event", name});
        m.gauge.value = static_cast<double>(v);
        f.metric.push_back(m);
      }
      out.push_back(std::move(f));
    }
    return out;
  }

 private:
  SchedExtHost& host_;
};

const policy::NodePhase kPhases[] = {
    policy::NodePhase::kIdle,       policy::NodePhase::kPulling,    policy::NodePhase::kAttaching,
    policy::NodePhase::kRunning,    policy::NodePhase::kRestarting, policy::NodePhase::kFallenBack,
    policy::NodePhase::kIncompatible, policy::NodePhase::kFailed};

}  // namespace

struct AgentMetrics::Impl {
  Impl(SchedExtHost& host, std::optional<ScxStatsDeps> scxDeps)
      : registry(std::make_shared<prometheus::Registry>()),
        collector(std::make_shared<SchedExtCollector>(host)),
        scx(scxDeps ? std::make_shared<ScxStatsCollector>(std::move(*scxDeps)) : nullptr),
        phase(prometheus::BuildGauge().Name("schedkit_node_phase").Help("1 for the node's current phase").Register(*registry)),
        info(prometheus::BuildGauge().Name("schedkit_scheduler_info").Help("1 while a schedkit scheduler runs").Register(*registry)),
        restarts(prometheus::BuildGauge().Name("schedkit_scheduler_restarts").Help("Restarts of the current policy revision").Register(*registry).Add({})),
        exits(prometheus::BuildCounter().Name("schedkit_scheduler_exits_total").Help("Scheduler exits the agent saw, by exit kind").Register(*registry)),
        events(prometheus::BuildCounter().Name("schedkit_node_events_total").Help("Node events, by reason").Register(*registry)),
        latency(prometheus::BuildHistogram().Name("schedkit_fallback_detection_seconds").Help("From the kernel's kmsg timestamp of an ejection to the node state being published").Register(*registry).Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5})),
        runqHist(prometheus::BuildHistogram().Name("schedkit_runqueue_latency_seconds").Help("How long runnable tasks waited in a run queue before running (wakeup or preemption to switch-in), measured while a policy sets spec.health.runqueueLatency").Register(*registry)),
        runqP99(prometheus::BuildGauge().Name("schedkit_runqueue_latency_p99_seconds").Help("Run-queue latency p99 over the policy's spec.health.runqueueLatency.window").Register(*registry)),
        runqBreached(prometheus::BuildGauge().Name("schedkit_runqueue_latency_slo_breached").Help("1 when the run-queue latency p99 over the window exceeded the policy's spec.health.runqueueLatency.p99").Register(*registry)),
        runqErrors(prometheus::BuildCounter().Name("schedkit_runqueue_latency_probe_errors_total").Help("Failed loads and reads of the run-queue latency probe, and malformed histograms, by reason").Register(*registry)) {
    for (auto p : kPhases) phaseGauges[static_cast<int>(p)] = &phase.Add({{"phase", policy::toString(p)}});
  }
  std::shared_ptr<prometheus::Registry> registry;
  std::shared_ptr<SchedExtCollector> collector;
  std::shared_ptr<ScxStatsCollector> scx;  // null: scx_stats are not read
  prometheus::Family<prometheus::Gauge>& phase;
  prometheus::Family<prometheus::Gauge>& info;
  prometheus::Gauge& restarts;
  prometheus::Family<prometheus::Counter>& exits;
  prometheus::Family<prometheus::Counter>& events;
  prometheus::Histogram& latency;
  prometheus::Family<prometheus::Histogram>& runqHist;
  prometheus::Family<prometheus::Gauge>& runqP99;
  prometheus::Family<prometheus::Gauge>& runqBreached;
  prometheus::Family<prometheus::Counter>& runqErrors;
  prometheus::Histogram* runqHistogram = nullptr;  // made on the first report
  std::string runqPolicy;                          // whose p99/breached series exist
  prometheus::Gauge* runqP99Gauge = nullptr;
  prometheus::Gauge* runqBreachedGauge = nullptr;
  prometheus::Gauge* phaseGauges[8] = {};
  prometheus::Gauge* infoGauge = nullptr;
  std::unique_ptr<prometheus::Exposer> exposer;
  std::mutex mu;
};

AgentMetrics::AgentMetrics(SchedExtHost& host) : AgentMetrics(host, std::nullopt) {}
AgentMetrics::AgentMetrics(SchedExtHost& host, std::optional<ScxStatsDeps> scx)
    : impl_(std::make_unique<Impl>(host, std::move(scx))) {}
AgentMetrics::~AgentMetrics() = default;

Status AgentMetrics::serve(const std::string& addr) {
  try {
    impl_->exposer = std::make_unique<prometheus::Exposer>(addr);
  } catch (const std::exception& e) {
    return unavailable("serving metrics on " + addr + ": " + e.what());
  }
  impl_->exposer->RegisterCollectable(impl_->registry);
  impl_->exposer->RegisterCollectable(impl_->collector);
  if (impl_->scx) impl_->exposer->RegisterCollectable(impl_->scx);
  return Status::ok();
}

void AgentMetrics::onStatus(const policy::SchedulerNodeStateStatus& st) {
  if (impl_->scx) impl_->scx->onStatus(st);
  std::lock_guard lk(impl_->mu);
  for (auto p : kPhases) impl_->phaseGauges[static_cast<int>(p)]->Set(p == st.phase ? 1 : 0);
  impl_->restarts.Set(st.restarts);
  if (impl_->infoGauge != nullptr) {
    impl_->info.Remove(impl_->infoGauge);
    impl_->infoGauge = nullptr;
  }
  if (st.active) {
    impl_->infoGauge = &impl_->info.Add(
        {{"policy", st.policy}, {"ops", st.active->opsName}, {"revision", st.revision}});
    impl_->infoGauge->Set(1);
  }
}

void AgentMetrics::onExit(const policy::ExitRecord& e) {
  std::lock_guard lk(impl_->mu);
  impl_->exits.Add({{"kind", e.kindName}}).Increment();
}

void AgentMetrics::onEvent(const NodeEventRecord& e) {
  std::lock_guard lk(impl_->mu);
  impl_->events.Add({{"reason", e.reason}}).Increment();
}

void AgentMetrics::onDetectLatency(Duration d) {
  std::lock_guard lk(impl_->mu);
  impl_->latency.Observe(std::chrono::duration<double>(d).count());
}

void AgentMetrics::onRunqLatency(const RunqLatencyReport& r) {
  std::lock_guard lk(impl_->mu);
  Impl& m = *impl_;
  if (!r.errorReason.empty()) m.runqErrors.Add({{"reason", r.errorReason}}).Increment();
  if (r.policy != m.runqPolicy) {
    if (m.runqP99Gauge != nullptr) m.runqP99.Remove(m.runqP99Gauge);
    if (m.runqBreachedGauge != nullptr) m.runqBreached.Remove(m.runqBreachedGauge);
    m.runqP99Gauge = m.runqBreachedGauge = nullptr;
    m.runqPolicy = r.policy;
    if (!r.policy.empty()) {
      m.runqP99Gauge = &m.runqP99.Add({{"policy", r.policy}});
      m.runqBreachedGauge = &m.runqBreached.Add({{"policy", r.policy}});
    }
  }
  if (r.policy.empty()) return;
  if (m.runqHistogram == nullptr) m.runqHistogram = &m.runqHist.Add({}, runqBucketBoundsSeconds());
  if (r.delta.slots.size() == kRunqlatSlots && r.delta.count() > 0) {
    std::vector<double> inc(r.delta.slots.begin(), r.delta.slots.end());
    m.runqHistogram->ObserveMultiple(inc, static_cast<double>(r.delta.totalNs) / 1e9);
  }
  if (r.p99) m.runqP99Gauge->Set(std::chrono::duration<double>(*r.p99).count());
  if (r.error.empty()) m.runqBreachedGauge->Set(r.breached ? 1 : 0);
}

std::string AgentMetrics::render() const {
  std::vector<prometheus::MetricFamily> families;
  {
    std::lock_guard lk(impl_->mu);
    families = impl_->registry->Collect();
    auto more = impl_->collector->Collect();
    families.insert(families.end(), more.begin(), more.end());
  }
  // Outside the lock: a slow stats socket must not hold up onStatus().
  if (impl_->scx) {
    auto more = impl_->scx->Collect();
    families.insert(families.end(), more.begin(), more.end());
  }
  return prometheus::TextSerializer().Serialize(families);
}

}  // namespace schedkit::agent
