// The gRPC API's event fan-out: bounded per-watcher queues that drop the oldest (and say so),
// phase changes, and LoopNodeAccess posting to a real EventLoop.
#include "grpc/event_hub.h"

#include <gtest/gtest.h>

#include <thread>

#include "grpc/agent_service.h"
#include "node/node_engine.h"

namespace schedkit::agent::grpcapi {
namespace {

pb::NodeEvent ev(const std::string& reason) {
  pb::NodeEvent e;
  e.set_kind(pb::NodeEvent::KIND_EVENT);
  e.set_reason(reason);
  return e;
}

MonoTime now() { return RealClock().now(); }

TEST(EventQueueTest, DeliversInOrder) {
  EventQueue q(4);
  q.push(ev("a"));
  q.push(ev("b"));
  EXPECT_EQ(q.pop(now())->reason(), "a");
  EXPECT_EQ(q.pop(now())->reason(), "b");
  EXPECT_FALSE(q.pop(now()).has_value());  // empty: returns at the deadline
}

TEST(EventQueueTest, FullQueueDropsTheOldestAndTheNextMessageCarriesTheCount) {
  EventQueue q(3);
  for (const char* r : {"e1", "e2", "e3", "e4", "e5"}) q.push(ev(r));  // e1, e2 dropped
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.droppedTotal(), 2u);
  auto first = q.pop(now());
  EXPECT_EQ(first->reason(), "e3");
  EXPECT_EQ(first->dropped(), 2u);
  EXPECT_EQ(q.pop(now())->dropped(), 0u);
  EXPECT_EQ(q.pop(now())->dropped(), 0u);
  // Reported once: later drops count from zero again.
  for (const char* r : {"f1", "f2", "f3", "f4"}) q.push(ev(r));
  auto next = q.pop(now());
  EXPECT_EQ(next->reason(), "f2");
  EXPECT_EQ(next->dropped(), 1u);
  EXPECT_EQ(q.droppedTotal(), 3u);
}

TEST(EventQueueTest, CapacityOneKeepsTheNewestWithTheWholeCount) {
  EventQueue q(1);
  for (int i = 0; i < 10; ++i) q.push(ev("e" + std::to_string(i)));
  auto e = q.pop(now());
  EXPECT_EQ(e->reason(), "e9");
  EXPECT_EQ(e->dropped(), 9u);
}

TEST(EventQueueTest, CloseWakesAWaiter) {
  EventQueue q(2);
  std::thread t([&] { q.close(); });
  auto e = q.pop(now() + std::chrono::seconds(30));
  t.join();
  EXPECT_FALSE(e.has_value());
  EXPECT_TRUE(q.closed());
  q.push(ev("late"));  // ignored
  EXPECT_EQ(q.size(), 0u);
}

TEST(EventHubTest, FansOutEventsAndPhaseChanges) {
  SimClock clock;
  EventHub hub(clock, 8);
  auto a = hub.subscribe();
  auto b = hub.subscribe();
  EXPECT_EQ(hub.watchers(), 2u);
  policy::SchedulerNodeStateStatus st;
  hub.onStatus(st);  // the first status only sets the phase
  EXPECT_EQ(a->size(), 0u);
  hub.onEvent(NodeEventRecord{"Normal", "Attached", "scheduler fifo_test enabled", "fifo"});
  st.phase = policy::NodePhase::kRunning;
  st.policy = "fifo";
  hub.onStatus(st);
  hub.onStatus(st);  // same phase: nothing
  for (const auto& q : {a, b}) {
    auto e1 = q->pop(now());
    ASSERT_TRUE(e1);
    EXPECT_EQ(e1->kind(), pb::NodeEvent::KIND_EVENT);
    EXPECT_EQ(e1->reason(), "Attached");
    EXPECT_EQ(e1->policy(), "fifo");
    EXPECT_EQ(e1->time(), formatRfc3339(clock.wallNow()));
    auto e2 = q->pop(now());
    ASSERT_TRUE(e2);
    EXPECT_EQ(e2->kind(), pb::NodeEvent::KIND_PHASE_CHANGE);
    EXPECT_EQ(e2->phase(), pb::NODE_PHASE_RUNNING);
    EXPECT_EQ(e2->previous_phase(), pb::NODE_PHASE_IDLE);
    EXPECT_EQ(e2->message(), "Idle -> Running (policy fifo)");
    EXPECT_FALSE(q->pop(now()));
  }
  hub.unsubscribe(a);
  EXPECT_EQ(hub.watchers(), 1u);
  hub.onEvent(NodeEventRecord{"Normal", "Detached", "", ""});
  EXPECT_EQ(a->size(), 0u);
  EXPECT_EQ(b->size(), 1u);
}

TEST(EventHubTest, ASlowWatcherDoesNotHoldBackAFastOne) {
  SimClock clock;
  EventHub hub(clock, 2);
  auto slow = hub.subscribe();
  auto fast = hub.subscribe();
  for (int i = 0; i < 5; ++i) {
    hub.onEvent(NodeEventRecord{"Normal", "E" + std::to_string(i), "", ""});
    EXPECT_EQ(fast->pop(now())->reason(), "E" + std::to_string(i));
  }
  EXPECT_EQ(slow->droppedTotal(), 3u);
  EXPECT_EQ(slow->pop(now())->dropped(), 3u);
  EXPECT_EQ(fast->droppedTotal(), 0u);
}

TEST(EventHubTest, WaitStatusWakesOnPublishAndClose) {
  SimClock clock;
  EventHub hub(clock);
  std::uint64_t v = hub.statusVersion();
  std::thread t([&] { hub.onStatus({}); });
  EXPECT_GT(hub.waitStatus(v, now() + std::chrono::seconds(30)), v);
  t.join();
  v = hub.statusVersion();
  std::thread c([&] { hub.close(); });
  EXPECT_EQ(hub.waitStatus(v, now() + std::chrono::seconds(30)), v);
  c.join();
  EXPECT_TRUE(hub.subscribe()->closed());  // after close, new watchers end at once
}

TEST(LoopNodeAccessTest, RunsOnTheLoopThreadWithTheStatus) {
  RealClock clock;
  EventLoop loop(clock);
  policy::SchedulerNodeStateStatus st;
  st.policy = "fifo";
  LoopNodeAccess access(loop, clock,
                        [&]() -> const policy::SchedulerNodeStateStatus& { return st; });
  std::thread::id loopThread;
  std::thread t([&] {
    loopThread = std::this_thread::get_id();
    (void)loop.run();
  });
  std::string seen;
  std::thread::id ranOn;
  Status s = access.run(
      [&](const policy::SchedulerNodeStateStatus& x) {
        seen = x.policy;
        ranOn = std::this_thread::get_id();
      },
      std::chrono::seconds(30));
  loop.stop();
  t.join();
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_EQ(seen, "fifo");
  EXPECT_EQ(ranOn, loopThread);
}

TEST(LoopNodeAccessTest, ALoopThatDoesNotAnswerIsADeadlineAndTheCallNeverRunsLate) {
  RealClock clock;
  EventLoop loop(clock);
  policy::SchedulerNodeStateStatus st;
  LoopNodeAccess access(loop, clock,
                        [&]() -> const policy::SchedulerNodeStateStatus& { return st; });
  bool ran = false;
  Status s = access.run([&](const policy::SchedulerNodeStateStatus&) { ran = true; },
                        std::chrono::milliseconds(20));
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.toString();
  (void)loop.runOnce(Duration::zero());  // the loop comes back: the abandoned call is skipped
  EXPECT_FALSE(ran);
  access.close();
  EXPECT_EQ(
      access.run([](const policy::SchedulerNodeStateStatus&) {}, std::chrono::seconds(1)).code(),
      StatusCode::kUnavailable);
}

}  // namespace
}  // namespace schedkit::agent::grpcapi
