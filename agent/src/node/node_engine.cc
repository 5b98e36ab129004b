#include "node/node_engine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "schedkit/common/duration.h"

namespace schedkit::agent {

using policy::NodePhase;
using policy::SchedulerType;

namespace {
constexpr const char* kAttachmentFile = "attachment.json";
// How often, and how many times, a confirmation re-reads enable_seq after the kernel said
// "enabled" but had not bumped the counter yet (see checkConfirm).
constexpr Duration kSeqRecheckEvery = std::chrono::milliseconds(20);
constexpr int kSeqRechecks = 50;

std::string kindLabel(ExitKind k) {
  return std::string(exitKindName(k)) + " (" + std::to_string(static_cast<int>(k)) + ")";
}

Duration backoffFor(const policy::BackoffSpec& b, std::size_t failures, Random& rnd) {
  // The n-th failure in the window waits initial * 2^(n-1), capped, with 20% downward jitter.
  double base = static_cast<double>(b.initial.count()) *
                std::pow(2.0, static_cast<double>(failures > 0 ? failures - 1 : 0));
  base = std::min(base, static_cast<double>(b.max.count()));
  double scaled = base * (1.0 - 0.2 * rnd.unit());
  return Duration(static_cast<Duration::rep>(scaled));
}
}  // namespace

ExitAction decideExitAction(ExitKind kind, bool weStoppedIt) {
  if (weStoppedIt) return ExitAction::kNone;
  switch (kind) {
    case ExitKind::kUnregKern: return ExitAction::kRestartNow;
    case ExitKind::kSysrq: return ExitAction::kHold;
    default: return ExitAction::kBackoffRestart;
  }
}

NodeEngine::NodeEngine(NodeEngineDeps deps, NodeEngineOptions opts)
    : d_(std::move(deps)), o_(std::move(opts)) {
  if (d_.runqProbe != nullptr) {
    runq_ = std::make_unique<RunqLatencyMonitor>(
        RunqLatencyMonitor::Deps{d_.clock, d_.log, *d_.runqProbe,
                                 [this](const RunqLatencyReport& r) {
                                   if (d_.onRunqLatency) d_.onRunqLatency(r);
                                 },
                                 [this](const RunqSloBreach& b) { onSloBreach(b); }},
        o_.runqLatency);
  }
}

NodeEngine::~NodeEngine() = default;

Attacher* NodeEngine::attacherFor(SchedulerType t) {
  return t == SchedulerType::kBpfObject ? d_.bpfAttacher : d_.processAttacher;
}

Status NodeEngine::start() {
  caps_ = d_.host.probe();
  status_.kernel = {caps_.release, caps_.schedExt, caps_.btf, caps_.features};
  d_.log.info("kernel probed", {{"release", caps_.release},
                                {"sched_ext", caps_.schedExt},
                                {"btf", caps_.btf},
                                {"bpffs", caps_.bpffs}});
  if (caps_.schedExt) {
    SK_RETURN_IF_ERROR(d_.host.start([this](const HostEvent& e) { onHostEvent(e); }));
    adopt();
  } else {
    d_.log.warn("node cannot run sched_ext schedulers", {{"reason", caps_.reason}});
  }
  reconcile();
  return Status::ok();
}

// ---- re-adoption ----

void NodeEngine::adopt() {
  std::string path = joinPath(o_.stateDir, kAttachmentFile);
  if (!d_.fs.exists(path)) return;
  auto raw = d_.fs.readFile(path);
  Result<Attachment> rec = raw.isOk() ? Result<Attachment>(invalidArgument("not a schedkit attachment record"))
                                      : Result<Attachment>(raw.status());
  std::int64_t seq = 0;
  std::string policyName;
  if (raw.isOk()) {
    auto j = nlohmann::json::parse(*raw, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("attachment")) {
      rec = decodeAttachment(j["attachment"]);
      seq = j.value("enableSeq", std::int64_t{0});
      policyName = j.value("policy", std::string());
    }
  }
  if (!rec.isOk()) {
    d_.log.warn("ignoring unreadable attachment record", {{"path", path}, {"error", rec.status()}});
    dropAttachmentRecord();
    return;
  }
  Attacher* att = attacherFor(rec->type);
  auto st = d_.host.readState();
  bool alive = att != nullptr && att->running(*rec);
  bool kernelAgrees = st.isOk() && st->state == EnableState::kEnabled && st->ops &&
                      *st->ops == rec->opsName;
  if (alive && kernelAgrees) {
    Current c;
    c.a = *rec;
    c.policy = policyName;
    c.confirmed = true;
    c.enableSeq = st->enableSeq;
    c.baselineSeq = seq;
    c.startedAt = d_.clock.now();
    c.since = d_.clock.wallNow();
    current_ = c;
    if (st->enableSeq != seq) {
      // Restarted in-process while no agent watched (hotplug): still the same scheduler.
      d_.log.info("scheduler restarted in-process while the agent was away",
                  {{"ops", rec->opsName}, {"recorded_seq", static_cast<long long>(seq)},
                   {"enable_seq", static_cast<long long>(st->enableSeq)}});
    }
    if (rec->type != SchedulerType::kBpfObject) {
      Status w = att->watch(*rec, [this](const std::string& id) { onProcessExit(id); });
      if (!w.isOk()) d_.log.warn("cannot watch adopted scheduler", {{"error", w}});
    }
    status_.active = policy::ActiveScheduler{rec->opsName, rec->spec.image, rec->pid,
                                             st->enableSeq, formatRfc3339(d_.clock.wallNow())};
    recordEvent("Normal", "Adopted",
                "re-adopted scheduler " + rec->opsName + " left running by a previous agent");
    if (runq_) runq_->beginEvaluation();
    saveAttachment();
    return;
  }
  d_.log.warn("previous scheduler is gone or changed; cleaning up",
              {{"id", rec->id}, {"alive", alive}, {"kernel_agrees", kernelAgrees}});
  if (att != nullptr) {
    if (alive) {
      Status s = att->stop(*rec, true);
      if (!s.isOk()) d_.log.warn("stopping stale scheduler failed", {{"error", s}});
    }
    att->cleanup(*rec);
  }
  dropAttachmentRecord();
}

void NodeEngine::saveAttachment() {
  if (!current_) return;
  nlohmann::json j = {{"attachment", encodeAttachment(current_->a)},
                      {"enableSeq", current_->enableSeq},
                      {"policy", current_->policy}};
  Status s = d_.fs.makeDirs(o_.stateDir);
  if (s.isOk()) s = d_.fs.writeFileAtomic(joinPath(o_.stateDir, kAttachmentFile), j.dump(2) + "\n");
  if (!s.isOk()) d_.log.error("cannot persist the attachment record", {{"error", s}});
}

void NodeEngine::dropAttachmentRecord() {
  Status s = d_.fs.remove(joinPath(o_.stateDir, kAttachmentFile));
  if (!s.isOk()) d_.log.warn("cannot remove the attachment record", {{"error", s}});
}

// ---- inputs ----

void NodeEngine::setDesired(std::optional<DesiredScheduler> desired,
                            std::vector<policy::ObservedPolicy> observed) {
  desiredKnown_ = true;
  status_.observedPolicies = std::move(observed);
  if (desired != desired_) {
    if (desired) {
      d_.log.info("desired scheduler", {{"policy", desired->policy},
                                        {"revision", desired->launch.revision},
                                        {"generation", static_cast<long long>(desired->generation)}});
    } else if (desired_) {
      d_.log.info("no policy selects this node any more");
    }
    desired_ = std::move(desired);
  }
  std::string conflict;
  if (desired_ && !desired_->conflictsWith.empty()) {
    conflict = desired_->policy;
    for (const auto& c : desired_->conflictsWith) conflict += "," + c;
  }
  if (conflict != lastConflictReport_) {
    lastConflictReport_ = conflict;
    if (!conflict.empty()) {
      std::string others;
      for (const auto& c : desired_->conflictsWith) others += (others.empty() ? "" : ", ") + c;
      recordEvent("Warning", "Conflict",
                  "policies " + desired_->policy + " and " + others +
                      " select this node with the same priority; " + desired_->policy +
                      " wins by name order");
    }
  }
  reconcile();
}

void NodeEngine::resetFailures() {
  failures_.clear();
  circuitOpen_ = false;
  killSwitch_ = false;
  if (retryTimer_ != 0) d_.clock.cancel(retryTimer_);
  retryTimer_ = 0;
  recordEvent("Normal", "Reset", "failure history cleared by an operator; attaching again");
  reconcile();
}

void NodeEngine::onHostEvent(const HostEvent& e) {
  if (const auto* en = std::get_if<KmsgEnabled>(&e.ev)) {
    d_.log.debug("kernel: scheduler enabled", {{"ops", en->ops}, {"partial", en->partial}});
    checkConfirm();
    if (!current_) reconcile();
    return;
  }
  if (const auto* dis = std::get_if<KmsgDisabled>(&e.ev)) {
    d_.log.info("kernel: scheduler disabled",
                {{"ops", dis->ops}, {"reason", dis->reason}, {"kind", kindLabel(dis->kind)}});
    if (current_ && (current_->a.opsName.empty() ? opsMatches(dis->ops) : dis->ops == current_->a.opsName) &&
        !isStaleDisable(e)) {
      ExitInfo x;
      x.kind = dis->kind;
      x.ops = dis->ops;
      x.kmsgUsec = e.kmsgUsec;
      x.record.kind = static_cast<int>(dis->kind);
      x.record.kindName = exitKindName(dis->kind);
      x.record.reason = dis->reason;
      handleExit(std::move(x));
    } else {
      reconcile();  // someone else's scheduler left: the slot may be free now
    }
    return;
  }
  if (const auto* det = std::get_if<KmsgDetail>(&e.ev)) {
    if (lastExit_ && lastExit_->ops == det->ops && lastExit_->record.message.empty()) {
      lastExit_->record.message = det->message;
      if (status_.lastExit) status_.lastExit->message = det->message;
      d_.log.info("kernel: exit detail", {{"ops", det->ops}, {"message", det->message}});
      publish();
    }
    return;
  }
  if (const auto* ue = std::get_if<SchedExtUevent>(&e.ev)) {
    if (ue->added) {
      checkConfirm();
      if (!current_) reconcile();
    } else if (current_ && current_->stopping) {
      finishStop();
    } else if (current_ && current_->confirmed && !current_->gone) {
      auto st = d_.host.readState();
      if (st.isOk() && st->state == EnableState::kDisabled) onGone("the kernel reported the scheduler unloaded");
    } else {
      reconcile();
    }
    return;
  }
  if (const auto* other = std::get_if<KmsgOther>(&e.ev)) {
    d_.log.info("kernel", {{"sched_ext", other->text}});
  }
}

// kmsg is read asynchronously, so a "disabled" line can describe an earlier instance with the
// same ops name (e.g. the one we just detached before starting this one).
bool NodeEngine::isStaleDisable(const HostEvent& e) {
  if (!current_) return true;
  auto startedUs = std::chrono::duration_cast<std::chrono::microseconds>(
                       current_->startedAt.time_since_epoch()).count();
  if (e.kmsgUsec != 0 && static_cast<long long>(e.kmsgUsec) < startedUs) return true;
  if (current_->confirmed) {
    auto st = d_.host.readState();
    if (st.isOk() && st->state == EnableState::kEnabled && st->enableSeq == current_->enableSeq) {
      return true;  // the instance we confirmed is still the one enabled
    }
  }
  return false;
}

void NodeEngine::onProcessExit(const std::string& id) {
  if (!current_ || current_->a.id != id) return;
  d_.log.info("scheduler process exited", {{"id", id}, {"pid", static_cast<long long>(current_->a.pid)}});
  if (current_->stopping) {
    finishStop();
    return;
  }
  onGone("the scheduler process exited");
}

// ---- confirmation ----

bool NodeEngine::opsMatches(const std::string& ops) const {
  if (!current_) return false;
  const std::string& want = current_->a.opsName.empty() ? current_->a.spec.expectedOps : current_->a.opsName;
  return want.empty() || ops.rfind(want, 0) == 0;
}

void NodeEngine::checkConfirm() {
  if (!current_ || current_->confirmed || current_->stopping || current_->gone) return;
  auto st = d_.host.readState();
  if (!st.isOk()) {
    d_.log.warn("cannot read sched_ext state", {{"error", st.status()}});
    return;
  }
  if (st->state != EnableState::kEnabled || !st->ops) {
    if (st->state == EnableState::kDisabled && st->enableSeq > current_->baselineSeq) {
      onGone("the scheduler was enabled and disabled again at once");  // init failure
    } else if (st->state == EnableState::kDisabled &&
               current_->a.type == SchedulerType::kBpfObject) {
      onGone("the kernel did not enable the scheduler");
    }
    return;
  }
  if (st->enableSeq <= current_->baselineSeq) {
    // Not ours yet. The kernel logs "enabled" and sends its uevent just before it bumps
    // enable_seq, and nothing announces the bump, so look again shortly (for a bounded while:
    // an older scheduler that is still enabled is left to the startup timeout).
    Current& c = *current_;
    if (c.seqTimer == 0 && c.seqRechecks < kSeqRechecks) {
      ++c.seqRechecks;
      c.seqTimer = d_.clock.callAfter(kSeqRecheckEvery, [this] {
        if (!current_) return;
        current_->seqTimer = 0;
        checkConfirm();
      });
    }
    return;
  }
  if (!opsMatches(*st->ops)) {
    d_.log.warn("another scheduler took the slot", {{"ops", *st->ops}});
    return;
  }
  bool wantPartial = current_->a.spec.mode == policy::SchedulerMode::kPartial;
  if (wantPartial == st->switchAll) {
    d_.log.warn("scheduler mode differs from the policy",
                {{"want", wantPartial ? "Partial" : "Full"},
                 {"switch_all", st->switchAll}});
  }
  Current& c = *current_;
  c.confirmed = true;
  c.restartingInProcess = false;
  c.enableSeq = st->enableSeq;
  c.a.opsName = *st->ops;
  c.since = d_.clock.wallNow();
  if (c.startupTimer != 0) d_.clock.cancel(c.startupTimer);
  c.startupTimer = 0;
  saveAttachment();
  status_.active = policy::ActiveScheduler{c.a.opsName, c.a.spec.image, c.a.pid, c.enableSeq,
                                           formatRfc3339(c.since)};
  d_.log.info("scheduler attached", {{"policy", c.policy},
                                     {"ops", c.a.opsName},
                                     {"enable_seq", static_cast<long long>(c.enableSeq)},
                                     {"switch_all", st->switchAll}});
  recordEvent("Normal", "Attached",
              "scheduler " + c.a.opsName + " enabled (enable_seq " + std::to_string(c.enableSeq) +
                  (st->switchAll ? "" : ", partial") + ")");
  if (runq_) runq_->beginEvaluation();
  reconcile();
}

void NodeEngine::onStartupTimeout() {
  if (!current_) return;
  current_->startupTimer = 0;
  if (current_->confirmed || current_->gone) return;
  std::string tail;
  if (Attacher* att = attacherFor(current_->a.type)) tail = att->tail(current_->a, 5);
  ExitInfo x;
  x.kind = ExitKind::kNone;
  x.record.kindName = "STARTUP_TIMEOUT";
  x.record.reason = "not enabled within the startup timeout";
  x.record.message = "the scheduler was not enabled within " +
                     formatDuration(desired_ ? desired_->health.startupTimeout : Duration{}) +
                     (tail.empty() ? "" : ": " + tail);
  handleExit(std::move(x));
}

// ---- the run-queue latency SLO (spec.health.runqueueLatency) ----

void NodeEngine::syncRunqGuard() {
  if (!runq_) return;
  // The probe is loaded only while the desired policy asks for the guard, on a node that can
  // run it; otherwise it is detached and costs nothing.
  bool want = desired_ && desired_->health.runqueueLatency && caps_.compatible() &&
              desired_->blockedReason.empty();
  runq_->configure(want ? desired_->policy : "",
                   want ? desired_->health.runqueueLatency : std::nullopt);
}

void NodeEngine::onSloBreach(const RunqSloBreach& b) {
  if (!current_ || !current_->confirmed || current_->stopping || current_->gone) return;
  auto msecs = [](Duration d) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3g", std::chrono::duration<double, std::milli>(d).count());
    return std::string(buf) + " ms";
  };
  Current c = *current_;
  std::string what = c.a.opsName.empty() ? c.policy : c.a.opsName;
  ExitInfo x;
  x.kind = ExitKind::kNone;
  x.ops = c.a.opsName;
  x.record.kindName = "SLO_BREACH";
  x.record.reason = "run-queue latency p99 " + msecs(b.p99) + " over " + formatDuration(b.window) +
                    " exceeded the SLO of " + msecs(b.limit);
  x.record.message = std::to_string(b.samples) + " wakeups measured in the window; " + what +
                     " was detached by schedkit";
  // Forget the scheduler before detaching it: the kernel's "unregistered from user space" for
  // this instance (and a binary's exit) must not be taken for a second exit.
  clearCurrent();
  status_.active.reset();
  if (Attacher* att = attacherFor(c.a.type)) {
    bool kill = c.a.type != SchedulerType::kBpfObject;  // nothing waits for a graceful exit now
    if (att->running(c.a)) {
      Status s = att->stop(c.a, kill);
      if (!s.isOk()) d_.log.warn("cannot detach the scheduler that breached its SLO", {{"error", s}});
    }
    att->cleanup(c.a);
  }
  recordFailure(std::move(x), ExitAction::kBackoffRestart, what);
}

// ---- exits ----

void NodeEngine::onGone(const std::string& why) {
  if (!current_ || current_->gone) return;
  current_->gone = true;
  d_.log.info("scheduler gone; waiting briefly for the kernel's reason", {{"why", why}});
  std::string reason = why;
  current_->graceTimer = d_.clock.callAfter(o_.exitReasonGrace, [this, reason] {
    if (!current_) return;
    current_->graceTimer = 0;
    ExitInfo x;
    std::string tail;
    if (Attacher* att = attacherFor(current_->a.type)) tail = att->tail(current_->a, 5);
    x.kind = ExitKind::kUnknown;
    x.record.kindName = current_->confirmed ? "UNKNOWN" : "START_FAILED";
    x.record.reason = reason;
    x.record.message = tail;
    handleExit(std::move(x));
  });
}

void NodeEngine::handleExit(ExitInfo x) {
  if (!current_) return;
  Current c = *current_;
  x.record.time = formatRfc3339(d_.clock.wallNow());
  if (x.ops.empty()) x.ops = c.a.opsName;
  bool ours = c.stopping;
  ExitAction action = decideExitAction(x.kind, ours);

  if (action == ExitAction::kNone) {
    d_.log.info("scheduler detached", {{"ops", c.a.opsName}});
    finishStop();
    return;
  }

  // A binary asked by the kernel to restart does it in-process: keep watching it.
  if (action == ExitAction::kRestartNow && c.a.type != SchedulerType::kBpfObject) {
    Attacher* att = attacherFor(c.a.type);
    if (att != nullptr && att->running(c.a)) {
      current_->confirmed = false;
      current_->gone = false;
      current_->restartingInProcess = true;
      current_->baselineSeq = c.enableSeq;
      if (current_->graceTimer != 0) d_.clock.cancel(current_->graceTimer);
      Duration timeout = desired_ ? desired_->health.startupTimeout : std::chrono::seconds(30);
      current_->startupTimer = d_.clock.callAfter(timeout, [this] { onStartupTimeout(); });
      recordEvent("Normal", "Restarting", "the kernel asked " + c.a.opsName +
                                              " to restart (" + x.record.reason +
                                              "); waiting for it to re-enable");
      setPhase(NodePhase::kRestarting, "KernelRestart", x.record.reason);
      return;
    }
  }

  // The scheduler is gone: make sure nothing of it lingers (a binary that stays alive after an
  // ejection is killed; pins and runtime state are removed).
  if (Attacher* att = attacherFor(c.a.type)) {
    if (c.a.type != SchedulerType::kBpfObject && att->running(c.a)) {
      Status s = att->stop(c.a, true);
      if (!s.isOk()) d_.log.warn("cannot kill the ejected scheduler's process", {{"error", s}});
    }
    att->cleanup(c.a);
  }
  clearCurrent();
  status_.active.reset();
  recordFailure(std::move(x), action, c.a.opsName.empty() ? c.policy : c.a.opsName);
}

void NodeEngine::recordFailure(ExitInfo x, ExitAction action, const std::string& what) {
  if (x.record.time.empty()) x.record.time = formatRfc3339(d_.clock.wallNow());
  lastExit_ = x;
  status_.lastExit = x.record;
  pendingLatencyUsec_ = x.kmsgUsec;
  if (d_.onExit) d_.onExit(x.record);
  std::string summary = x.record.reason + (x.record.message.empty() ? "" : ": " + x.record.message);
  switch (action) {
    case ExitAction::kHold:
      killSwitch_ = true;
      d_.log.warn("scheduler disabled by SysRq-S; not restarting", {{"ops", what}});
      recordEvent("Warning", "KillSwitch",
                  what + " was disabled by sysrq-S (operator kill switch); staying on the default "
                         "scheduler until the policy changes or an operator re-enables it");
      break;
    case ExitAction::kRestartNow:
      d_.log.info("kernel asked for a restart", {{"ops", what}, {"reason", x.record.reason}});
      recordEvent("Normal", "Restarting", what + " unregistered by the kernel (" +
                                              x.record.reason + "); restarting now");
      status_.restarts++;
      break;
    case ExitAction::kBackoffRestart: {
      MonoTime now = d_.clock.now();
      Duration window = desired_ ? desired_->failure.window : std::chrono::minutes(10);
      failures_.push_back(now);
      while (!failures_.empty() && failures_.front() + window < now) failures_.pop_front();
      int maxRestarts = desired_ ? desired_->failure.maxRestarts : 3;
      d_.log.warn("scheduler failed", {{"ops", what},
                                       {"kind", kindLabel(x.kind)},
                                       {"reason", x.record.reason},
                                       {"message", x.record.message},
                                       {"failures_in_window", static_cast<long long>(failures_.size())}});
      if (static_cast<int>(failures_.size()) > maxRestarts) {
        circuitOpen_ = true;
        recordEvent("Warning", "FallenBack",
                    what + " failed " + std::to_string(failures_.size()) + " times within " +
                        formatDuration(window) + " (" + summary +
                        "); staying on the default scheduler");
      } else if (desired_) {
        Duration delay = backoffFor(desired_->failure.backoff, failures_.size(), d_.random);
        recordEvent("Warning", "Restarting",
                    what + " failed (" + summary + "); restarting in " + formatDuration(delay));
        status_.restarts++;
        if (retryTimer_ != 0) d_.clock.cancel(retryTimer_);
        retryTimer_ = d_.clock.callAfter(delay, [this] {
          retryTimer_ = 0;
          reconcile();
        });
      }
      break;
    }
    case ExitAction::kNone:
      break;
  }
  reconcile();
}

// ---- stopping ----

void NodeEngine::beginStop(bool force) {
  if (!current_) return;
  Current& c = *current_;
  if (c.stopping && !force) return;
  c.stopping = true;
  Attacher* att = attacherFor(c.a.type);
  d_.log.info("detaching scheduler", {{"ops", c.a.opsName}, {"force", force}});
  Status s = att != nullptr ? att->stop(c.a, force) : internalError("no attacher");
  if (!s.isOk()) d_.log.warn("detach request failed", {{"error", s}});
  if (c.a.type == SchedulerType::kBpfObject || att == nullptr || !att->running(c.a)) {
    // Link detach unregisters synchronously; nothing more to wait for.
    finishStop();
    return;
  }
  if (!force && c.stopTimer == 0) {
    c.stopTimer = d_.clock.callAfter(o_.stopTimeout, [this] {
      if (!current_) return;
      current_->stopTimer = 0;
      d_.log.warn("scheduler did not stop in time; killing it");
      beginStop(true);
    });
  }
}

void NodeEngine::finishStop() {
  if (!current_) return;
  Current c = *current_;
  if (Attacher* att = attacherFor(c.a.type)) {
    if (c.a.type != SchedulerType::kBpfObject && att->running(c.a)) return;  // wait for the exit
    att->cleanup(c.a);
  }
  clearCurrent();
  status_.active.reset();
  recordEvent("Normal", "Detached", "scheduler " + (c.a.opsName.empty() ? c.policy : c.a.opsName) +
                                        " detached; the node runs the default scheduler");
  if (shuttingDown_) {
    auto waiters = std::move(shutdownWaiters_);
    shutdownWaiters_.clear();
    publish();
    for (auto& w : waiters) w();
    return;
  }
  reconcile();
}

void NodeEngine::clearCurrent() {
  if (!current_) return;
  for (TimerId t : {current_->startupTimer, current_->graceTimer, current_->stopTimer,
                    current_->seqTimer}) {
    if (t != 0) d_.clock.cancel(t);
  }
  current_.reset();
  if (runq_) runq_->endEvaluation();
  dropAttachmentRecord();
}

void NodeEngine::shutdown(bool detach, std::function<void()> done) {
  shuttingDown_ = true;
  if (runq_) runq_->stop();
  if (retryTimer_ != 0) d_.clock.cancel(retryTimer_);
  retryTimer_ = 0;
  if (!detach || !current_) {
    if (current_) d_.log.info("leaving the scheduler attached for the next agent", {{"ops", current_->a.opsName}});
    done();
    return;
  }
  shutdownWaiters_.push_back(std::move(done));
  beginStop(false);
}

// ---- the loop ----

std::string NodeEngine::revisionKey() const {
  // Any edit of the policy (a new generation) is a deliberate act that clears the failure
  // history and a SysRq kill switch; the running scheduler is only replaced if the revision changed.
  return desired_ ? desired_->policy + "@" + desired_->launch.revision + "#" +
                        std::to_string(desired_->generation)
                  : "";
}

void NodeEngine::reconcile() {
  // Until the first resolution arrives, "no policy" means "not known yet", not "detach": an
  // agent restarting must not touch the scheduler it re-adopted before it has read policies.
  if (shuttingDown_ || !desiredKnown_) return;
  status_.policy = desired_ ? desired_->policy : "";
  status_.revision = desired_ ? desired_->launch.revision : "";
  syncRunqGuard();

  if (!desired_) {
    if (current_) {
      if (!current_->stopping) beginStop(false);
      if (current_) setPhase(NodePhase::kAttaching, "Detaching", "detaching the previous scheduler");
      return;
    }
    setPhase(NodePhase::kIdle, "NoPolicy", "no SchedulerPolicy selects this node");
    return;
  }

  auto incompatible = [&](const std::string& reason, const std::string& message) {
    if (status_.phase != NodePhase::kIncompatible || phaseMessage_ != message) {
      recordEvent("Warning", "Incompatible", message);
    }
    setPhase(NodePhase::kIncompatible, reason, message);
  };
  if (!caps_.compatible()) {
    incompatible("KernelUnsupported", caps_.reason);
    return;
  }
  if (!desired_->minKernel.empty() && compareKernelRelease(caps_.release, desired_->minKernel) < 0) {
    incompatible("KernelTooOld", "the scheduler needs kernel " + desired_->minKernel +
                                     " or newer; this node runs " + caps_.release);
    return;
  }

  if (!desired_->blockedReason.empty()) {
    std::string report = desired_->policy + "|" + desired_->blockedReason + "|" + desired_->blockedMessage;
    if (report != lastBlockedReport_) {
      lastBlockedReport_ = report;
      recordEvent(desired_->blockedPhase == NodePhase::kFailed ? "Warning" : "Normal",
                  desired_->blockedReason, desired_->blockedMessage);
    }
    setPhase(desired_->blockedPhase, desired_->blockedReason, desired_->blockedMessage);
    return;
  }

  std::string key = revisionKey();
  if (key != failureKey_) {
    failureKey_ = key;
    failures_.clear();
    circuitOpen_ = false;
    killSwitch_ = false;
    status_.restarts = 0;
    if (retryTimer_ != 0) d_.clock.cancel(retryTimer_);
    retryTimer_ = 0;
  }

  if (current_) {
    bool sameRevision = current_->a.spec.revision == desired_->launch.revision &&
                        current_->policy == desired_->policy;
    if (!sameRevision || circuitOpen_ || killSwitch_) {
      if (!current_->stopping) beginStop(false);
      if (current_) setPhase(NodePhase::kAttaching, "Switching", "detaching " + current_->a.opsName);
      return;
    }
    if (current_->confirmed) {
      setPhase(NodePhase::kRunning, "Attached", "scheduler " + current_->a.opsName + " is enabled");
    } else if (current_->restartingInProcess) {
      setPhase(NodePhase::kRestarting, "KernelRestart", "waiting for the scheduler to re-enable itself");
    } else {
      setPhase(NodePhase::kAttaching, "WaitingForKernel", "waiting for the kernel to enable the scheduler");
    }
    return;
  }

  if (killSwitch_) {
    setPhase(NodePhase::kFallenBack, "KillSwitch",
             "disabled by sysrq-S; not restarting until the policy changes or an operator re-enables it");
    return;
  }
  if (circuitOpen_) {
    setPhase(NodePhase::kFallenBack, "CircuitOpen",
             "failed " + std::to_string(failures_.size()) + " times within " +
                 formatDuration(desired_->failure.window) + "; running the default scheduler");
    return;
  }
  if (retryTimer_ != 0) {
    setPhase(NodePhase::kRestarting, "Backoff", "waiting before the next attempt");
    return;
  }
  startDesired();
}

void NodeEngine::startDesired() {
  const DesiredScheduler& want = *desired_;
  auto st = d_.host.readState();
  if (!st.isOk()) {
    setPhase(NodePhase::kFailed, "KernelStateUnreadable", st.status().message());
    return;
  }
  if (st->state != EnableState::kDisabled) {
    // Someone else holds the one sched_ext slot; report it and wait for its unload uevent.
    std::string holder = st->ops.value_or("(unknown)");
    if (!slotBusyReported_) {
      slotBusyReported_ = true;
      recordEvent("Warning", "SlotBusy",
                  "sched_ext is " + std::string(toString(st->state)) + " with scheduler " + holder +
                      ", not started by schedkit; waiting for it to be unloaded");
    }
    setPhase(NodePhase::kFailed, "SlotBusy", "another sched_ext scheduler (" + holder + ") is loaded");
    return;
  }
  slotBusyReported_ = false;
  Attacher* att = attacherFor(want.launch.type);
  if (att == nullptr) {
    setPhase(NodePhase::kFailed, "Unsupported",
             std::string("no attacher for scheduler type ") + policy::toString(want.launch.type));
    return;
  }
  setPhase(NodePhase::kAttaching, "Starting", "starting " + want.launch.path);
  // Before start(): the kernel logs an init failure while the attach call is still running.
  MonoTime startedAt = d_.clock.now();
  d_.log.info("starting scheduler", {{"policy", want.policy},
                                     {"revision", want.launch.revision},
                                     {"type", policy::toString(want.launch.type)},
                                     {"path", want.launch.path}});
  auto started = att->start(want.launch);
  if (!started.isOk()) {
    // Nothing runs. Newer kernels fail the attach itself when ops.init() fails and log why;
    // give that kmsg line the grace period to arrive, then count it like an ejection so a
    // broken scheduler backs off too.
    Current c;
    c.a.spec = want.launch;
    c.a.type = want.launch.type;
    c.policy = want.policy;
    c.baselineSeq = st->enableSeq;
    c.startedAt = startedAt;
    current_ = c;
    std::string err = started.status().message();
    current_->gone = true;
    current_->graceTimer = d_.clock.callAfter(o_.exitReasonGrace, [this, err] {
      if (!current_) return;
      current_->graceTimer = 0;
      ExitInfo x;
      x.kind = ExitKind::kNone;
      x.record.kindName = "START_FAILED";
      x.record.reason = "the scheduler could not be started";
      x.record.message = err;
      handleExit(std::move(x));
    });
    d_.log.warn("scheduler failed to start", {{"error", started.status()}});
    return;
  }
  Current c;
  c.a = *started;
  c.policy = want.policy;
  c.baselineSeq = st->enableSeq;
  c.startedAt = startedAt;
  current_ = c;
  if (c.a.type != SchedulerType::kBpfObject) {
    Status w = att->watch(c.a, [this](const std::string& id) { onProcessExit(id); });
    if (!w.isOk()) d_.log.warn("cannot watch the scheduler process", {{"error", w}});
  }
  current_->startupTimer = d_.clock.callAfter(want.health.startupTimeout, [this] { onStartupTimeout(); });
  checkConfirm();
}

// ---- status ----

void NodeEngine::setPhase(NodePhase phase, std::string reason, std::string message) {
  status_.phase = phase;
  phaseReason_ = std::move(reason);
  phaseMessage_ = std::move(message);
  publish();
}

void NodeEngine::recordEvent(const std::string& type, const std::string& reason,
                             const std::string& message) {
  policy::NodeEvent ev{formatRfc3339(d_.clock.wallNow()), type, reason, message};
  status_.recentEvents.insert(status_.recentEvents.begin(), ev);
  if (status_.recentEvents.size() > policy::kMaxRecentEvents) {
    status_.recentEvents.resize(policy::kMaxRecentEvents);
  }
  if (type == "Warning") {
    d_.log.warn("event", {{"reason", reason}, {"message", message}});
  } else {
    d_.log.info("event", {{"reason", reason}, {"message", message}});
  }
  if (d_.onEvent) d_.onEvent({type, reason, message, desired_ ? desired_->policy : ""});
}

void NodeEngine::updateConditions() {
  std::int64_t gen = desired_ ? desired_->generation : 0;
  auto set = [&](const std::string& type, bool value, const std::string& reason,
                 const std::string& message) {
    std::string v = value ? "True" : "False";
    auto it = std::find_if(status_.conditions.begin(), status_.conditions.end(),
                           [&](const policy::Condition& c) { return c.type == type; });
    if (it == status_.conditions.end()) {
      status_.conditions.push_back({type, v, gen, formatRfc3339(d_.clock.wallNow()), reason, message});
      return;
    }
    if (it->status != v) it->lastTransitionTime = formatRfc3339(d_.clock.wallNow());
    it->status = v;
    it->observedGeneration = gen;
    it->reason = reason;
    it->message = message;
  };
  NodePhase p = status_.phase;
  bool attached = p == NodePhase::kRunning;
  bool ready = attached || p == NodePhase::kIdle;
  bool degraded = p == NodePhase::kFallenBack || p == NodePhase::kFailed ||
                  p == NodePhase::kIncompatible || p == NodePhase::kRestarting;
  set("Ready", ready, phaseReason_, phaseMessage_);
  set("SchedulerAttached", attached, attached ? "Attached" : phaseReason_,
      attached ? phaseMessage_ : "no schedkit scheduler is enabled");
  set("Degraded", degraded, degraded ? phaseReason_ : "AsExpected", degraded ? phaseMessage_ : "");
}

void NodeEngine::publish() {
  updateConditions();
  if (published_ && *published_ == status_) return;
  published_ = status_;
  if (d_.publish) d_.publish(status_);
  if (pendingLatencyUsec_ != 0) {
    auto nowUs = std::chrono::duration_cast<std::chrono::microseconds>(
                     d_.clock.now().time_since_epoch()).count();
    long long lat = static_cast<long long>(nowUs) - static_cast<long long>(pendingLatencyUsec_);
    d_.log.info("fallback detection published", {{"kmsg_usec", static_cast<long long>(pendingLatencyUsec_)},
                                                 {"detect_latency_us", lat}});
    if (d_.onDetectLatency) d_.onDetectLatency(std::chrono::microseconds(lat));
    pendingLatencyUsec_ = 0;
  }
}

}  // namespace schedkit::agent
