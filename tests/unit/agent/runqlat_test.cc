#include "telemetry/runqlat.h"

#include <gtest/gtest.h>

#include <cmath>

#include "fakes/fake_runqlat_probe.h"
#include "telemetry/runqlat_monitor.h"

namespace schedkit::agent {
namespace {

using namespace std::chrono_literals;

RunqHistogram hist(std::initializer_list<std::pair<std::size_t, std::uint64_t>> slots) {
  RunqHistogram h = RunqHistogram::empty();
  for (auto [i, n] : slots) h.slots[i] = n;
  return h;
}

double secs(Duration d) { return std::chrono::duration<double>(d).count(); }

TEST(RunqHistogramTest, BucketBoundsAreLog2Microseconds) {
  auto b = runqBucketBoundsSeconds();
  ASSERT_EQ(b.size(), kRunqlatSlots - 1);
  EXPECT_DOUBLE_EQ(b[0], 1e-6);
  EXPECT_DOUBLE_EQ(b[1], 2e-6);
  EXPECT_DOUBLE_EQ(b[10], 1024e-6);
  EXPECT_DOUBLE_EQ(b[30], std::ldexp(1e-6, 30));
  EXPECT_TRUE(std::isinf(runqSlotUpperSeconds(kRunqlatSlots - 1)));
}

TEST(RunqHistogramTest, DeltaSubtractsSlotsAndSum) {
  RunqHistogram a = hist({{3, 10}, {5, 2}});
  a.totalNs = 1000;
  RunqHistogram b = hist({{3, 15}, {5, 2}, {7, 1}});
  b.totalNs = 5000;
  auto d = runqDelta(a, b);
  ASSERT_TRUE(d.isOk()) << d.status().message();
  EXPECT_EQ(d->slots[3], 5u);
  EXPECT_EQ(d->slots[5], 0u);
  EXPECT_EQ(d->slots[7], 1u);
  EXPECT_EQ(d->totalNs, 4000u);
  EXPECT_EQ(d->count(), 6u);
}

TEST(RunqHistogramTest, DeltaRefusesCountsGoingBackwards) {
  auto d = runqDelta(hist({{3, 10}}), hist({{3, 4}}));
  ASSERT_FALSE(d.isOk());
  EXPECT_NE(d.status().message().find("went backwards"), std::string::npos) << d.status().message();
  RunqHistogram a = RunqHistogram::empty(), b = RunqHistogram::empty();
  a.totalNs = 10;
  EXPECT_FALSE(runqDelta(a, b).isOk());
}

TEST(RunqHistogramTest, DeltaRefusesWrongSize) {
  RunqHistogram shortOne{std::vector<std::uint64_t>(16, 0), 0};
  auto d = runqDelta(RunqHistogram::empty(), shortOne);
  ASSERT_FALSE(d.isOk());
  EXPECT_NE(d.status().message().find("16 slots"), std::string::npos) << d.status().message();
  EXPECT_FALSE(runqDelta(shortOne, RunqHistogram::empty()).isOk());
}

struct QuantileCase {
  const char* name;
  std::vector<std::pair<std::size_t, std::uint64_t>> slots;
  double q;
  double want;  // seconds; < 0: no value
};

class RunqQuantileTest : public ::testing::TestWithParam<QuantileCase> {};

TEST_P(RunqQuantileTest, Interpolates) {
  const auto& c = GetParam();
  RunqHistogram h = RunqHistogram::empty();
  for (auto [i, n] : c.slots) h.slots[i] = n;
  auto q = runqQuantile(h, c.q);
  if (c.want < 0) {
    EXPECT_FALSE(q.has_value());
    return;
  }
  ASSERT_TRUE(q.has_value());
  EXPECT_NEAR(secs(*q), c.want, c.want * 1e-6 + 1e-12);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, RunqQuantileTest,
    ::testing::Values(
        QuantileCase{"empty", {}, 0.99, -1},
        // All in slot 4 = [8, 16) µs: p50 halfway, p99 near the top.
        QuantileCase{"one_slot_p50", {{4, 100}}, 0.5, 12e-6},
        QuantileCase{"one_slot_p99", {{4, 100}}, 0.99, (8 + 8 * 0.99) * 1e-6},
        // 99 fast (slot 2) and 1 slow (slot 14 = [8.192, 16.384) ms): the 99th is still fast.
        QuantileCase{"tail_outside_p99", {{2, 99}, {14, 1}}, 0.99, 4e-6},
        // 98 fast, 2 slow: p99 lands in the slow slot, halfway through it.
        QuantileCase{"tail_inside_p99", {{2, 98}, {14, 2}}, 0.99, (8192 + 8192 * 0.5) * 1e-6},
        QuantileCase{"slot0", {{0, 10}}, 0.5, 0.5e-6},
        QuantileCase{"open_last_slot_gives_lower_bound", {{31, 5}}, 0.99, std::ldexp(1e-6, 30)},
        QuantileCase{"q_out_of_range", {{4, 1}}, 1.5, -1}),
    [](const auto& tc) { return std::string(tc.param.name); });

TEST(RunqQuantileTest, MalformedHistogramHasNoQuantile) {
  RunqHistogram h{std::vector<std::uint64_t>(3, 7), 0};
  EXPECT_FALSE(runqQuantile(h, 0.99).has_value());
}

TEST(RunqWindowTest, CoversAfterWindowOverStepSlicesAndSlides) {
  RunqWindow w(10s, runqReadStep(10s));
  EXPECT_EQ(w.step(), 2500ms);
  MonoTime t{};
  for (int i = 0; i < 3; ++i) {
    w.add(t += 2500ms, hist({{1, 1}}));
    EXPECT_FALSE(w.covered()) << i;
  }
  w.add(t += 2500ms, hist({{1, 1}}));
  EXPECT_TRUE(w.covered());
  EXPECT_EQ(w.sum().count(), 4u);
  w.add(t += 2500ms, hist({{2, 10}}));  // the oldest slice leaves
  EXPECT_EQ(w.sum().count(), 13u);
  EXPECT_EQ(w.slices(), 4u);
  w.reset();
  EXPECT_FALSE(w.covered());
  EXPECT_EQ(w.sum().count(), 0u);
}

TEST(RunqWindowTest, ReadStepIsAQuarterWithinBounds) {
  EXPECT_EQ(runqReadStep(60s), 15s);
  EXPECT_EQ(runqReadStep(2s), 1s);
  EXPECT_EQ(runqReadStep(500ms), 500ms);
}

// ---- the monitor ----

class RunqMonitorTest : public ::testing::Test {
 protected:
  RunqMonitorTest()
      : log_(clock_, [this](std::string_view l) { lines_.emplace_back(l); }, LogFormat::kText,
             LogLevel::kDebug),
        mon_(RunqLatencyMonitor::Deps{clock_, log_, probe_,
                                      [this](const RunqLatencyReport& r) { reports_.push_back(r); },
                                      [this](const RunqSloBreach& b) { breaches_.push_back(b); }}) {}

  policy::RunqueueLatencyGuard guard(Duration p99 = 5ms, Duration window = 10s) {
    return {p99, window};
  }
  bool logged(const std::string& what) {
    for (const auto& l : lines_) {
      if (l.find(what) != std::string::npos) return true;
    }
    return false;
  }

  SimClock clock_;
  std::vector<std::string> lines_;
  Logger log_;
  FakeRunqLatencyProbe probe_;
  std::vector<RunqLatencyReport> reports_;
  std::vector<RunqSloBreach> breaches_;
  RunqLatencyMonitor mon_;
};

TEST_F(RunqMonitorTest, NothingAttachedWithoutAGuard) {
  mon_.beginEvaluation();
  clock_.advance(1h);
  EXPECT_EQ(probe_.attaches, 0);
  EXPECT_EQ(probe_.reads, 0);
  EXPECT_EQ(clock_.pendingTimers(), 0u);
}

TEST_F(RunqMonitorTest, ReadsEveryQuarterWindowAndDetachesWhenOff) {
  mon_.configure("p", guard(5ms, 20s));
  EXPECT_TRUE(probe_.attached());
  int reads = probe_.reads;
  clock_.advance(20s);
  EXPECT_EQ(probe_.reads - reads, 4) << "window/4, never faster";
  mon_.configure("p", guard(5ms, 20s));  // unchanged: nothing happens
  EXPECT_EQ(probe_.attaches, 1);
  mon_.configure("", std::nullopt);
  EXPECT_FALSE(probe_.attached());
  EXPECT_EQ(clock_.pendingTimers(), 0u);
  ASSERT_FALSE(reports_.empty());
  EXPECT_EQ(reports_.back().policy, "") << "the policy's series are removed";
}

TEST_F(RunqMonitorTest, BreachOnlyAfterAFullWindowWithEnoughSamples) {
  mon_.configure("p", guard(5ms, 10s));
  mon_.beginEvaluation();
  for (int i = 0; i < 3; ++i) {
    probe_.record(1000, 20'000);  // 20 ms each
    clock_.advance(2500ms);
    ASSERT_FALSE(reports_.empty());
    EXPECT_FALSE(reports_.back().breached) << "window not covered yet, slice " << i;
    ASSERT_TRUE(reports_.back().p99.has_value());
  }
  EXPECT_TRUE(breaches_.empty());
  probe_.record(1000, 20'000);
  clock_.advance(2500ms);
  ASSERT_EQ(breaches_.size(), 1u);
  EXPECT_GT(breaches_[0].p99, 16ms);
  EXPECT_EQ(breaches_[0].window, 10s);
  EXPECT_EQ(breaches_[0].limit, 5ms);
  EXPECT_EQ(breaches_[0].samples, 4000u);
  EXPECT_TRUE(reports_.back().breached);
  EXPECT_EQ(reports_.back().delta.count(), 1000u);
}

TEST_F(RunqMonitorTest, FewSamplesDecideNothing) {
  mon_.configure("p", guard());
  mon_.beginEvaluation();
  for (int i = 0; i < 8; ++i) {
    probe_.record(10, 50'000);
    clock_.advance(2500ms);
  }
  EXPECT_TRUE(breaches_.empty()) << "40 samples in a window is below minSamples";
}

TEST_F(RunqMonitorTest, FastLatencyNeverBreaches) {
  mon_.configure("p", guard());
  mon_.beginEvaluation();
  for (int i = 0; i < 40; ++i) {
    probe_.record(5000, 100);
    probe_.record(10, 50'000);  // 0.2 % slow: outside the p99
    clock_.advance(2500ms);
  }
  EXPECT_TRUE(breaches_.empty());
  ASSERT_TRUE(reports_.back().p99.has_value());
  EXPECT_LT(*reports_.back().p99, 1ms);
}

TEST_F(RunqMonitorTest, NotEvaluatingReportsButNeverFails) {
  mon_.configure("p", guard());
  for (int i = 0; i < 8; ++i) {
    probe_.record(1000, 20'000);
    clock_.advance(2500ms);
  }
  EXPECT_TRUE(breaches_.empty());
  EXPECT_TRUE(reports_.back().breached) << "the node's latency is reported whatever runs";
}

TEST_F(RunqMonitorTest, BeginEvaluationStartsAFreshWindow) {
  mon_.configure("p", guard());
  for (int i = 0; i < 8; ++i) {
    probe_.record(1000, 20'000);
    clock_.advance(2500ms);
  }
  mon_.beginEvaluation();  // a new scheduler: the old latencies do not count against it
  for (int i = 0; i < 3; ++i) {
    probe_.record(1000, 20'000);
    clock_.advance(2500ms);
  }
  EXPECT_TRUE(breaches_.empty());
}

TEST_F(RunqMonitorTest, CountsGoingBackwardsResetWithAnError) {
  mon_.configure("p", guard());
  mon_.beginEvaluation();
  probe_.record(1000, 20'000);
  clock_.advance(2500ms);
  probe_.counts = RunqHistogram::empty();  // reloaded behind our back
  clock_.advance(2500ms);
  ASSERT_FALSE(reports_.empty());
  EXPECT_EQ(reports_.back().errorReason, "malformed");
  EXPECT_TRUE(logged("went backwards")) << "a clear log line";
  for (int i = 0; i < 3; ++i) {
    probe_.record(1000, 20'000);
    clock_.advance(2500ms);
  }
  EXPECT_TRUE(breaches_.empty()) << "the window restarted at the reset";
  probe_.record(1000, 20'000);
  clock_.advance(2500ms);
  EXPECT_EQ(breaches_.size(), 1u) << "and works again after it";
  EXPECT_TRUE(logged("works again"));
}

TEST_F(RunqMonitorTest, WrongSizedHistogramIsAnErrorNotACrash) {
  mon_.configure("p", guard());
  mon_.beginEvaluation();
  probe_.counts.slots.resize(7);
  for (int i = 0; i < 8; ++i) clock_.advance(2500ms);
  EXPECT_TRUE(breaches_.empty());
  EXPECT_EQ(reports_.back().errorReason, "malformed");
  EXPECT_TRUE(logged("7 slots"));
}

TEST_F(RunqMonitorTest, AttachFailureIsReportedAndRetried) {
  probe_.failAttach = true;
  mon_.configure("p", guard());
  mon_.beginEvaluation();
  ASSERT_FALSE(reports_.empty());
  EXPECT_EQ(reports_.back().errorReason, "attach");
  EXPECT_TRUE(logged("SLO is not evaluated"));
  clock_.advance(2500ms);
  EXPECT_GE(probe_.attaches, 2) << "retried at the next read";
  probe_.failAttach = false;
  clock_.advance(2500ms);
  EXPECT_TRUE(probe_.attached());
  EXPECT_TRUE(breaches_.empty());
}

TEST_F(RunqMonitorTest, ReadFailureResetsTheWindow) {
  mon_.configure("p", guard());
  mon_.beginEvaluation();
  for (int i = 0; i < 3; ++i) {
    probe_.record(1000, 20'000);
    clock_.advance(2500ms);
  }
  probe_.failRead = true;
  clock_.advance(2500ms);
  EXPECT_EQ(reports_.back().errorReason, "read");
  probe_.failRead = false;
  probe_.record(1000, 20'000);
  clock_.advance(2500ms);  // rebase only
  EXPECT_TRUE(breaches_.empty());
}

}  // namespace
}  // namespace schedkit::agent
