#pragma once

#include <memory>
#include <optional>
#include <string>

#include "host/sched_ext_host.h"
#include "metrics/scx_stats.h"
#include "schedkit/common/clock.h"
#include "schedkit/policy/types.h"

namespace prometheus {
class Registry;
class Exposer;
}  // namespace prometheus

namespace schedkit::agent {

struct NodeEventRecord;
struct RunqLatencyReport;

// The agent's Prometheus metrics. Fed from what the node engine publishes (status, events,
// detection latency); the kernel's own counters (/sys/kernel/sched_ext) are read at scrape time.
//   schedkit_node_phase{phase}                    1 for the current phase
//   schedkit_scheduler_info{policy,ops,revision}  1 while a scheduler runs
//   schedkit_scheduler_restarts                    restarts of the current revision
//   schedkit_scheduler_exits_total{kind}           ejections seen, by exit kind
//   schedkit_node_events_total{reason}             node events (Attached, FallenBack, ...)
//   schedkit_fallback_detection_seconds            kmsg timestamp → node state published
//   schedkit_sched_ext_enabled, _switch_all, _enable_seq, _nr_rejected, _hotplug_seq
//   schedkit_sched_ext_events{event}               root/events counters (6.15+)
//   schedkit_runqueue_latency_seconds              wakeup → run latency (log2 buckets), while
//                                                  a policy sets spec.health.runqueueLatency
//   schedkit_runqueue_latency_p99_seconds{policy}  p99 over the policy's window
//   schedkit_runqueue_latency_slo_breached{policy} 1 when that p99 exceeded the SLO
//   schedkit_runqueue_latency_probe_errors_total{reason}  attach | read | malformed
// With ScxStatsDeps, also the running scheduler's own scx_stats (scx_stats_collector.h):
//   schedkit_scx_<field>{policy,image_digest,kernel_release,scheduler[,key]}
//   schedkit_scx_stats_up, schedkit_scx_stats_read_seconds, schedkit_scx_stats_errors_total{reason}
class AgentMetrics {
 public:
  explicit AgentMetrics(SchedExtHost& host);
  AgentMetrics(SchedExtHost& host, std::optional<ScxStatsDeps> scx);
  ~AgentMetrics();
  // Serves /metrics on addr ("0.0.0.0:9477"). Errors name the address.
  Status serve(const std::string& addr);

  void onStatus(const policy::SchedulerNodeStateStatus& st);
  void onEvent(const NodeEventRecord& e);
  void onExit(const policy::ExitRecord& e);
  void onDetectLatency(Duration d);
  void onRunqLatency(const RunqLatencyReport& r);

  // The text exposition, for tests.
  std::string render() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace schedkit::agent
