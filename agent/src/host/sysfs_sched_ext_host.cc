#include "host/sysfs_sched_ext_host.h"

#include <bpf/btf.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <unistd.h>

#include <cerrno>

namespace schedkit::agent {

namespace {
constexpr long kBpfFsMagic = 0xcafe4a11;

std::string attr(const std::string& name) { return std::string(kSchedExtDir) + "/" + name; }
}  // namespace

SysfsSchedExtHost::SysfsSchedExtHost(Filesystem& fs, EventLoop& loop, const Logger& log)
    : fs_(fs), loop_(loop), log_(log) {}

SysfsSchedExtHost::~SysfsSchedExtHost() {
  if (kmsgFd_ >= 0) {
    loop_.removeFd(kmsgFd_);
    ::close(kmsgFd_);
  }
  if (ueventFd_ >= 0) {
    loop_.removeFd(ueventFd_);
    ::close(ueventFd_);
  }
}

Result<SchedExtState> SysfsSchedExtHost::readState() {
  SchedExtState s;
  auto read = [&](const char* name) { return fs_.readFile(attr(name), 4096); };
  SK_ASSIGN_OR_RETURN(std::string state, read("state"));
  SK_ASSIGN_OR_RETURN(s.state, parseEnableState(state));
  if (auto v = read("switch_all"); v.isOk()) {
    auto n = parseCounter(*v);
    s.switchAll = n.isOk() && *n != 0;
  }
  if (auto v = read("nr_rejected"); v.isOk()) s.nrRejected = parseCounter(*v).valueOr(0);
  if (auto v = read("hotplug_seq"); v.isOk()) s.hotplugSeq = parseCounter(*v).valueOr(0);
  SK_ASSIGN_OR_RETURN(std::string seq, read("enable_seq"));
  SK_ASSIGN_OR_RETURN(s.enableSeq, parseCounter(seq));
  // root/ exists only while a scheduler is attached; it can vanish between reads.
  if (auto ops = read("root/ops"); ops.isOk()) {
    std::string o = *ops;
    while (!o.empty() && (o.back() == '\n' || o.back() == ' ')) o.pop_back();
    s.ops = o;
  }
  if (auto ev = read("root/events"); ev.isOk()) {
    if (auto parsed = parseEvents(*ev); parsed.isOk()) s.events = *parsed;
  }
  return s;
}

KernelCaps SysfsSchedExtHost::probe() {
  KernelCaps c;
  if (auto rel = fs_.readFile("/proc/sys/kernel/osrelease", 256); rel.isOk()) {
    c.release = *rel;
    while (!c.release.empty() && c.release.back() == '\n') c.release.pop_back();
  }
  c.schedExt = fs_.isDirectory(kSchedExtDir);
  // BTF must describe struct sched_ext_ops: libbpf resolves every scheduler against it.
  if (fs_.exists("/sys/kernel/btf/vmlinux")) {
    btf* b = btf__parse(fs_.resolve("/sys/kernel/btf/vmlinux").c_str(), nullptr);
    if (b != nullptr) {
      c.btf = btf__find_by_name_kind(b, "sched_ext_ops", BTF_KIND_STRUCT) > 0;
      btf__free(b);
    }
  }
  struct statfs sfs {};
  c.bpffs = ::statfs(fs_.resolve("/sys/fs/bpf").c_str(), &sfs) == 0 &&
            static_cast<long>(sfs.f_type) == kBpfFsMagic;
  if (c.schedExt) {
    if (fs_.exists(attr("enable_seq"))) c.features.push_back("enable_seq");
    c.features.push_back("partial");
    if (compareKernelRelease(c.release, "6.15") >= 0) c.features.push_back("events");
  }
  if (!c.schedExt) {
    c.reason = "kernel " + c.release +
               " has no sched_ext (CONFIG_SCHED_CLASS_EXT is not set: no /sys/kernel/sched_ext)";
  } else if (!c.btf) {
    c.reason = "kernel " + c.release +
               " has no BTF describing sched_ext_ops (/sys/kernel/btf/vmlinux missing or without it)";
  }
  return c;
}

Status SysfsSchedExtHost::start(std::function<void(const HostEvent&)> onEvent) {
  onEvent_ = std::move(onEvent);
  std::string kmsg = fs_.resolve("/dev/kmsg");
  kmsgFd_ = ::open(kmsg.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (kmsgFd_ < 0) {
    // Degraded, not fatal: attach and detach are still seen through uevents and sysfs, only the
    // kernel's reason for an ejection is lost.
    log_.warn("cannot read the kernel log; exit reasons will be unknown",
              {{"path", kmsg}, {"error", fromErrno(errno, "open")}});
  } else {
    ::lseek(kmsgFd_, 0, SEEK_END);  // only what happens from now on
    SK_RETURN_IF_ERROR(loop_.addFd(kmsgFd_, EPOLLIN, [this](std::uint32_t) { drainKmsg(); }));
  }

  ueventFd_ = ::socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, NETLINK_KOBJECT_UEVENT);
  if (ueventFd_ < 0) return fromErrno(errno, "opening the kobject uevent socket");
  int rcvbuf = 1 << 20;
  ::setsockopt(ueventFd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
  sockaddr_nl addr{};
  addr.nl_family = AF_NETLINK;
  addr.nl_groups = 1;  // the kernel's uevent multicast group
  if (::bind(ueventFd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    return fromErrno(errno, "binding the kobject uevent socket");
  }
  return loop_.addFd(ueventFd_, EPOLLIN, [this](std::uint32_t) { drainUevents(); });
}

void SysfsSchedExtHost::drainKmsg() {
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(kmsgFd_, buf, sizeof buf);
    if (n < 0) {
      if (errno == EPIPE) {
        log_.warn("kernel log records were overwritten before they were read");
        continue;
      }
      if (errno != EAGAIN && errno != EINTR) {
        log_.warn("reading the kernel log failed", {{"error", fromErrno(errno, "read /dev/kmsg")}});
      }
      return;
    }
    if (n == 0) return;
    auto rec = parseKmsgRecord(std::string_view(buf, static_cast<std::size_t>(n)));
    if (!rec.isOk()) continue;
    if (auto ev = parser_.feed(*rec)) {
      std::visit([&](auto&& e) { onEvent_(HostEvent{e, rec->usec}); }, *ev);
    }
  }
}

void SysfsSchedExtHost::drainUevents() {
  char buf[8192];
  for (;;) {
    ssize_t n = ::recv(ueventFd_, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == ENOBUFS) {
        // Events were lost: make the engine re-read sysfs for both directions.
        log_.warn("uevent socket overflowed; re-reading sysfs");
        onEvent_(HostEvent{SchedExtUevent{true, ""}, 0});
        onEvent_(HostEvent{SchedExtUevent{false, ""}, 0});
        continue;
      }
      return;
    }
    if (n == 0) return;
    auto ev = parseUevent(std::string_view(buf, static_cast<std::size_t>(n)));
    if (!ev.isOk()) continue;
    if (auto scx = toSchedExtUevent(*ev)) onEvent_(HostEvent{*scx, 0});
  }
}

}  // namespace schedkit::agent
