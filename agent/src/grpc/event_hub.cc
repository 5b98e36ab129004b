#include "grpc/event_hub.h"

#include <algorithm>

#include "node/node_engine.h"

namespace schedkit::agent::grpcapi {

void EventQueue::push(pb::NodeEvent e) {
  {
    std::lock_guard l(mu_);
    if (closed_) return;
    if (q_.size() >= capacity_) {
      // Drop the oldest; the drops it carried move to the next one.
      pendingDrops_ += q_.front().dropped() + 1;
      droppedTotal_++;
      q_.pop_front();
      if (!q_.empty()) {
        q_.front().set_dropped(q_.front().dropped() + pendingDrops_);
        pendingDrops_ = 0;
      }
    }
    if (pendingDrops_ != 0) {
      e.set_dropped(e.dropped() + pendingDrops_);
      pendingDrops_ = 0;
    }
    q_.push_back(std::move(e));
  }
  cv_.notify_one();
}

std::optional<pb::NodeEvent> EventQueue::pop(MonoTime until) {
  std::unique_lock l(mu_);
  cv_.wait_until(l, until, [&] { return closed_ || !q_.empty(); });
  if (q_.empty()) return std::nullopt;  // closed: what was queued is still delivered
  pb::NodeEvent e = std::move(q_.front());
  q_.pop_front();
  return e;
}

void EventQueue::close() {
  {
    std::lock_guard l(mu_);
    closed_ = true;
  }
  cv_.notify_all();
}

bool EventQueue::closed() const {
  std::lock_guard l(mu_);
  return closed_;
}

std::uint64_t EventQueue::droppedTotal() const {
  std::lock_guard l(mu_);
  return droppedTotal_;
}

std::size_t EventQueue::size() const {
  std::lock_guard l(mu_);
  return q_.size();
}

void EventHub::broadcast(const pb::NodeEvent& e) {
  for (const auto& q : queues_) q->push(e);
}

void EventHub::onStatus(const policy::SchedulerNodeStateStatus& st) {
  {
    std::lock_guard l(mu_);
    statusVersion_++;
    if (phase_ && *phase_ != st.phase) {
      pb::NodeEvent e;
      e.set_kind(pb::NodeEvent::KIND_PHASE_CHANGE);
      e.set_time(formatRfc3339(clock_.wallNow()));
      e.set_type(st.phase == policy::NodePhase::kRunning || st.phase == policy::NodePhase::kIdle ||
                         st.phase == policy::NodePhase::kAttaching ||
                         st.phase == policy::NodePhase::kPulling
                     ? "Normal"
                     : "Warning");
      e.set_reason("PhaseChange");
      e.set_message(std::string(policy::toString(*phase_)) + " -> " + policy::toString(st.phase) +
                    (st.policy.empty() ? "" : " (policy " + st.policy + ")"));
      e.set_policy(st.policy);
      e.set_phase(toProto(st.phase));
      e.set_previous_phase(toProto(*phase_));
      broadcast(e);
    }
    phase_ = st.phase;
  }
  statusCv_.notify_all();
}

void EventHub::onEvent(const NodeEventRecord& r) {
  pb::NodeEvent e;
  e.set_kind(pb::NodeEvent::KIND_EVENT);
  e.set_time(formatRfc3339(clock_.wallNow()));
  e.set_type(r.type);
  e.set_reason(r.reason);
  e.set_message(r.message);
  e.set_policy(r.policy);
  std::lock_guard l(mu_);
  broadcast(e);
}

EventQueuePtr EventHub::subscribe() {
  auto q = std::make_shared<EventQueue>(capacity_);
  std::lock_guard l(mu_);
  if (closed_) {
    q->close();
  } else {
    queues_.push_back(q);
  }
  return q;
}

void EventHub::unsubscribe(const EventQueuePtr& q) {
  std::lock_guard l(mu_);
  queues_.erase(std::remove(queues_.begin(), queues_.end(), q), queues_.end());
}

std::size_t EventHub::watchers() const {
  std::lock_guard l(mu_);
  return queues_.size();
}

std::uint64_t EventHub::statusVersion() const {
  std::lock_guard l(mu_);
  return statusVersion_;
}

std::uint64_t EventHub::waitStatus(std::uint64_t seen, MonoTime until) {
  std::unique_lock l(mu_);
  statusCv_.wait_until(l, until, [&] { return closed_ || statusVersion_ > seen; });
  return statusVersion_;
}

void EventHub::close() {
  {
    std::lock_guard l(mu_);
    closed_ = true;
    for (const auto& q : queues_) q->close();
    queues_.clear();
  }
  statusCv_.notify_all();
}

bool EventHub::closed() const {
  std::lock_guard l(mu_);
  return closed_;
}

}  // namespace schedkit::agent::grpcapi
