#include "metrics/agent_metrics.h"

#include <gtest/gtest.h>

#include "fakes/fake_kernel.h"
#include "node/node_engine.h"
#include "telemetry/runqlat_monitor.h"

namespace schedkit::agent {
namespace {

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

TEST(AgentMetricsTest, PhaseExitsEventsAndLatency) {
  SimClock clock;
  FakeKernel kernel(clock);
  FakeSchedExtHost host(kernel);
  AgentMetrics m(host);
  policy::SchedulerNodeStateStatus st;
  st.phase = policy::NodePhase::kRunning;
  st.policy = "lavd";
  st.revision = "abc";
  st.restarts = 2;
  st.active = policy::ActiveScheduler{"lavd_1.0", "", 0, 3, ""};
  m.onStatus(st);
  m.onExit({"t", 1026, "ERROR_STALL", "runnable task stall", ""});
  m.onExit({"t", 1026, "ERROR_STALL", "runnable task stall", ""});
  m.onEvent({"Warning", "FallenBack", "x", "lavd"});
  m.onDetectLatency(std::chrono::milliseconds(120));
  std::string text = m.render();
  EXPECT_TRUE(has(text, "schedkit_node_phase{phase=\"Running\"} 1")) << text;
  EXPECT_TRUE(has(text, "schedkit_node_phase{phase=\"Idle\"} 0"));
  EXPECT_TRUE(has(text, "schedkit_scheduler_restarts 2"));
  EXPECT_TRUE(has(text, "schedkit_scheduler_info{ops=\"lavd_1.0\",policy=\"lavd\",revision=\"abc\"} 1"));
  EXPECT_TRUE(has(text, "schedkit_scheduler_exits_total{kind=\"ERROR_STALL\"} 2"));
  EXPECT_TRUE(has(text, "schedkit_node_events_total{reason=\"FallenBack\"} 1"));
  EXPECT_TRUE(has(text, "schedkit_fallback_detection_seconds_bucket{le=\"0.2\"} 1"));
  EXPECT_TRUE(has(text, "schedkit_fallback_detection_seconds_bucket{le=\"0.1\"} 0"));

  // The running scheduler's info series goes away with it.
  st.phase = policy::NodePhase::kFallenBack;
  st.active.reset();
  m.onStatus(st);
  text = m.render();
  EXPECT_EQ(text.find("schedkit_scheduler_info{"), std::string::npos) << text;
  EXPECT_TRUE(has(text, "schedkit_node_phase{phase=\"FallenBack\"} 1"));
}

TEST(AgentMetricsTest, KernelCountersReadAtScrapeTime) {
  SimClock clock;
  FakeKernel kernel(clock);
  FakeSchedExtHost host(kernel);
  AgentMetrics m(host);
  kernel.enable("fifo_test", /*partial=*/true);
  kernel.state.nrRejected = 4;
  kernel.state.events = {{"SCX_EV_SELECT_CPU_FALLBACK", 7}};
  std::string text = m.render();
  EXPECT_TRUE(has(text, "schedkit_sched_ext_enabled 1")) << text;
  EXPECT_TRUE(has(text, "schedkit_sched_ext_switch_all 0"));
  EXPECT_TRUE(has(text, "schedkit_sched_ext_enable_seq 1"));
  EXPECT_TRUE(has(text, "schedkit_sched_ext_nr_rejected 4"));
  EXPECT_TRUE(has(text, "schedkit_sched_ext_events{event=\"SCX_EV_SELECT_CPU_FALLBACK\"} 7"));
}

TEST(AgentMetricsTest, RunqueueLatencyHistogramP99AndBreach) {
  SimClock clock;
  FakeKernel kernel(clock);
  FakeSchedExtHost host(kernel);
  AgentMetrics m(host);
  std::string text = m.render();
  EXPECT_EQ(text.find("schedkit_runqueue_latency_seconds_count"), std::string::npos)
      << "nothing before a policy sets the guard";

  RunqLatencyReport r;
  r.policy = "latency";
  r.delta = RunqHistogram::empty();
  r.delta.slots[3] = 5;   // [4, 8) µs
  r.delta.slots[14] = 2;  // [8.192, 16.384) ms
  r.delta.totalNs = 30'000'000;
  r.p99 = std::chrono::milliseconds(12);
  r.breached = true;
  m.onRunqLatency(r);
  m.onRunqLatency(r);
  text = m.render();
  EXPECT_TRUE(has(text, "schedkit_runqueue_latency_seconds_count 14")) << text;
  EXPECT_TRUE(has(text, "schedkit_runqueue_latency_seconds_sum 0.06"));
  EXPECT_TRUE(has(text, "schedkit_runqueue_latency_seconds_bucket{le=\"8e-06\"} 10"));
  EXPECT_TRUE(has(text, "schedkit_runqueue_latency_seconds_bucket{le=\"+Inf\"} 14"));
  EXPECT_TRUE(has(text, "schedkit_runqueue_latency_p99_seconds{policy=\"latency\"} 0.012"));
  EXPECT_TRUE(has(text, "schedkit_runqueue_latency_slo_breached{policy=\"latency\"} 1"));

  RunqLatencyReport bad;
  bad.policy = "latency";
  bad.error = "went backwards";
  bad.errorReason = "malformed";
  m.onRunqLatency(bad);
  text = m.render();
  EXPECT_TRUE(has(text, "schedkit_runqueue_latency_probe_errors_total{reason=\"malformed\"} 1")) << text;

  m.onRunqLatency(RunqLatencyReport{});  // the guard is off
  text = m.render();
  EXPECT_EQ(text.find("schedkit_runqueue_latency_slo_breached{"), std::string::npos) << text;
  EXPECT_EQ(text.find("schedkit_runqueue_latency_p99_seconds{"), std::string::npos);
}

}  // namespace
}  // namespace schedkit::agent
