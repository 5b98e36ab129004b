#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "grpc/convert.h"
#include "schedkit/common/clock.h"
#include "schedkit/policy/types.h"

namespace schedkit::agent {
struct NodeEventRecord;
}

namespace schedkit::agent::grpcapi {

// One watcher's queue. The producer (the node loop) never blocks: when the queue is full the
// oldest message is dropped and counted, and the next message popped carries the count in
// `dropped`, so a slow client learns what it missed and never slows the node down.
class EventQueue {
 public:
  explicit EventQueue(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  void push(pb::NodeEvent e);
  // Waits until a message is queued, the queue is closed or `until` passes; nullopt for the last
  // two (a closed queue still hands out what it holds).
  std::optional<pb::NodeEvent> pop(MonoTime until);
  void close();
  bool closed() const;
  std::uint64_t droppedTotal() const;
  std::size_t size() const;

 private:
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<pb::NodeEvent> q_;
  std::uint64_t pendingDrops_ = 0;  // not yet reported to the client
  std::uint64_t droppedTotal_ = 0;
  bool closed_ = false;
};
using EventQueuePtr = std::shared_ptr<EventQueue>;

// Fans what the node engine publishes (events, status) out to the gRPC watchers. Fed on the
// node loop through the same callbacks AgentMetrics uses (Agent's NodeEngineDeps); everything
// else is called from gRPC threads. Thread-safe.
class EventHub {
 public:
  explicit EventHub(Clock& clock, std::size_t queueCapacity = 256)
      : clock_(clock), capacity_(queueCapacity) {}

  // The node loop's side.
  void onStatus(const policy::SchedulerNodeStateStatus& st);
  void onEvent(const NodeEventRecord& e);

  // A queue receiving every message from now on. Call on the node loop when the caller also
  // reads the engine's recent events, so that none is missed or seen twice.
  EventQueuePtr subscribe();
  void unsubscribe(const EventQueuePtr& q);
  std::size_t watchers() const;

  // Status publishes, counted: waitStatus() returns once the count passes `seen` (or at
  // `until`, or after close()) and returns the count.
  std::uint64_t statusVersion() const;
  std::uint64_t waitStatus(std::uint64_t seen, MonoTime until);

  // Shutting down: closes every queue and wakes every waiter.
  void close();
  bool closed() const;

 private:
  void broadcast(const pb::NodeEvent& e);  // with mu_ held

  Clock& clock_;
  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable statusCv_;
  std::vector<EventQueuePtr> queues_;
  std::optional<policy::NodePhase> phase_;
  std::uint64_t statusVersion_ = 0;
  bool closed_ = false;
};

}  // namespace schedkit::agent::grpcapi
