#pragma once

// The one HTTP seam shared by the OCI registry client and the Kubernetes client. Only
// lib/src/net/cpprest_transport.cc includes cpprestsdk (archived upstream: keep it swappable for
// libcurl); callers and tests see these types only.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/common/status.h"

namespace schedkit::net {

// Header names are compared case-insensitively; stored lower-cased.
class Headers {
 public:
  void set(std::string_view name, std::string value);
  void add(std::string_view name, std::string value);
  std::optional<std::string> get(std::string_view name) const;  // first value
  std::vector<std::string> getAll(std::string_view name) const;
  void remove(std::string_view name);
  const std::multimap<std::string, std::string>& all() const { return h_; }
  bool empty() const { return h_.empty(); }

 private:
  std::multimap<std::string, std::string> h_;
};

// Lets another thread abort an in-flight send()/stream(), e.g. an idle watch being stopped.
// Thread-safe; cancelling is sticky.
class CancelToken {
 public:
  void cancel();
  bool cancelled() const;
  // Runs fn at cancel() (at once if already cancelled). Returns an id for removeCallback().
  std::uint64_t onCancel(std::function<void()> fn);
  void removeCallback(std::uint64_t id);

 private:
  mutable std::mutex mu_;
  bool cancelled_ = false;
  std::uint64_t next_id_ = 1;
  std::map<std::uint64_t, std::function<void()>> callbacks_;
};
using CancelTokenPtr = std::shared_ptr<CancelToken>;

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // absolute: https://host:port/path?query
  Headers headers;
  std::string body;
  Duration timeout = std::chrono::seconds(30);  // whole request (send) / idle gap (stream)
  bool followRedirects = false;                 // callers that need redirects handle 3xx
  CancelTokenPtr cancel;                        // optional; a cancelled request ends kCancelled
};

struct HttpResponse {
  int status = 0;
  Headers headers;
  std::string body;  // empty for stream()
};

// TLS and identity for one endpoint. PEM data may be given inline or as files; files are
// re-read on every new connection so rotated certificates are picked up.
struct TlsConfig {
  std::string caFile;
  std::string caPem;
  std::string clientCertFile;
  std::string clientCertPem;
  std::string clientKeyFile;
  std::string clientKeyPem;
  bool insecureSkipVerify = false;
  std::string serverName;  // SNI / verification name override
};

class HttpTransport {
 public:
  virtual ~HttpTransport() = default;
  // Sends a request and reads the whole response. Transport failures (DNS, connect, TLS,
  // timeout) are kUnavailable / kDeadlineExceeded; any HTTP status is a successful result.
  virtual Result<HttpResponse> send(const HttpRequest& req) = 0;
  // Sends a request and hands the body over as it arrives (watches, blob downloads). onHead
  // sees status and headers first; returning false from either callback cancels the request.
  // Returns when the body ended (OK), a callback stopped it (OK: the caller asked), the cancel
  // token fired (kCancelled), or it failed. Callbacks run on the calling thread, and the next
  // piece of body is not read off the socket before onData returns (backpressure).
  virtual Status stream(const HttpRequest& req,
                        const std::function<bool(const HttpResponse&)>& onHead,
                        const std::function<bool(std::string_view chunk)>& onData) = 0;
};
using HttpTransportPtr = std::unique_ptr<HttpTransport>;

// Creates the cpprestsdk-backed transport for endpoints with this TLS configuration. Inline PEM
// is checked here (kInvalidArgument); files are read when connections are made. With
// followRedirects, Authorization is dropped when a redirect leaves the original origin.
Result<HttpTransportPtr> makeCpprestTransport(const TlsConfig& tls);

// URL helpers shared by both clients.
std::string urlEncode(std::string_view s);  // RFC 3986 unreserved kept
struct Url {
  std::string scheme, host, path, query;  // scheme lower-case; host without [] for IPv6
  int port = 0;                           // explicit or the scheme's default (80/443)
  // "scheme://host:port" (IPv6 hosts bracketed), e.g. to key connection pools.
  std::string origin() const;
  // path plus "?query" when there is one.
  std::string target() const;
};
Result<Url> parseUrl(std::string_view url);
// Resolves a Location header against the request URL (absolute, host-relative or relative).
std::string resolveUrl(std::string_view base, std::string_view ref);

}  // namespace schedkit::net
