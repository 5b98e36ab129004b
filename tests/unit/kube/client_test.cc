#include "schedkit/kube/client.h"

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

Json configMap(const std::string& ns, const std::string& name, const std::string& rv) {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"namespace", ns}, {"name", name}, {"resourceVersion", rv}}},
          {"data", {{"k", "v"}}}};
}

class ClientTest : public ::testing::Test {
 protected:
  KubeFakes f;
  ScriptedTransport& t = *f.transport;
  Client& c = *f.client;

  void TearDown() override { t.expectDone(); }
};

TEST_F(ClientTest, GetSendsBearerTokenAndBuildsCorePath) {
  t.expect("GET", "/api/v1/nodes/n1")
      .withHeader("Authorization", "Bearer secret-token")
      .withHeader("Accept", "application/json")
      .withHeader("User-Agent", "schedkit-test")
      .replyJson(200, node("n1", "7"));
  auto n = c.get(resources::kNodes, "", "n1");
  ASSERT_TRUE(n.isOk()) << n.status().toString();
  EXPECT_EQ(resourceVersionOf(*n), "7");
  EXPECT_EQ(t.requests()[0].url, "https://apiserver.test:6443/api/v1/nodes/n1");
}

TEST_F(ClientTest, PathsForGroupsNamespacesAndSubresources) {
  EXPECT_EQ(resources::kSchedulerPolicies.path("", "p", "status"),
            "/apis/schedkit.io/v1alpha1/schedulerpolicies/p/status");
  EXPECT_EQ(resources::kEvents.path("ns1", "e"), "/apis/events.k8s.io/v1/namespaces/ns1/events/e");
  EXPECT_EQ(resources::kEvents.path(""), "/apis/events.k8s.io/v1/events");
  EXPECT_EQ(resources::kNodes.path("ignored", "n"), "/api/v1/nodes/n");
  EXPECT_EQ(resources::kSchedulerNodeStates.apiVersion(), "schedkit.io/v1alpha1");
  EXPECT_EQ(resources::kConfigMaps.apiVersion(), "v1");
}

TEST_F(ClientTest, ListPassesSelectorsAndFillsItemKinds) {
  t.expect("GET", "/api/v1/namespaces/ns1/configmaps")
      .withQuery({{"labelSelector", "app=a,tier!=x"},
                  {"fieldSelector", "metadata.name=c1"},
                  {"limit", "2"}})
      .replyJson(200,
                 {{"kind", "ConfigMapList"},
                  {"metadata",
                   {{"resourceVersion", "42"}, {"continue", "tok"}, {"remainingItemCount", 3}}},
                  {"items", {{{"metadata", {{"name", "c1"}, {"namespace", "ns1"}}}}}}});
  auto l =
      c.list(resources::kConfigMaps, "ns1",
             {.labelSelector = "app=a,tier!=x", .fieldSelector = "metadata.name=c1", .limit = 2});
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  EXPECT_EQ(l->resourceVersion, "42");
  EXPECT_EQ(l->continueToken, "tok");
  EXPECT_EQ(l->remainingItemCount, 3);
  ASSERT_EQ(l->items.size(), 1u);
  EXPECT_EQ(l->items[0]["kind"], "ConfigMap");
  EXPECT_EQ(l->items[0]["apiVersion"], "v1");
  EXPECT_EQ(objectKey(l->items[0]), "ns1/c1");
}

TEST_F(ClientTest, ListAllFollowsContinueTokensAndKeepsTheFirstVersion) {
  t.expect("GET", "/api/v1/nodes")
      .withQuery({{"limit", "2"}})
      .replyJson(200, {{"metadata", {{"resourceVersion", "100"}, {"continue", "p2"}}},
                       {"items", {node("a", "1"), node("b", "2")}}});
  t.expect("GET", "/api/v1/nodes")
      .withQuery({{"limit", "2"}, {"continue", "p2"}})
      .replyJson(200, {{"metadata", {{"resourceVersion", "100"}}}, {"items", {node("c", "3")}}});
  auto l = c.listAll(resources::kNodes, "", {}, 2);
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  EXPECT_EQ(l->resourceVersion, "100");
  ASSERT_EQ(l->items.size(), 3u);
  EXPECT_EQ(objectKey(l->items[2]), "c");
}

TEST_F(ClientTest, ListAllStartsOverWhenTheContinueTokenExpired) {
  t.expect("GET", "/api/v1/nodes")
      .withQuery({{"limit", "1"}})
      .replyJson(200, {{"metadata", {{"resourceVersion", "100"}, {"continue", "old"}}},
                       {"items", {node("a", "1")}}});
  t.expect("GET", "/api/v1/nodes")
      .withQuery({{"limit", "1"}, {"continue", "old"}})
      .replyStatus(410, "Expired", "The provided continue parameter is too old");
  t.expect("GET", "/api/v1/nodes")
      .withQuery({{"limit", "1"}})
      .replyJson(200, {{"metadata", {{"resourceVersion", "200"}}}, {"items", {node("a", "5")}}});
  auto l = c.listAll(resources::kNodes, "", {}, 1);
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  EXPECT_EQ(l->resourceVersion, "200");
  ASSERT_EQ(l->items.size(), 1u);
  EXPECT_EQ(resourceVersionOf(l->items[0]), "5");
}

TEST_F(ClientTest, CreatePostsTheObjectWithFieldManager) {
  Json cm = configMap("ns1", "c1", "");
  t.expect("POST", "/api/v1/namespaces/ns1/configmaps")
      .withQuery({{"fieldManager", "schedkit-agent"}})
      .withJsonBody(cm)
      .withHeader("Content-Type", "application/json")
      .replyJson(201, configMap("ns1", "c1", "5"));
  auto r = c.create(resources::kConfigMaps, "ns1", cm, {.fieldManager = "schedkit-agent"});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(resourceVersionOf(*r), "5");
}

TEST_F(ClientTest, UpdatePutsToTheObjectAndItsStatus) {
  Json cm = configMap("ns1", "c1", "5");
  t.expect("PUT", "/api/v1/namespaces/ns1/configmaps/c1").withJsonBody(cm).replyJson(200, cm);
  t.expect("PUT", "/apis/schedkit.io/v1alpha1/schedulernodestates/n1/status")
      .withQuery({{"fieldManager", "agent"}})
      .replyJson(200, Json{{"metadata", {{"name", "n1"}}}});
  EXPECT_TRUE(c.update(resources::kConfigMaps, cm).isOk());
  EXPECT_TRUE(c.updateStatus(resources::kSchedulerNodeStates,
                             Json{{"metadata", {{"name", "n1"}}}, {"status", Json::object()}},
                             {.fieldManager = "agent"})
                  .isOk());
  EXPECT_EQ(c.update(resources::kConfigMaps, Json::object()).status().code(),
            StatusCode::kInvalidArgument);
}

TEST_F(ClientTest, DeleteSendsPreconditionsAndPropagation) {
  t.expect("DELETE", "/api/v1/namespaces/ns1/configmaps/c1")
      .withJsonBody({{"kind", "DeleteOptions"},
                     {"apiVersion", "v1"},
                     {"preconditions", {{"uid", "u-1"}, {"resourceVersion", "9"}}},
                     {"propagationPolicy", "Background"}})
      .replyJson(200, {{"kind", "Status"}, {"status", "Success"}});
  EXPECT_TRUE(c.remove(resources::kConfigMaps, "ns1", "c1",
                       {.preconditionUid = "u-1",
                        .preconditionResourceVersion = "9",
                        .propagationPolicy = "Background"})
                  .isOk());
}

TEST_F(ClientTest, PatchTypesSetTheirContentTypes) {
  t.expect("PATCH", "/api/v1/nodes/n1")
      .withHeader("Content-Type", "application/merge-patch+json")
      .withJsonBody({{"metadata", {{"labels", {{"a", "b"}}}}}})
      .replyJson(200, node("n1", "2"));
  t.expect("PATCH", "/api/v1/nodes/n1")
      .withHeader("Content-Type", "application/json-patch+json")
      .replyJson(200, node("n1", "3"));
  t.expect("PATCH", "/api/v1/nodes/n1/status")
      .withHeader("Content-Type", "application/strategic-merge-patch+json")
      .replyJson(200, node("n1", "4"));
  EXPECT_TRUE(c.patch(resources::kNodes, "", "n1", PatchType::kMerge,
                      {{"metadata", {{"labels", {{"a", "b"}}}}}})
                  .isOk());
  EXPECT_TRUE(
      c.patch(resources::kNodes, "", "n1", PatchType::kJson,
              Json::array({{{"op", "add"}, {"path", "/metadata/labels/x"}, {"value", "y"}}}))
          .isOk());
  EXPECT_TRUE(c.patch(resources::kNodes, "", "n1", PatchType::kStrategicMerge,
                      {{"status", Json::object()}}, {}, "status")
                  .isOk());
}

TEST_F(ClientTest, ServerSideApplyFillsTypeAndSendsFieldManagerAndForce) {
  Json partial = {{"metadata", {{"name", "n1"}}}, {"status", {{"phase", "Running"}}}};
  Json want = partial;
  want["apiVersion"] = "schedkit.io/v1alpha1";
  want["kind"] = "SchedulerNodeState";
  t.expect("PATCH", "/apis/schedkit.io/v1alpha1/schedulernodestates/n1/status")
      .withHeader("Content-Type", "application/apply-patch+yaml")
      .withQuery({{"fieldManager", "schedkit-agent"}, {"force", "true"}})
      .withJsonBody(want)
      .replyJson(200, want);
  auto r = c.applyStatus(resources::kSchedulerNodeStates, partial,
                         {.fieldManager = "schedkit-agent", .force = true});
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(c.apply(resources::kNodes, partial, {}).status().code(), StatusCode::kInvalidArgument);
}

struct ErrorCase {
  int http;
  std::string reason;
  StatusCode code;
};
class ClientErrorTest : public ::testing::TestWithParam<ErrorCase> {};
TEST_P(ClientErrorTest, DecodesMetaV1Status) {
  ClientOptions o = KubeFakes::unlimited();
  o.maxRetries = 0;  // so 429 and 5xx surface at once
  KubeFakes f(o);
  Client& c = *f.client;
  f.transport->expect("GET", "/api/v1/nodes/n1")
      .replyStatus(GetParam().http, GetParam().reason, "server says why");
  auto r = c.get(resources::kNodes, "", "n1");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), GetParam().code) << r.status().toString();
  EXPECT_NE(r.status().message().find("server says why"), std::string::npos);
  EXPECT_NE(r.status().message().find("(" + std::to_string(GetParam().http) + ")"),
            std::string::npos);
  EXPECT_NE(r.status().message().find("GET /api/v1/nodes/n1"), std::string::npos);
}
INSTANTIATE_TEST_SUITE_P(
    Cases, ClientErrorTest,
    ::testing::Values(ErrorCase{404, "NotFound", StatusCode::kNotFound},
                      ErrorCase{409, "AlreadyExists", StatusCode::kAlreadyExists},
                      ErrorCase{409, "Conflict", StatusCode::kAborted},
                      ErrorCase{410, "Gone", StatusCode::kOutOfRange},
                      ErrorCase{410, "Expired", StatusCode::kOutOfRange},
                      ErrorCase{422, "Invalid", StatusCode::kInvalidArgument},
                      ErrorCase{400, "BadRequest", StatusCode::kInvalidArgument},
                      ErrorCase{415, "UnsupportedMediaType", StatusCode::kInvalidArgument},
                      ErrorCase{401, "Unauthorized", StatusCode::kPermissionDenied},
                      ErrorCase{403, "Forbidden", StatusCode::kPermissionDenied},
                      ErrorCase{429, "TooManyRequests", StatusCode::kResourceExhausted},
                      ErrorCase{500, "InternalError", StatusCode::kInternal},
                      ErrorCase{503, "ServiceUnavailable", StatusCode::kUnavailable},
                      ErrorCase{504, "Timeout", StatusCode::kDeadlineExceeded},
                      ErrorCase{405, "MethodNotAllowed", StatusCode::kUnimplemented}));

TEST_F(ClientTest, ConflictKeepsTheServersReason) {
  t.expect("PUT", "/api/v1/nodes/n1")
      .replyStatus(409, "Conflict",
                   "Operation cannot be fulfilled on nodes \"n1\": the object has been modified");
  auto r = c.update(resources::kNodes, node("n1", "1"));
  EXPECT_TRUE(isConflict(r.status()));
  EXPECT_NE(r.status().message().find("Conflict (409)"), std::string::npos);
}

TEST_F(ClientTest, NonStatusErrorBodyIsQuoted) {
  t.expect("GET", "/api/v1/nodes/n1").reply(502, "bad gateway\n");
  t.expect("GET", "/api/v1/nodes/n1").reply(404, "404 page not found\n");
  auto r = c.get(resources::kNodes, "", "n1");
  EXPECT_TRUE(isNotFound(r.status())) << r.status().toString();
  EXPECT_NE(r.status().message().find("404 page not found"), std::string::npos);
}

TEST_F(ClientTest, TooManyRequestsIsRetriedAfterTheServersDelay) {
  t.expect("POST", "/api/v1/namespaces/ns1/configmaps")
      .replyStatus(429, "TooManyRequests")
      .replyHeader("Retry-After", "2");
  t.expect("POST", "/api/v1/namespaces/ns1/configmaps").replyJson(201, configMap("ns1", "c", "1"));
  auto r = c.create(resources::kConfigMaps, "ns1", configMap("ns1", "c", ""));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(f.sleeper.sleeps(), (std::vector<Duration>{2s}));
  EXPECT_EQ(c.stats().retries, 1u);
}

TEST_F(ClientTest, UnavailableReadsAreRetriedWithBackoff) {
  t.expect("GET", "/api/v1/nodes/n1").replyStatus(503, "ServiceUnavailable");
  t.expect("GET", "/api/v1/nodes/n1").fail(unavailable("connection refused"));
  t.expect("GET", "/api/v1/nodes/n1").replyJson(200, node("n1", "1"));
  ASSERT_TRUE(c.get(resources::kNodes, "", "n1").isOk());
  EXPECT_EQ(f.sleeper.sleeps(), (std::vector<Duration>{500ms, 1s}));
}

TEST_F(ClientTest, UnsafeWritesAreNotReplayedWithoutRetryAfter) {
  t.expect("POST", "/api/v1/namespaces/ns1/configmaps").replyStatus(503, "ServiceUnavailable");
  auto r = c.create(resources::kConfigMaps, "ns1", configMap("ns1", "c", ""));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  t.expect("POST", "/api/v1/namespaces/ns1/configmaps").fail(unavailable("reset by peer"));
  r = c.create(resources::kConfigMaps, "ns1", configMap("ns1", "c", ""));
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  // With Retry-After the server says it did not act.
  t.expect("POST", "/api/v1/namespaces/ns1/configmaps")
      .replyStatus(503, "ServiceUnavailable")
      .replyHeader("Retry-After", "1");
  t.expect("POST", "/api/v1/namespaces/ns1/configmaps").replyJson(201, configMap("ns1", "c", "1"));
  EXPECT_TRUE(c.create(resources::kConfigMaps, "ns1", configMap("ns1", "c", "")).isOk());
  EXPECT_EQ(f.sleeper.sleeps(), (std::vector<Duration>{1s}));
}

TEST_F(ClientTest, RetriesRunOut) {
  ClientOptions o = KubeFakes::unlimited();
  o.maxRetries = 2;
  KubeFakes g(o);
  for (int i = 0; i < 3; ++i) g.transport->expect("GET", "/api/v1/nodes/n1").reply(503, "");
  auto r = g.client->get(resources::kNodes, "", "n1");
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_EQ(g.sleeper.sleeps().size(), 2u);
  g.transport->expectDone();
}

TEST_F(ClientTest, RetryAfterIsCapped) {
  t.expect("GET", "/api/v1/nodes/n1").reply(429, "").replyHeader("Retry-After", "3600");
  t.expect("GET", "/api/v1/nodes/n1").replyJson(200, node("n1", "1"));
  ASSERT_TRUE(c.get(resources::kNodes, "", "n1").isOk());
  EXPECT_EQ(f.sleeper.sleeps(), (std::vector<Duration>{1min}));
}

TEST(ClientTokenTest, TokenFileIsReadAgainAfterA401AndPeriodically) {
  Config cfg = KubeFakes::config();
  cfg.token.clear();
  cfg.tokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token";
  KubeFakes f(KubeFakes::unlimited(), cfg);
  f.fs.put(cfg.tokenFile, "old-token\n");
  auto& t = *f.transport;
  t.expect("GET", "/api/v1/nodes/n1")
      .withHeader("Authorization", "Bearer old-token")
      .replyJson(200, node("n1", "1"));
  ASSERT_TRUE(f.client->get(resources::kNodes, "", "n1").isOk());
  // kubelet rotates the projected token; the server starts refusing the old one.
  f.fs.put(cfg.tokenFile, "new-token");
  t.expect("GET", "/api/v1/nodes/n1")
      .withHeader("Authorization", "Bearer old-token")
      .replyStatus(401, "Unauthorized");
  t.expect("GET", "/api/v1/nodes/n1")
      .withHeader("Authorization", "Bearer new-token")
      .replyJson(200, node("n1", "1"));
  ASSERT_TRUE(f.client->get(resources::kNodes, "", "n1").isOk());
  EXPECT_TRUE(f.sleeper.sleeps().empty());
  // And without a 401, after a minute.
  f.fs.put(cfg.tokenFile, "newer-token");
  f.clock.advance(61s);
  t.expect("GET", "/api/v1/nodes/n1")
      .withHeader("Authorization", "Bearer newer-token")
      .replyJson(200, node("n1", "1"));
  ASSERT_TRUE(f.client->get(resources::kNodes, "", "n1").isOk());
  EXPECT_EQ(f.client->stats().tokenReloads, 3u);
  t.expectDone();
}

TEST(ClientTokenTest, PersistentUnauthorizedIsPermissionDenied) {
  Config cfg = KubeFakes::config();
  cfg.token.clear();
  cfg.tokenFile = "/token";
  KubeFakes f(KubeFakes::unlimited(), cfg);
  f.fs.put("/token", "t");
  f.transport->expect("GET", "/api/v1/nodes/n1").replyStatus(401, "Unauthorized");
  f.transport->expect("GET", "/api/v1/nodes/n1").replyStatus(401, "Unauthorized");
  EXPECT_TRUE(isForbidden(f.client->get(resources::kNodes, "", "n1").status()));
  f.transport->expectDone();
}

TEST(ClientRateLimitTest, BurstThenQps) {
  ClientOptions o;
  o.qps = 10;
  o.burst = 2;
  KubeFakes f(o);
  for (int i = 0; i < 4; ++i) f.transport->expect("GET", "/version").reply(200, "{}");
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(f.client->raw("GET", "/version").isOk());
  // Two from the burst, then one every 100 ms.
  EXPECT_EQ(f.sleeper.sleeps(), (std::vector<Duration>{100ms, 100ms}));
  EXPECT_EQ(f.client->stats().throttled, 2u);
  EXPECT_EQ(f.client->stats().throttledTime, 200ms);
  f.transport->expectDone();
}

TEST_F(ClientTest, RetryOnConflictRereadsAndReappliesTheMutation) {
  t.expect("GET", "/api/v1/nodes/n1").replyJson(200, node("n1", "1"));
  Json want1 = node("n1", "1");
  want1["metadata"]["labels"]["x"] = "1";
  t.expect("PUT", "/api/v1/nodes/n1").withJsonBody(want1).replyStatus(409, "Conflict");
  t.expect("GET", "/api/v1/nodes/n1").replyJson(200, node("n1", "2"));
  Json want2 = node("n1", "2");
  want2["metadata"]["labels"]["x"] = "2";
  t.expect("PUT", "/api/v1/nodes/n1").withJsonBody(want2).replyJson(200, want2);
  int calls = 0;
  auto r = c.retryOnConflict(resources::kNodes, "", "n1", [&](Json& obj) {
    obj["metadata"]["labels"]["x"] = std::to_string(++calls);
    return Status::ok();
  });
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(f.sleeper.sleeps(), (std::vector<Duration>{10ms}));
}

TEST_F(ClientTest, RetryOnConflictGivesUpAndHonoursMutationErrors) {
  RetryOnConflictOptions o;
  o.maxAttempts = 2;
  o.status = true;
  for (int i = 0; i < 2; ++i) {
    t.expect("GET", "/api/v1/nodes/n1").replyJson(200, node("n1", "1"));
    t.expect("PUT", "/api/v1/nodes/n1/status").replyStatus(409, "Conflict");
  }
  auto r = c.retryOnConflict(
      resources::kNodes, "", "n1", [](Json&) { return Status::ok(); }, o);
  EXPECT_TRUE(isConflict(r.status()));
  t.expect("GET", "/api/v1/nodes/n1").replyJson(200, node("n1", "1"));
  auto r2 = c.retryOnConflict(resources::kNodes, "", "n1",
                              [](Json&) { return failedPrecondition("nothing to do"); });
  EXPECT_EQ(r2.status().code(), StatusCode::kFailedPrecondition);
}

TEST_F(ClientTest, WatchParsesEventsSplitAcrossChunks) {
  std::string a = ScriptedTransport::watchLine("ADDED", node("a", "11"));
  std::string m = ScriptedTransport::watchLine("MODIFIED", node("a", "12"));
  std::string b = ScriptedTransport::watchLine(
      "BOOKMARK", {{"kind", "Node"}, {"metadata", {{"resourceVersion", "15"}}}});
  std::string all = a + m + b;
  t.expect("GET", "/api/v1/nodes")
      .withQuery({{"watch", "1"},
                  {"resourceVersion", "10"},
                  {"allowWatchBookmarks", "true"},
                  {"timeoutSeconds", "60"},
                  {"fieldSelector", "metadata.name=a"}})
      .chunks({all.substr(0, 5), all.substr(5, a.size()), all.substr(5 + a.size())});
  std::vector<std::string> seen;
  Status s =
      c.watch(resources::kNodes, "",
              {.resourceVersion = "10", .fieldSelector = "metadata.name=a", .timeoutSeconds = 60},
              [&](WatchEvent& ev) {
                seen.push_back(std::string(watchEventTypeName(ev.type)) + " " +
                               resourceVersionOf(ev.object));
                return true;
              });
  EXPECT_TRUE(s.isOk()) << s.toString();
  EXPECT_EQ(seen, (std::vector<std::string>{"ADDED 11", "MODIFIED 12", "BOOKMARK 15"}));
}

TEST_F(ClientTest, WatchErrorsAndStops) {
  // HTTP 410 on the request itself.
  t.expect("GET", "/api/v1/nodes").replyStatus(410, "Expired", "too old resource version");
  Status s =
      c.watch(resources::kNodes, "", {.resourceVersion = "1"}, [](WatchEvent&) { return true; });
  EXPECT_TRUE(isGone(s)) << s.toString();
  // An ERROR event is the caller's to judge; returning false stops cleanly.
  t.expect("GET", "/api/v1/nodes")
      .chunks({ScriptedTransport::watchLine(
                   "ERROR", {{"kind", "Status"}, {"code", 410}, {"reason", "Expired"}}),
               ScriptedTransport::watchLine("ADDED", node("never", "1"))});
  int events = 0;
  s = c.watch(resources::kNodes, "", {}, [&](WatchEvent& ev) {
    ++events;
    EXPECT_EQ(ev.type, WatchEvent::Type::kError);
    EXPECT_TRUE(isGone(statusFromObject(ev.object, "watch")));
    return false;
  });
  EXPECT_TRUE(s.isOk());
  EXPECT_EQ(events, 1);
  // Garbage is data loss; a dropped connection is the transport's error.
  t.expect("GET", "/api/v1/nodes").chunks({"{not json}\n"});
  EXPECT_EQ(c.watch(resources::kNodes, "", {}, [](WatchEvent&) { return true; }).code(),
            StatusCode::kDataLoss);
  t.expect("GET", "/api/v1/nodes")
      .chunks({ScriptedTransport::watchLine("ADDED", node("a", "1"))})
      .dropAfterChunks(unavailable("connection reset"));
  EXPECT_EQ(c.watch(resources::kNodes, "", {}, [](WatchEvent&) { return true; }).code(),
            StatusCode::kUnavailable);
}

TEST_F(ClientTest, RawReturnsAnyStatus) {
  t.expect("GET", "/readyz").reply(500, "[-]etcd failed");
  auto r = c.raw("GET", "/readyz");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->status, 500);
}

}  // namespace
}  // namespace schedkit::kube
