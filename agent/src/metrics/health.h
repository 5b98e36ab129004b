#pragma once

#include <atomic>
#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/common/status.h"

namespace schedkit::agent {

// What the kubelet's probes ask the agent (GET /livez, /readyz; /healthz is /livez):
//   live   the node loop still runs: it beat within maxStale. A wedged loop cannot notice
//          ejections or publish fallbacks, and only a restart helps (the scheduler stays attached
//          and the new agent re-adopts it).
//   ready  live, and the agent knows its policies (the files were read, or in cluster mode both
//          informers synced) so what it reports is meaningful. A DaemonSet rollout waits on it.
// Thread-safe: the loop beats and marks readiness, the health server's thread reads.
class HealthState {
 public:
  struct Report {
    int code = 200;     // 200 or 503
    std::string body;   // one "check: result" line per check
  };
  explicit HealthState(Duration maxStale = std::chrono::seconds(60)) : maxStale_(maxStale) {}
  void beat(MonoTime now) { lastBeat_.store(now.time_since_epoch().count()); }
  void setPoliciesKnown(bool known) { policiesKnown_.store(known); }
  void setShuttingDown() { shuttingDown_.store(true); }
  Report live(MonoTime now) const;
  Report ready(MonoTime now) const;

 private:
  std::string loopLine(MonoTime now, bool* ok) const;

  Duration maxStale_;
  std::atomic<MonoTime::rep> lastBeat_{std::numeric_limits<MonoTime::rep>::min()};
  std::atomic<bool> policiesKnown_{false};
  std::atomic<bool> shuttingDown_{false};
};

// Beats `state` on the loop every `period` (a self-rearming timer on `clock`) until destroyed.
class HealthBeat {
 public:
  HealthBeat(Clock& clock, HealthState& state, Duration period = std::chrono::seconds(1));
  ~HealthBeat();
  HealthBeat(const HealthBeat&) = delete;
  HealthBeat& operator=(const HealthBeat&) = delete;

 private:
  void arm();
  Clock& clock_;
  HealthState& state_;
  Duration period_;
  std::shared_ptr<std::atomic<bool>> alive_;
  TimerId timer_{};
};

// A minimal HTTP/1.1 server for the probes on its own thread, one request per connection. It
// answers GET and HEAD for /livez, /healthz and /readyz (?verbose is accepted and ignored: the
// body always lists the checks), 404 for other paths and 405 for other methods. A request must
// arrive whole within 1 s and 4 KiB, or the connection gets 400 (or is dropped) and the next one
// is served: a slow or hostile client cannot hold the probes up for longer than that.
class HealthServer {
 public:
  // address: HOST:PORT (an IPv4 address or "localhost"; port 0 picks a free one).
  static Result<std::unique_ptr<HealthServer>> start(const std::string& address,
                                                     const HealthState& state, Clock& clock,
                                                     const Logger& log);
  ~HealthServer();
  int port() const { return port_; }
  // The response to one raw request; exposed for tests.
  static std::string respond(const std::string& request, const HealthState& state, MonoTime now,
                             bool complete);

 private:
  HealthServer(int fd, int wakeFd, int port, const HealthState& state, Clock& clock,
               const Logger& log);
  void run();
  void serveOne(int conn);

  int fd_;
  int wakeFd_;  // eventfd: the destructor wakes the thread
  int port_;
  const HealthState& state_;
  Clock& clock_;
  const Logger& log_;
  std::thread thread_;
};

}  // namespace schedkit::agent
