#include "telemetry/runqlat_monitor.h"

#include <cstdio>

#include "schedkit/common/duration.h"

namespace schedkit::agent {

namespace {
std::string ms(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", std::chrono::duration<double, std::milli>(d).count());
  return std::string(buf) + " ms";
}
}  // namespace

RunqLatencyMonitor::RunqLatencyMonitor(Deps deps, RunqLatencyMonitorOptions opts)
    : d_(std::move(deps)), o_(opts) {}

RunqLatencyMonitor::~RunqLatencyMonitor() { stop(); }

void RunqLatencyMonitor::configure(const std::string& policy,
                                   std::optional<policy::RunqueueLatencyGuard> guard) {
  if (guard == guard_ && (!guard || policy == policy_)) return;
  if (timer_ != 0) d_.clock.cancel(timer_);
  timer_ = 0;
  if (!guard) {
    d_.probe.detach();
    std::string old = policy_;
    guard_.reset();
    window_.reset();
    prev_.reset();
    policy_.clear();
    lastError_.clear();
    d_.log.info("run-queue latency guard off", {{"policy", old}});
    report(RunqLatencyReport{});
    return;
  }
  if (guard_ && policy != policy_) report(RunqLatencyReport{});  // the old policy's series go
  policy_ = policy;
  guard_ = guard;
  Duration step = runqReadStep(guard->window);
  window_.emplace(guard->window, step);
  d_.log.info("run-queue latency guard on", {{"policy", policy_},
                                             {"p99", formatDuration(guard->p99)},
                                             {"window", formatDuration(guard->window)},
                                             {"read_every", formatDuration(step)}});
  rebase();
  arm();
}

void RunqLatencyMonitor::beginEvaluation() {
  evaluating_ = true;
  if (!guard_) return;
  window_->reset();
  rebase();
  arm();  // a full step from the baseline
}

void RunqLatencyMonitor::endEvaluation() {
  evaluating_ = false;
  if (window_) window_->reset();  // what runs next gets a window of its own
}

void RunqLatencyMonitor::stop() {
  if (timer_ != 0) d_.clock.cancel(timer_);
  timer_ = 0;
  d_.probe.detach();
  guard_.reset();
  evaluating_ = false;
}

void RunqLatencyMonitor::arm() {
  if (timer_ != 0) d_.clock.cancel(timer_);
  timer_ = d_.clock.callAfter(window_->step(), [this] {
    timer_ = 0;
    tick();
  });
}

void RunqLatencyMonitor::rebase() {
  prev_.reset();
  if (!d_.probe.attached()) {
    if (Status s = d_.probe.attach(); !s.isOk()) {
      RunqLatencyReport r;
      r.policy = policy_;
      r.error = s.message();
      r.errorReason = "attach";
      report(std::move(r));
      return;
    }
  }
  auto cur = d_.probe.read();
  if (!cur.isOk()) {
    RunqLatencyReport r;
    r.policy = policy_;
    r.error = cur.status().message();
    r.errorReason = "read";
    report(std::move(r));
    return;
  }
  if (cur->slots.size() != kRunqlatSlots) {
    RunqLatencyReport r;
    r.policy = policy_;
    r.error = "run-queue latency histogram has " + std::to_string(cur->slots.size()) +
              " slots, expected " + std::to_string(kRunqlatSlots);
    r.errorReason = "malformed";
    report(std::move(r));
    return;
  }
  prev_ = *cur;
}

void RunqLatencyMonitor::tick() {
  if (!guard_) return;
  arm();
  if (!prev_) {  // no baseline yet (the probe failed before): try again from here
    rebase();
    return;
  }
  auto cur = d_.probe.read();
  if (!cur.isOk()) {
    RunqLatencyReport r;
    r.policy = policy_;
    r.error = cur.status().message();
    r.errorReason = "read";
    window_->reset();
    prev_.reset();
    report(std::move(r));
    return;
  }
  auto delta = runqDelta(*prev_, *cur);
  if (!delta.isOk()) {
    // A reloaded probe or a histogram of the wrong shape: start over from this read.
    RunqLatencyReport r;
    r.policy = policy_;
    r.error = delta.status().message();
    r.errorReason = "malformed";
    window_->reset();
    prev_.reset();
    if (cur->slots.size() == kRunqlatSlots) prev_ = *cur;
    report(std::move(r));
    return;
  }
  prev_ = *cur;
  RunqLatencyReport r;
  r.policy = policy_;
  r.delta = *delta;
  // The window measures whatever runs (the default scheduler too, after a fallback), so the
  // breached series says what tasks on the node experience; only the policy's own scheduler
  // is failed for it.
  window_->add(d_.clock.now(), *delta);
  RunqHistogram sum = window_->sum();
  r.p99 = runqQuantile(sum, 0.99);
  r.breached = window_->covered() && sum.count() >= o_.minSamples && r.p99 && *r.p99 > guard_->p99;
  std::optional<RunqSloBreach> breach;
  if (r.breached && evaluating_) breach = RunqSloBreach{*r.p99, guard_->window, guard_->p99, sum.count()};
  d_.log.debug("run-queue latency", {{"policy", policy_},
                                     {"p99", r.p99 ? ms(*r.p99) : "-"},
                                     {"samples", static_cast<long long>(sum.count())},
                                     {"covered", window_->covered()},
                                     {"evaluating", evaluating_}});
  report(std::move(r));
  if (breach) {
    d_.log.warn("run-queue latency SLO breached",
                {{"policy", policy_}, {"p99", ms(breach->p99)}, {"slo", ms(breach->limit)},
                 {"window", formatDuration(breach->window)},
                 {"samples", static_cast<long long>(breach->samples)}});
    window_->reset();
    if (d_.onBreach) d_.onBreach(*breach);
  }
}

void RunqLatencyMonitor::report(RunqLatencyReport r) {
  if (r.error != lastError_) {
    if (!r.error.empty()) {
      d_.log.warn("run-queue latency probe failed; the SLO is not evaluated until it works",
                  {{"policy", policy_}, {"reason", r.errorReason}, {"error", r.error}});
    } else if (!lastError_.empty()) {
      d_.log.info("run-queue latency probe works again", {{"policy", policy_}});
    }
    lastError_ = r.error;
  }
  if (d_.onReport) d_.onReport(r);
}

}  // namespace schedkit::agent
