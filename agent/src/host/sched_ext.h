#pragma once

// The kernel's sched_ext interface as values, and pure parsers for what it prints
// (/sys/kernel/sched_ext, /dev/kmsg, kobject uevents). Facts: docs/agent.md.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "schedkit/common/status.h"

namespace schedkit::agent {

enum class EnableState { kDisabled, kEnabling, kEnabled, kDisabling };
const char* toString(EnableState s);
Result<EnableState> parseEnableState(std::string_view text);

// A snapshot of /sys/kernel/sched_ext. `ops` and `events` exist only while a scheduler is
// attached (the root/ kobject is created on enable and deleted on disable).
struct SchedExtState {
  EnableState state = EnableState::kDisabled;
  bool switchAll = false;
  std::int64_t nrRejected = 0;
  std::int64_t hotplugSeq = 0;
  std::int64_t enableSeq = 0;
  std::optional<std::string> ops;
  std::map<std::string, std::uint64_t> events;  // root/events, 6.15+
  friend bool operator==(const SchedExtState&, const SchedExtState&) = default;
};

Result<std::int64_t> parseCounter(std::string_view text);
// "NAME VALUE" lines; names and order vary by kernel version, so nothing is assumed.
Result<std::map<std::string, std::uint64_t>> parseEvents(std::string_view text);

// enum scx_exit_kind (identical 6.12 → 6.19).
enum class ExitKind : int {
  kNone = 0,
  kDone = 1,
  kUnreg = 64,
  kUnregBpf = 65,
  kUnregKern = 66,
  kSysrq = 67,
  kParent = 68,
  kError = 1024,
  kErrorBpf = 1025,
  kErrorStall = 1026,
  kUnknown = -1,  // a reason string this agent does not know
};
const char* exitKindName(ExitKind k);  // "ERROR_STALL"
// Maps the reason the kernel prints ("runnable task stall") to the kind. Unknown → kUnknown.
ExitKind exitKindFromReason(std::string_view reason);
inline bool isErrorKind(ExitKind k) { return static_cast<int>(k) >= 1024; }

// One /dev/kmsg record: "<prio>,<seq>,<usec since boot>,<flags>[,...];<text>".
struct KmsgRecord {
  int priority = 0;  // syslog level (facility masked off)
  std::uint64_t seq = 0;
  std::uint64_t usec = 0;
  std::string text;
};
Result<KmsgRecord> parseKmsgRecord(std::string_view raw);

// What the kernel said about sched_ext, one variant per line shape.
struct KmsgEnabled {
  std::string ops;
  bool partial = false;
};
struct KmsgDisabled {
  std::string ops;
  std::string reason;  // "runnable task stall"
  ExitKind kind = ExitKind::kUnknown;
};
struct KmsgDetail {  // "<ops>: <message>" after an error exit
  std::string ops;
  std::string message;
};
struct KmsgBacktrace {  // indented stack lines after the detail
  std::string line;
};
struct KmsgOther {  // isolcpus, lockups, "not yet used", legacy "errored, disabling"
  std::string text;
};
using KmsgEvent = std::variant<KmsgEnabled, KmsgDisabled, KmsgDetail, KmsgBacktrace, KmsgOther>;

// Classifies kmsg records. Stateful only to know which ops a detail/backtrace line belongs to;
// records that are not about sched_ext yield nothing.
class SchedExtLogParser {
 public:
  std::optional<KmsgEvent> feed(const KmsgRecord& rec);

 private:
  std::string lastDisabledOps_;
  bool inErrorReport_ = false;
};

// A kobject uevent from NETLINK_KOBJECT_UEVENT: "ACTION@DEVPATH\0KEY=VALUE\0...".
struct Uevent {
  std::string action;
  std::string devpath;
  std::map<std::string, std::string> vars;
};
Result<Uevent> parseUevent(std::string_view datagram);

// A sched_ext load/unload announcement, if the uevent is one.
struct SchedExtUevent {
  bool added = false;    // add: a scheduler was enabled; remove: disabled
  std::string ops;       // SCXOPS on add; "" on remove (the kernel sends "(efault)")
};
std::optional<SchedExtUevent> toSchedExtUevent(const Uevent& ev);

// What the node can run, probed before any attach.
struct KernelCaps {
  std::string release;
  bool schedExt = false;  // /sys/kernel/sched_ext exists
  bool btf = false;       // /sys/kernel/btf/vmlinux exists
  bool bpffs = false;     // /sys/fs/bpf is a bpf filesystem (pins survive the agent)
  std::vector<std::string> features;  // "events" (root/events), "partial", "enable_seq"
  std::string reason;     // why the node is incompatible, when it is
  bool compatible() const { return schedExt && btf; }
};

// Compares kernel releases by their leading numeric components: "6.18.15+deb13-amd64" ≥ "6.12".
int compareKernelRelease(std::string_view a, std::string_view b);

}  // namespace schedkit::agent
