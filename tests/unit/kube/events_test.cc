#include "schedkit/kube/events.h"

#include <gtest/gtest.h>

#include <condition_variable>
#include <cstdio>

#include "fakes/kube_fixture.h"

namespace schedkit::kube {
namespace {

using namespace std::chrono_literals;

const std::string kEventsDefault = "/apis/events.k8s.io/v1/namespaces/default/events";

ObjectReference nodeRef() {
  return {.apiVersion = "v1", .kind = "Node", .name = "node-a", .uid = "uid-node-a"};
}

EventRecord fallback(std::string note = "runnable task stall") {
  return {.regarding = nodeRef(),
          .type = EventType::kWarning,
          .reason = "SchedulerFallback",
          .action = "Watch",
          .note = std::move(note)};
}

// The name the recorder gives an Event created at the clock's current wall time.
std::string eventName(const SimClock& clock, const std::string& object, unsigned seq) {
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock.wallNow().time_since_epoch())
                .count();
  char buf[48];
  std::snprintf(buf, sizeof buf, ".%llx%03x", static_cast<unsigned long long>(ns), seq);
  return object + buf;
}

class EventRecorderTest : public ::testing::Test {
 protected:
  static EventRecorderOptions options() {
    EventRecorderOptions o;
    o.reportingInstance = "schedkit-agent-node-a";
    return o;
  }
  KubeFakes f;
  ScriptedTransport& t = *f.transport;
  EventRecorder rec{*f.client, options()};

  void TearDown() override { t.expectDone(); }
};

TEST_F(EventRecorderTest, FirstOccurrenceCreatesAnEventsV1Event) {
  std::string name = eventName(f.clock, "node-a", 0);
  std::string now = formatRfc3339Micro(f.clock.wallNow());
  t.expect("POST", kEventsDefault)
      .withJsonBody(
          {{"apiVersion", "events.k8s.io/v1"},
           {"kind", "Event"},
           {"metadata", {{"name", name}, {"namespace", "default"}}},
           {"eventTime", now},
           {"reportingController", "schedkit.io/agent"},
           {"reportingInstance", "schedkit-agent-node-a"},
           {"action", "Watch"},
           {"reason", "SchedulerFallback"},
           {"note", "runnable task stall"},
           {"type", "Warning"},
           {"regarding",
            {{"apiVersion", "v1"}, {"kind", "Node"}, {"name", "node-a"}, {"uid", "uid-node-a"}}}})
      .replyJson(201, Json::object());
  rec.record(fallback());
  EXPECT_EQ(rec.pending(), 1u);
  rec.drain();
  EXPECT_EQ(rec.pending(), 0u);
  EXPECT_EQ(rec.stats().created, 1u);
}

TEST_F(EventRecorderTest, RepeatsWithinTheWindowPatchTheSeries) {
  std::string name = eventName(f.clock, "node-a", 0);
  t.expect("POST", kEventsDefault).replyJson(201, Json::object());
  rec.record(fallback());
  rec.drain();
  for (int i = 0; i < 49; ++i) {
    f.clock.advance(1s);
    rec.record(fallback());
  }
  t.expect("PATCH", kEventsDefault + "/" + name)
      .withHeader("Content-Type", "application/merge-patch+json")
      .withJsonBody(
          {{"series",
            {{"count", 50}, {"lastObservedTime", formatRfc3339Micro(f.clock.wallNow())}}}})
      .replyJson(200, Json::object());
  rec.drain();
  auto st = rec.stats();
  EXPECT_EQ(st.recorded, 50u);
  EXPECT_EQ(st.created, 1u);
  EXPECT_EQ(st.patched, 1u);
  EXPECT_EQ(st.coalesced, 48u);
}

TEST_F(EventRecorderTest, ABurstBeforeTheFirstWriteCreatesOneEventWithItsSeries) {
  auto first = formatRfc3339Micro(f.clock.wallNow());
  for (int i = 0; i < 50; ++i) rec.record(fallback());
  t.expect("POST", kEventsDefault)
      .then([&](const net::HttpRequest& req) {
        Json body = Json::parse(req.body);
        EXPECT_EQ(body["series"]["count"], 50);
        EXPECT_EQ(body["eventTime"], first);
      })
      .replyJson(201, Json::object());
  rec.drain();
  EXPECT_EQ(rec.stats().created, 1u);
  EXPECT_EQ(rec.stats().patched, 0u);
}

TEST_F(EventRecorderTest, ARepeatAfterTheWindowStartsANewEvent) {
  t.expect("POST", kEventsDefault).replyJson(201, Json::object());
  rec.record(fallback());
  rec.drain();
  f.clock.advance(11min);
  std::string second = eventName(f.clock, "node-a", 1);
  t.expect("POST", kEventsDefault)
      .then([&](const net::HttpRequest& req) {
        Json body = Json::parse(req.body);
        EXPECT_EQ(body["metadata"]["name"], second);
        EXPECT_FALSE(body.contains("series"));
      })
      .replyJson(201, Json::object());
  rec.record(fallback());
  rec.drain();
  EXPECT_EQ(rec.stats().created, 2u);
}

TEST_F(EventRecorderTest, ADifferentNoteReasonOrObjectIsADifferentSeries) {
  for (int i = 0; i < 4; ++i) t.expect("POST", kEventsDefault).replyJson(201, Json::object());
  rec.record(fallback("a"));
  rec.record(fallback("b"));
  EventRecord other_reason = fallback("a");
  other_reason.reason = "SchedulerAttached";
  rec.record(other_reason);
  EventRecord other_node = fallback("a");
  other_node.regarding.name = "node-b";
  rec.record(other_node);
  rec.drain();
  EXPECT_EQ(rec.stats().created, 4u);
}

TEST_F(EventRecorderTest, NamespacedObjectsGetTheirEventsInTheirNamespace) {
  EventRecord e = fallback();
  e.regarding = {.apiVersion = "v1", .kind = "Pod", .ns = "schedkit-system", .name = "agent-x"};
  e.related = nodeRef();
  e.type = EventType::kNormal;
  t.expect("POST", "/apis/events.k8s.io/v1/namespaces/schedkit-system/events")
      .then([](const net::HttpRequest& req) {
        Json body = Json::parse(req.body);
        EXPECT_EQ(body["metadata"]["namespace"], "schedkit-system");
        EXPECT_EQ(body["regarding"]["namespace"], "schedkit-system");
        EXPECT_EQ(body["related"]["name"], "node-a");
        EXPECT_EQ(body["type"], "Normal");
      })
      .replyJson(201, Json::object());
  rec.record(e);
  rec.drain();
}

TEST_F(EventRecorderTest, LongNotesAreCutToTheApiLimit) {
  std::string note(3000, 'x');
  note += "\xc3\xa9";
  t.expect("POST", kEventsDefault)
      .then([](const net::HttpRequest& req) {
        EXPECT_EQ(Json::parse(req.body)["note"].get<std::string>().size(), 1024u);
      })
      .replyJson(201, Json::object());
  rec.record(fallback(note));
  rec.drain();
}

TEST_F(EventRecorderTest, WritesAreRateLimitedAndExcessNewSeriesDropped) {
  EventRecorderOptions o = options();
  o.qps = 1;
  o.burst = 2;
  o.maxPending = 3;
  EventRecorder capped(*f.client, o);
  for (int i = 0; i < 5; ++i) capped.record(fallback("distinct " + std::to_string(i)));
  EXPECT_EQ(capped.stats().dropped, 2u);
  EXPECT_EQ(capped.pending(), 3u);
  for (int i = 0; i < 3; ++i) t.expect("POST", kEventsDefault).replyJson(201, Json::object());
  capped.drain();
  // Two from the burst, the third a second later.
  EXPECT_EQ(f.sleeper.sleeps(), (std::vector<Duration>{1s}));
  EXPECT_EQ(capped.stats().created, 3u);
}

TEST_F(EventRecorderTest, OccurrencesDuringTheRateLimitWaitJoinTheWrite) {
  EventRecorderOptions o = options();
  o.qps = 0.1;
  o.burst = 1;
  EventRecorder slow(*f.client, o);
  std::string name = eventName(f.clock, "node-a", 0);
  t.expect("POST", kEventsDefault).replyJson(201, Json::object());
  slow.record(fallback());
  slow.drain();
  slow.record(fallback());
  // While the writer waits 10 s for a token, the crash loop goes on.
  int during_wait = 0;
  f.clock.callAfter(5s, [&] {
    for (; during_wait < 7; ++during_wait) slow.record(fallback());
  });
  t.expect("PATCH", kEventsDefault + "/" + name)
      .then([](const net::HttpRequest& req) {
        EXPECT_EQ(Json::parse(req.body)["series"]["count"], 9);
      })
      .replyJson(200, Json::object());
  slow.drain();
  EXPECT_EQ(f.sleeper.sleeps(), (std::vector<Duration>{10s}));
  EXPECT_EQ(slow.stats().patched, 1u);
}

TEST_F(EventRecorderTest, AnExpiredEventIsCreatedAgain) {
  std::string name = eventName(f.clock, "node-a", 0);
  t.expect("POST", kEventsDefault).replyJson(201, Json::object());
  rec.record(fallback());
  rec.drain();
  f.clock.advance(20s);
  rec.record(fallback());
  t.expect("PATCH", kEventsDefault + "/" + name).replyStatus(404, "NotFound");
  t.expect("POST", kEventsDefault)
      .then([&](const net::HttpRequest& req) {
        Json body = Json::parse(req.body);
        EXPECT_EQ(body["metadata"]["name"], eventName(f.clock, "node-a", 1));
        EXPECT_FALSE(body.contains("series"));
      })
      .replyJson(201, Json::object());
  rec.drain();
  EXPECT_EQ(rec.stats().created, 2u);
  EXPECT_TRUE(f.sleeper.sleeps().empty());
}

TEST_F(EventRecorderTest, SeriesUpdatesAreSpacedByTheInterval) {
  std::string name = eventName(f.clock, "node-a", 0);
  t.expect("POST", kEventsDefault).replyJson(201, Json::object());
  rec.record(fallback());
  rec.drain();
  // A crash loop: once a second. Each series update waits for the interval (10 s) since the
  // previous write, and carries every occurrence since.
  f.clock.advance(1s);
  rec.record(fallback());
  t.expect("PATCH", kEventsDefault + "/" + name)
      .then([](const net::HttpRequest& req) {
        EXPECT_EQ(Json::parse(req.body)["series"]["count"], 2);
      })
      .replyJson(200, Json::object());
  rec.drain();
  EXPECT_EQ(f.sleeper.sleeps(), (std::vector<Duration>{9s}));
  for (int i = 0; i < 3; ++i) {
    f.clock.advance(1s);
    rec.record(fallback());
  }
  t.expect("PATCH", kEventsDefault + "/" + name)
      .then([](const net::HttpRequest& req) {
        EXPECT_EQ(Json::parse(req.body)["series"]["count"], 5);
      })
      .replyJson(200, Json::object());
  rec.drain();
  EXPECT_EQ(f.sleeper.sleeps(), (std::vector<Duration>{9s, 7s}));
  EXPECT_EQ(rec.stats().patched, 2u);
}

// A new Event is not held up behind a series update that is not due yet.
TEST_F(EventRecorderTest, NewEventsOvertakeWaitingSeriesUpdates) {
  t.expect("POST", kEventsDefault).replyJson(201, Json::object());
  rec.record(fallback("first"));
  rec.drain();
  rec.record(fallback("first"));  // a series update, due in 10 s
  f.clock.callAfter(2s, [&] { rec.record(fallback("second")); });
  std::vector<std::string> order;
  t.expect("POST", kEventsDefault)
      .then([&](const net::HttpRequest& req) { order.push_back(Json::parse(req.body)["note"]); })
      .replyJson(201, Json::object());
  t.expect("PATCH", kEventsDefault + "/" + eventName(f.clock, "node-a", 0))
      .then([&](const net::HttpRequest&) { order.push_back("patch"); })
      .replyJson(200, Json::object());
  rec.drain();
  EXPECT_EQ(order, (std::vector<std::string>{"second", "patch"}));
  // The wait for the update was cut short by the new Event at 2 s.
  EXPECT_EQ(f.sleeper.sleeps(), (std::vector<Duration>{2s, 8s}));
}

TEST_F(EventRecorderTest, RefusedCreateIsCountedAndForgotten) {
  t.expect("POST", kEventsDefault).replyStatus(422, "Invalid", "reportingInstance: Required value");
  rec.record(fallback());
  rec.drain();
  EXPECT_EQ(rec.stats().failed, 1u);
  t.expect("POST", kEventsDefault).replyJson(201, Json::object());
  rec.record(fallback());
  rec.drain();
  EXPECT_EQ(rec.stats().created, 1u);
}

TEST_F(EventRecorderTest, TheWriterThreadFlushesOnStop) {
  std::mutex mu;
  std::condition_variable cv;
  int posts = 0;
  t.expect("POST", kEventsDefault)
      .then([&](const net::HttpRequest&) {
        std::lock_guard lk(mu);
        ++posts;
        cv.notify_all();
      })
      .replyJson(201, Json::object());
  rec.start();
  rec.record(fallback());
  {
    std::unique_lock lk(mu);
    cv.wait(lk, [&] { return posts == 1; });
  }
  rec.stop();
  EXPECT_EQ(rec.stats().created, 1u);
}

TEST(ObjectReferenceTest, FromAnApiObject) {
  Json node = {{"apiVersion", "v1"},
               {"kind", "Node"},
               {"metadata", {{"name", "n"}, {"uid", "u"}, {"resourceVersion", "5"}}}};
  auto r = ObjectReference::of(node);
  EXPECT_EQ(r.toJson(), (Json{{"apiVersion", "v1"},
                              {"kind", "Node"},
                              {"name", "n"},
                              {"uid", "u"},
                              {"resourceVersion", "5"}}));
}

}  // namespace
}  // namespace schedkit::kube
