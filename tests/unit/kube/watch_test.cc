// The list+watch state machine, one test per transition (CONVENTIONS habit 8), against a
// ScriptedTransport on simulated time.

#include "schedkit/kube/watch.h"

#include <gtest/gtest.h>

#include "fakes/kube_fixture.h"

namespace schedkit::kube {
namespace {

using namespace std::chrono_literals;
using Q = std::map<std::string, std::string>;

Json node(const std::string& name, const std::string& rv) {
  return {{"apiVersion", "v1"},
          {"kind", "Node"},
          {"metadata", {{"name", name}, {"resourceVersion", rv}}}};
}

Json nodeList(const std::string& rv, std::vector<Json> items, const std::string& cont = "") {
  Json meta = {{"resourceVersion", rv}};
  if (!cont.empty()) meta["continue"] = cont;
  return {{"kind", "NodeList"}, {"apiVersion", "v1"}, {"metadata", meta}, {"items", items}};
}

Json bookmark(const std::string& rv) {
  return {{"kind", "Node"}, {"apiVersion", "v1"}, {"metadata", {{"resourceVersion", rv}}}};
}

Json gone() {
  return {{"kind", "Status"},    {"apiVersion", "v1"},
          {"status", "Failure"}, {"code", 410},
          {"reason", "Expired"}, {"message", "too old resource version: 100 (150)"}};
}

std::string line(const std::string& type, const Json& obj) {
  return ScriptedTransport::watchLine(type, obj);
}

Q listQuery() { return {{"limit", "500"}}; }
Q watchQuery(const std::string& rv) {
  return {{"watch", "1"},
          {"resourceVersion", rv},
          {"allowWatchBookmarks", "true"},
          {"timeoutSeconds", "300"}};  // FixedRandom(0): no stretch
}

class ReflectorTest : public ::testing::Test {
 protected:
  static ClientOptions noRetries() {
    ClientOptions o = KubeFakes::unlimited();
    o.maxRetries = 0;  // the reflector's own backoff is under test
    return o;
  }

  KubeFakes f{noRetries()};
  ScriptedTransport& t = *f.transport;
  std::vector<std::string> deltas;  // "Added a@1", ...
  std::vector<bool> from_list;
  Reflector r{*f.client, resources::kNodes, ReflectorOptions{},
              [this](std::vector<Delta> ds, bool list) {
                from_list.push_back(list);
                for (const auto& d : ds) {
                  deltas.push_back(std::string(deltaTypeName(d.type)) + " " + objectKey(*d.object) +
                                   "@" + resourceVersionOf(*d.object));
                }
              }};

  // Empty → Listing → Watching("100") with nodes a@1 and b@2.
  void listed() {
    t.expect("GET", "/api/v1/nodes")
        .withQuery(listQuery())
        .replyJson(200, nodeList("100", {node("a", "1"), node("b", "2")}));
    ASSERT_EQ(r.step(), Duration::zero());
    ASSERT_EQ(r.state(), WatchState::kWatching);
    deltas.clear();
    from_list.clear();
  }

  void TearDown() override { t.expectDone(); }
};

TEST_F(ReflectorTest, EmptyListsAndThenWatchesFromTheListVersion) {
  EXPECT_EQ(r.state(), WatchState::kEmpty);
  EXPECT_EQ(r.resourceVersion(), "");
  WatchState during = WatchState::kEmpty;
  t.expect("GET", "/api/v1/nodes")
      .withQuery(listQuery())
      .replyJson(200, nodeList("100", {node("a", "1"), node("b", "2")}))
      .then([&](const net::HttpRequest&) { during = r.state(); });
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(during, WatchState::kListing);
  EXPECT_EQ(r.state(), WatchState::kWatching);
  EXPECT_EQ(r.resourceVersion(), "100");
  EXPECT_EQ(deltas, (std::vector<std::string>{"Added a@1", "Added b@2"}));
  EXPECT_EQ(from_list, (std::vector<bool>{true}));
  EXPECT_EQ(r.size(), 2u);
}

TEST_F(ReflectorTest, ListingFollowsPagesOfOneSnapshot) {
  ReflectorOptions o;
  o.pageSize = 1;
  Reflector paged(*f.client, resources::kNodes, o, [&](std::vector<Delta> ds, bool) {
    for (const auto& d : ds) deltas.push_back(objectKey(*d.object));
  });
  t.expect("GET", "/api/v1/nodes")
      .withQuery({{"limit", "1"}})
      .replyJson(200, nodeList("100", {node("a", "1")}, "next"));
  t.expect("GET", "/api/v1/nodes")
      .withQuery({{"limit", "1"}, {"continue", "next"}})
      .replyJson(200, nodeList("100", {node("b", "2")}));
  EXPECT_EQ(paged.step(), Duration::zero());
  EXPECT_EQ(paged.resourceVersion(), "100");
  EXPECT_EQ(deltas, (std::vector<std::string>{"a", "b"}));
}

TEST_F(ReflectorTest, ListingFailureBacksOffThenListsAgain) {
  t.expect("GET", "/api/v1/nodes").replyStatus(503, "ServiceUnavailable");
  EXPECT_EQ(r.step(), 1s);
  EXPECT_EQ(r.state(), WatchState::kBackoff);
  t.expect("GET", "/api/v1/nodes").fail(unavailable("connection refused"));
  EXPECT_EQ(r.step(), 2s);  // exponential
  WatchState during = WatchState::kEmpty;
  t.expect("GET", "/api/v1/nodes")
      .replyJson(200, nodeList("100", {node("a", "1")}))
      .then([&](const net::HttpRequest&) { during = r.state(); });
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(during, WatchState::kListing);
  EXPECT_EQ(r.state(), WatchState::kWatching);
  EXPECT_EQ(deltas, (std::vector<std::string>{"Added a@1"}));
}

TEST_F(ReflectorTest, WatchingAppliesEventsAndMovesTheVersion) {
  listed();
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("100"))
      .chunks({line("ADDED", node("c", "101")), line("MODIFIED", node("a", "102")),
               line("DELETED", node("b", "103"))});
  EXPECT_EQ(r.step(), Duration::zero());  // ended by the server after progress: go on at once
  EXPECT_EQ(r.state(), WatchState::kWatching);
  EXPECT_EQ(r.resourceVersion(), "103");
  EXPECT_EQ(deltas, (std::vector<std::string>{"Added c@101", "Updated a@102", "Deleted b@103"}));
  EXPECT_EQ(from_list, (std::vector<bool>{false, false, false}));
  EXPECT_EQ(r.size(), 2u);
  EXPECT_EQ(resourceVersionOf(*r.get("a")), "102");
  EXPECT_EQ(r.get("b"), nullptr);
}

TEST_F(ReflectorTest, BookmarkMovesTheVersionWithoutDeltas) {
  listed();
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("100"))
      .chunks({line("BOOKMARK", bookmark("150"))});
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(r.resourceVersion(), "150");
  EXPECT_TRUE(deltas.empty());
  EXPECT_EQ(r.stats().bookmarks, 1u);
  // The next watch starts from the bookmark.
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("150"))
      .chunks({line("BOOKMARK", bookmark("160"))});
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(r.resourceVersion(), "160");
}

TEST_F(ReflectorTest, WatchEndedByTheServerTimeoutRewatchesAtOnce) {
  listed();
  // A quiet collection: nothing happens for the whole timeoutSeconds, then the server ends it.
  t.expect("GET", "/api/v1/nodes").withQuery(watchQuery("100")).then([&](const net::HttpRequest&) {
    f.clock.advance(300s);
  });
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(r.state(), WatchState::kWatching);
  EXPECT_EQ(r.resourceVersion(), "100");
}

TEST_F(ReflectorTest, WatchEndingAtOnceWithNothingBacksOff) {
  listed();
  t.expect("GET", "/api/v1/nodes").withQuery(watchQuery("100"));
  EXPECT_EQ(r.step(), 1s);
  EXPECT_EQ(r.state(), WatchState::kBackoff);
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("100"))
      .chunks({line("BOOKMARK", bookmark("101"))});
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(r.state(), WatchState::kWatching);
}

TEST_F(ReflectorTest, DisconnectResumesFromTheLastVersionAfterBackoff) {
  listed();
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("100"))
      .chunks({line("MODIFIED", node("a", "101"))})
      .dropAfterChunks(unavailable("connection reset by peer"));
  EXPECT_EQ(r.step(), 1s);
  EXPECT_EQ(r.state(), WatchState::kBackoff);
  EXPECT_EQ(r.resourceVersion(), "101");
  // Still down: the wait doubles. Up again: the watch resumes from 101, no re-list.
  t.expect("GET", "/api/v1/nodes").withQuery(watchQuery("101")).fail(unavailable("refused"));
  EXPECT_EQ(r.step(), 2s);
  WatchState during = WatchState::kEmpty;
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("101"))
      .chunks({line("MODIFIED", node("b", "102"))})
      .then([&](const net::HttpRequest&) { during = r.state(); });
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(during, WatchState::kWatching);
  EXPECT_EQ(deltas, (std::vector<std::string>{"Updated a@101", "Updated b@102"}));
  EXPECT_EQ(r.stats().resumes, 2u);
  EXPECT_EQ(r.stats().lists, 1u);
}

TEST_F(ReflectorTest, BackoffHasJitter) {
  f.random.set(std::uint64_t{1} << 63);  // unit() == 0.5; jitter 0.5 → × 0.75
  listed();
  t.expect("GET", "/api/v1/nodes")
      .withQuery({{"watch", "1"},
                  {"resourceVersion", "100"},
                  {"allowWatchBookmarks", "true"},
                  {"timeoutSeconds", "450"}})  // stretched by the same draw
      .fail(unavailable("refused"));
  EXPECT_EQ(r.step(), 750ms);
}

TEST_F(ReflectorTest, OverloadedOrFailingWatchRequestBacksOff) {
  listed();
  t.expect("GET", "/api/v1/nodes").withQuery(watchQuery("100")).replyStatus(429, "TooManyRequests");
  EXPECT_EQ(r.step(), 1s);
  EXPECT_EQ(r.state(), WatchState::kBackoff);
  t.expect("GET", "/api/v1/nodes").withQuery(watchQuery("100")).replyStatus(500, "InternalError");
  EXPECT_EQ(r.step(), 2s);
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("100"))
      .chunks({line("ERROR", {{"kind", "Status"}, {"code", 500}, {"reason", "InternalError"}})});
  EXPECT_EQ(r.step(), 4s);
  EXPECT_EQ(r.state(), WatchState::kBackoff);
  EXPECT_EQ(r.resourceVersion(), "100");  // resumes, no re-list
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("100"))
      .chunks({line("BOOKMARK", bookmark("120"))});
  EXPECT_EQ(r.step(), Duration::zero());
}

TEST_F(ReflectorTest, GoneErrorEventRelistsAndReportsOnlyTheDifference) {
  listed();  // a@1, b@2
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("100"))
      .chunks({line("ADDED", node("e", "110")), line("ERROR", gone())});
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(r.state(), WatchState::kEmpty);
  EXPECT_EQ(r.resourceVersion(), "");
  deltas.clear();
  from_list.clear();
  // Meanwhile: a unchanged, b modified, c created, e deleted.
  t.expect("GET", "/api/v1/nodes")
      .withQuery(listQuery())
      .replyJson(200, nodeList("200", {node("a", "1"), node("b", "150"), node("c", "160")}));
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(r.state(), WatchState::kWatching);
  EXPECT_EQ(r.resourceVersion(), "200");
  EXPECT_EQ(deltas, (std::vector<std::string>{"Updated b@150", "Added c@160", "Deleted e@110"}));
  EXPECT_EQ(from_list, (std::vector<bool>{true}));
  EXPECT_EQ(r.stats().relists, 1u);
}

TEST_F(ReflectorTest, GoneStatusOnTheWatchRequestRelists) {
  listed();
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("100"))
      .replyStatus(410, "Gone", "too old resource version");
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(r.state(), WatchState::kEmpty);
  t.expect("GET", "/api/v1/nodes")
      .replyJson(200, nodeList("300", {node("a", "1"), node("b", "2")}));
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_TRUE(deltas.empty());  // nothing changed: no second "added"
  EXPECT_EQ(r.resourceVersion(), "300");
}

TEST_F(ReflectorTest, RepeatedGoneWithoutProgressBacksOffBeforeListing) {
  listed();
  t.expect("GET", "/api/v1/nodes").withQuery(watchQuery("100")).chunks({line("ERROR", gone())});
  EXPECT_EQ(r.step(), Duration::zero());
  t.expect("GET", "/api/v1/nodes")
      .replyJson(200, nodeList("101", {node("a", "1"), node("b", "2")}));
  EXPECT_EQ(r.step(), Duration::zero());
  t.expect("GET", "/api/v1/nodes").withQuery(watchQuery("101")).chunks({line("ERROR", gone())});
  EXPECT_EQ(r.step(), 1s);
  EXPECT_EQ(r.state(), WatchState::kBackoff);
  WatchState during = WatchState::kEmpty;
  t.expect("GET", "/api/v1/nodes")
      .replyJson(200, nodeList("102", {node("a", "1"), node("b", "2")}))
      .then([&](const net::HttpRequest&) { during = r.state(); });
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(during, WatchState::kListing);
}

TEST_F(ReflectorTest, ReplayedEventsAreNotDeliveredTwice) {
  listed();
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("100"))
      .chunks({line("ADDED", node("a", "1")), line("MODIFIED", node("b", "2")),
               line("DELETED", node("zz", "105")), line("MODIFIED", node("b", "106"))});
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(deltas, (std::vector<std::string>{"Updated b@106"}));
  EXPECT_EQ(r.stats().duplicates, 3u);
  EXPECT_EQ(r.resourceVersion(), "106");
}

TEST_F(ReflectorTest, StopAbortsTheWatchAndEndsStopped) {
  listed();
  t.expect("GET", "/api/v1/nodes")
      .withQuery(watchQuery("100"))
      .chunks({line("MODIFIED", node("a", "101")), line("MODIFIED", node("a", "102"))})
      .then([&](const net::HttpRequest&) { r.stop(); });
  EXPECT_EQ(r.step(), Duration::zero());
  EXPECT_EQ(r.state(), WatchState::kStopped);
  EXPECT_TRUE(deltas.empty());
  EXPECT_EQ(r.step(), Duration::zero());  // no request: nothing scripted, none sent
  EXPECT_EQ(r.state(), WatchState::kStopped);
}

TEST_F(ReflectorTest, SelectorsAndNamespaceReachListAndWatch) {
  ReflectorOptions o;
  o.ns = "ns1";
  o.labelSelector = "app=x";
  o.fieldSelector = "metadata.name=c";
  Reflector nsr(*f.client, resources::kConfigMaps, o, [](std::vector<Delta>, bool) {});
  t.expect("GET", "/api/v1/namespaces/ns1/configmaps")
      .withQuery(
          {{"limit", "500"}, {"labelSelector", "app=x"}, {"fieldSelector", "metadata.name=c"}})
      .replyJson(200, {{"metadata", {{"resourceVersion", "7"}}}, {"items", Json::array()}});
  EXPECT_EQ(nsr.step(), Duration::zero());
  t.expect("GET", "/api/v1/namespaces/ns1/configmaps")
      .withQuery({{"watch", "1"},
                  {"resourceVersion", "7"},
                  {"allowWatchBookmarks", "true"},
                  {"timeoutSeconds", "300"},
                  {"labelSelector", "app=x"},
                  {"fieldSelector", "metadata.name=c"}})
      .chunks({line("BOOKMARK", bookmark("8"))});
  EXPECT_EQ(nsr.step(), Duration::zero());
  EXPECT_EQ(nsr.resourceVersion(), "8");
}

}  // namespace
}  // namespace schedkit::kube
