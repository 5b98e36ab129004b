#include "runtime/leader_election.h"

#include <algorithm>
#include <utility>

#include "schedkit/kube/errors.h"
#include "schedkit/kube/resource.h"

namespace schedkit::op {

using Json = nlohmann::json;

namespace {

std::string stringField(const Json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string();
}

std::int64_t intField(const Json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_number_integer() ? it->get<std::int64_t>() : 0;
}

std::int64_t wholeSeconds(Duration d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

}  // namespace

Status validateLeaderElectionConfig(const LeaderElectionConfig& cfg) {
  if (cfg.identity.empty()) return invalidArgument("leader election: identity is empty");
  if (cfg.ns.empty()) return invalidArgument("leader election: namespace is empty");
  if (cfg.name.empty()) return invalidArgument("leader election: lease name is empty");
  if (wholeSeconds(cfg.leaseDuration) < 1) {
    return invalidArgument("leader election: leaseDuration must be at least 1s");
  }
  if (cfg.retryPeriod <= Duration::zero()) {
    return invalidArgument("leader election: retryPeriod must be positive");
  }
  if (cfg.renewDeadline <= cfg.retryPeriod) {
    return invalidArgument("leader election: renewDeadline must be longer than retryPeriod");
  }
  if (cfg.leaseDuration <= cfg.renewDeadline) {
    return invalidArgument("leader election: leaseDuration must be longer than renewDeadline");
  }
  return Status::ok();
}

LeaseRecord leaseRecordOf(const Json& lease) {
  LeaseRecord r;
  auto spec = lease.find("spec");
  if (spec == lease.end() || !spec->is_object()) return r;
  r.holderIdentity = stringField(*spec, "holderIdentity");
  r.leaseDurationSeconds = intField(*spec, "leaseDurationSeconds");
  r.acquireTime = stringField(*spec, "acquireTime");
  r.renewTime = stringField(*spec, "renewTime");
  r.leaseTransitions = intField(*spec, "leaseTransitions");
  return r;
}

LeaderElector::LeaderElector(kube::Client& client, const Clock& clock, const Logger& log,
                             LeaderElectionConfig cfg, Callbacks cb)
    : client_(client),
      clock_(clock),
      log_(log.with({{"lease", cfg.ns + "/" + cfg.name}, {"identity", cfg.identity}})),
      cfg_(std::move(cfg)),
      cb_(std::move(cb)),
      config_error_(validateLeaderElectionConfig(cfg_)) {
  if (!config_error_.isOk()) {
    log_.error("leader election: invalid configuration; never leading", {{"error", config_error_}});
  }
}

LeaderElector::~LeaderElector() { stop(); }

bool LeaderElector::tryAcquireOrRenew() {
  std::lock_guard attempt_lock(attempt_mu_);
  const MonoTime start = clock_.now();
  {
    std::lock_guard lk(mu_);
    ++stats_.attempts;
  }
  const Outcome out = config_error_.isOk() ? attempt(start) : failed(config_error_, "refusing");

  bool started = false;
  bool stopped = false;
  std::string lost_reason;
  std::optional<std::string> new_leader;
  LeaseRecord seen;
  {
    std::lock_guard lk(mu_);
    if (out == Outcome::kHeld) {
      if (leading_) {
        ++stats_.renewals;
      } else {
        leading_ = true;
        ++stats_.acquisitions;
        started = true;
      }
      last_renew_ = start;
    } else if (leading_) {
      if (out == Outcome::kHeldByOther) {
        stopped = true;
        lost_reason = "the lease has another holder";
      } else if (clock_.now() - last_renew_ >= cfg_.renewDeadline) {
        stopped = true;
        lost_reason = "not renewed within renewDeadline";
      }
      if (stopped) leading_ = false;
    }
    if (!observed_.holderIdentity.empty() && observed_.holderIdentity != reported_leader_) {
      reported_leader_ = observed_.holderIdentity;
      ++stats_.transitions;
      new_leader = reported_leader_;
    }
    seen = observed_;
  }

  // Callbacks run without mu_, so they may call isLeader(), leader() and stats().
  if (stopped) {
    log_.warn("leader election: lost the lease, back to candidate",
              {{"reason", lost_reason}, {"holder", seen.holderIdentity}});
    if (cb_.onStoppedLeading) cb_.onStoppedLeading();
  }
  if (new_leader) {
    log_.info("leader election: new leader observed",
              {{"leader", *new_leader},
               {"leaseTransitions", static_cast<long long>(seen.leaseTransitions)}});
    if (cb_.onNewLeader) cb_.onNewLeader(*new_leader);
  }
  if (started) {
    log_.info("leader election: acquired the lease",
              {{"leaseTransitions", static_cast<long long>(seen.leaseTransitions)},
               {"leaseDuration", cfg_.leaseDuration}});
    if (cb_.onStartedLeading) cb_.onStartedLeading();
  }
  return out == Outcome::kHeld;
}

LeaderElector::Outcome LeaderElector::attempt(MonoTime start) {
  bool ours;
  {
    std::lock_guard lk(mu_);
    ours = lease_ && observed_.holderIdentity == cfg_.identity && observedValid(clock_.now());
  }
  // client-go's fast path: the holder writes over the version it wrote last, without a read.
  if (ours && renewFast(start)) return Outcome::kHeld;
  return acquireOrRenewSlow(start);
}

bool LeaderElector::renewFast(MonoTime start) {
  Json lease;
  LeaseRecord r;
  {
    std::lock_guard lk(mu_);
    lease = *lease_;
    r = observed_;
  }
  r.leaseDurationSeconds = wholeSeconds(cfg_.leaseDuration);
  r.renewTime = formatRfc3339Micro(clock_.wallNow());
  auto updated = client_.update(kube::resources::kLeases, withRecord(std::move(lease), r));
  if (updated.isOk()) {
    observe(*updated, start, true);
    return true;
  }
  std::lock_guard lk(mu_);
  if (kube::isConflict(updated.status())) {
    ++stats_.conflicts;
    log_.info("leader election: the lease changed since our last renewal; reading it",
              {{"error", updated.status()}});
  } else {
    ++stats_.failures;
    log_.warn("leader election: renewing the lease failed; reading it",
              {{"error", updated.status()}});
  }
  return false;
}

LeaderElector::Outcome LeaderElector::acquireOrRenewSlow(MonoTime start) {
  const std::int64_t duration_s = wholeSeconds(cfg_.leaseDuration);
  auto got = client_.get(kube::resources::kLeases, cfg_.ns, cfg_.name);
  if (!got.isOk()) {
    if (!kube::isNotFound(got.status())) return failed(got.status(), "reading the lease failed");
    // No lease yet: create it; of several candidates only one create succeeds.
    const std::string now = formatRfc3339Micro(clock_.wallNow());
    Json lease = {{"apiVersion", kube::resources::kLeases.apiVersion()},
                  {"kind", kube::resources::kLeases.kind},
                  {"metadata", {{"name", cfg_.name}, {"namespace", cfg_.ns}}}};
    lease = withRecord(std::move(lease), {.holderIdentity = cfg_.identity,
                                          .leaseDurationSeconds = duration_s,
                                          .acquireTime = now,
                                          .renewTime = now,
                                          .leaseTransitions = 0});
    auto created = client_.create(kube::resources::kLeases, cfg_.ns, lease);
    if (!created.isOk()) {
      if (kube::isAlreadyExists(created.status())) {
        std::lock_guard lk(mu_);
        ++stats_.conflicts;
        log_.info("leader election: another candidate created the lease first");
        return Outcome::kFailed;
      }
      return failed(created.status(), "creating the lease failed");
    }
    observe(*created, start, true);
    return Outcome::kHeld;
  }

  observe(*got, clock_.now(), false);
  LeaseRecord seen;
  bool valid;
  {
    std::lock_guard lk(mu_);
    seen = observed_;
    valid = observedValid(clock_.now());
  }
  const bool ours = seen.holderIdentity == cfg_.identity;
  if (!seen.holderIdentity.empty() && !ours && valid) {
    log_.debug("leader election: the lease is held and was renewed recently",
               {{"holder", seen.holderIdentity}});
    return Outcome::kHeldByOther;
  }

  LeaseRecord next;
  next.holderIdentity = cfg_.identity;
  next.leaseDurationSeconds = duration_s;
  next.renewTime = formatRfc3339Micro(clock_.wallNow());
  if (ours) {
    next.acquireTime = seen.acquireTime.empty() ? next.renewTime : seen.acquireTime;
    next.leaseTransitions = seen.leaseTransitions;
  } else {
    next.acquireTime = next.renewTime;
    next.leaseTransitions = seen.leaseTransitions + 1;
  }
  // Conditional on the resourceVersion we just read: a 409 means someone else wrote first.
  auto updated = client_.update(kube::resources::kLeases, withRecord(std::move(*got), next));
  if (!updated.isOk()) {
    if (kube::isConflict(updated.status())) {
      std::lock_guard lk(mu_);
      ++stats_.conflicts;
      log_.info("leader election: lost the race to write the lease", {{"error", updated.status()}});
      return Outcome::kFailed;
    }
    return failed(updated.status(), "writing the lease failed");
  }
  if (!ours) {
    log_.info("leader election: taking over the lease",
              {{"previousHolder",
                seen.holderIdentity.empty() ? std::string("<released>") : seen.holderIdentity}});
  }
  observe(*updated, start, true);
  return Outcome::kHeld;
}

Json LeaderElector::withRecord(Json lease, const LeaseRecord& r) const {
  // Other spec fields (strategy, preferredHolder) and metadata are kept as read.
  Json& spec = lease["spec"];
  if (!spec.is_object()) spec = Json::object();
  spec["holderIdentity"] = r.holderIdentity;
  spec["leaseDurationSeconds"] = r.leaseDurationSeconds;
  spec["acquireTime"] = r.acquireTime;
  spec["renewTime"] = r.renewTime;
  spec["leaseTransitions"] = r.leaseTransitions;
  return lease;
}

void LeaderElector::observe(const Json& lease, MonoTime at, bool ours) {
  LeaseRecord r = leaseRecordOf(lease);
  std::lock_guard lk(mu_);
  const bool first = !lease_.has_value();
  lease_ = lease;
  // The expiry clock restarts only when the record changes: a holder that stopped renewing
  // leaves it as it was, whatever its wall clock said when it wrote renewTime.
  if (ours || first || r != observed_) {
    observed_ = std::move(r);
    observed_at_ = at;
  }
}

bool LeaderElector::observedValid(MonoTime now) const {
  // A lease without a duration gets ours rather than none: never take over early.
  const Duration d = observed_.leaseDurationSeconds > 0
                         ? Duration(std::chrono::seconds(observed_.leaseDurationSeconds))
                         : cfg_.leaseDuration;
  return now < observed_at_ + d;
}

LeaderElector::Outcome LeaderElector::failed(const Status& s, const char* what) {
  {
    std::lock_guard lk(mu_);
    ++stats_.failures;
  }
  log_.warn(std::string("leader election: ") + what, {{"error", s}});
  return Outcome::kFailed;
}

void LeaderElector::release() {
  std::lock_guard attempt_lock(attempt_mu_);
  for (int attempt = 0; attempt < 2; ++attempt) {
    Json lease;
    LeaseRecord r;
    {
      std::lock_guard lk(mu_);
      if (!lease_ || observed_.holderIdentity != cfg_.identity) return;
      lease = *lease_;
      r = observed_;
    }
    const MonoTime start = clock_.now();
    r.holderIdentity.clear();
    r.leaseDurationSeconds = 1;
    r.acquireTime = r.renewTime = formatRfc3339Micro(clock_.wallNow());
    auto updated = client_.update(kube::resources::kLeases, withRecord(std::move(lease), r));
    if (updated.isOk()) {
      observe(*updated, start, true);
      log_.info("leader election: released the lease");
      return;
    }
    if (kube::isConflict(updated.status()) && attempt == 0) {
      // Changed since we last wrote it (a label, say): release the fresh version if still ours.
      {
        std::lock_guard lk(mu_);
        ++stats_.conflicts;
      }
      auto got = client_.get(kube::resources::kLeases, cfg_.ns, cfg_.name);
      if (!got.isOk()) {
        failed(got.status(), "reading the lease to release it failed");
        return;
      }
      observe(*got, clock_.now(), false);
      continue;
    }
    failed(updated.status(),
           "releasing the lease failed; a standby takes over after leaseDuration");
    return;
  }
}

void LeaderElector::start() {
  std::lock_guard lk(thread_mu_);
  if (thread_.joinable()) return;
  if (!config_error_.isOk()) {
    log_.error("leader election: not starting, invalid configuration", {{"error", config_error_}});
    return;
  }
  cancel_ = std::make_shared<net::CancelToken>();
  log_.info("leader election: starting", {{"leaseDuration", cfg_.leaseDuration},
                                          {"renewDeadline", cfg_.renewDeadline},
                                          {"retryPeriod", cfg_.retryPeriod}});
  thread_ = std::thread([this, cancel = cancel_] {
    while (!cancel->cancelled()) {
      tryAcquireOrRenew();
      Duration wait = cfg_.retryPeriod;
      {
        // While leading, wake at the renew deadline too, so giving up is not late.
        std::lock_guard state(mu_);
        if (leading_) {
          wait = std::clamp<Duration>(last_renew_ + cfg_.renewDeadline - clock_.now(),
                                      Duration::zero(), wait);
        }
      }
      if (!client_.sleeper().sleepFor(wait, cancel)) break;
    }
  });
}

void LeaderElector::stop() {
  std::lock_guard lk(thread_mu_);
  if (cancel_) cancel_->cancel();
  if (thread_.joinable()) thread_.join();
  cancel_.reset();
  bool was_leading;
  {
    std::lock_guard state(mu_);
    was_leading = leading_;
    leading_ = false;
  }
  if (was_leading) {
    log_.info("leader election: stopped leading", {{"reason", "stopping"}});
    // Before the release, so the next leader does not overlap with our work.
    if (cb_.onStoppedLeading) cb_.onStoppedLeading();
  }
  if (cfg_.releaseOnStop) release();
}

bool LeaderElector::isLeader() const {
  std::lock_guard lk(mu_);
  return leading_ && clock_.now() < last_renew_ + cfg_.renewDeadline;
}

std::string LeaderElector::leader() const {
  std::lock_guard lk(mu_);
  return observed_.holderIdentity;
}

LeaderElector::Stats LeaderElector::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

}  // namespace schedkit::op
