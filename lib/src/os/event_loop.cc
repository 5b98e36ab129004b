#include "schedkit/os/event_loop.h"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>

namespace schedkit {

EventLoop::EventLoop(RealClock& clock) : clock_(clock) {
  epfd_ = ::epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wakefd_;
  ::epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
  clock_.setOnNewTimer([this] { wake(); });
}

EventLoop::~EventLoop() {
  clock_.setOnNewTimer(nullptr);
  if (sigfd_ >= 0) ::close(sigfd_);
  if (wakefd_ >= 0) ::close(wakefd_);
  if (epfd_ >= 0) ::close(epfd_);
}

Status EventLoop::addFd(int fd, std::uint32_t events, FdCallback cb) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = fd;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) return fromErrno(errno, "epoll_ctl add");
  fds_[fd] = std::move(cb);
  return Status::ok();
}

void EventLoop::removeFd(int fd) {
  ::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, nullptr);
  fds_.erase(fd);
}

void EventLoop::wake() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wakefd_, &one, sizeof one);
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lk(mu_);
    posted_.push_back(std::move(fn));
  }
  wake();
}

void EventLoop::stop() {
  stop_ = true;
  wake();
}

void EventLoop::drainPosted() {
  std::vector<std::function<void()>> work;
  {
    std::lock_guard lk(mu_);
    work.swap(posted_);
  }
  for (auto& fn : work) fn();
}

Status EventLoop::handleSignals(std::vector<int> signals, std::function<void(int)> cb) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : signals) sigaddset(&set, s);
  if (::pthread_sigmask(SIG_BLOCK, &set, nullptr) != 0) return internalError("pthread_sigmask");
  sigfd_ = ::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sigfd_ < 0) return fromErrno(errno, "signalfd");
  int fd = sigfd_;
  return addFd(fd, EPOLLIN, [fd, cb = std::move(cb)](std::uint32_t) {
    signalfd_siginfo si{};
    while (::read(fd, &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
      cb(static_cast<int>(si.ssi_signo));
    }
  });
}

Status EventLoop::runOnce(Duration max_wait) {
  int timeout_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(max_wait).count());
  if (auto next = clock_.nextDeadline()) {
    auto until = std::chrono::duration_cast<std::chrono::milliseconds>(*next - clock_.now()).count();
    // Round up so a timer is never woken for 1 ms early and spun on.
    if (*next > clock_.now()) until += 1;
    if (until < 0) until = 0;
    if (until < timeout_ms) timeout_ms = static_cast<int>(until);
  }
  epoll_event events[32];
  int n = ::epoll_wait(epfd_, events, 32, timeout_ms);
  if (n < 0) {
    if (errno == EINTR) return Status::ok();
    return fromErrno(errno, "epoll_wait");
  }
  for (int i = 0; i < n; ++i) {
    int fd = events[i].data.fd;
    if (fd == wakefd_) {
      std::uint64_t v;
      while (::read(wakefd_, &v, sizeof v) > 0) {
      }
      continue;
    }
    auto it = fds_.find(fd);
    if (it != fds_.end()) {
      FdCallback cb = it->second;  // the callback may remove itself
      cb(events[i].events);
    }
  }
  drainPosted();
  clock_.runDue();
  return Status::ok();
}

Status EventLoop::run() {
  stop_ = false;
  while (!stop_) {
    SK_RETURN_IF_ERROR(runOnce(std::chrono::hours(1)));
  }
  return Status::ok();
}

}  // namespace schedkit
