#include "schedkit/kube/informer.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>

#include "fakes/kube_fixture.h"

namespace schedkit::kube {
namespace {

using namespace std::chrono_literals;

Json policy(const std::string& name, const std::string& rv) {
  return {{"apiVersion", "schedkit.io/v1alpha1"},
          {"kind", "SchedulerPolicy"},
          {"metadata", {{"name", name}, {"resourceVersion", rv}}}};
}

Json list(const std::string& rv, std::vector<Json> items) {
  return {{"metadata", {{"resourceVersion", rv}}}, {"items", items}};
}

const std::string kPath = "/apis/schedkit.io/v1alpha1/schedulerpolicies";

// Holds dispatched closures until the test runs them, like an event loop that has not turned.
struct QueuedDispatch {
  std::deque<std::function<void()>> q;
  Informer::Dispatch fn() {
    return [this](std::function<void()> f) { q.push_back(std::move(f)); };
  }
  void runAll() {
    while (!q.empty()) {
      auto f = std::move(q.front());
      q.pop_front();
      f();
    }
  }
};

TEST(InformerTest, HandlersSeeChangesOnTheDispatchThreadWithTheCacheUpdatedFirst) {
  KubeFakes f;
  QueuedDispatch loop;
  Informer inf(*f.client, resources::kSchedulerPolicies, {}, loop.fn());
  std::vector<std::string> seen;
  inf.addHandlers({
      .onAdd =
          [&](const Json& o) {
            EXPECT_NE(inf.get(objectKey(o)), nullptr);  // already in the cache
            seen.push_back("add " + objectKey(o));
          },
      .onUpdate =
          [&](const Json& old, const Json& cur) {
            EXPECT_EQ(resourceVersionOf(*inf.get(objectKey(cur))), resourceVersionOf(cur));
            seen.push_back("update " + objectKey(cur) + " " + resourceVersionOf(old) + "->" +
                           resourceVersionOf(cur));
          },
      .onDelete =
          [&](const Json& o) {
            EXPECT_EQ(inf.get(objectKey(o)), nullptr);
            seen.push_back("delete " + objectKey(o));
          },
      .onSynced =
          [&](bool first) {
            EXPECT_TRUE(inf.hasSynced());
            seen.push_back(first ? "synced" : "resynced");
          },
  });
  f.transport->expect("GET", kPath)
      .replyJson(200, list("10", {policy("p1", "1"), policy("p2", "2")}));
  EXPECT_EQ(inf.step(), Duration::zero());
  // Listed, but not yet delivered: not synced, cache (as handlers see it) still empty.
  EXPECT_FALSE(inf.hasSynced());
  EXPECT_EQ(inf.size(), 0u);
  EXPECT_TRUE(seen.empty());
  loop.runAll();
  EXPECT_TRUE(inf.hasSynced());
  EXPECT_EQ(seen, (std::vector<std::string>{"add p1", "add p2", "synced"}));

  f.transport->expect("GET", kPath)
      .chunks({ScriptedTransport::watchLine("MODIFIED", policy("p1", "11")),
               ScriptedTransport::watchLine("DELETED", policy("p2", "12"))});
  EXPECT_EQ(inf.step(), Duration::zero());
  loop.runAll();
  EXPECT_EQ(seen, (std::vector<std::string>{"add p1", "add p2", "synced", "update p1 1->11", "delete p2"}));
  EXPECT_EQ(inf.size(), 1u);
  EXPECT_EQ(inf.list().size(), 1u);
  EXPECT_EQ(inf.state(), WatchState::kWatching);
  EXPECT_EQ(inf.resourceVersion(), "12");
  f.transport->expectDone();
}

TEST(InformerTest, DeliversThroughTheEventLoop) {
  KubeFakes f;
  RealClock clock;
  EventLoop loop(clock);
  Informer inf(*f.client, resources::kSchedulerPolicies, {}, Informer::dispatchTo(loop));
  int adds = 0;
  inf.addHandlers({.onAdd = [&](const Json&) { ++adds; }, .onUpdate = {}, .onDelete = {}, .onSynced = {}});
  f.transport->expect("GET", kPath).replyJson(200, list("10", {policy("p1", "1")}));
  inf.step();
  EXPECT_EQ(adds, 0);
  ASSERT_TRUE(loop.runOnce(Duration::zero()).isOk());  // posted work runs without waiting
  EXPECT_EQ(adds, 1);
  EXPECT_TRUE(inf.hasSynced());
  f.transport->expectDone();
}

// start() runs the reflector on its own thread; stop() aborts the open watch and joins.
TEST(InformerTest, RunsOnItsOwnThreadUntilStopped) {
  KubeFakes f;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::string> got;
  bool watching = false;
  Informer inf(*f.client, resources::kSchedulerPolicies, {}, Informer::dispatchInline());
  inf.addHandlers({.onAdd =
                       [&](const Json& o) {
                         std::lock_guard lk(mu);
                         got.push_back(objectKey(o));
                         cv.notify_all();
                       },
                   .onUpdate = {},
                   .onDelete = {},
                   .onSynced = {}});
  f.transport->expect("GET", kPath).replyJson(200, list("10", {policy("p1", "1")}));
  f.transport->expect("GET", kPath)
      .chunks({ScriptedTransport::watchLine("ADDED", policy("p2", "11"))})
      .then([&](const net::HttpRequest& req) {
        // Hold the watch open until stop(), as an idle real watch would.
        std::unique_lock lk(mu);
        watching = true;
        cv.notify_all();
        auto done = std::make_shared<bool>(false);
        req.cancel->onCancel([&, done] {
          std::lock_guard l2(mu);
          *done = true;
          cv.notify_all();
        });
        cv.wait(lk, [&] { return *done; });
      });
  inf.start();
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return watching; });
  }
  EXPECT_TRUE(inf.hasSynced());
  inf.stop();
  EXPECT_EQ(inf.state(), WatchState::kStopped);
  EXPECT_EQ(got, (std::vector<std::string>{"p1"}));  // p2 came after the stop: dropped
  f.transport->expectDone();
}

TEST(InformerTest, StopWhileBackingOffReturnsAtOnce) {
  KubeFakes f;
  Informer inf(*f.client, resources::kSchedulerPolicies, {}, Informer::dispatchInline());
  f.transport->expect("GET", kPath).replyStatus(403, "Forbidden");
  EXPECT_EQ(inf.step(), 1s);
  EXPECT_EQ(inf.state(), WatchState::kBackoff);
  inf.stop();
  EXPECT_EQ(inf.state(), WatchState::kStopped);
  EXPECT_FALSE(inf.hasSynced());
  f.transport->expectDone();
}

}  // namespace
}  // namespace schedkit::kube
