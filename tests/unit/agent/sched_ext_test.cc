#include "host/sched_ext.h"

#include <gtest/gtest.h>

namespace schedkit::agent {
namespace {

TEST(ParseEnableState, AllStatesAndGarbage) {
  EXPECT_EQ(*parseEnableState("enabled\n"), EnableState::kEnabled);
  EXPECT_EQ(*parseEnableState("disabled\n"), EnableState::kDisabled);
  EXPECT_EQ(*parseEnableState("enabling"), EnableState::kEnabling);
  EXPECT_EQ(*parseEnableState("disabling\n"), EnableState::kDisabling);
  EXPECT_FALSE(parseEnableState("on").isOk());
  EXPECT_FALSE(parseEnableState("").isOk());
}

TEST(ParseCounter, Values) {
  EXPECT_EQ(*parseCounter("7\n"), 7);
  EXPECT_EQ(*parseCounter("0"), 0);
  EXPECT_FALSE(parseCounter("7x").isOk());
  EXPECT_FALSE(parseCounter("\n").isOk());
}

TEST(ParseEvents, GenericNameValueLines) {
  auto ev = parseEvents(
      "SCX_EV_SELECT_CPU_FALLBACK 0\nSCX_EV_DISPATCH_KEEP_LAST 12\nSCX_EV_BYPASS_DURATION "
      "18446744073709551615\n");
  ASSERT_TRUE(ev.isOk()) << ev.status().toString();
  EXPECT_EQ(ev->size(), 3u);
  EXPECT_EQ(ev->at("SCX_EV_DISPATCH_KEEP_LAST"), 12u);
  EXPECT_EQ(ev->at("SCX_EV_BYPASS_DURATION"), 18446744073709551615u);
  EXPECT_FALSE(parseEvents("JUSTANAME\n").isOk());
  EXPECT_FALSE(parseEvents("X -1\n").isOk());
  EXPECT_TRUE(parseEvents("").isOk());
}

TEST(ExitKinds, ReasonStringsMapToKinds) {
  EXPECT_EQ(exitKindFromReason("runnable task stall"), ExitKind::kErrorStall);
  EXPECT_EQ(exitKindFromReason("scx_bpf_error"), ExitKind::kErrorBpf);
  EXPECT_EQ(exitKindFromReason("runtime error"), ExitKind::kError);
  EXPECT_EQ(exitKindFromReason("disabled by sysrq-S"), ExitKind::kSysrq);
  EXPECT_EQ(exitKindFromReason("unregistered from user space"), ExitKind::kUnreg);
  EXPECT_EQ(exitKindFromReason("unregistered from BPF"), ExitKind::kUnregBpf);
  EXPECT_EQ(exitKindFromReason("unregistered from the main kernel"), ExitKind::kUnregKern);
  EXPECT_EQ(exitKindFromReason("something new"), ExitKind::kUnknown);
  EXPECT_STREQ(exitKindName(ExitKind::kErrorStall), "ERROR_STALL");
  EXPECT_TRUE(isErrorKind(ExitKind::kError));
  EXPECT_FALSE(isErrorKind(ExitKind::kSysrq));
}

TEST(ParseKmsgRecord, HeaderAndText) {
  auto r = parseKmsgRecord("3,1234,56789012,-;sched_ext: BPF scheduler \"x\" disabled (scx_bpf_error)");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->priority, 3);
  EXPECT_EQ(r->seq, 1234u);
  EXPECT_EQ(r->usec, 56789012u);
  EXPECT_EQ(r->text, "sched_ext: BPF scheduler \"x\" disabled (scx_bpf_error)");
  // Facility bits are masked, the caller field is tolerated, dictionary lines dropped,
  // \xNN escapes decoded.
  auto r2 = parseKmsgRecord("14,5,6,c,caller=T1;a\\x09b\n SUBSYSTEM=x\n");
  ASSERT_TRUE(r2.isOk());
  EXPECT_EQ(r2->priority, 6);
  EXPECT_EQ(r2->text, "a\tb");
  EXPECT_FALSE(parseKmsgRecord("no semicolon").isOk());
  EXPECT_FALSE(parseKmsgRecord("x,1,2,-;t").isOk());
  EXPECT_FALSE(parseKmsgRecord("1,2;t").isOk());
}

std::vector<KmsgEvent> feedAll(const std::vector<std::string>& texts) {
  SchedExtLogParser p;
  std::vector<KmsgEvent> out;
  std::uint64_t seq = 0;
  for (const auto& t : texts) {
    if (auto e = p.feed(KmsgRecord{6, ++seq, seq * 1000, t})) out.push_back(*e);
  }
  return out;
}

TEST(SchedExtLogParser, StallReportAsPrintedBy619) {
  // Lines captured from Debian's 6.19.14 in qemu (docs/agent.md).
  auto ev = feedAll({
      "sched_ext: BPF scheduler \"stall_test\" enabled",
      "random: crng init done",
      "sched_ext: BPF scheduler \"stall_test\" disabled (runnable task stall)",
      "sched_ext: stall_test: kworker/0:1[11] failed to run for 2.656s",
      "   scx_watchdog_workfn+0x18d/0x220",
      "   process_one_work+0x17e/0x330",
      "virtio_net virtio0 eth0: link up",
  });
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(std::get<KmsgEnabled>(ev[0]).ops, "stall_test");
  EXPECT_FALSE(std::get<KmsgEnabled>(ev[0]).partial);
  const auto& d = std::get<KmsgDisabled>(ev[1]);
  EXPECT_EQ(d.ops, "stall_test");
  EXPECT_EQ(d.reason, "runnable task stall");
  EXPECT_EQ(d.kind, ExitKind::kErrorStall);
  EXPECT_EQ(std::get<KmsgDetail>(ev[2]).message, "kworker/0:1[11] failed to run for 2.656s");
  EXPECT_EQ(std::get<KmsgBacktrace>(ev[3]).line, "scx_watchdog_workfn+0x18d/0x220");
  EXPECT_EQ(std::get<KmsgBacktrace>(ev[4]).line, "process_one_work+0x17e/0x330");
}

TEST(SchedExtLogParser, WatchdogCheckInShape) {
  auto ev = feedAll({"sched_ext: BPF scheduler \"fifo_test\" disabled (runnable task stall)",
                     "sched_ext: fifo_test: watchdog failed to check in for 30.144s"});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(std::get<KmsgDetail>(ev[1]).message, "watchdog failed to check in for 30.144s");
}

TEST(SchedExtLogParser, ErrorSysrqPartialAndUnreg) {
  auto ev = feedAll({
      "sched_ext: BPF scheduler \"simple_test\" enabled (partial)",
      "sysrq: Disable sched_ext and revert all tasks to CFS",
      "sched_ext: BPF scheduler \"simple_test\" disabled (disabled by sysrq-S)",
      "sched_ext: BPF scheduler \"error_test\" disabled (scx_bpf_error)",
      "sched_ext: error_test: test error after 2000 enqueues",
      "sched_ext: BPF scheduler \"fifo_test\" disabled (unregistered from user space)",
  });
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_TRUE(std::get<KmsgEnabled>(ev[0]).partial);
  EXPECT_EQ(std::get<KmsgDisabled>(ev[1]).kind, ExitKind::kSysrq);
  EXPECT_EQ(std::get<KmsgDisabled>(ev[2]).kind, ExitKind::kErrorBpf);
  EXPECT_EQ(std::get<KmsgDetail>(ev[3]).message, "test error after 2000 enqueues");
  EXPECT_EQ(std::get<KmsgDisabled>(ev[4]).kind, ExitKind::kUnreg);
}

TEST(SchedExtLogParser, DetailOnlyForTheSchedulerJustDisabled) {
  auto ev = feedAll({"sched_ext: BPF scheduler \"a\" disabled (scx_bpf_error)",
                     "sched_ext: b: not a detail for a",
                     "   not a backtrace either"});
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<KmsgOther>(ev[1]));
}

TEST(SchedExtLogParser, LegacyAndOtherLines) {
  auto ev = feedAll({"sched_ext: BPF scheduler \"rusty\" errored, disabling",
                     "sched_ext: rusty: bad dispatch",
                     "sched_ext: Not compatible with \"isolcpus=\" domain isolation",
                     "sched_ext: BPF scheduler not yet used"});
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(std::get<KmsgDisabled>(ev[0]).kind, ExitKind::kError);
  EXPECT_EQ(std::get<KmsgDetail>(ev[1]).message, "bad dispatch");
  EXPECT_EQ(std::get<KmsgOther>(ev[2]).text, "Not compatible with \"isolcpus=\" domain isolation");
}

TEST(SchedExtLogParser, QuoteInsideOpsNameIsNotConfused) {
  auto ev = feedAll({"sched_ext: BPF scheduler \"weird\" disabled (made up reason)"});
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(std::get<KmsgDisabled>(ev[0]).kind, ExitKind::kUnknown);
  EXPECT_EQ(std::get<KmsgDisabled>(ev[0]).reason, "made up reason");
}

TEST(Uevents, SchedExtAddAndRemove) {
  using namespace std::string_literals;
  auto add = parseUevent("add@/kernel/sched_ext/root\0ACTION=add\0DEVPATH=/kernel/sched_ext/root\0"
                         "SUBSYSTEM=sched_ext\0SCXOPS=simple_test\0SEQNUM=1234\0"s);
  ASSERT_TRUE(add.isOk());
  auto a = toSchedExtUevent(*add);
  ASSERT_TRUE(a.has_value());
  EXPECT_TRUE(a->added);
  EXPECT_EQ(a->ops, "simple_test");
  auto rm = parseUevent("remove@/kernel/sched_ext/root\0ACTION=remove\0DEVPATH=/kernel/sched_ext/root\0"
                        "SUBSYSTEM=sched_ext\0SCXOPS=(efault)\0"s);
  auto r = toSchedExtUevent(*rm);
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->added);
  EXPECT_EQ(r->ops, "") << "the kernel's SCXOPS on remove is garbage";
  auto other = parseUevent("add@/devices/virtual/net/lo\0ACTION=add\0SUBSYSTEM=net\0"s);
  EXPECT_FALSE(toSchedExtUevent(*other).has_value());
  EXPECT_FALSE(parseUevent("libudev\0\xfe\xed"s).isOk());
}

TEST(KernelRelease, Compare) {
  EXPECT_EQ(compareKernelRelease("6.18.15+deb13-amd64", "6.12"), 1);
  EXPECT_EQ(compareKernelRelease("6.12.0", "6.12"), 0);
  EXPECT_EQ(compareKernelRelease("6.9", "6.12"), -1);
  EXPECT_EQ(compareKernelRelease("7.0-rc1", "6.19"), 1);
  EXPECT_EQ(compareKernelRelease("6.19.14+deb13-amd64", "6.19.14"), 0);
  // Found by kmsg_fuzz: absurdly long numbers must not overflow.
  EXPECT_EQ(compareKernelRelease(std::string(40, '9'), "6.12"), 1);
}

}  // namespace
}  // namespace schedkit::agent
