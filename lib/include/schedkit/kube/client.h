#pragma once

// A small Kubernetes API client, generic over group/version/resource. Objects are JSON
// (lib/policy decodes schedkit's own kinds). Blocking and thread-safe: the agent calls it from
// worker threads (informers, the event recorder, status writers), never from the event loop.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/common/random.h"
#include "schedkit/common/status.h"
#include "schedkit/kube/config.h"
#include "schedkit/kube/errors.h"
#include "schedkit/kube/rate_limiter.h"
#include "schedkit/kube/resource.h"
#include "schedkit/kube/sleeper.h"
#include "schedkit/net/http.h"
#include "schedkit/os/filesystem.h"

namespace schedkit::kube {

using Json = nlohmann::json;

struct ClientOptions {
  // Client-side rate limit over every request, watches included (client-go's defaults).
  double qps = 5;
  int burst = 10;
  // Retries of 429, 5xx and transport failures; mutations that may have reached the server are
  // retried only when it said so (Retry-After) or could not have processed them (429).
  int maxRetries = 5;
  Backoff::Options retryBackoff{.initial = std::chrono::milliseconds(500),
                                .max = std::chrono::seconds(30),
                                .factor = 2.0,
                                .jitter = 0.2};
  Duration maxRetryAfter = std::chrono::minutes(1);  // a longer Retry-After is capped
  Duration requestTimeout = std::chrono::seconds(30);
  Duration tokenReload = std::chrono::minutes(1);  // how often a token file is re-read
};

// What the client touches. References must outlive the client.
struct ClientDeps {
  const Clock& clock;
  Random& random;
  Sleeper& sleeper;
  const Filesystem& fs;  // reads the token file (process paths, see Config)
  Logger log;
};

struct ListOptions {
  std::string labelSelector{};
  std::string fieldSelector{};
  std::int64_t limit = 0;              // page size; 0 = everything in one response
  std::string continueToken{};         // from the previous page
  std::string resourceVersion{};       // "" = most recent (consistent); "0" = any (watch cache)
  std::string resourceVersionMatch{};  // "NotOlderThan" | "Exact"
  net::CancelTokenPtr cancel{};
};

struct ObjectList {
  std::vector<Json> items{};
  std::string resourceVersion{};  // of the whole list: where a watch continues from
  std::string continueToken{};    // non-empty when more pages follow
  std::optional<std::int64_t> remainingItemCount{};
};

struct WriteOptions {
  std::string fieldManager{};  // recorded in managedFields
  bool dryRun = false;
};

struct DeleteOptions {
  std::string preconditionUid{};
  std::string preconditionResourceVersion{};
  std::string propagationPolicy{};  // Orphan | Background | Foreground
  std::optional<std::int64_t> gracePeriodSeconds{};
};

enum class PatchType {
  kMerge,           // application/merge-patch+json (RFC 7386)
  kJson,            // application/json-patch+json (RFC 6902)
  kStrategicMerge,  // application/strategic-merge-patch+json (built-in kinds only; CRDs: 415)
};

struct ApplyOptions {
  std::string fieldManager{};  // required by the server
  bool force = false;          // take over fields other managers own
  bool dryRun = false;
};

struct WatchOptions {
  std::string resourceVersion{};  // continue after this version ("" = from now, with initial ADDs)
  std::string labelSelector{};
  std::string fieldSelector{};
  bool allowBookmarks = true;
  int timeoutSeconds = 300;  // the server ends the watch after this; the caller re-watches
  net::CancelTokenPtr cancel{};
};

struct WatchEvent {
  enum class Type { kAdded, kModified, kDeleted, kBookmark, kError };
  Type type = Type::kAdded;
  Json object{};  // the object; for kError a metav1.Status
};
std::string_view watchEventTypeName(WatchEvent::Type t);

struct RetryOnConflictOptions {
  int maxAttempts = 5;
  Backoff::Options backoff{.initial = std::chrono::milliseconds(10),
                           .max = std::chrono::seconds(1),
                           .factor = 2.0,
                           .jitter = 0.5};
  bool status = false;  // write the /status subresource instead of the object
  WriteOptions write{};
};

struct ClientStats {
  std::uint64_t requests = 0;  // sent to the transport (retries included)
  std::uint64_t retries = 0;
  std::uint64_t throttled = 0;     // requests that waited for the rate limiter
  Duration throttledTime{};        // total wait for the rate limiter
  std::uint64_t tokenReloads = 0;  // token file reads
};

class Client {
 public:
  Client(Config config, net::HttpTransportPtr transport, ClientDeps deps, ClientOptions opts = {});
  // With the cpprestsdk transport for config.tls.
  static Result<std::unique_ptr<Client>> create(Config config, ClientDeps deps,
                                                ClientOptions opts = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Result<Json> get(const Resource& r, std::string_view ns, std::string_view name,
                   std::string_view subresource = {});
  // One page (opts.limit) or everything.
  Result<ObjectList> list(const Resource& r, std::string_view ns, const ListOptions& opts = {});
  // Every page, pageSize at a time; the result carries the first page's resourceVersion (all
  // pages come from that snapshot). An expired continue token (410) restarts from page one.
  Result<ObjectList> listAll(const Resource& r, std::string_view ns, ListOptions opts = {},
                             std::int64_t pageSize = 500);

  Result<Json> create(const Resource& r, std::string_view ns, const Json& obj,
                      const WriteOptions& opts = {});
  // PUT of a whole object; metadata.resourceVersion makes it conditional (409 when stale).
  // Namespace and name come from obj.metadata.
  Result<Json> update(const Resource& r, const Json& obj, const WriteOptions& opts = {});
  Result<Json> updateStatus(const Resource& r, const Json& obj, const WriteOptions& opts = {});
  Status remove(const Resource& r, std::string_view ns, std::string_view name,
                const DeleteOptions& opts = {});
  Result<Json> patch(const Resource& r, std::string_view ns, std::string_view name, PatchType type,
                     const Json& patch, const WriteOptions& opts = {},
                     std::string_view subresource = {});
  // Server-side apply (application/apply-patch+yaml) of a partial object: apiVersion and kind
  // are filled in from r when missing; namespace and name come from obj.metadata.
  Result<Json> apply(const Resource& r, const Json& obj, const ApplyOptions& opts,
                     std::string_view subresource = {});
  Result<Json> applyStatus(const Resource& r, const Json& obj, const ApplyOptions& opts) {
    return apply(r, obj, opts, "status");
  }

  // get → mutate → update until no 409 (or attempts run out). mutate edits the fresh object
  // in place; a non-OK Status from it aborts with that Status.
  Result<Json> retryOnConflict(const Resource& r, std::string_view ns, std::string_view name,
                               const std::function<Status(Json&)>& mutate,
                               const RetryOnConflictOptions& opts = {});

  // One watch request: events in order until the server ends it (OK: re-watch from the last
  // version), onEvent returns false (OK), opts.cancel fires (kCancelled) or it fails (410 →
  // kOutOfRange; ERROR events are handed to onEvent, which decides). Not retried here; the
  // Reflector owns resumption.
  Status watch(const Resource& r, std::string_view ns, const WatchOptions& opts,
               const std::function<bool(WatchEvent&)>& onEvent);

  // Any path, e.g. "/version" or "/readyz"; retried and rate-limited like the rest. Non-2xx
  // statuses are returned, not turned into errors.
  Result<net::HttpResponse> raw(std::string method, std::string path, std::string body = {},
                                std::string contentType = {});

  const Config& config() const { return config_; }
  ClientStats stats() const;
  const Clock& clock() const { return deps_.clock; }
  Sleeper& sleeper() { return deps_.sleeper; }
  Random& random() { return deps_.random; }
  const Logger& log() const { return deps_.log; }

 private:
  struct Call {
    Call(std::string m, std::string p, std::string b = {}, std::string ct = {})
        : method(std::move(m)),
          path(std::move(p)),
          body(std::move(b)),
          contentType(std::move(ct)) {}
    std::string method;
    std::string path;  // with query
    std::string body;
    std::string contentType;
    bool idempotent = true;  // safe to send again after a transport failure
    net::CancelTokenPtr cancel;
  };
  Result<net::HttpResponse> execute(const Call& call);
  Result<Json> callJson(const Call& call);
  // Waits for the rate limiter; false when cancelled.
  bool throttle(const net::CancelTokenPtr& cancel);
  std::string bearerToken();
  void invalidateToken();
  net::HttpRequest makeRequest(const Call& call);

  Config config_;
  net::HttpTransportPtr transport_;
  ClientDeps deps_;
  ClientOptions opts_;
  TokenBucket bucket_;

  mutable std::mutex mu_;
  std::string file_token_;
  std::optional<MonoTime> token_read_at_;
  ClientStats stats_;
};
using ClientPtr = std::unique_ptr<Client>;

// Query strings: builds "?a=1&b=x%2Fy" with each value URL-encoded.
class Query {
 public:
  Query& add(std::string_view key, std::string_view value);
  Query& addIf(bool cond, std::string_view key, std::string_view value) {
    return cond ? add(key, value) : *this;
  }
  std::string str() const { return q_; }  // "" or "?..."

 private:
  std::string q_;
};

// "namespace/name" for namespaced objects, "name" otherwise: the informer cache key.
std::string objectKey(const Json& obj);
std::string resourceVersionOf(const Json& obj);

}  // namespace schedkit::kube
