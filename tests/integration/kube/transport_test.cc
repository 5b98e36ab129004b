// CpprestTransport against the real kube-apiserver of hack/testenv: HTTPS with client
// certificates, inline and file PEM, CA and name verification, and a streamed watch.

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "schedkit/net/http.h"
#include "testenv.h"

namespace schedkit::net {
namespace {

using json = nlohmann::json;
using testenv::KubeTestenv;
using namespace std::chrono_literals;

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

HttpTransportPtr transport(const TlsConfig& tls) {
  auto t = makeCpprestTransport(tls);
  EXPECT_TRUE(t.isOk()) << t.status().toString();
  return t.isOk() ? std::move(t).value() : nullptr;
}

HttpRequest get(const std::string& path) {
  HttpRequest r;
  r.url = KubeTestenv::get().url() + path;
  r.headers.set("Accept", "application/json");
  r.timeout = 30s;
  return r;
}

TEST(CpprestTransportTest, GetsVersionWithClientCertificateFiles) {
  auto t = transport(KubeTestenv::get().adminTls());
  auto r = t->send(get("/version"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->headers.get("content-type"), "application/json");
  EXPECT_EQ(json::parse(r->body).value("gitVersion", ""), KubeTestenv::get().var("KUBE_VERSION"));
}

TEST(CpprestTransportTest, ReadyzAndAuthorizedListWithInlinePem) {
  const auto& env = KubeTestenv::get();
  TlsConfig tls;
  tls.caPem = slurp(env.ca());
  tls.clientCertPem = slurp(env.var("ADMIN_CERT"));
  tls.clientKeyPem = slurp(env.var("ADMIN_KEY"));
  auto t = transport(tls);
  auto ready = t->send(get("/readyz"));
  ASSERT_TRUE(ready.isOk()) << ready.status().toString();
  EXPECT_EQ(ready->status, 200);
  EXPECT_EQ(ready->body, "ok");
  // The same connection pool serves several requests.
  for (int i = 0; i < 5; ++i) {
    auto ns = t->send(get("/api/v1/namespaces"));
    ASSERT_TRUE(ns.isOk()) << ns.status().toString();
    EXPECT_EQ(ns->status, 200);
    EXPECT_EQ(json::parse(ns->body).value("kind", ""), "NamespaceList");
  }
}

TEST(CpprestTransportTest, WithoutClientCertificateTheServerSeesAnonymous) {
  TlsConfig tls;
  tls.caFile = KubeTestenv::get().ca();
  auto t = transport(tls);
  auto r = t->send(get("/api/v1/namespaces"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 403);
  EXPECT_NE(r->body.find("system:anonymous"), std::string::npos) << r->body;
}

TEST(CpprestTransportTest, UntrustedServerFailsTheHandshake) {
  const auto& env = KubeTestenv::get();
  TlsConfig tls = env.adminTls();
  tls.caFile = env.var("ADMIN_CERT");  // a certificate, but not the server's issuer
  auto t = transport(tls);
  auto r = t->send(get("/version"));
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable) << r.status().toString();
}

TEST(CpprestTransportTest, InsecureSkipVerifyAcceptsAnyServer) {
  TlsConfig tls;
  tls.insecureSkipVerify = true;
  auto t = transport(tls);
  auto r = t->send(get("/version"));
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->status, 200);
}

TEST(CpprestTransportTest, ServerNameOverrideIsVerified) {
  TlsConfig tls = KubeTestenv::get().adminTls();
  tls.serverName = "kubernetes.default.svc";  // one of the serving certificate's SANs
  auto good = transport(tls)->send(get("/version"));
  ASSERT_TRUE(good.isOk()) << good.status().toString();
  EXPECT_EQ(good->status, 200);
  tls.serverName = "not-the-apiserver.example";
  auto bad = transport(tls)->send(get("/version"));
  EXPECT_FALSE(bad.isOk());
}

TEST(CpprestTransportTest, BadInlinePemIsRejectedUpFront) {
  TlsConfig tls;
  tls.caPem = "not a certificate";
  auto t = makeCpprestTransport(tls);
  ASSERT_FALSE(t.isOk());
  EXPECT_EQ(t.status().code(), StatusCode::kInvalidArgument);
  TlsConfig mismatched = KubeTestenv::get().adminTls();
  mismatched.clientKeyFile.clear();
  EXPECT_EQ(makeCpprestTransport(mismatched).status().code(), StatusCode::kInvalidArgument);
}

TEST(CpprestTransportTest, PostsABodyAndReadsTheServersError) {
  auto t = transport(KubeTestenv::get().adminTls());
  HttpRequest r = get("/api/v1/namespaces/default/configmaps");
  r.method = "POST";
  r.headers.set("Content-Type", "application/json");
  r.body = R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_Valid"}})";
  auto resp = t->send(r);
  ASSERT_TRUE(resp.isOk()) << resp.status().toString();
  EXPECT_EQ(resp->status, 422);
  EXPECT_EQ(json::parse(resp->body).value("reason", ""), "Invalid");
}

// A watch arrives piece by piece while the request is still open, and stops when asked.
TEST(CpprestTransportTest, StreamsAWatchAsEventsHappen) {
  auto t = transport(KubeTestenv::get().adminTls());
  std::string ns = "default";
  std::string name = "transport-watch-" + std::to_string(::getpid());
  HttpRequest list = get("/api/v1/namespaces/" + ns + "/configmaps?limit=1");
  auto lr = t->send(list);
  ASSERT_TRUE(lr.isOk());
  std::string rv = json::parse(lr->body)["metadata"]["resourceVersion"];

  HttpRequest watch =
      get("/api/v1/namespaces/" + ns + "/configmaps?watch=1&timeoutSeconds=60&fieldSelector=" +
          urlEncode("metadata.name=" + name) + "&resourceVersion=" + rv);
  watch.timeout = 60s;
  std::atomic<int> head_status{0};
  std::string buffered;
  std::vector<json> events;
  std::mutex mu;
  std::atomic<bool> got_added{false};
  Status result;
  std::thread th([&] {
    result = t->stream(
        watch,
        [&](const HttpResponse& h) {
          head_status = h.status;
          return true;
        },
        [&](std::string_view chunk) {
          std::lock_guard lk(mu);
          buffered.append(chunk);
          std::size_t nl;
          while ((nl = buffered.find('\n')) != std::string::npos) {
            events.push_back(json::parse(buffered.substr(0, nl)));
            buffered.erase(0, nl + 1);
            if (events.back()["type"] == "ADDED") got_added = true;
            if (events.back()["type"] == "DELETED") return false;  // enough: stop the stream
          }
          return true;
        });
  });
  // The watch is open (head seen) before the object exists, so the event must be streamed.
  for (int i = 0; i < 300 && head_status == 0; ++i) std::this_thread::sleep_for(10ms);
  ASSERT_EQ(head_status, 200);
  HttpRequest create = get("/api/v1/namespaces/" + ns + "/configmaps");
  create.method = "POST";
  create.headers.set("Content-Type", "application/json");
  create.body = json{{"apiVersion", "v1"},
                     {"kind", "ConfigMap"},
                     {"metadata", {{"name", name}}},
                     {"data", {{"k", "v"}}}}
                    .dump();
  auto cr = t->send(create);
  ASSERT_TRUE(cr.isOk());
  ASSERT_EQ(cr->status, 201) << cr->body;
  for (int i = 0; i < 500 && !got_added; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(got_added) << "ADDED did not arrive while the watch was open";
  HttpRequest del = get("/api/v1/namespaces/" + ns + "/configmaps/" + name);
  del.method = "DELETE";
  auto dr = t->send(del);
  ASSERT_TRUE(dr.isOk());
  th.join();
  EXPECT_TRUE(result.isOk()) << result.toString();  // stopped by the callback
  std::lock_guard lk(mu);
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], name);
  EXPECT_EQ(events[1]["type"], "DELETED");
}

TEST(CpprestTransportTest, CancelTokenStopsAnIdleWatch) {
  auto t = transport(KubeTestenv::get().adminTls());
  HttpRequest watch =
      get("/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=300&"
          "labelSelector=" +
          urlEncode("never=matches"));
  watch.timeout = 300s;
  watch.cancel = std::make_shared<CancelToken>();
  std::atomic<bool> head{false};
  Status result;
  std::thread th([&] {
    result = t->stream(
        watch,
        [&](const HttpResponse&) {
          head = true;
          return true;
        },
        [](std::string_view) { return true; });
  });
  for (int i = 0; i < 300 && !head; ++i) std::this_thread::sleep_for(10ms);
  auto start = std::chrono::steady_clock::now();
  watch.cancel->cancel();
  th.join();
  EXPECT_EQ(result.code(), StatusCode::kCancelled) << result.toString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(CpprestTransportTest, IdleStreamTimesOut) {
  auto t = transport(KubeTestenv::get().adminTls());
  HttpRequest watch =
      get("/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=300&"
          "labelSelector=" +
          urlEncode("never=matches"));
  watch.timeout = 1s;  // idle gap
  Status s = t->stream(
      watch, [](const HttpResponse&) { return true; }, [](std::string_view) { return true; });
  EXPECT_EQ(s.code(), StatusCode::kDeadlineExceeded) << s.toString();
}

TEST(CpprestTransportTest, SendBoundsTheWholeExchange) {
  auto t = transport(KubeTestenv::get().adminTls());
  HttpRequest watch =
      get("/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=300&"
          "labelSelector=" +
          urlEncode("never=matches"));
  watch.timeout = 1500ms;
  auto start = std::chrono::steady_clock::now();
  auto r = t->send(watch);
  EXPECT_EQ(r.status().code(), StatusCode::kDeadlineExceeded) << r.status().toString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s);
}

// A multi-megabyte body reaches onData in pieces, and the pieces add up to what send() reads.
TEST(CpprestTransportTest, StreamsALargeBodyInPieces) {
  auto t = transport(KubeTestenv::get().adminTls());
  HttpRequest r = get("/openapi/v2");
  auto whole = t->send(r);
  ASSERT_TRUE(whole.isOk()) << whole.status().toString();
  ASSERT_EQ(whole->status, 200);
  ASSERT_GT(whole->body.size(), 1u << 20);
  std::size_t pieces = 0;
  std::string streamed;
  Status s = t->stream(
      r, [](const HttpResponse& h) { return h.status == 200; },
      [&](std::string_view chunk) {
        ++pieces;
        streamed.append(chunk);
        return true;
      });
  ASSERT_TRUE(s.isOk()) << s.toString();
  EXPECT_GT(pieces, 4u);
  EXPECT_EQ(streamed.size(), whole->body.size());
  EXPECT_EQ(json::parse(streamed).value("swagger", ""), "2.0");
}

TEST(CpprestTransportTest, ConnectionRefusedIsUnavailable) {
  TlsConfig tls;
  auto t = transport(tls);
  HttpRequest r;
  r.url = "http://127.0.0.1:1/version";  // nothing listens on port 1
  r.timeout = 5s;
  auto resp = t->send(r);
  ASSERT_FALSE(resp.isOk());
  EXPECT_EQ(resp.status().code(), StatusCode::kUnavailable) << resp.status().toString();
}

}  // namespace
}  // namespace schedkit::net
