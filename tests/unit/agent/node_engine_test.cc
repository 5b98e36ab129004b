#include "node/node_engine.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "fakes/fake_kernel.h"
#include "fakes/fake_runqlat_probe.h"
#include "fakes/fixed_random.h"
#include "fakes/mem_filesystem.h"

namespace schedkit::agent {
namespace {

using namespace std::chrono_literals;
using policy::NodePhase;
using policy::SchedulerType;

class NodeEngineTest : public ::testing::Test {
 protected:
  NodeEngineTest()
      : log_(clock_, [this](std::string_view l) { logLines_.emplace_back(l); }, LogFormat::kText,
             LogLevel::kDebug) {}

  void SetUp() override { engine_ = makeEngine(); }
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& l : logLines_) std::fprintf(stderr, "  log: %s", l.c_str());
    }
  }

  std::unique_ptr<NodeEngine> makeEngine() {
    kernel_.clearSubscribers();
    NodeEngineDeps deps{clock_, random_, fs_, log_, host_, &bpf_, &proc_,
                        [this](const policy::SchedulerNodeStateStatus& s) {
                          published_.push_back(s);
                        },
                        [this](const NodeEventRecord& e) { events_.push_back(e); }};
    deps.runqProbe = &runq_;
    deps.onRunqLatency = [this](const RunqLatencyReport& r) { runqReports_.push_back(r); };
    NodeEngineOptions o;
    o.stateDir = "/var/lib/schedkit";
    return std::make_unique<NodeEngine>(std::move(deps), o);
  }

  DesiredScheduler desired(const std::string& policy, SchedulerType type = SchedulerType::kBpfObject,
                           const std::string& revision = "rev1") {
    DesiredScheduler d;
    d.policy = policy;
    d.generation = 1;
    d.launch.policy = policy;
    d.launch.revision = revision;
    d.launch.type = type;
    d.launch.path = type == SchedulerType::kBpfObject ? "/usr/lib/schedkit/fifo.bpf.o" : "/usr/bin/scx_fifo";
    d.failure.maxRestarts = 3;
    d.failure.window = 10min;
    d.failure.backoff = {5s, 5min};
    d.health.startupTimeout = 30s;
    return d;
  }

  const policy::SchedulerNodeStateStatus& st() { return engine_->status(); }
  std::string cond(const std::string& type) {
    for (const auto& c : st().conditions) {
      if (c.type == type) return c.status;
    }
    return "";
  }
  int countEvents(const std::string& reason) {
    int n = 0;
    for (const auto& e : events_) n += e.reason == reason;
    return n;
  }
  void settle() { clock_.advance(1ms); }

  SimClock clock_;
  FixedRandom random_{0};
  MemFilesystem fs_;
  std::vector<std::string> logLines_;
  Logger log_;
  FakeKernel kernel_{clock_};
  FakeSchedExtHost host_{kernel_};
  FakeAttacher bpf_{kernel_, clock_, SchedulerType::kBpfObject};
  FakeAttacher proc_{kernel_, clock_, SchedulerType::kBinary};
  std::vector<policy::SchedulerNodeStateStatus> published_;
  std::vector<NodeEventRecord> events_;
  FakeRunqLatencyProbe runq_;
  std::vector<RunqLatencyReport> runqReports_;
  std::unique_ptr<NodeEngine> engine_;
};

TEST_F(NodeEngineTest, IdleWithoutPolicy) {
  ASSERT_TRUE(engine_->start().isOk());
  EXPECT_TRUE(published_.empty()) << "nothing is reported before policies are known";
  engine_->setDesired(std::nullopt, {});
  EXPECT_EQ(st().phase, NodePhase::kIdle);
  EXPECT_EQ(cond("Ready"), "True");
  EXPECT_EQ(cond("SchedulerAttached"), "False");
  EXPECT_EQ(st().kernel.release, "6.18.15+deb13-amd64");
  EXPECT_TRUE(st().kernel.schedExt);
  EXPECT_EQ(bpf_.starts, 0);
}

TEST_F(NodeEngineTest, AttachesObjectAndConfirmsWithKernel) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("fifo"), {{"fifo", 1}});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  ASSERT_TRUE(st().active.has_value());
  EXPECT_EQ(st().active->opsName, "fifo_test");
  EXPECT_EQ(st().active->enableSeq, 1);
  EXPECT_EQ(cond("Ready"), "True");
  EXPECT_EQ(cond("SchedulerAttached"), "True");
  EXPECT_EQ(cond("Degraded"), "False");
  EXPECT_EQ(st().policy, "fifo");
  EXPECT_EQ(st().revision, "rev1");
  EXPECT_EQ(st().observedPolicies.size(), 1u);
  EXPECT_EQ(countEvents("Attached"), 1);
  EXPECT_TRUE(fs_.exists("/var/lib/schedkit/attachment.json"));
}

TEST_F(NodeEngineTest, SteadyStateWritesNothing) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("fifo"), {{"fifo", 1}});
  settle();
  std::size_t n = published_.size();
  int reads = host_.reads;
  for (int i = 0; i < 10; ++i) engine_->setDesired(desired("fifo"), {{"fifo", 1}});
  clock_.advance(1h);
  EXPECT_EQ(published_.size(), n);
  EXPECT_LE(host_.reads - reads, 10);  // no polling: reads only when something happened
}

TEST_F(NodeEngineTest, StallRestartsWithBackoffThenFallsBack) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("fifo"), {{"fifo", 1}});
  settle();
  ASSERT_EQ(st().phase, NodePhase::kRunning);

  std::vector<Duration> gaps;
  for (int i = 0; i < 4; ++i) {
    kernel_.disable(ExitKind::kErrorStall, "runnable task stall",
                    "fifo_test: kworker/0:1[11] failed to run for 2.656s");
    settle();
    ASSERT_TRUE(st().lastExit.has_value());
    EXPECT_EQ(st().lastExit->kind, 1026);
    EXPECT_EQ(st().lastExit->kindName, "ERROR_STALL");
    EXPECT_EQ(st().lastExit->reason, "runnable task stall");
    EXPECT_EQ(st().lastExit->message, "fifo_test: kworker/0:1[11] failed to run for 2.656s");
    if (i < 3) {
      EXPECT_EQ(st().phase, NodePhase::kRestarting) << i;
      EXPECT_EQ(cond("Degraded"), "True");
      int before = bpf_.starts;
      MonoTime t0 = clock_.now();
      while (bpf_.starts == before && clock_.advanceToNextTimer()) {
      }
      gaps.push_back(clock_.now() - t0 + 1ms);  // settle() already spent 1 ms of the wait
      settle();
      EXPECT_EQ(st().phase, NodePhase::kRunning) << i;
    }
  }
  EXPECT_EQ(gaps, (std::vector<Duration>{5s, 10s, 20s}));
  EXPECT_EQ(st().phase, NodePhase::kFallenBack);
  EXPECT_EQ(st().restarts, 3);
  EXPECT_EQ(countEvents("FallenBack"), 1);
  EXPECT_EQ(cond("Ready"), "False");
  int starts = bpf_.starts;
  clock_.advance(24h);
  EXPECT_EQ(bpf_.starts, starts) << "no attach attempts once the circuit is open";
  EXPECT_EQ(kernel_.state.state, EnableState::kDisabled);
}

TEST_F(NodeEngineTest, FailuresOutsideTheWindowAreForgotten) {
  ASSERT_TRUE(engine_->start().isOk());
  auto d = desired("fifo");
  d.failure.maxRestarts = 1;
  d.failure.window = 1min;
  engine_->setDesired(d, {});
  settle();
  for (int i = 0; i < 5; ++i) {
    kernel_.disable(ExitKind::kErrorBpf, "scx_bpf_error", "boom");
    settle();
    ASSERT_EQ(st().phase, NodePhase::kRestarting) << i;
    clock_.advance(2min);  // backoff fires and the failure ages out of the window
    ASSERT_EQ(st().phase, NodePhase::kRunning) << i;
  }
}

TEST_F(NodeEngineTest, SysrqIsAKillSwitchUntilThePolicyChanges) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("fifo"), {});
  settle();
  kernel_.disable(ExitKind::kSysrq, "disabled by sysrq-S");
  settle();
  EXPECT_EQ(st().phase, NodePhase::kFallenBack);
  EXPECT_EQ(st().lastExit->kindName, "SYSRQ");
  EXPECT_EQ(countEvents("KillSwitch"), 1);
  clock_.advance(24h);
  EXPECT_EQ(bpf_.starts, 1);
  engine_->setDesired(desired("fifo", SchedulerType::kBpfObject, "rev2"), {});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(bpf_.starts, 2);
}

TEST_F(NodeEngineTest, OperatorResetReenablesAfterKillSwitch) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("fifo"), {});
  settle();
  kernel_.disable(ExitKind::kSysrq, "disabled by sysrq-S");
  settle();
  engine_->resetFailures();
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRunning);
}

TEST_F(NodeEngineTest, KernelRestartRequestReattachesObjectAtOnce) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("fifo"), {});
  settle();
  kernel_.disable(ExitKind::kUnregKern, "unregistered from the main kernel",
                  "cpu 1 going offline, exiting scheduler");
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(bpf_.starts, 2);
  EXPECT_EQ(st().active->enableSeq, 2);
}

TEST_F(NodeEngineTest, InitFailureBacksOffInsteadOfLooping) {
  ASSERT_TRUE(engine_->start().isOk());
  bpf_.initFails = true;
  engine_->setDesired(desired("fifo"), {});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRestarting);
  EXPECT_EQ(st().lastExit->kindName, "ERROR");
  EXPECT_EQ(st().lastExit->message, "ops.init() failed (-12)");
  clock_.advance(10min);
  EXPECT_EQ(bpf_.starts, 4);  // 1 + maxRestarts, spaced by backoff
  EXPECT_EQ(st().phase, NodePhase::kFallenBack);
}

TEST_F(NodeEngineTest, StartErrorsCountAsFailures) {
  ASSERT_TRUE(engine_->start().isOk());
  bpf_.failStart = true;
  engine_->setDesired(desired("fifo"), {});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kAttaching) << "waits for a kernel reason first";
  clock_.advance(300ms);
  EXPECT_EQ(st().phase, NodePhase::kRestarting);
  EXPECT_EQ(st().lastExit->kindName, "START_FAILED");
  EXPECT_NE(st().lastExit->message.find("verifier rejected"), std::string::npos);
  bpf_.failStart = false;
  clock_.advance(5s);
  EXPECT_EQ(st().phase, NodePhase::kRunning);
}

TEST_F(NodeEngineTest, FailedAttachTakesTheKernelsReasonWhenItComes) {
  // 6.18 fails the attach itself when ops.init() fails, and logs why.
  ASSERT_TRUE(engine_->start().isOk());
  bpf_.failStart = true;
  engine_->setDesired(desired("fifo"), {});
  kernel_.state.enableSeq = 0;
  kernel_.enable("fifo_test", false, /*initFails=*/true);  // the kmsg lines of the failed init
  clock_.advance(1s);
  EXPECT_EQ(st().phase, NodePhase::kRestarting);
  EXPECT_EQ(st().lastExit->kindName, "ERROR");
  EXPECT_EQ(st().lastExit->message, "ops.init() failed (-12)");
}

TEST_F(NodeEngineTest, BusySlotIsReportedNotFought) {
  kernel_.enable("somebody_else", false);
  settle();
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("fifo"), {});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kFailed);
  EXPECT_EQ(bpf_.starts, 0);
  EXPECT_EQ(countEvents("SlotBusy"), 1);
  clock_.advance(1h);
  EXPECT_EQ(bpf_.starts, 0);
  EXPECT_EQ(countEvents("SlotBusy"), 1);  // reported once, not per retry
  kernel_.disable(ExitKind::kUnreg, "unregistered from user space");
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(bpf_.starts, 1);
}

TEST_F(NodeEngineTest, SwitchingPoliciesDetachesFirst) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("a"), {});
  settle();
  bpf_.opsName = "other_test";
  engine_->setDesired(desired("b", SchedulerType::kBpfObject, "rev9"), {});
  settle();
  EXPECT_EQ(bpf_.stops, 1);
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(st().active->opsName, "other_test");
  EXPECT_EQ(st().policy, "b");
  EXPECT_EQ(st().restarts, 0);
  EXPECT_EQ(countEvents("Restarting"), 0) << "our own detach is not a failure";
}

TEST_F(NodeEngineTest, RemovingThePolicyDetachesAndGoesIdle) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("a"), {});
  settle();
  engine_->setDesired(std::nullopt, {});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kIdle);
  EXPECT_EQ(kernel_.state.state, EnableState::kDisabled);
  EXPECT_FALSE(st().active.has_value());
  EXPECT_FALSE(fs_.exists("/var/lib/schedkit/attachment.json"));
  EXPECT_EQ(countEvents("Detached"), 1);
}

TEST_F(NodeEngineTest, AgentRestartReadoptsWithoutDetaching) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("a"), {});
  settle();
  std::int64_t seq = kernel_.state.enableSeq;
  bool done = false;
  engine_->shutdown(false, [&] { done = true; });
  EXPECT_TRUE(done);
  EXPECT_EQ(kernel_.state.state, EnableState::kEnabled);

  engine_ = makeEngine();  // a new agent process
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("a"), {});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(kernel_.state.enableSeq, seq) << "never detached";
  EXPECT_EQ(bpf_.starts, 1);
  EXPECT_EQ(countEvents("Adopted"), 1);
}

TEST_F(NodeEngineTest, StaleAttachmentRecordIsCleanedUp) {
  Attachment a;
  a.id = "schedkit-a";
  a.type = SchedulerType::kBinary;
  a.pid = 99;
  a.opsName = "fifo_test";
  a.spec.revision = "rev1";
  a.spec.policy = "a";
  fs_.put("/var/lib/schedkit/attachment.json",
          nlohmann::json({{"attachment", encodeAttachment(a)}, {"enableSeq", 3}, {"policy", "a"}}).dump());
  proc_.preload(a, false);  // the process died while no agent ran
  ASSERT_TRUE(engine_->start().isOk());
  EXPECT_EQ(proc_.cleanups, 1);
  EXPECT_FALSE(fs_.exists("/var/lib/schedkit/attachment.json"));
}

TEST_F(NodeEngineTest, CorruptAttachmentRecordIsIgnored) {
  fs_.put("/var/lib/schedkit/attachment.json", "{garbage");
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("a"), {});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRunning);
}

TEST_F(NodeEngineTest, ProcessSchedulerConfirmedWhenKernelEnablesIt) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("bin", SchedulerType::kBinary), {});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kAttaching);
  clock_.advance(300ms);
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(st().active->pid, 4242);
}

TEST_F(NodeEngineTest, ProcessConfirmedWhenEnableSeqRisesAfterTheEvents) {
  ASSERT_TRUE(engine_->start().isOk());
  kernel_.enableSeqLag = 70ms;  // nothing is announced when the counter finally goes up
  engine_->setDesired(desired("bin", SchedulerType::kBinary), {});
  clock_.advance(210ms);  // the fake process enables at 200 ms
  EXPECT_EQ(st().phase, NodePhase::kAttaching) << "enable_seq has not risen: not confirmed yet";
  clock_.advance(100ms);
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  ASSERT_TRUE(st().active.has_value());
  EXPECT_EQ(st().active->enableSeq, 1);
  EXPECT_EQ(countEvents("Attached"), 1);
}

TEST_F(NodeEngineTest, StaleEnabledSchedulerIsNotConfirmedAndRechecksStop) {
  ASSERT_TRUE(engine_->start().isOk());
  kernel_.enableSeqLag = 1h;  // the counter never rises within the test
  engine_->setDesired(desired("bin", SchedulerType::kBinary), {});
  clock_.advance(5s);
  EXPECT_EQ(st().phase, NodePhase::kAttaching);
  int reads = host_.reads;
  clock_.advance(20s);
  EXPECT_EQ(host_.reads, reads) << "re-reads of enable_seq are bounded, not a poll loop";
  clock_.advance(10s);
  EXPECT_EQ(st().lastExit->kindName, "STARTUP_TIMEOUT");
}

TEST_F(NodeEngineTest, ProcessEjectedExitsAndIsRestarted) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("bin", SchedulerType::kBinary), {});
  clock_.advance(300ms);
  kernel_.disable(ExitKind::kErrorStall, "runnable task stall", "bin: watchdog failed to check in for 30.144s");
  clock_.advance(100ms);
  EXPECT_EQ(st().phase, NodePhase::kRestarting);
  EXPECT_EQ(st().lastExit->message, "bin: watchdog failed to check in for 30.144s");
  clock_.advance(6s);
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(proc_.starts, 2);
}

TEST_F(NodeEngineTest, ProcessThatNeverEnablesTimesOut) {
  ASSERT_TRUE(engine_->start().isOk());
  proc_.neverEnables = true;
  engine_->setDesired(desired("bin", SchedulerType::kBinary), {});
  clock_.advance(29s);
  EXPECT_EQ(st().phase, NodePhase::kAttaching);
  clock_.advance(2s);
  EXPECT_EQ(st().phase, NodePhase::kRestarting);
  EXPECT_EQ(st().lastExit->kindName, "STARTUP_TIMEOUT");
  EXPECT_EQ(proc_.kills, 1);
}

TEST_F(NodeEngineTest, ProcessDyingBeforeEnableReportsItsOutput) {
  ASSERT_TRUE(engine_->start().isOk());
  proc_.exitsBeforeEnable = true;
  engine_->setDesired(desired("bin", SchedulerType::kBinary), {});
  clock_.advance(1s);
  EXPECT_EQ(st().phase, NodePhase::kRestarting);
  EXPECT_EQ(st().lastExit->kindName, "START_FAILED");
  EXPECT_EQ(st().lastExit->message, "Error: Failed to load BPF program");
}

TEST_F(NodeEngineTest, KilledProcessIsAnUnexpectedUnregistration) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("bin", SchedulerType::kBinary), {});
  clock_.advance(300ms);
  proc_.killProcess("schedkit-bin");
  clock_.advance(1s);
  EXPECT_EQ(st().lastExit->kindName, "UNREG");
  EXPECT_EQ(st().phase, NodePhase::kRestarting);
}

TEST_F(NodeEngineTest, InProcessRestartKeepsTheProcess) {
  ASSERT_TRUE(engine_->start().isOk());
  proc_.restartInProcess = true;
  engine_->setDesired(desired("bin", SchedulerType::kBinary), {});
  clock_.advance(300ms);
  kernel_.disable(ExitKind::kUnregKern, "unregistered from the main kernel");
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRestarting);
  kernel_.enable("fifo_test", false);  // the binary re-enables itself
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(proc_.starts, 1);
  EXPECT_EQ(st().active->enableSeq, 2);
}

TEST_F(NodeEngineTest, ExitWithoutKmsgFallsBackToUeventAfterGrace) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("fifo"), {});
  settle();
  kernel_.sendKmsg = false;
  kernel_.disable(ExitKind::kError, "runtime error");
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRunning) << "waits for the reason first";
  clock_.advance(300ms);
  EXPECT_EQ(st().phase, NodePhase::kRestarting);
  EXPECT_EQ(st().lastExit->kindName, "UNKNOWN");
}

TEST_F(NodeEngineTest, IncompatibleKernelNeverAttaches) {
  kernel_.caps.schedExt = false;
  kernel_.caps.reason = "CONFIG_SCHED_CLASS_EXT is not enabled (no /sys/kernel/sched_ext)";
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("fifo"), {});
  clock_.advance(1h);
  EXPECT_EQ(st().phase, NodePhase::kIncompatible);
  EXPECT_EQ(bpf_.starts, 0);
  EXPECT_EQ(cond("Degraded"), "True");
}

TEST_F(NodeEngineTest, ImageMinimumKernelIsChecked) {
  ASSERT_TRUE(engine_->start().isOk());
  auto d = desired("fifo");
  d.minKernel = "6.19";
  engine_->setDesired(d, {});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kIncompatible);
  d.minKernel = "6.12";
  engine_->setDesired(d, {});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRunning);
}

TEST_F(NodeEngineTest, ShutdownWithDetachWaitsForKernel) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("bin", SchedulerType::kBinary), {});
  clock_.advance(300ms);
  bool done = false;
  engine_->shutdown(true, [&] { done = true; });
  clock_.advance(100ms);
  EXPECT_TRUE(done);
  EXPECT_EQ(kernel_.state.state, EnableState::kDisabled);
  EXPECT_EQ(proc_.stops, 1);
  EXPECT_EQ(proc_.kills, 0);
}

TEST_F(NodeEngineTest, ConflictIsReportedOnce) {
  ASSERT_TRUE(engine_->start().isOk());
  auto d = desired("alpha");
  d.conflictsWith = {"zeta"};
  engine_->setDesired(d, {});
  engine_->setDesired(d, {});
  settle();
  EXPECT_EQ(countEvents("Conflict"), 1);
  EXPECT_EQ(st().phase, NodePhase::kRunning);
}

TEST_F(NodeEngineTest, RecentEventsAreBounded) {
  ASSERT_TRUE(engine_->start().isOk());
  auto d = desired("fifo");
  d.failure.maxRestarts = 100;
  d.failure.backoff = {1s, 1s};
  engine_->setDesired(d, {});
  settle();
  for (int i = 0; i < 20; ++i) {
    kernel_.disable(ExitKind::kErrorStall, "runnable task stall");
    clock_.advance(2s);
  }
  EXPECT_EQ(st().recentEvents.size(), policy::kMaxRecentEvents);
  EXPECT_EQ(st().restarts, 20);
}

TEST(DecideExitActionTest, ByKind) {
  EXPECT_EQ(decideExitAction(ExitKind::kUnreg, true), ExitAction::kNone);
  EXPECT_EQ(decideExitAction(ExitKind::kUnreg, false), ExitAction::kBackoffRestart);
  EXPECT_EQ(decideExitAction(ExitKind::kUnregKern, false), ExitAction::kRestartNow);
  EXPECT_EQ(decideExitAction(ExitKind::kSysrq, false), ExitAction::kHold);
  EXPECT_EQ(decideExitAction(ExitKind::kError, false), ExitAction::kBackoffRestart);
  EXPECT_EQ(decideExitAction(ExitKind::kErrorStall, false), ExitAction::kBackoffRestart);
  EXPECT_EQ(decideExitAction(ExitKind::kErrorBpf, false), ExitAction::kBackoffRestart);
}

}  // namespace
}  // namespace schedkit::agent

namespace schedkit::agent {
namespace {

TEST_F(NodeEngineTest, BlockedDesiredKeepsTheCurrentSchedulerRunning) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("a"), {});
  settle();
  auto d = desired("a", SchedulerType::kBpfObject, "rev2");
  d.blockedReason = "PullFailed";
  d.blockedMessage = "registry unreachable";
  d.blockedPhase = NodePhase::kFailed;
  engine_->setDesired(d, {});
  clock_.advance(1h);
  EXPECT_EQ(st().phase, NodePhase::kFailed);
  EXPECT_EQ(kernel_.state.state, EnableState::kEnabled) << "the old scheduler keeps running";
  EXPECT_EQ(bpf_.stops, 0);
  d.blockedReason.clear();
  engine_->setDesired(d, {});
  settle();
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(st().revision, "rev2");
}

// ---- spec.health.runqueueLatency: the SLO guard ----

class NodeEngineSloTest : public NodeEngineTest {
 protected:
  DesiredScheduler guarded(SchedulerType type = SchedulerType::kBpfObject) {
    auto d = desired("fifo", type);
    d.health.runqueueLatency = policy::RunqueueLatencyGuard{5ms, 10s};
    return d;
  }
  // Advances by `d` in read steps (2.5 s for a 10 s window), counting `perStep` latencies of
  // `us` µs before each read.
  void load(Duration d, std::uint64_t perStep, std::uint64_t us) {
    for (Duration t{}; t < d; t += 2500ms) {
      if (runq_.attached()) runq_.record(perStep, us);
      clock_.advance(2500ms);
    }
  }
};

TEST_F(NodeEngineSloTest, NoGuardLoadsNoProbe) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(desired("fifo"), {});
  settle();
  clock_.advance(1h);
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(runq_.attaches, 0);
  EXPECT_EQ(runq_.reads, 0);
  EXPECT_TRUE(runqReports_.empty());
}

TEST_F(NodeEngineSloTest, BreachFailsTheSchedulerThenFailurePolicyApplies) {
  ASSERT_TRUE(engine_->start().isOk());
  auto d = guarded();
  d.failure.maxRestarts = 1;
  engine_->setDesired(d, {{"fifo", 1}});
  settle();
  ASSERT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_TRUE(runq_.attached());

  load(7500ms, 1000, 20'000);  // three quarters of a window at 20 ms: not a full window yet
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  load(2500ms, 1000, 20'000);
  settle();
  ASSERT_TRUE(st().lastExit.has_value());
  EXPECT_EQ(st().lastExit->kindName, "SLO_BREACH");
  EXPECT_EQ(st().lastExit->kind, 0);
  EXPECT_NE(st().lastExit->reason.find("run-queue latency p99 "), std::string::npos) << st().lastExit->reason;
  EXPECT_NE(st().lastExit->reason.find(" ms over 10s exceeded the SLO of 5 ms"), std::string::npos)
      << st().lastExit->reason;
  EXPECT_NE(st().lastExit->message.find("4000 wakeups"), std::string::npos) << st().lastExit->message;
  EXPECT_EQ(st().phase, NodePhase::kRestarting);
  EXPECT_EQ(bpf_.stops, 1) << "the engine detached it";
  EXPECT_EQ(kernel_.state.state, EnableState::kDisabled);
  EXPECT_FALSE(st().active.has_value());
  EXPECT_EQ(countEvents("Restarting"), 1);
  EXPECT_EQ(countEvents("Detached"), 0) << "a failure, not a detach";
  ASSERT_FALSE(runqReports_.empty());
  EXPECT_TRUE(std::any_of(runqReports_.begin(), runqReports_.end(),
                          [](const RunqLatencyReport& r) { return r.breached; }));

  // Backoff (5 s), then a fresh window for the new instance.
  clock_.advance(5s);
  ASSERT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(bpf_.starts, 2);
  load(10s, 1000, 20'000);
  settle();
  EXPECT_EQ(st().phase, NodePhase::kFallenBack) << "maxRestarts 1: the second breach opens the circuit";
  EXPECT_EQ(countEvents("FallenBack"), 1);
  EXPECT_EQ(st().lastExit->kindName, "SLO_BREACH");
  int starts = bpf_.starts;
  load(1min, 1000, 20'000);  // the default scheduler is slow too: it is never "failed"
  EXPECT_EQ(bpf_.starts, starts);
  EXPECT_EQ(st().phase, NodePhase::kFallenBack);
}

TEST_F(NodeEngineSloTest, HealthySchedulerNeverTrips) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(guarded(), {});
  settle();
  load(2min, 2000, 300);
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(bpf_.starts, 1);
  EXPECT_FALSE(st().lastExit.has_value());
  ASSERT_FALSE(runqReports_.empty());
  EXPECT_EQ(runqReports_.back().policy, "fifo");
  EXPECT_FALSE(runqReports_.back().breached);
  ASSERT_TRUE(runqReports_.back().p99.has_value());
  EXPECT_LT(*runqReports_.back().p99, 1ms);
}

TEST_F(NodeEngineSloTest, OnlyTheEvaluatedInstanceCounts) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(guarded(), {});
  settle();
  load(7500ms, 1000, 20'000);
  kernel_.disable(ExitKind::kErrorStall, "runnable task stall");  // another failure first
  settle();
  ASSERT_EQ(st().phase, NodePhase::kRestarting);
  clock_.advance(5s);
  ASSERT_EQ(st().phase, NodePhase::kRunning);
  load(7500ms, 1000, 20'000);  // the new instance has not had a full window yet
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(st().lastExit->kindName, "ERROR_STALL");
}

TEST_F(NodeEngineSloTest, BinarySchedulerIsKilledOnBreach) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(guarded(SchedulerType::kBinary), {});
  clock_.advance(300ms);
  ASSERT_EQ(st().phase, NodePhase::kRunning);
  load(10s, 1000, 20'000);
  clock_.advance(50ms);  // the process exits after the kill; the engine has moved on
  EXPECT_EQ(st().lastExit->kindName, "SLO_BREACH");
  EXPECT_EQ(proc_.kills, 1);
  EXPECT_EQ(st().phase, NodePhase::kRestarting);
  clock_.advance(5s);
  clock_.advance(300ms);
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_EQ(proc_.starts, 2);
}

TEST_F(NodeEngineSloTest, RemovingTheGuardDetachesTheProbe) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(guarded(), {});
  settle();
  EXPECT_TRUE(runq_.attached());
  auto d = desired("fifo");
  d.generation = 2;
  engine_->setDesired(d, {});
  settle();
  EXPECT_FALSE(runq_.attached());
  EXPECT_EQ(st().phase, NodePhase::kRunning) << "same revision: the scheduler keeps running";
  EXPECT_EQ(runqReports_.back().policy, "") << "the policy's series go away";
  int reads = runq_.reads;
  clock_.advance(1h);
  EXPECT_EQ(runq_.reads, reads);
}

TEST_F(NodeEngineSloTest, ProbeThatCannotLoadLeavesTheSchedulerAlone) {
  runq_.failAttach = true;
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(guarded(), {});
  settle();
  clock_.advance(1min);
  EXPECT_EQ(st().phase, NodePhase::kRunning);
  EXPECT_FALSE(st().lastExit.has_value());
  ASSERT_FALSE(runqReports_.empty());
  EXPECT_EQ(runqReports_.back().errorReason, "attach");
}

TEST_F(NodeEngineSloTest, ShutdownDetachesTheProbe) {
  ASSERT_TRUE(engine_->start().isOk());
  engine_->setDesired(guarded(), {});
  settle();
  bool done = false;
  engine_->shutdown(false, [&] { done = true; });
  EXPECT_TRUE(done);
  EXPECT_FALSE(runq_.attached());
  EXPECT_EQ(kernel_.state.state, EnableState::kEnabled) << "the scheduler stays for the next agent";
}

}  // namespace
}  // namespace schedkit::agent
