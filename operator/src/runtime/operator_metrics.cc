#include "runtime/operator_metrics.h"

#include <deque>
#include <iterator>

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

namespace schedkit::op {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

class SnapshotCollector final : public prometheus::Collectable {
 public:
  std::vector<MetricFamily> Collect() const override {
    OperatorSnapshot s;
    {
      std::lock_guard lk(mu);
      s = snap;
    }
    // A deque: family() hands out references that later family() calls must not invalidate.
    std::deque<MetricFamily> out;
    auto family = [&](const char* name, const char* help, MetricType t) -> MetricFamily& {
      out.push_back({name, help, t, {}});
      return out.back();
    };
    auto add = [](MetricFamily& f, double v, std::vector<ClientMetric::Label> labels = {}) {
      ClientMetric m;
      m.label = std::move(labels);
      if (f.type == MetricType::Counter) {
        m.counter.value = v;
      } else {
        m.gauge.value = v;
      }
      f.metric.push_back(std::move(m));
    };
    add(family("schedkit_operator_leader", "1 while this replica holds the Lease and acts",
               MetricType::Gauge),
        s.leader ? 1 : 0);
    add(family("schedkit_operator_reconcile_passes_total", "Reconcile passes over the fleet",
               MetricType::Counter),
        static_cast<double>(s.passes));
    add(family("schedkit_operator_reconcile_pass_seconds", "Duration of the last reconcile pass",
               MetricType::Gauge),
        s.lastPassSeconds);
    auto& sw = family("schedkit_operator_status_writes_total",
                      "SchedulerPolicy status writes, by result", MetricType::Counter);
    add(sw, static_cast<double>(s.statusWrites), {{"result", "ok"}});
    add(sw, static_cast<double>(s.statusConflicts), {{"result", "conflict"}});
    add(sw, static_cast<double>(s.statusFailures), {{"result", "error"}});
    auto& lw = family("schedkit_operator_node_label_writes_total", "Node label writes, by result",
                      MetricType::Counter);
    add(lw, static_cast<double>(s.labelWrites), {{"result", "ok"}});
    add(lw, static_cast<double>(s.labelFailures), {{"result", "error"}});
    add(family("schedkit_operator_node_label_writes_pending", "Nodes waiting for a label write",
               MetricType::Gauge),
        static_cast<double>(s.labelPending));
    add(family("schedkit_operator_api_requests_total", "Requests sent to the API server",
               MetricType::Counter),
        static_cast<double>(s.apiRequests));
    auto& nodes = family("schedkit_operator_policy_nodes", "Nodes of a policy, by state",
                         MetricType::Gauge);
    auto& phase = family("schedkit_operator_rollout_phase", "1 for the policy's rollout phase",
                         MetricType::Gauge);
    auto& admitted = family("schedkit_operator_rollout_admitted_below",
                            "Node buckets below this run the revision being rolled out",
                            MetricType::Gauge);
    for (const auto& [name, st] : s.policies) {
      const auto& c = st.nodes;
      for (auto [state, v] : {std::pair{"matched", c.matched}, {"attached", c.attached},
                              {"pending", c.pending}, {"fallenBack", c.fallenBack},
                              {"incompatible", c.incompatible}, {"conflicted", c.conflicted},
                              {"failed", c.failed}}) {
        add(nodes, v, {{"policy", name}, {"state", state}});
      }
      if (st.rollout) {
        add(phase, 1, {{"policy", name}, {"phase", policy::toString(st.rollout->phase)}});
        add(admitted, st.rollout->admittedBelow, {{"policy", name}});
      }
    }
    return {std::make_move_iterator(out.begin()), std::make_move_iterator(out.end())};
  }

  mutable std::mutex mu;
  OperatorSnapshot snap;
};

}  // namespace

struct OperatorMetrics::Impl {
  std::shared_ptr<SnapshotCollector> collector = std::make_shared<SnapshotCollector>();
  std::unique_ptr<prometheus::Exposer> exposer;
};

OperatorMetrics::OperatorMetrics() : impl_(std::make_shared<Impl>()) {}
OperatorMetrics::~OperatorMetrics() = default;

Status OperatorMetrics::serve(const std::string& addr) {
  try {
    impl_->exposer = std::make_unique<prometheus::Exposer>(addr);
  } catch (const std::exception& e) {
    return unavailable("cannot listen on " + addr + ": " + e.what());
  }
  impl_->exposer->RegisterCollectable(impl_->collector);
  return Status::ok();
}

void OperatorMetrics::publish(OperatorSnapshot s) {
  std::lock_guard lk(impl_->collector->mu);
  impl_->collector->snap = std::move(s);
}

std::string OperatorMetrics::render() const {
  return prometheus::TextSerializer().Serialize(impl_->collector->Collect());
}

}  // namespace schedkit::op
