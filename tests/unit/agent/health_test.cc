#include "metrics/health.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>

namespace schedkit::agent {
namespace {

using namespace std::chrono_literals;

std::string get(const std::string& path, const HealthState& st, MonoTime now,
                const std::string& method = "GET") {
  return HealthServer::respond(method + " " + path + " HTTP/1.1\r\nHost: x\r\n\r\n", st, now, true);
}

TEST(HealthState, NotLiveOrReadyBeforeTheFirstBeat) {
  SimClock clock;
  HealthState st;
  EXPECT_EQ(st.live(clock.now()).code, 503);
  EXPECT_NE(st.live(clock.now()).body.find("loop: not started"), std::string::npos);
  EXPECT_EQ(st.ready(clock.now()).code, 503);
}

TEST(HealthState, LiveWhileTheLoopBeatsReadyOnceThePoliciesAreKnown) {
  SimClock clock;
  HealthState st(60s);
  HealthBeat beat(clock, st, 1s);
  EXPECT_EQ(st.live(clock.now()).code, 200);
  auto r = st.ready(clock.now());
  EXPECT_EQ(r.code, 503);
  EXPECT_NE(r.body.find("policies: not yet read"), std::string::npos) << r.body;
  st.setPoliciesKnown(true);
  for (int i = 0; i < 120; ++i) clock.advance(1s);  // the beat keeps re-arming
  EXPECT_EQ(st.live(clock.now()).code, 200);
  EXPECT_EQ(st.ready(clock.now()).code, 200);
  st.setShuttingDown();
  r = st.ready(clock.now());
  EXPECT_EQ(r.code, 503);
  EXPECT_NE(r.body.find("shutdown: in progress"), std::string::npos);
  EXPECT_EQ(st.live(clock.now()).code, 200) << "shutting down is not dead";
}

TEST(HealthState, AStuckLoopIsNeitherLiveNorReady) {
  SimClock clock;
  HealthState st(60s);
  st.setPoliciesKnown(true);
  st.beat(clock.now());
  clock.advance(60s);
  EXPECT_EQ(st.live(clock.now()).code, 200) << "at the limit";
  clock.advance(1s);
  auto r = st.live(clock.now());
  EXPECT_EQ(r.code, 503);
  EXPECT_NE(r.body.find("loop: stuck (last beat 61.0s ago, limit 60.0s)"), std::string::npos) << r.body;
  EXPECT_EQ(st.ready(clock.now()).code, 503);
}

TEST(HealthBeat, StopsBeatingWhenDestroyed) {
  SimClock clock;
  HealthState st(5s);
  { HealthBeat beat(clock, st, 1s); }
  EXPECT_EQ(clock.pendingTimers(), 0u);
  clock.advance(6s);
  EXPECT_EQ(st.live(clock.now()).code, 503);
}

TEST(HealthServerRespond, Paths) {
  SimClock clock;
  HealthState st;
  st.beat(clock.now());
  EXPECT_EQ(get("/livez", st, clock.now()).rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(get("/healthz", st, clock.now()).rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(get("/readyz?verbose", st, clock.now()).rfind("HTTP/1.1 503 ", 0), 0u);
  st.setPoliciesKnown(true);
  std::string ok = get("/readyz", st, clock.now());
  EXPECT_EQ(ok.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_NE(ok.find("\r\n\r\nloop: ok"), std::string::npos) << ok;
  EXPECT_NE(ok.find("Content-Length: "), std::string::npos);
  EXPECT_EQ(get("/metrics", st, clock.now()).rfind("HTTP/1.1 404 ", 0), 0u);
  EXPECT_EQ(get("/", st, clock.now()).rfind("HTTP/1.1 404 ", 0), 0u);
}

TEST(HealthServerRespond, HeadHasNoBody) {
  SimClock clock;
  HealthState st;
  st.beat(clock.now());
  std::string r = get("/livez", st, clock.now(), "HEAD");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u);
  EXPECT_EQ(r.substr(r.size() - 4), "\r\n\r\n") << "headers only";
  std::string g = get("/livez", st, clock.now());
  std::size_t body = g.size() - (g.find("\r\n\r\n") + 4);
  EXPECT_NE(r.find("Content-Length: " + std::to_string(body) + "\r\n"), std::string::npos)
      << "the length GET's body has: " << r;
}

TEST(HealthServerRespond, HostileRequests) {
  SimClock clock;
  HealthState st;
  st.beat(clock.now());
  EXPECT_EQ(get("/livez", st, clock.now(), "POST").rfind("HTTP/1.1 405 ", 0), 0u);
  EXPECT_NE(get("/livez", st, clock.now(), "DELETE").find("Allow: GET, HEAD"), std::string::npos);
  for (const char* bad : {"", "GET", "GET /livez", "GET /livez FTP/1.0\r\n\r\n", "\r\n\r\n",
                          "GET  HTTP/1.1\r\n\r\n"}) {
    std::string r = HealthServer::respond(bad, st, clock.now(), true);
    EXPECT_TRUE(r.rfind("HTTP/1.1 400 ", 0) == 0 || r.rfind("HTTP/1.1 404 ", 0) == 0)
        << "'" << bad << "' → " << r;
  }
  EXPECT_EQ(HealthServer::respond("GET /livez HTTP/1.1\r\n", st, clock.now(), false)
                .rfind("HTTP/1.1 400 ", 0),
            0u)
      << "an incomplete request is refused";
  std::string binary("GET /\0\xff\xfe HTTP/1.1\r\n\r\n", 22);
  EXPECT_EQ(HealthServer::respond(binary, st, clock.now(), true).rfind("HTTP/1.1 404 ", 0), 0u);
}

TEST(HealthServerStart, BadAddresses) {
  RealClock clock;
  Logger log(clock, [](std::string_view) {});
  HealthState st;
  for (const char* a : {"9478", "nohost:9478", "127.0.0.1:x", "127.0.0.1:70000", "127.0.0.1:",
                        "::1:9478"}) {
    auto s = HealthServer::start(a, st, clock, log);
    EXPECT_FALSE(s.isOk()) << a;
    if (!s.isOk()) {
      EXPECT_EQ(s.status().code(), StatusCode::kInvalidArgument) << a;
    }
  }
}

// --- a real socket ---

int connectTo(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<std::uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
  return fd;
}

std::string roundTrip(int port, const std::string& req) {
  int fd = connectTo(port);
  EXPECT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

TEST(HealthServer, ServesTheProbesOverTcp) {
  RealClock clock;
  Logger log(clock, [](std::string_view) {});
  HealthState st;
  st.beat(clock.now());
  auto s = HealthServer::start("127.0.0.1:0", st, clock, log);
  ASSERT_TRUE(s.isOk()) << s.status().message();
  int port = (*s)->port();
  ASSERT_GT(port, 0);
  EXPECT_EQ(roundTrip(port, "GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n").rfind("HTTP/1.1 503 ", 0), 0u);
  st.setPoliciesKnown(true);
  EXPECT_EQ(roundTrip(port, "GET /readyz HTTP/1.1\r\nHost: a\r\n\r\n").rfind("HTTP/1.1 200 ", 0), 0u);
  // Oversized: 400 once 4 KiB arrived without the end of the headers.
  std::string big = "GET /livez HTTP/1.1\r\nX: " + std::string(10000, 'a');
  EXPECT_EQ(roundTrip(port, big).rfind("HTTP/1.1 400 ", 0), 0u);
}

TEST(HealthServer, ASilentClientHoldsTheProbesUpForAtMostOneSecond) {
  RealClock clock;
  Logger log(clock, [](std::string_view) {});
  HealthState st;
  st.beat(clock.now());
  auto s = HealthServer::start("127.0.0.1:0", st, clock, log);
  ASSERT_TRUE(s.isOk()) << s.status().message();
  int port = (*s)->port();
  int silent = connectTo(port);  // connects, never sends
  auto t0 = std::chrono::steady_clock::now();
  std::string r = roundTrip(port, "GET /livez HTTP/1.1\r\n\r\n");
  auto took = std::chrono::steady_clock::now() - t0;
  EXPECT_EQ(r.rfind("HTTP/1.1 200 ", 0), 0u) << r;
  EXPECT_LT(took, 2500ms);
  ::close(silent);
}

TEST(HealthServer, StopsPromptly) {
  RealClock clock;
  Logger log(clock, [](std::string_view) {});
  HealthState st;
  auto s = HealthServer::start("127.0.0.1:0", st, clock, log);
  ASSERT_TRUE(s.isOk());
  auto t0 = std::chrono::steady_clock::now();
  s->reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms);
}

TEST(HealthServer, APortInUseIsAClearError) {
  RealClock clock;
  Logger log(clock, [](std::string_view) {});
  HealthState st;
  auto a = HealthServer::start("127.0.0.1:0", st, clock, log);
  ASSERT_TRUE(a.isOk());
  auto b = HealthServer::start("127.0.0.1:" + std::to_string((*a)->port()), st, clock, log);
  ASSERT_FALSE(b.isOk());
  EXPECT_NE(b.status().message().find("health server on 127.0.0.1:"), std::string::npos)
      << b.status().message();
}

}  // namespace
}  // namespace schedkit::agent
