#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "schedkit/common/logger.h"
#include "schedkit/os/event_loop.h"
#include "schedkit/os/filesystem.h"
#include "schedkit/policy/types.h"

namespace schedkit::agent {

// Loads SchedulerPolicies from a file or a directory of .yaml/.yml/.json files (standalone
// mode) and reloads them when they change (inotify; no polling). A bad edit is reported and the
// last good set stays in force: a typo never detaches a running scheduler.
class PolicyFileSource {
 public:
  using OnChange = std::function<void(const std::vector<policy::SchedulerPolicy>&)>;
  using OnError = std::function<void(const Status&)>;

  PolicyFileSource(std::string path, EventLoop* loop, const Logger& log);
  ~PolicyFileSource();

  // Reads once; then (with a loop) watches. The first successful read calls onChange.
  Status start(OnChange onChange, OnError onError);
  // Re-reads now (SIGHUP).
  void reload();

  // Reads and parses without side effects.
  static Result<std::vector<policy::SchedulerPolicy>> load(const std::string& path);

 private:
  std::string path_;
  EventLoop* loop_;
  const Logger& log_;
  OnChange onChange_;
  OnError onError_;
  int inotifyFd_ = -1;
  bool haveGood_ = false;
  std::vector<policy::SchedulerPolicy> last_;
  // Like the API server: a policy's generation goes up each time its spec changes.
  std::map<std::string, std::pair<policy::SchedulerPolicySpec, std::int64_t>> generations_;
  TimerId debounce_ = 0;
};

}  // namespace schedkit::agent
