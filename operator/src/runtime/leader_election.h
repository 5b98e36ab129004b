#pragma once

// Leader election over a coordination.k8s.io/v1 Lease, with client-go's leaderelection
// semantics: only one replica of the operator reconciles at a time; the others stand by and
// take over when the leader releases the lease or stops renewing it.
//
// A Lease is free when it does not exist, when its holderIdentity is empty, or when its record
// (holder, renewTime, ...) has not changed for leaseDurationSeconds as measured by our own
// monotonic clock since we last saw it change. The other host's wall clock (renewTime) is
// written for people to read and never trusted. Every write is conditional on the
// resourceVersion we read, so of two candidates racing for a free lease exactly one wins (409).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>

#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/common/status.h"
#include "schedkit/kube/client.h"
#include "schedkit/net/http.h"

namespace schedkit::op {

struct LeaderElectionConfig {
  std::string ns{};
  std::string name = "schedkit-operator";
  std::string identity{};  // unique per replica (the pod name); written as holderIdentity
  // How long a standby waits, after it last saw the lease change, before taking it over.
  Duration leaseDuration = std::chrono::seconds(15);
  // How long the leader keeps trying to renew before it gives up leading.
  Duration renewDeadline = std::chrono::seconds(10);
  // Between attempts, leading or not.
  Duration retryPeriod = std::chrono::seconds(2);
  // On stop(): holderIdentity "" + leaseDurationSeconds 1, so a standby takes over at once.
  bool releaseOnStop = true;
};

// client-go's rules: leaseDuration > renewDeadline > retryPeriod > 0, whole seconds of
// leaseDuration >= 1, identity, namespace and name set.
Status validateLeaderElectionConfig(const LeaderElectionConfig& cfg);

// The election fields of a Lease's spec.
struct LeaseRecord {
  std::string holderIdentity{};
  std::int64_t leaseDurationSeconds = 0;
  std::string acquireTime{};  // MicroTime, as the holder's wall clock wrote it
  std::string renewTime{};
  std::int64_t leaseTransitions = 0;

  friend bool operator==(const LeaseRecord&, const LeaseRecord&) = default;
};
LeaseRecord leaseRecordOf(const nlohmann::json& lease);

class LeaderElector {
 public:
  // Run on the thread that made the attempt (the elector's own after start(), stop()'s caller
  // for the final onStoppedLeading) and must return promptly: onStartedLeading starts the
  // leader's work, onStoppedLeading stops it and returns once it has stopped (the lease is
  // released only after it returns). onNewLeader reports each new non-empty holder, ours too.
  struct Callbacks {
    std::function<void()> onStartedLeading{};
    std::function<void()> onStoppedLeading{};
    std::function<void(const std::string& holder)> onNewLeader{};
  };

  struct Stats {
    std::uint64_t attempts = 0;      // tryAcquireOrRenew() calls
    std::uint64_t acquisitions = 0;  // times we started leading
    std::uint64_t renewals = 0;      // successful renewals while leading
    std::uint64_t conflicts = 0;     // lost races: 409 on update, AlreadyExists on create
    std::uint64_t failures = 0;      // other failed requests (and refusals of a bad config)
    std::uint64_t transitions = 0;   // changes of the leader we observed
  };

  // References must outlive the elector; waits go through client.sleeper().
  LeaderElector(kube::Client& client, const Clock& clock, const Logger& log,
                LeaderElectionConfig cfg, Callbacks cb);
  ~LeaderElector();  // stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  // One attempt to acquire or renew, on the caller's thread; returns whether we hold the lease
  // now. Runs the callbacks for the transitions it causes: onStartedLeading on acquiring,
  // onStoppedLeading when the lease is seen with another holder or renewing has failed for
  // renewDeadline. Unit tests drive this directly.
  bool tryAcquireOrRenew();

  // A thread that calls tryAcquireOrRenew() every retryPeriod (sooner when the renew deadline
  // comes first). No-op when already running.
  void start();
  // Ends the thread (waiting for a request in flight), then, if leading: onStoppedLeading and,
  // with releaseOnStop, the release. Idempotent; works without start() too.
  void stop();

  // True while we hold the lease and renewed it less than renewDeadline ago on our clock (so a
  // renewal stuck in a slow request does not keep it true past the deadline).
  bool isLeader() const;
  // The holder we last observed ("" when free or unknown).
  std::string leader() const;
  Stats stats() const;
  const LeaderElectionConfig& config() const { return cfg_; }

 private:
  enum class Outcome { kHeld, kHeldByOther, kFailed };
  Outcome attempt(MonoTime start);
  Outcome acquireOrRenewSlow(MonoTime start);
  bool renewFast(MonoTime start);
  nlohmann::json withRecord(nlohmann::json lease, const LeaseRecord& r) const;
  void observe(const nlohmann::json& lease, MonoTime at, bool ours);
  bool observedValid(MonoTime now) const;  // mu_ held
  Outcome failed(const Status& s, const char* what);
  void release();

  kube::Client& client_;
  const Clock& clock_;
  Logger log_;
  const LeaderElectionConfig cfg_;
  const Callbacks cb_;
  const Status config_error_;

  std::mutex attempt_mu_;  // one attempt (or the release) at a time

  mutable std::mutex mu_;
  bool leading_ = false;
  MonoTime last_renew_{};                // start of our last successful write
  std::optional<nlohmann::json> lease_;  // the last Lease object we read or wrote
  LeaseRecord observed_{};
  MonoTime observed_at_{};  // when observed_ last changed, on our clock
  std::string reported_leader_;
  Stats stats_{};

  std::mutex thread_mu_;  // start()/stop()
  std::thread thread_;
  net::CancelTokenPtr cancel_;
};

}  // namespace schedkit::op
