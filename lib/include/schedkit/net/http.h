#pragma once

// The one HTTP seam shared by the OCI registry client and the Kubernetes client. Only
// lib/src/net/cpprest_transport.cc includes cpprestsdk (archived upstream: keep it swappable for
// libcurl); callers and tests see these types only.

#include <functional>
#include <map>
#include <memory>
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
  const std::multimap<std::string, std::string>& all() const { return h_; }
  bool empty() const { return h_.empty(); }

 private:
  std::multimap<std::string, std::string> h_;
};

struct HttpRequest {
  std::string method = "GET";
  std::string url;  // absolute: https://host:port/path?query
  Headers headers;
  std::string body;
  Duration timeout = std::chrono::seconds(30);  // whole request (send) / idle gap (stream)
  bool followRedirects = false;                 // callers that need redirects handle 3xx
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
  // Returns when the body ended, was cancelled, or failed.
  virtual Status stream(const HttpRequest& req, const std::function<bool(const HttpResponse&)>& onHead,
                        const std::function<bool(std::string_view chunk)>& onData) = 0;
};
using HttpTransportPtr = std::unique_ptr<HttpTransport>;

// Creates the cpprestsdk-backed transport for endpoints with this TLS configuration.
Result<HttpTransportPtr> makeCpprestTransport(const TlsConfig& tls);

// URL helpers shared by both clients.
std::string urlEncode(std::string_view s);  // RFC 3986 unreserved kept
struct Url {
  std::string scheme, host, path, query;
  int port = 0;
};
Result<Url> parseUrl(std::string_view url);
// Resolves a Location header against the request URL (absolute, host-relative or relative).
std::string resolveUrl(std::string_view base, std::string_view ref);

}  // namespace schedkit::net
