#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/common/status.h"

namespace schedkit {

// A single-threaded epoll loop: file descriptors, RealClock timers and work posted from other
// threads all run their callbacks on the thread that calls run(). No polling: the loop sleeps
// until an fd is ready, a timer is due or work is posted.
class EventLoop {
 public:
  using FdCallback = std::function<void(std::uint32_t events)>;

  explicit EventLoop(RealClock& clock);
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  Status addFd(int fd, std::uint32_t events, FdCallback cb);
  void removeFd(int fd);
  // Thread-safe: runs fn on the loop thread soon.
  void post(std::function<void()> fn);
  // Blocks SIGTERM/SIGINT/SIGHUP and delivers them through a signalfd to cb.
  Status handleSignals(std::vector<int> signals, std::function<void(int signo)> cb);

  // Runs until stop(). Returns an error only if epoll itself fails.
  Status run();
  // Thread-safe.
  void stop();
  // Runs ready callbacks and due timers once, waiting at most `max_wait` (for tests and tools).
  Status runOnce(Duration max_wait);

  RealClock& clock() { return clock_; }

 private:
  void wake();
  void drainPosted();

  RealClock& clock_;
  int epfd_ = -1;
  int wakefd_ = -1;
  int sigfd_ = -1;
  std::atomic<bool> stop_{false};
  std::map<int, FdCallback> fds_;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
};

}  // namespace schedkit
