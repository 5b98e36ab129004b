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
        latency(prometheus::BuildHistogram().Name("schedkit_fallback_detection_seconds").Help("From the kernel's kmsg timestamp of an ejection to the node state being published").Register(*registry).Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1, 2, 5})) {
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
