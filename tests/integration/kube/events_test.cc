// EventRecorder against the real kube-apiserver: the events.k8s.io/v1 objects it writes, and
// de-duplication of a burst and of a crash loop into one Event with a series.

#include "schedkit/kube/events.h"

#include <gtest/gtest.h>

#include <thread>

#include "kube_helpers.h"

namespace schedkit::kube {
namespace {

using testenv::RealKube;
using testenv::report;
using testenv::uniqueName;
using namespace std::chrono_literals;

std::vector<Json> eventsAbout(Client& c, const std::string& name) {
  auto all = c.listAll(resources::kEvents, "default");
  EXPECT_TRUE(all.isOk()) << all.status().toString();
  std::vector<Json> out;
  if (!all.isOk()) return out;
  for (auto& e : all->items) {
    if (e.contains("regarding") && e["regarding"].value("name", "") == name) out.push_back(e);
  }
  return out;
}

EventRecord stall(const std::string& node) {
  return {.regarding = {.apiVersion = "v1", .kind = "Node", .name = node},
          .type = EventType::kWarning,
          .reason = "SchedulerFallback",
          .action = "Watch",
          .note =
              "scx_lavd was ejected: runnable task stall (kworker/0:1[11] failed to run for "
              "44.456s)"};
}

EventRecorderOptions options() {
  EventRecorderOptions o;
  o.reportingInstance = "schedkit-agent-it";
  return o;
}

class KubeEventsIT : public ::testing::Test {
 protected:
  RealKube real;
  std::unique_ptr<Client> c = real.admin();
};

TEST_F(KubeEventsIT, ABurstOfFiftyIsOneEventWithSeriesCountFifty) {
  const std::string node = uniqueName("burst-node");
  EventRecorder rec(*c, options());
  rec.start();
  for (int i = 0; i < 50; ++i) rec.record(stall(node));
  rec.stop();
  auto evs = eventsAbout(*c, node);
  ASSERT_EQ(evs.size(), 1u);
  const Json& e = evs[0];
  EXPECT_EQ(e["series"]["count"], 50);
  EXPECT_EQ(e["reason"], "SchedulerFallback");
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["action"], "Watch");
  EXPECT_EQ(e["reportingController"], "schedkit.io/agent");
  EXPECT_EQ(e["reportingInstance"], "schedkit-agent-it");
  EXPECT_EQ(e["regarding"]["kind"], "Node");
  EXPECT_FALSE(e["eventTime"].get<std::string>().empty());
  auto st = rec.stats();
  EXPECT_EQ(st.created, 1u);
  report("API writes for a burst of 50 identical events", st.created + st.patched, "writes");
}

// A crash loop: the same failure every 100 ms for 3 s, with the recorder's default rate limit.
TEST_F(KubeEventsIT, ACrashLoopIsOneEventWhoseSeriesKeepsCount) {
  const std::string node = uniqueName("loop-node");
  EventRecorder rec(*c, options());
  rec.start();
  for (int i = 0; i < 30; ++i) {
    rec.record(stall(node));
    std::this_thread::sleep_for(100ms);
  }
  rec.stop();
  auto evs = eventsAbout(*c, node);
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0]["series"]["count"], 30);
  auto st = rec.stats();
  EXPECT_EQ(st.created, 1u);
  EXPECT_EQ(st.failed, 0u);
  report("API writes for 30 occurrences over 3 s", st.created + st.patched, "writes");
}

TEST_F(KubeEventsIT, DifferentReasonsAndObjectsAreDifferentEvents) {
  const std::string node = uniqueName("multi-node");
  EventRecorder rec(*c, options());
  EventRecord attached = stall(node);
  attached.type = EventType::kNormal;
  attached.reason = "SchedulerAttached";
  attached.action = "Attach";
  attached.note = "scx_lavd attached";
  rec.record(stall(node));
  rec.record(attached);
  rec.record(stall(node));
  rec.drain();
  auto evs = eventsAbout(*c, node);
  ASSERT_EQ(evs.size(), 2u);
  std::map<std::string, int> counts;
  for (const auto& e : evs)
    counts[e["reason"]] = e.contains("series") ? e["series"]["count"].get<int>() : 1;
  EXPECT_EQ(counts["SchedulerFallback"], 2);
  EXPECT_EQ(counts["SchedulerAttached"], 1);
}

// Events about a namespaced object live in its namespace.
TEST_F(KubeEventsIT, NamespacedObjectsGetEventsInTheirNamespace) {
  auto ns = c->create(resources::kNamespaces, "", {{"metadata", {{"name", "schedkit-it"}}}});
  ASSERT_TRUE(ns.isOk() || isAlreadyExists(ns.status()));
  const std::string name = uniqueName("cm");
  auto obj = c->create(resources::kConfigMaps, "schedkit-it", {{"metadata", {{"name", name}}}});
  ASSERT_TRUE(obj.isOk());
  EventRecorder rec(*c, options());
  EventRecord e{.regarding = ObjectReference::of(*obj),
                .type = EventType::kNormal,
                .reason = "Tested",
                .action = "Test",
                .note = "hello"};
  rec.record(e);
  rec.drain();
  EXPECT_EQ(rec.stats().created, 1u) << "failed: " << rec.stats().failed;
  auto list = c->list(resources::kEvents, "schedkit-it");
  ASSERT_TRUE(list.isOk());
  bool found = false;
  for (const auto& ev : list->items) {
    if (ev["regarding"].value("name", "") == name) {
      found = true;
      EXPECT_EQ(ev["regarding"]["uid"], (*obj)["metadata"]["uid"]);
    }
  }
  EXPECT_TRUE(found);
}

}  // namespace
}  // namespace schedkit::kube
