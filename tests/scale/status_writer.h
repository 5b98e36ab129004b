#pragma once

// Writes simulated nodes' SchedulerNodeState status as their agents would (server-side apply of
// /status, field manager schedkit-agent, force), from a few threads, behind one token bucket so
// a fleet switching at once cannot swamp the API server. Like the agent's NodeStateWriter, a
// node's newer status replaces one not yet sent (coalesced): only the latest is written.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "schedkit/kube/client.h"
#include "schedkit/kube/rate_limiter.h"
#include "schedkit/policy/types.h"

namespace schedkit::scale {

inline constexpr const char* kAgentFieldManager = "schedkit-agent";

// The agent's apply body (NodeStateWriter::statusPatch in agent/src/app/cluster_mode.cc).
nlohmann::json nodeStateStatusPatch(const std::string& node,
                                    const policy::SchedulerNodeStateStatus& status);
// A new SchedulerNodeState owned by its Node (NodeStateWriter::writeOnce).
nlohmann::json newNodeState(const std::string& node, const std::string& nodeUid);

struct StatusWriterOptions {
  double qps = 200;  // status writes per second, all nodes together; <= 0: unlimited
  int burst = 20;
  int threads = 8;  // writes in flight at once
};

struct StatusWriterStats {
  std::uint64_t submitted = 0;  // statuses handed in (each one a change)
  std::uint64_t writes = 0;     // applied
  std::uint64_t failures = 0;   // failed attempts (retried after a backoff)
  std::uint64_t coalesced = 0;  // replaced by a newer status before being sent
  std::uint64_t recreated = 0;  // SchedulerNodeStates found deleted and created again
  Duration throttled{};         // total wait for the token bucket, over all threads
};

class StatusWriter {
 public:
  // names[i] is node i; uids (set before the first write) make re-created objects owned.
  StatusWriter(kube::Client& client, std::vector<std::string> names, StatusWriterOptions opts);
  ~StatusWriter();
  StatusWriter(const StatusWriter&) = delete;
  StatusWriter& operator=(const StatusWriter&) = delete;

  void setNodeUids(std::vector<std::string> uids);
  void start();
  // Drops what is still queued, waits for writes in flight.
  void stop();

  // Thread-safe.
  void submit(std::size_t node, const policy::SchedulerNodeStateStatus& status);
  // Nothing queued, nothing in flight.
  bool idle() const;
  // Waits until idle() or `stop` is set; false when stopped.
  bool waitIdle(const std::atomic<bool>& stop) const;
  std::size_t queued() const;
  std::size_t inflight() const;
  StatusWriterStats stats() const;
  // Phases as the API server has them now (what `kubectl get sns` shows), from our writes.
  std::map<policy::NodePhase, std::size_t> writtenPhases() const;

 private:
  void run();
  Status writeOnce(std::size_t node, const policy::SchedulerNodeStateStatus& status);

  kube::Client& client_;
  const std::vector<std::string> names_;
  const StatusWriterOptions opts_;
  kube::TokenBucket bucket_;
  net::CancelTokenPtr cancel_ = std::make_shared<net::CancelToken>();

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::vector<std::string> uids_;
  std::vector<std::optional<policy::SchedulerNodeStateStatus>> pending_;
  std::vector<char> queued_;  // node is in queue_
  std::deque<std::size_t> queue_;
  std::vector<std::optional<policy::NodePhase>> written_;
  std::map<policy::NodePhase, std::size_t> writtenCounts_;
  std::size_t inflight_ = 0;
  bool stopping_ = false;
  StatusWriterStats stats_;
  std::vector<std::thread> threads_;
};

}  // namespace schedkit::scale
