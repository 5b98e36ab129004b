#include "schedkit/common/clock.h"

#include <cstdio>
#include <ctime>
#include <string>

namespace schedkit {

TimerId TimerQueue::add(MonoTime deadline, std::function<void()> cb) {
  std::lock_guard lk(mu_);
  TimerId id = next_id_++;
  timers_.emplace(std::make_pair(deadline, id), std::move(cb));
  return id;
}

void TimerQueue::cancel(TimerId id) {
  std::lock_guard lk(mu_);
  for (auto it = timers_.begin(); it != timers_.end(); ++it) {
    if (it->first.second == id) {
      timers_.erase(it);
      return;
    }
  }
}

std::optional<MonoTime> TimerQueue::nextDeadline() const {
  std::lock_guard lk(mu_);
  if (timers_.empty()) return std::nullopt;
  return timers_.begin()->first.first;
}

std::size_t TimerQueue::size() const {
  std::lock_guard lk(mu_);
  return timers_.size();
}

std::optional<std::pair<MonoTime, std::function<void()>>> TimerQueue::popDue(MonoTime now) {
  std::lock_guard lk(mu_);
  if (timers_.empty() || timers_.begin()->first.first > now) return std::nullopt;
  auto node = timers_.extract(timers_.begin());
  return std::make_pair(node.key().first, std::move(node.mapped()));
}

int TimerQueue::runDue(MonoTime now) {
  int ran = 0;
  // Callbacks run without the lock held so they may add or cancel timers.
  while (auto t = popDue(now)) {
    t->second();
    ++ran;
  }
  return ran;
}

TimerId RealClock::callAfter(Duration delay, std::function<void()> cb) {
  TimerId id = timers_.add(now() + delay, std::move(cb));
  if (on_new_timer_) on_new_timer_();
  return id;
}

MonoTime SimClock::now() const {
  std::lock_guard lk(mu_);
  return now_;
}

WallTime SimClock::wallNow() const {
  std::lock_guard lk(mu_);
  return wall_start_ + std::chrono::duration_cast<WallTime::duration>(
                           now_ - MonoTime(std::chrono::hours(1)));
}

TimerId SimClock::callAfter(Duration delay, std::function<void()> cb) {
  if (delay < Duration::zero()) delay = Duration::zero();
  return timers_.add(now() + delay, std::move(cb));
}

void SimClock::advance(Duration d) {
  MonoTime target = now() + d;
  // Step through each deadline so callbacks observe now() == their own deadline.
  while (auto next = timers_.nextDeadline()) {
    if (*next > target) break;
    {
      std::lock_guard lk(mu_);
      if (*next > now_) now_ = *next;
    }
    timers_.runDue(*next);
  }
  std::lock_guard lk(mu_);
  now_ = target;
}

bool SimClock::advanceToNextTimer() {
  auto next = timers_.nextDeadline();
  if (!next) return false;
  MonoTime cur = now();
  advance(*next > cur ? *next - cur : Duration::zero());
  return true;
}

namespace {
std::string formatUtc(WallTime t, bool micro) {
  auto secs = std::chrono::time_point_cast<std::chrono::seconds>(t);
  if (secs > t) secs -= std::chrono::seconds(1);
  std::time_t tt = std::chrono::system_clock::to_time_t(secs);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string s(buf);
  if (micro) {
    auto us = std::chrono::duration_cast<std::chrono::microseconds>(t - secs).count();
    char frac[32];
    std::snprintf(frac, sizeof frac, ".%06lld", static_cast<long long>(us));
    s += frac;
  }
  s += 'Z';
  return s;
}
}  // namespace

std::string formatRfc3339(WallTime t) { return formatUtc(t, false); }
std::string formatRfc3339Micro(WallTime t) { return formatUtc(t, true); }

std::optional<WallTime> parseRfc3339(std::string_view in) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)
  std::string s(in);
  std::tm tm{};
  const char* rest = strptime(s.c_str(), "%Y-%m-%dT%H:%M:%S", &tm);
  if (rest == nullptr || s.size() < 20) return std::nullopt;
  WallTime t = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (*rest == '.') {
    ++rest;
    long long frac = 0;
    int digits = 0;
    for (; *rest >= '0' && *rest <= '9'; ++rest, ++digits) {
      if (digits < 9) frac = frac * 10 + (*rest - '0');
    }
    if (digits == 0) return std::nullopt;
    for (int d = digits; d < 9; ++d) frac *= 10;
    t += std::chrono::duration_cast<WallTime::duration>(std::chrono::nanoseconds(frac));
  }
  if (*rest == 'Z' || *rest == 'z') {
    ++rest;
  } else if (*rest == '+' || *rest == '-') {
    int sign = *rest == '+' ? 1 : -1;
    int hh = 0, mm = 0;
    if (std::sscanf(rest + 1, "%2d:%2d", &hh, &mm) != 2) return std::nullopt;
    t -= std::chrono::minutes(sign * (hh * 60 + mm));
    rest += 6;
  } else {
    return std::nullopt;
  }
  if (*rest != '\0') return std::nullopt;
  return t;
}

}  // namespace schedkit
