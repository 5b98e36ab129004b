#include "metrics/health.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace schedkit::agent {

namespace {

constexpr std::size_t kMaxRequest = 4096;
constexpr auto kRequestDeadline = std::chrono::seconds(1);

std::string seconds(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", std::chrono::duration<double>(d).count());
  return buf;
}

std::string statusLine(int code) {
  switch (code) {
    case 200: return "200 OK";
    case 400: return "400 Bad Request";
    case 404: return "404 Not Found";
    case 405: return "405 Method Not Allowed";
    default: return "503 Service Unavailable";
  }
}

std::string response(int code, const std::string& body, bool head) {
  std::string r = "HTTP/1.1 " + statusLine(code) +
                  "\r\nContent-Type: text/plain; charset=utf-8\r\nCache-Control: no-store\r\n"
                  "Connection: close\r\nContent-Length: " +
                  std::to_string(body.size()) + "\r\n";
  if (code == 405) r += "Allow: GET, HEAD\r\n";
  r += "\r\n";
  if (!head) r += body;
  return r;
}

Result<sockaddr_in> parseAddress(const std::string& address) {
  auto colon = address.rfind(':');
  if (colon == std::string::npos) return invalidArgument("health address '" + address + "': want HOST:PORT");
  std::string host = address.substr(0, colon), port = address.substr(colon + 1);
  if (host.empty() || host == "localhost") host = host.empty() ? "0.0.0.0" : "127.0.0.1";
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    return invalidArgument("health address '" + address + "': '" + host +
                           "' is not an IPv4 address");
  }
  char* end = nullptr;
  errno = 0;
  long p = port.empty() ? -1 : std::strtol(port.c_str(), &end, 10);
  if (p < 0 || p > 65535 || errno != 0 || (end && *end != '\0')) {
    return invalidArgument("health address '" + address + "': bad port '" + port + "'");
  }
  sa.sin_port = htons(static_cast<std::uint16_t>(p));
  return sa;
}

}  // namespace

std::string HealthState::loopLine(MonoTime now, bool* ok) const {
  auto rep = lastBeat_.load();
  if (rep == std::numeric_limits<MonoTime::rep>::min()) {
    *ok = false;
    return "loop: not started\n";
  }
  Duration age = now - MonoTime(MonoTime::duration(rep));
  *ok = age <= maxStale_;
  return "loop: " + std::string(*ok ? "ok" : "stuck") + " (last beat " + seconds(age) +
         " ago, limit " + seconds(maxStale_) + ")\n";
}

HealthState::Report HealthState::live(MonoTime now) const {
  bool ok = false;
  std::string body = loopLine(now, &ok);
  return Report{ok ? 200 : 503, body + (ok ? "live\n" : "not live\n")};
}

HealthState::Report HealthState::ready(MonoTime now) const {
  bool ok = false;
  std::string body = loopLine(now, &ok);
  bool known = policiesKnown_.load(), stopping = shuttingDown_.load();
  body += std::string("policies: ") + (known ? "known" : "not yet read") + "\n";
  if (stopping) body += "shutdown: in progress\n";
  ok = ok && known && !stopping;
  return Report{ok ? 200 : 503, body + (ok ? "ready\n" : "not ready\n")};
}

HealthBeat::HealthBeat(Clock& clock, HealthState& state, Duration period)
    : clock_(clock), state_(state), period_(period), alive_(std::make_shared<std::atomic<bool>>(true)) {
  state_.beat(clock_.now());
  arm();
}

HealthBeat::~HealthBeat() {
  alive_->store(false);
  clock_.cancel(timer_);
}

void HealthBeat::arm() {
  timer_ = clock_.callAfter(period_, [this, alive = alive_] {
    if (!alive->load()) return;
    state_.beat(clock_.now());
    arm();
  });
}

std::string HealthServer::respond(const std::string& request, const HealthState& state,
                                  MonoTime now, bool complete) {
  auto eol = request.find("\r\n");
  if (!complete || eol == std::string::npos) return response(400, "bad request\n", false);
  std::string line = request.substr(0, eol);
  auto sp1 = line.find(' ');
  auto sp2 = sp1 == std::string::npos ? std::string::npos : line.find(' ', sp1 + 1);
  if (sp2 == std::string::npos || line.compare(sp2 + 1, 5, "HTTP/") != 0) {
    return response(400, "bad request\n", false);
  }
  std::string method = line.substr(0, sp1), target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  bool head = method == "HEAD";
  if (method != "GET" && !head) return response(405, "method not allowed\n", false);
  std::string path = target.substr(0, target.find('?'));
  if (path == "/livez" || path == "/healthz") {
    auto r = state.live(now);
    return response(r.code, r.body, head);
  }
  if (path == "/readyz") {
    auto r = state.ready(now);
    return response(r.code, r.body, head);
  }
  return response(404, "not found: try /livez or /readyz\n", head);
}

Result<std::unique_ptr<HealthServer>> HealthServer::start(const std::string& address,
                                                          const HealthState& state, Clock& clock,
                                                          const Logger& log) {
  SK_ASSIGN_OR_RETURN(sockaddr_in sa, parseAddress(address));
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fromErrno(errno, "health server socket");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 || ::listen(fd, 16) != 0) {
    Status st = fromErrno(errno, "health server on " + address);
    ::close(fd);
    return st;
  }
  socklen_t len = sizeof sa;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&sa), &len);
  int wake = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    Status st = fromErrno(errno, "health server eventfd");
    ::close(fd);
    return st;
  }
  int port = ntohs(sa.sin_port);
  log.info("health endpoints serving", {{"address", address}, {"port", port}});
  return std::unique_ptr<HealthServer>(new HealthServer(fd, wake, port, state, clock, log));
}

HealthServer::HealthServer(int fd, int wakeFd, int port, const HealthState& state, Clock& clock,
                           const Logger& log)
    : fd_(fd), wakeFd_(wakeFd), port_(port), state_(state), clock_(clock), log_(log) {
  thread_ = std::thread([this] { run(); });
}

HealthServer::~HealthServer() {
  std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wakeFd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  ::close(fd_);
  ::close(wakeFd_);
}

void HealthServer::run() {
  for (;;) {
    pollfd fds[2] = {{fd_, POLLIN, 0}, {wakeFd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      log_.error("health server poll failed; probes will fail", {{"error", fromErrno(errno, "poll")}});
      return;
    }
    if (fds[1].revents) return;
    if (!(fds[0].revents & POLLIN)) continue;
    int conn = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn < 0) continue;  // the client went away, or EMFILE: the next poll tries again
    serveOne(conn);
    ::close(conn);
  }
}

void HealthServer::serveOne(int conn) {
  std::string req;
  bool complete = false;
  auto deadline = std::chrono::steady_clock::now() + kRequestDeadline;
  while (!complete && req.size() < kMaxRequest) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{conn, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[1024];
    ssize_t n = ::recv(conn, buf, std::min(sizeof buf, kMaxRequest - req.size()), 0);
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      break;
    }
    req.append(buf, static_cast<std::size_t>(n));
    complete = req.find("\r\n\r\n") != std::string::npos;
  }
  if (req.empty()) return;  // nothing sent (a TCP check, or a port scan): nothing to answer
  std::string out = respond(req, state_, clock_.now(), complete);
  std::size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::send(conn, out.data() + off, out.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EAGAIN) {
      pollfd p{conn, POLLOUT, 0};
      if (::poll(&p, 1, 1000) <= 0) return;
      continue;
    }
    if (n <= 0) return;
    off += static_cast<std::size_t>(n);
  }
}

}  // namespace schedkit::agent
