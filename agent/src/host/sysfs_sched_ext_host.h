#pragma once

#include <memory>

#include "host/sched_ext_host.h"
#include "schedkit/common/logger.h"
#include "schedkit/os/event_loop.h"
#include "schedkit/os/filesystem.h"

namespace schedkit::agent {

// The real kernel: sysfs under the host root for state, /dev/kmsg for why a scheduler left,
// the kobject uevent netlink socket for load/unload. Both streams wake the event loop; nothing
// is polled.
class SysfsSchedExtHost final : public SchedExtHost {
 public:
  SysfsSchedExtHost(Filesystem& fs, EventLoop& loop, const Logger& log);
  ~SysfsSchedExtHost() override;

  Result<SchedExtState> readState() override;
  KernelCaps probe() override;
  Status start(std::function<void(const HostEvent&)> onEvent) override;

 private:
  void drainKmsg();
  void drainUevents();

  Filesystem& fs_;
  EventLoop& loop_;
  const Logger& log_;
  std::function<void(const HostEvent&)> onEvent_;
  SchedExtLogParser parser_;
  int kmsgFd_ = -1;
  int ueventFd_ = -1;
};

inline constexpr const char* kSchedExtDir = "/sys/kernel/sched_ext";

}  // namespace schedkit::agent
