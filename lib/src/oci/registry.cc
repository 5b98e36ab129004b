#include "schedkit/oci/registry.h"

#include <time.h>

#include <nlohmann/json.hpp>

#include "schedkit/oci/auth.h"
#include "schedkit/oci/media_types.h"

namespace schedkit::oci {

namespace {

constexpr std::size_t kMaxErrorBody = 64 << 10;

bool isRedirect(int s) { return s == 301 || s == 302 || s == 303 || s == 307 || s == 308; }

std::string hostPortOf(const net::Url& u) {
  bool v6 = u.host.find(':') != std::string::npos;
  std::string h = v6 ? "[" + u.host + "]" : u.host;
  bool defaultPort = u.port == 0 || u.port == (u.scheme == "https" ? 443 : 80);
  if (!defaultPort) h += ":" + std::to_string(u.port);
  return h;
}

// "Retry-After: 120" or an HTTP-date.
std::optional<Duration> parseRetryAfter(const std::string& v, WallTime now) {
  if (v.empty()) return std::nullopt;
  bool digits = v.find_first_not_of("0123456789") == std::string::npos;
  if (digits && v.size() < 10) return std::chrono::seconds(std::stoll(v));
  struct tm tm {};
  if (strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm) == nullptr) return std::nullopt;
  auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
  if (when <= now) return Duration::zero();
  return std::chrono::duration_cast<Duration>(when - now);
}

// "MANIFEST_UNKNOWN: manifest unknown" from a distribution error body, else a short excerpt.
std::string errorDetail(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  std::string out;
  if (j.is_object() && j.contains("errors") && j["errors"].is_array()) {
    for (const auto& e : j["errors"]) {
      if (!e.is_object()) continue;
      std::string code = e.value("code", ""), msg = e.value("message", "");
      if (!out.empty()) out += "; ";
      out += code.empty() ? msg : code + ": " + msg;
    }
  }
  if (out.empty() && !body.empty()) {
    out = body.substr(0, 200);
    for (char& c : out) {
      if (c == '\n' || c == '\r') c = ' ';
    }
  }
  return out;
}

Status statusForHttp(int status, const std::string& what, const std::string& body) {
  std::string detail = errorDetail(body);
  std::string msg =
      what + ": HTTP " + std::to_string(status) + (detail.empty() ? "" : " (" + detail + ")");
  switch (status) {
    case 401:
    case 403:
      return permissionDenied(msg);
    case 404:
      return notFound(msg);
    case 429:
      return unavailable(msg);
    default:
      if (status >= 500) return unavailable(msg);
      return failedPrecondition(msg);
  }
}

}  // namespace

struct RegistryClient::HostState {
  std::string registry;
  std::string apiHost;
  std::string scheme;
  bool pinged = false;
  std::optional<AuthChallenge> challenge;
  std::mutex mu;
};

struct RegistryClient::Exchange {
  std::string method = "GET";
  std::string requestBody;
  std::int64_t maxBody = 1 << 20;  // buffered 2xx bodies
  bool followRedirects = false;
  std::function<Status(std::string_view)> onData;  // streams 2xx bodies when set
  std::function<Status()> onRestart;
  std::string tlsOwner;  // registry whose TLS settings apply to other hosts (realm, redirects)
  std::string actions = "pull";  // token scope: "pull" or "pull,push"

  int status = 0;
  net::Headers headers;
  std::string body;

  void clearResponse() {
    status = 0;
    headers = {};
    body.clear();
  }
};

RegistryClient::RegistryClient(RegistryClientDeps deps, RegistryClientOptions opts)
    : deps_(std::move(deps)), opts_(std::move(opts)) {}

RegistryClient::~RegistryClient() = default;

bool RegistryClient::waitBeforeRetry(Duration d) {
  if (deps_.sleep) return deps_.sleep(d);
  if (deps_.cancel) return deps_.cancel->waitFor(d);
  return true;
}

const net::TlsConfig& RegistryClient::tlsFor(const std::string& hostPort,
                                             const std::string& fallbackRegistry) {
  if (auto it = opts_.hosts.find(hostPort); it != opts_.hosts.end()) return it->second.tls;
  if (auto it = opts_.hosts.find(fallbackRegistry); it != opts_.hosts.end()) return it->second.tls;
  return opts_.defaultTls;
}

Result<net::HttpTransport*> RegistryClient::transportFor(const std::string& key,
                                                         const net::TlsConfig& tls) {
  std::lock_guard lk(mu_);
  auto it = transports_.find(key);
  if (it != transports_.end()) return it->second.get();
  if (!deps_.transports) return failedPrecondition("no HTTP transport configured");
  SK_ASSIGN_OR_RETURN(auto t, deps_.transports(tls));
  auto* raw = t.get();
  transports_[key] = std::move(t);
  return raw;
}

// One request (plus redirects), no retries.
Status RegistryClient::performOnce(HostState& h, const Reference& repo, const std::string& url,
                                   const net::Headers& headers, Exchange& ex) {
  (void)h;
  std::string cur = url;
  net::Headers hdrs = headers;
  auto first = net::parseUrl(url);
  if (!first.isOk()) return first.status().withContext("request URL");
  std::string originHost = hostPortOf(*first);
  for (int hop = 0; hop <= opts_.maxRedirects; ++hop) {
    auto u = net::parseUrl(cur);
    if (!u.isOk()) return u.status().withContext("redirect URL " + cur);
    if (u->scheme != "https" && u->scheme != "http") {
      return permissionDenied("refusing to follow a redirect to " + cur);
    }
    std::string hp = hostPortOf(*u);
    if (hop > 0 && u->scheme == "http" && first->scheme == "https") {
      return permissionDenied("refusing a redirect from HTTPS to plain HTTP (" + cur + ")");
    }
    SK_ASSIGN_OR_RETURN(
        net::HttpTransport * t,
        transportFor(u->scheme + "://" + hp + "#" + ex.tlsOwner,
                     tlsFor(hp, ex.tlsOwner.empty() ? repo.registry : ex.tlsOwner)));
    net::HttpRequest req;
    req.method = ex.method;
    req.url = cur;
    req.headers = hdrs;
    req.body = ex.requestBody;
    req.timeout = opts_.requestTimeout;
    req.followRedirects = false;
    req.cancel = deps_.netCancel;

    ex.clearResponse();
    Status sinkErr;
    bool tooBig = false, cancelled = false;
    Status st = t->stream(
        req,
        [&](const net::HttpResponse& head) {
          ex.status = head.status;
          ex.headers = head.headers;
          if (isRedirect(head.status) && ex.followRedirects) return false;
          // A HEAD's Content-Length is the size of what a GET would send (a blob's), not a body.
          if (head.status >= 200 && head.status < 300 && !ex.onData && ex.method != "HEAD") {
            if (auto cl = head.headers.get("content-length")) {
              char* end = nullptr;
              long long n = std::strtoll(cl->c_str(), &end, 10);
              if (end != cl->c_str() && n > ex.maxBody) {
                tooBig = true;
                return false;
              }
            }
          }
          return true;
        },
        [&](std::string_view chunk) {
          if (deps_.cancel && deps_.cancel->cancelled()) {
            cancelled = true;
            return false;
          }
          bool ok2xx = ex.status >= 200 && ex.status < 300;
          if (ok2xx && ex.onData) {
            sinkErr = ex.onData(chunk);
            return sinkErr.isOk();
          }
          std::size_t limit = ok2xx ? static_cast<std::size_t>(ex.maxBody) : kMaxErrorBody;
          if (ex.body.size() + chunk.size() > limit) {
            if (ok2xx) {
              tooBig = true;
              return false;
            }
            ex.body.append(chunk.substr(0, limit - ex.body.size()));
            return false;  // enough of an error body to explain it
          }
          ex.body.append(chunk);
          return true;
        });
    if (!sinkErr.isOk()) return sinkErr;
    if (cancelled) return schedkit::cancelled("pull cancelled");
    if (tooBig) {
      return resourceExhausted(cur + ": response is larger than the " + std::to_string(ex.maxBody) +
                               "-byte limit");
    }
    if (isRedirect(ex.status) && ex.followRedirects) {
      auto loc = ex.headers.get("location");
      if (!loc)
        return failedPrecondition(cur + ": HTTP " + std::to_string(ex.status) +
                                  " without Location");
      std::string next = net::resolveUrl(cur, *loc);
      auto nu = net::parseUrl(next);
      if (!nu.isOk()) return nu.status().withContext("redirect Location");
      if (hostPortOf(*nu) != originHost || nu->scheme != first->scheme) {
        // Credentials are for the registry only: never hand them to a storage backend.
        net::Headers stripped;
        for (const auto& [k, v] : hdrs.all()) {
          if (k != "authorization") stripped.add(k, v);
        }
        hdrs = std::move(stripped);
      }
      deps_.log.debug("following registry redirect", {{"from", cur}, {"to", next}});
      cur = next;
      continue;
    }
    if (!st.isOk() && ex.status == 0) return st;
    if (!st.isOk() && ex.status >= 200 && ex.status < 300) return st;  // body cut short
    return Status::ok();
  }
  return failedPrecondition(url + ": more than " + std::to_string(opts_.maxRedirects) +
                            " redirects");
}

Result<RegistryClient::HostState*> RegistryClient::host(const std::string& registry) {
  HostState* h;
  {
    std::lock_guard lk(mu_);
    auto& slot = hosts_[registry];
    if (!slot) {
      slot = std::make_unique<HostState>();
      slot->registry = registry;
      Reference r;
      r.registry = registry;
      slot->apiHost = r.apiHost();
    }
    h = slot.get();
  }
  std::lock_guard hl(h->mu);
  if (h->pinged) return h;
  std::vector<std::string> schemes{"https"};
  auto ho = opts_.hosts.find(registry);
  bool plainOk = (ho != opts_.hosts.end() && ho->second.plainHttp) ||
                 (opts_.plainHttpLoopback && isLoopbackHost(registry));
  if (plainOk) schemes.push_back("http");
  Status last;
  Reference repo;
  repo.registry = registry;
  for (const auto& scheme : schemes) {
    Exchange ex;
    ex.maxBody = 64 << 10;
    std::string url = scheme + "://" + h->apiHost + "/v2/";
    net::Headers hd;
    hd.set("user-agent", opts_.userAgent);
    Backoff b(opts_.backoff);
    Status st;
    for (int n = 1;; ++n) {
      st = performOnce(*h, repo, url, hd, ex);
      bool retry = (!st.isOk() && st.code() == StatusCode::kDeadlineExceeded) ||
                   (st.isOk() && (ex.status >= 500 || ex.status == 429));
      // A TLS/connect failure on the first scheme moves on to the next one instead.
      if (!st.isOk() && st.code() == StatusCode::kUnavailable && &scheme != &schemes.back()) break;
      if (!st.isOk() && st.code() == StatusCode::kUnavailable) retry = true;
      if (!retry || n >= opts_.maxAttempts) break;
      Duration d = b.next(deps_.random);
      deps_.log.warn("registry not ready, retrying", {{"registry", registry}, {"delay", d}});
      if (!waitBeforeRetry(d)) return cancelled("pull cancelled");
    }
    if (!st.isOk()) {
      last = st;
      continue;
    }
    if (scheme == "http" && ex.status != 200 && ex.status != 401 && !last.isOk()) {
      // An HTTPS server answers plain HTTP with 400: the HTTPS failure is the real story.
      break;
    }
    if (ex.status >= 500 || ex.status == 429) {
      return statusForHttp(ex.status, "registry " + registry, ex.body);
    }
    h->scheme = scheme;
    if (ex.status == 401) {
      auto chs = parseWwwAuthenticate(ex.headers.get("www-authenticate").value_or(""));
      for (const auto& c : chs) {
        if (c.scheme == "bearer" && !c.param("realm").empty()) {
          h->challenge = c;
          break;
        }
      }
      if (!h->challenge) {
        for (const auto& c : chs) {
          if (c.scheme == "basic") h->challenge = c;
        }
      }
      if (!h->challenge) {
        return permissionDenied("registry " + registry + " wants authentication it does not name");
      }
    }
    if (scheme == "http") {
      deps_.log.info("using plain HTTP for registry", {{"registry", registry}});
    }
    h->pinged = true;
    return h;
  }
  return unavailable("registry " + registry + " is unreachable: " + last.message());
}

Result<std::string> RegistryClient::fetchToken(HostState& h, const Reference& repo,
                                               const Keychain& keys, const std::string& scope) {
  const AuthChallenge& ch = *h.challenge;
  auto cred = keys.lookup(repo.registry, repo.repository);
  std::string realm = ch.param("realm"), service = ch.param("service");
  auto ru = net::parseUrl(realm);
  if (!ru.isOk() || (ru->scheme != "https" && ru->scheme != "http")) {
    return permissionDenied("registry " + repo.registry + " names an unusable token realm \"" +
                            realm + "\"");
  }
  if (ru->scheme == "http" && !isLoopbackHost(hostPortOf(*ru)) && h.scheme == "https") {
    return permissionDenied("refusing to send credentials to a plain-HTTP token realm " + realm);
  }
  Exchange ex;
  ex.maxBody = 1 << 20;
  ex.tlsOwner = repo.registry;
  net::Headers hd;
  hd.set("user-agent", opts_.userAgent);
  std::string url;
  if (cred && !cred->identityToken.empty()) {
    ex.method = "POST";
    hd.set("content-type", "application/x-www-form-urlencoded");
    ex.requestBody =
        "grant_type=refresh_token&client_id=schedkit&service=" + net::urlEncode(service) +
        "&scope=" + net::urlEncode(scope) + "&refresh_token=" + net::urlEncode(cred->identityToken);
    url = realm;
  } else {
    url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
    url += "service=" + net::urlEncode(service);
    if (!scope.empty()) url += "&scope=" + net::urlEncode(scope);
    if (cred && !cred->username.empty()) {
      hd.set("authorization", "Basic " + base64Encode(cred->username + ":" + cred->password));
    }
  }
  Backoff b(opts_.backoff);
  for (int n = 1;; ++n) {
    Status st = performOnce(h, repo, url, hd, ex);
    bool retry = (!st.isOk() && (st.code() == StatusCode::kUnavailable ||
                                 st.code() == StatusCode::kDeadlineExceeded)) ||
                 (st.isOk() && (ex.status >= 500 || ex.status == 429));
    if (!retry || n >= opts_.maxAttempts) {
      if (!st.isOk()) return st.withContext("token request to " + realm);
      break;
    }
    if (!waitBeforeRetry(b.next(deps_.random))) return cancelled("pull cancelled");
  }
  if (ex.status == 401 || ex.status == 403) {
    return permissionDenied(
        "authentication to " + repo.registry + " failed: the token server " + realm + " answered " +
        std::to_string(ex.status) +
        (cred ? " for the configured credentials" : " to an anonymous request"));
  }
  if (ex.status != 200) return statusForHttp(ex.status, "token request to " + realm, ex.body);
  auto tr = parseTokenResponse(ex.body);
  if (!tr.isOk()) return tr.status().withContext(realm);
  std::string key =
      realm + "|" + service + "|" + scope + "|" +
      (cred ? Digest::of(cred->username + ":" + cred->password + ":" + cred->identityToken).hex()
            : "");
  std::lock_guard lk(mu_);
  // A little early, so a token never expires in flight.
  tokens_[key] = {tr->token, deps_.clock.now() + std::chrono::seconds(tr->expiresIn) -
                                 std::chrono::seconds(tr->expiresIn > 30 ? 10 : 0)};
  return tr->token;
}

Result<std::string> RegistryClient::authorization(HostState& h, const Reference& repo,
                                                  const Keychain& keys, bool forceRefresh,
                                                  const std::string& actions) {
  if (!h.challenge) return std::string();
  auto cred = keys.lookup(repo.registry, repo.repository);
  if (h.challenge->scheme == "basic") {
    if (!cred || cred->username.empty()) return std::string();
    return "Basic " + base64Encode(cred->username + ":" + cred->password);
  }
  if (h.challenge->scheme != "bearer") return std::string();
  if (cred && !cred->registryToken.empty()) return "Bearer " + cred->registryToken;
  std::string scope = "repository:" + repo.repository + ":" + actions;
  std::string key =
      h.challenge->param("realm") + "|" + h.challenge->param("service") + "|" + scope + "|" +
      (cred ? Digest::of(cred->username + ":" + cred->password + ":" + cred->identityToken).hex()
            : "");
  if (!forceRefresh) {
    std::lock_guard lk(mu_);
    auto it = tokens_.find(key);
    if (it != tokens_.end() && deps_.clock.now() < it->second.expires) {
      return "Bearer " + it->second.token;
    }
  }
  SK_ASSIGN_OR_RETURN(std::string tok, fetchToken(h, repo, keys, scope));
  return "Bearer " + tok;
}

Status RegistryClient::perform(const Reference& repo, const Keychain& keys, const std::string& path,
                               const net::Headers& extra, Exchange& ex) {
  SK_ASSIGN_OR_RETURN(HostState * h, host(repo.registry));
  // Upload locations come back as absolute URLs.
  bool absolute = path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0;
  std::string url = absolute ? path : h->scheme + "://" + h->apiHost + path;
  bool reauthed = false;
  for (;;) {
    SK_ASSIGN_OR_RETURN(std::string auth, authorization(*h, repo, keys, reauthed, ex.actions));
    net::Headers hd = extra;
    hd.set("user-agent", opts_.userAgent);
    if (!auth.empty()) hd.set("authorization", auth);
    Backoff b(opts_.backoff);
    Status st;
    for (int n = 1;; ++n) {
      st = performOnce(*h, repo, url, hd, ex);
      bool transient = !st.isOk() && (st.code() == StatusCode::kUnavailable ||
                                      st.code() == StatusCode::kDeadlineExceeded);
      bool retryStatus = st.isOk() && ((ex.status >= 500 && ex.status != 501) || ex.status == 429);
      if ((!transient && !retryStatus) || n >= opts_.maxAttempts) break;
      Duration d = b.next(deps_.random);
      if (retryStatus) {
        if (auto ra = parseRetryAfter(ex.headers.get("retry-after").value_or(""),
                                      deps_.clock.wallNow())) {
          d = std::min(*ra, opts_.maxRetryAfter);
        }
      }
      deps_.log.warn("registry request failed, retrying",
                     {{"url", url},
                      {"attempt", n},
                      {"delay", d},
                      {"error", st.isOk() ? "HTTP " + std::to_string(ex.status) : st.message()}});
      if (!waitBeforeRetry(d)) return cancelled("pull cancelled");
      if (ex.onRestart) SK_RETURN_IF_ERROR(ex.onRestart());
    }
    if (!st.isOk()) return st;
    if (ex.status == 401 && !reauthed) {
      // The token may have expired or the registry wants a challenge we have not seen yet.
      auto chs = parseWwwAuthenticate(ex.headers.get("www-authenticate").value_or(""));
      for (const auto& c : chs) {
        if (c.scheme == "bearer" && !c.param("realm").empty()) {
          std::lock_guard hl(h->mu);
          h->challenge = c;
        } else if (c.scheme == "basic" && !h->challenge) {
          std::lock_guard hl(h->mu);
          h->challenge = c;
        }
      }
      if (h->challenge) {
        reauthed = true;
        if (ex.onRestart) SK_RETURN_IF_ERROR(ex.onRestart());
        continue;
      }
    }
    return Status::ok();
  }
}

Result<FetchedManifest> RegistryClient::getManifest(const Reference& repo,
                                                    std::string_view tagOrDigest,
                                                    const Keychain& keys) {
  Exchange ex;
  ex.maxBody = opts_.maxManifestBytes;
  net::Headers hd;
  hd.set("accept", std::string(media::kManifestAccept));
  std::string what = "manifest " + repo.repositoryName() +
                     (tagOrDigest.rfind("sha256:", 0) == 0 ? "@" : ":") + std::string(tagOrDigest);
  Status st = perform(repo, keys,
                      "/v2/" + repo.repository + "/manifests/" + std::string(tagOrDigest), hd, ex);
  if (!st.isOk()) return st.withContext(what);
  if (ex.status != 200) {
    if (ex.status == 404)
      return notFound(what + " not found" +
                      (errorDetail(ex.body).empty() ? "" : " (" + errorDetail(ex.body) + ")"));
    return statusForHttp(ex.status, what, ex.body);
  }
  FetchedManifest m;
  m.body = std::move(ex.body);
  m.digest = Digest::of(m.body);
  if (tagOrDigest.rfind("sha256:", 0) == 0) {
    SK_ASSIGN_OR_RETURN(Digest want, Digest::parse(tagOrDigest));
    SK_RETURN_IF_ERROR(verifyDigest(what, want, m.digest));
  } else if (auto dcd = ex.headers.get("docker-content-digest")) {
    auto want = Digest::parse(*dcd);
    if (want.isOk())
      SK_RETURN_IF_ERROR(verifyDigest(what + " (Docker-Content-Digest)", *want, m.digest));
  }
  auto mt = manifestMediaType(m.body, ex.headers.get("content-type").value_or(""));
  if (!mt.isOk()) return mt.status().withContext(what);
  m.mediaType = *mt;
  return m;
}

Status RegistryClient::getBlob(const Reference& repo, const Descriptor& d, const Keychain& keys,
                               BlobSink& sink, const ByteProgress& progress) {
  std::string what = "blob " + d.digest.toString() + " of " + repo.repositoryName();
  Exchange ex;
  ex.followRedirects = true;
  auto hasher = std::make_unique<Sha256>();
  std::int64_t got = 0;
  ex.onData = [&](std::string_view chunk) -> Status {
    got += static_cast<std::int64_t>(chunk.size());
    if (got > d.size) {
      return dataLoss(what + ": larger than the " + std::to_string(d.size) +
                      " bytes its descriptor says");
    }
    hasher->update(chunk);
    SK_RETURN_IF_ERROR(sink.write(chunk));
    if (progress) progress(got, d.size);
    return Status::ok();
  };
  ex.onRestart = [&]() -> Status {
    hasher = std::make_unique<Sha256>();
    got = 0;
    return sink.reset();
  };
  Status st =
      perform(repo, keys, "/v2/" + repo.repository + "/blobs/" + d.digest.toString(), {}, ex);
  if (!st.isOk()) return st.withContext(what);
  if (ex.status != 200) {
    if (ex.status == 404) return notFound(what + " not found (missing blob)");
    return statusForHttp(ex.status, what, ex.body);
  }
  if (got != d.size) {
    return dataLoss(what + ": got " + std::to_string(got) + " bytes, its descriptor says " +
                    std::to_string(d.size));
  }
  return verifyDigest(what, d.digest, hasher->finish());
}

Result<bool> RegistryClient::hasBlob(const Reference& repo, const Digest& d, const Keychain& keys) {
  Exchange ex;
  ex.method = "HEAD";
  ex.followRedirects = true;
  std::string what = "blob " + d.toString() + " of " + repo.repositoryName();
  Status st = perform(repo, keys, "/v2/" + repo.repository + "/blobs/" + d.toString(), {}, ex);
  if (!st.isOk()) return st.withContext(what);
  if (ex.status == 200) return true;
  if (ex.status == 404) return false;
  return statusForHttp(ex.status, what, ex.body);
}

Status RegistryClient::pushBlob(const Reference& repo, const Descriptor& d, std::string_view data,
                                const Keychain& keys) {
  std::string what = "pushing blob " + d.digest.toString() + " to " + repo.repositoryName();
  if (static_cast<std::int64_t>(data.size()) != d.size) {
    return invalidArgument(what + ": " + std::to_string(data.size()) + " bytes, descriptor says " +
                           std::to_string(d.size));
  }
  SK_RETURN_IF_ERROR(verifyDigest(what, d.digest, Digest::of(data)));
  SK_ASSIGN_OR_RETURN(bool present, hasBlob(repo, d.digest, keys));
  if (present) return Status::ok();
  // A monolithic upload: POST opens a session, PUT ?digest= sends the bytes and closes it.
  Exchange open;
  open.method = "POST";
  open.actions = "pull,push";
  SK_RETURN_IF_ERROR(perform(repo, keys, "/v2/" + repo.repository + "/blobs/uploads/", {}, open)
                         .withContext(what));
  if (open.status != 202) return statusForHttp(open.status, what, open.body);
  auto loc = open.headers.get("location");
  if (!loc) return failedPrecondition(what + ": the registry gave no upload location");
  SK_ASSIGN_OR_RETURN(HostState * h, host(repo.registry));
  std::string url = net::resolveUrl(
      h->scheme + "://" + h->apiHost + "/v2/" + repo.repository + "/blobs/uploads/", *loc);
  url += (url.find('?') == std::string::npos ? "?" : "&");
  url += "digest=" + net::urlEncode(d.digest.toString());
  Exchange put;
  put.method = "PUT";
  put.actions = "pull,push";
  put.requestBody = std::string(data);
  net::Headers hd;
  hd.set("content-type", "application/octet-stream");
  SK_RETURN_IF_ERROR(perform(repo, keys, url, hd, put).withContext(what));
  if (put.status != 201) return statusForHttp(put.status, what, put.body);
  return Status::ok();
}

Result<Digest> RegistryClient::pushManifest(const Reference& repo, std::string_view tag,
                                            std::string_view mediaType, std::string_view body,
                                            const Keychain& keys) {
  std::string what = "pushing manifest " + repo.repositoryName() + ":" + std::string(tag);
  if (static_cast<std::int64_t>(body.size()) > opts_.maxManifestBytes) {
    return resourceExhausted(what + ": larger than the " + std::to_string(opts_.maxManifestBytes) +
                             "-byte limit");
  }
  Digest d = Digest::of(body);
  Exchange ex;
  ex.method = "PUT";
  ex.actions = "pull,push";
  ex.requestBody = std::string(body);
  net::Headers hd;
  hd.set("content-type", std::string(mediaType));
  std::string ref = tag.empty() ? d.toString() : std::string(tag);
  SK_RETURN_IF_ERROR(perform(repo, keys, "/v2/" + repo.repository + "/manifests/" + ref, hd, ex)
                         .withContext(what));
  if (ex.status != 201) return statusForHttp(ex.status, what, ex.body);
  if (auto dcd = ex.headers.get("docker-content-digest")) {
    auto got = Digest::parse(*dcd);
    if (got.isOk()) SK_RETURN_IF_ERROR(verifyDigest(what + " (Docker-Content-Digest)", d, *got));
  }
  return d;
}

namespace {
class StringSink final : public BlobSink {
 public:
  explicit StringSink(std::int64_t max) : max_(max) {}
  Status write(std::string_view c) override {
    if (static_cast<std::int64_t>(data.size() + c.size()) > max_) {
      return resourceExhausted("blob is larger than the " + std::to_string(max_) + "-byte limit");
    }
    data.append(c);
    return Status::ok();
  }
  Status reset() override {
    data.clear();
    return Status::ok();
  }
  std::string data;

 private:
  std::int64_t max_;
};
}  // namespace

Result<std::string> RegistryClient::getBlobBytes(const Reference& repo, const Descriptor& d,
                                                 const Keychain& keys, std::int64_t maxBytes) {
  if (d.size > maxBytes) {
    return resourceExhausted("blob " + d.digest.toString() + " is " + std::to_string(d.size) +
                             " bytes, over the " + std::to_string(maxBytes) + "-byte limit");
  }
  StringSink sink(maxBytes);
  SK_RETURN_IF_ERROR(getBlob(repo, d, keys, sink));
  return std::move(sink.data);
}

}  // namespace schedkit::oci
