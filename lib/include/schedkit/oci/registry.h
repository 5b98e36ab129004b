#pragma once

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
#include "schedkit/common/logger.h"
#include "schedkit/common/random.h"
#include "schedkit/common/status.h"
#include "schedkit/net/http.h"
#include "schedkit/oci/cancel.h"
#include "schedkit/oci/credentials.h"
#include "schedkit/oci/digest.h"
#include "schedkit/oci/manifest.h"
#include "schedkit/oci/reference.h"

namespace schedkit::oci {

// Builds a transport for one TLS configuration; production passes net::makeCpprestTransport,
// tests a fake.
using TransportFactory = std::function<Result<net::HttpTransportPtr>(const net::TlsConfig&)>;

// How to reach one registry host (host[:port] as written in references).
struct RegistryHostOptions {
  net::TlsConfig tls;      // custom CA, client cert, SNI for this host
  bool plainHttp = false;  // allow plain HTTP to this (non-loopback) host
};

struct RegistryClientOptions {
  std::map<std::string, RegistryHostOptions> hosts;
  net::TlsConfig defaultTls;  // hosts not listed (system CAs)
  // Loopback registries (127.0.0.0/8, localhost, [::1]) may be plain HTTP: the client tries
  // HTTPS first and falls back to HTTP when the TLS connection fails. Other hosts need
  // `plainHttp` in their RegistryHostOptions.
  bool plainHttpLoopback = true;
  int maxAttempts = 5;  // per request, counting the first; retries on transport errors, 5xx, 429
  Backoff::Options backoff{std::chrono::milliseconds(250), std::chrono::seconds(10), 2.0, 0.5};
  Duration maxRetryAfter = std::chrono::seconds(60);   // Retry-After beyond this is capped
  Duration requestTimeout = std::chrono::seconds(60);  // idle gap on a response body
  std::int64_t maxManifestBytes = kMaxManifestBytes;
  int maxRedirects = 5;
  std::string userAgent = "schedkit/0.1";

  // The --insecure-registry HOST and --registry-ca HOST=FILE flags the agent and the operator
  // share (already checked to contain '=').
  void addFlags(const std::vector<std::string>& insecure, const std::vector<std::string>& cas) {
    for (const auto& h : insecure) hosts[h].plainHttp = true;
    for (const auto& rc : cas) {
      auto eq = rc.find('=');
      hosts[rc.substr(0, eq)].tls.caFile = rc.substr(eq + 1);
    }
  }
};

struct RegistryClientDeps {
  TransportFactory transports;
  Clock& clock;
  Random& random;
  const Logger& log;
  Sleeper sleep;  // empty: waits on `cancel` (or not at all without one)
  CancelTokenPtr cancel;
  net::CancelTokenPtr netCancel;  // handed to every request, so a cancel ends one in flight
};

struct FetchedManifest {
  std::string mediaType;  // effective kind (see manifestMediaType)
  Digest digest;          // sha256 of body, checked against the request / Docker-Content-Digest
  std::string body;
};

// Receives a blob as it streams in. reset() is called before a retry starts the blob again.
class BlobSink {
 public:
  virtual ~BlobSink() = default;
  virtual Status write(std::string_view chunk) = 0;
  virtual Status reset() = 0;
};

using ByteProgress = std::function<void(std::int64_t done, std::int64_t total)>;

// A client for the OCI distribution API v2 (pull side) over the HttpTransport seam. Blocking:
// call it from a worker thread, never from the agent's event loop. Thread-safe; host probes,
// transports and bearer tokens (per credential, realm, service and scope) are cached.
//
// Authentication: anonymous, Basic (credentials from the Keychain) and Bearer tokens (the Docker
// token flow: a 401 challenge names realm/service/scope, the token comes from the realm with Basic
// credentials, or by refresh token for an identity token). A 401 on an authorised request
// refreshes the token once. Every manifest and blob is verified against its digest and size.
class RegistryClient {
 public:
  RegistryClient(RegistryClientDeps deps, RegistryClientOptions opts);
  ~RegistryClient();

  // GET /v2/<repo>/manifests/<tagOrDigest>. Verifies the body against a requested digest (or the
  // Docker-Content-Digest header for tags) and the size limit.
  Result<FetchedManifest> getManifest(const Reference& repo, std::string_view tagOrDigest,
                                      const Keychain& keys);
  // GET /v2/<repo>/blobs/<digest>, following redirects (Authorization is dropped on a redirect
  // to another host), streaming into `sink` while hashing; a size or digest mismatch is
  // kDataLoss and the sink holds garbage.
  Status getBlob(const Reference& repo, const Descriptor& d, const Keychain& keys, BlobSink& sink,
                 const ByteProgress& progress = nullptr);
  // A small blob (config, signature payload) into memory, at most maxBytes.
  Result<std::string> getBlobBytes(const Reference& repo, const Descriptor& d, const Keychain& keys,
                                   std::int64_t maxBytes);

  // Push side (for `schedkitctl image push`); tokens are asked for with scope pull,push.
  // HEAD /v2/<repo>/blobs/<digest>.
  Result<bool> hasBlob(const Reference& repo, const Digest& d, const Keychain& keys);
  // Uploads a blob (monolithic POST + PUT ?digest=) unless the repository has it already.
  Status pushBlob(const Reference& repo, const Descriptor& d, std::string_view data,
                  const Keychain& keys);
  // PUT /v2/<repo>/manifests/<tag> (by digest when tag is empty); returns the manifest digest.
  Result<Digest> pushManifest(const Reference& repo, std::string_view tag,
                              std::string_view mediaType, std::string_view body,
                              const Keychain& keys);

 private:
  struct HostState;
  struct Exchange;
  struct TokenKey;
  Result<HostState*> host(const std::string& registry);
  Result<net::HttpTransport*> transportFor(const std::string& hostPort, const net::TlsConfig& tls);
  const net::TlsConfig& tlsFor(const std::string& hostPort, const std::string& fallbackRegistry);
  Status perform(const Reference& repo, const Keychain& keys, const std::string& path,
                 const net::Headers& extra, Exchange& ex);
  Status performOnce(HostState& h, const Reference& repo, const std::string& url,
                     const net::Headers& headers, Exchange& ex);
  Result<std::string> authorization(HostState& h, const Reference& repo, const Keychain& keys,
                                    bool forceRefresh, const std::string& actions);
  Result<std::string> fetchToken(HostState& h, const Reference& repo, const Keychain& keys,
                                 const std::string& scope);
  bool waitBeforeRetry(Duration d);

  RegistryClientDeps deps_;
  RegistryClientOptions opts_;
  std::mutex mu_;
  std::map<std::string, std::unique_ptr<HostState>> hosts_;
  std::map<std::string, net::HttpTransportPtr> transports_;  // by scheme://host:port + tls id
  struct CachedToken {
    std::string token;
    MonoTime expires;
  };
  std::map<std::string, CachedToken> tokens_;
};

}  // namespace schedkit::oci
