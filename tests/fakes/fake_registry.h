#pragma once

// An in-memory OCI distribution registry behind the HttpTransport seam, for unit tests of the
// registry client and the image store. It speaks enough of the distribution API v2 (GET /v2/,
// manifests, blobs), Basic auth and the Docker token flow (realm on a separate host), and can
// inject faults: 5xx/429 with Retry-After, redirects to a blob host, corrupt or missing blobs,
// plain-HTTP vs TLS hosts, transport failures. Integration tests use the real docker-registry.

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "schedkit/net/http.h"
#include "schedkit/oci/credentials.h"
#include "schedkit/oci/digest.h"

namespace schedkit::oci::testing {

class FakeRegistry {
 public:
  enum class Auth { kNone, kBasic, kBearer };

  std::string host = "reg.test";        // registry host[:port] as in references
  std::string tokenHost = "auth.test";  // realm host (bearer)
  std::string blobHost = "cdn.test";    // redirect target for blobs
  bool tls = true;                      // false: only plain HTTP answers
  Auth auth = Auth::kNone;
  std::string user = "alice", pass = "secret";
  long long tokenExpiresIn = 300;
  bool anonymousPull = false;  // bearer: tokens without credentials are granted
  bool redirectBlobs = false;
  std::string redirectLocation;  // overrides the blob host URL (e.g. plain HTTP, a loop)
  std::size_t chunkSize = 4096;
  std::string service = "fake-registry";

  // Statuses returned (in order) for the next requests to the registry host, before routing.
  struct Fault {
    int status = 503;
    std::string retryAfter;
    bool transportError = false;  // fail like a dropped connection instead
  };
  std::deque<Fault> faults;
  std::set<std::string> corruptBlobs;    // digest strings served with a flipped byte
  std::set<std::string> truncatedBlobs;  // served one byte short

  struct Seen {
    std::string method, url;
    net::Headers headers;
  };

  // --- content --------------------------------------------------------------------------------
  // Stores a manifest under its digest and, when tag is non-empty, the tag. Returns the digest.
  std::string putManifest(const std::string& repo, const std::string& tag,
                          const std::string& mediaType, const std::string& body) {
    std::lock_guard lk(mu_);
    std::string d = Digest::of(body).toString();
    manifests_[repo][d] = {mediaType, body};
    if (!tag.empty()) manifests_[repo][tag] = {mediaType, body};
    return d;
  }
  std::string putBlob(const std::string& repo, const std::string& body) {
    std::lock_guard lk(mu_);
    std::string d = Digest::of(body).toString();
    blobs_[repo][d] = body;
    return d;
  }
  void deleteBlob(const std::string& repo, const std::string& digest) {
    std::lock_guard lk(mu_);
    blobs_[repo].erase(digest);
  }
  void deleteTag(const std::string& repo, const std::string& tag) {
    std::lock_guard lk(mu_);
    manifests_[repo].erase(tag);
  }

  // Forgets every token issued, as a restarted token issuer with a new key would.
  void revokeTokens() {
    std::lock_guard lk(mu_);
    issued_.clear();
  }

  std::vector<Seen> requests() const {
    std::lock_guard lk(mu_);
    return seen_;
  }
  int count(const std::string& urlPart) const {
    std::lock_guard lk(mu_);
    int n = 0;
    for (const auto& s : seen_) n += s.url.find(urlPart) != std::string::npos;
    return n;
  }
  int tokenRequests() const { return count(tokenHost + "/token"); }
  std::vector<net::TlsConfig> tlsConfigs() const {
    std::lock_guard lk(mu_);
    return tls_;
  }
  bool down = false;  // every request fails like an unreachable host

  // A transport factory for RegistryClientDeps.
  std::function<Result<net::HttpTransportPtr>(const net::TlsConfig&)> factory() {
    return [this](const net::TlsConfig& t) -> Result<net::HttpTransportPtr> {
      std::lock_guard lk(mu_);
      tls_.push_back(t);
      return net::HttpTransportPtr(new Transport(*this));
    };
  }

 private:
  struct Stored {
    std::string mediaType, body;
  };

  class Transport final : public net::HttpTransport {
   public:
    explicit Transport(FakeRegistry& r) : r_(r) {}
    Result<net::HttpResponse> send(const net::HttpRequest& req) override {
      net::HttpResponse out;
      Status st = stream(
          req,
          [&](const net::HttpResponse& h) {
            out.status = h.status;
            out.headers = h.headers;
            return true;
          },
          [&](std::string_view c) {
            out.body.append(c);
            return true;
          });
      if (!st.isOk()) return st;
      return out;
    }
    Status stream(const net::HttpRequest& req,
                  const std::function<bool(const net::HttpResponse&)>& onHead,
                  const std::function<bool(std::string_view)>& onData) override {
      auto res = r_.handle(req);
      if (!res.isOk()) return res.status();
      net::HttpResponse head = *res;
      std::string body = std::move(head.body);
      head.body.clear();
      if (req.method == "HEAD") body.clear();  // the headers (Content-Length too) of a GET, no body
      if (!onHead(head)) return Status::ok();
      for (std::size_t off = 0; off < body.size(); off += r_.chunkSize) {
        if (!onData(std::string_view(body).substr(off, r_.chunkSize))) return Status::ok();
      }
      return Status::ok();
    }

   private:
    FakeRegistry& r_;
  };

  static net::HttpResponse reply(int status, std::string body = "",
                                 std::string contentType = "application/json") {
    net::HttpResponse r;
    r.status = status;
    r.body = std::move(body);
    if (!contentType.empty()) r.headers.set("content-type", contentType);
    r.headers.set("content-length", std::to_string(r.body.size()));
    return r;
  }
  static net::HttpResponse error(int status, const std::string& code, const std::string& msg) {
    return reply(status, "{\"errors\":[{\"code\":\"" + code + "\",\"message\":\"" + msg + "\"}]}");
  }

  net::HttpResponse challenge() const {
    auto r = error(401, "UNAUTHORIZED", "authentication required");
    if (auth == Auth::kBasic) {
      r.headers.set("www-authenticate", "Basic realm=\"fake\"");
    } else {
      r.headers.set("www-authenticate",
                    "Bearer realm=\"https://" + tokenHost + "/token\",service=\"" + service + "\"");
    }
    return r;
  }

  bool authorized(const net::HttpRequest& req, const std::string& repo, bool write = false) const {
    if (auth == Auth::kNone) return true;
    auto h = req.headers.get("authorization").value_or("");
    if (auth == Auth::kBasic) return h == "Basic " + base64Encode(user + ":" + pass);
    auto it = issued_.find(h.size() > 7 ? h.substr(7) : "");
    if (h.rfind("Bearer ", 0) != 0 || it == issued_.end()) return false;
    if (repo.empty()) return true;
    if (write) return it->second == "repository:" + repo + ":pull,push";
    return it->second == "repository:" + repo + ":pull" ||
           it->second == "repository:" + repo + ":pull,push";
  }

  Result<net::HttpResponse> handle(const net::HttpRequest& req) {
    std::lock_guard lk(mu_);
    seen_.push_back({req.method, req.url, req.headers});
    if (down) return unavailable("connect " + req.url + ": Connection refused");
    auto u = net::parseUrl(req.url);
    if (!u.isOk()) return u.status();
    bool https = u->scheme == "https";
    bool defaultPort = u->port == 0 || u->port == (https ? 443 : 80);
    std::string hp = u->host + (defaultPort ? "" : ":" + std::to_string(u->port));
    if (hp == tokenHost) return token(req, *u);
    if (hp == blobHost) {
      if (!https) return unavailable("TLS required");
      std::string d = u->path.substr(u->path.rfind('/') + 1);
      for (auto& [repo, blobs] : blobs_) {
        if (auto it = blobs.find(d); it != blobs.end())
          return reply(200, mangle(d, it->second), "application/octet-stream");
      }
      return reply(404, "no such blob");
    }
    if (hp != host) return unavailable("connect " + hp + ": no such host");
    if (tls && !https)
      return reply(400, "Client sent an HTTP request to an HTTPS server.", "text/plain");
    if (!tls && https) return unavailable("TLS handshake with " + hp + ": wrong version number");
    if (!faults.empty()) {
      Fault f = faults.front();
      faults.pop_front();
      if (f.transportError) return unavailable("connection reset by peer");
      auto r = error(f.status, "UNAVAILABLE", "try later");
      if (!f.retryAfter.empty()) r.headers.set("retry-after", f.retryAfter);
      return r;
    }
    const std::string& p = u->path;
    if (p == "/v2/" || p == "/v2") {
      if (!authorized(req, "")) return challenge();
      return reply(200, "{}");
    }
    // /v2/<repo>/(manifests|blobs)/<ref>
    auto m = p.rfind("/manifests/"), b = p.rfind("/blobs/");
    bool isManifest = m != std::string::npos;
    auto cut = isManifest ? m : b;
    if (p.rfind("/v2/", 0) != 0 || cut == std::string::npos)
      return error(404, "NAME_UNKNOWN", "bad path");
    std::string repo = p.substr(4, cut - 4);
    std::string ref = p.substr(cut + (isManifest ? 11 : 7));
    bool write = req.method == "PUT" || req.method == "POST";
    if (!authorized(req, repo, write)) return challenge();
    if (!isManifest && ref.rfind("uploads", 0) == 0) {
      if (req.method == "POST") {
        auto r = reply(202, "", "");
        r.headers.set("location",
                      "/v2/" + repo + "/blobs/uploads/u" + std::to_string(++uploads_) + "?state=x");
        return r;
      }
      std::string want;
      if (auto pos = u->query.find("digest="); pos != std::string::npos) {
        want = u->query.substr(pos + 7);
        for (std::size_t i; (i = want.find("%3A")) != std::string::npos;) want.replace(i, 3, ":");
      }
      if (req.method != "PUT" || want != Digest::of(req.body).toString()) {
        return error(400, "DIGEST_INVALID", "provided digest did not match uploaded content");
      }
      blobs_[repo][want] = req.body;
      return reply(201, "", "");
    }
    if (isManifest && req.method == "PUT") {
      std::string d = Digest::of(req.body).toString();
      std::string mt = req.headers.get("content-type").value_or("");
      manifests_[repo][d] = {mt, req.body};
      if (ref.rfind("sha256:", 0) != 0) manifests_[repo][ref] = {mt, req.body};
      auto r = reply(201, "", "");
      r.headers.set("docker-content-digest", d);
      return r;
    }
    if (isManifest) {
      auto rit = manifests_.find(repo);
      if (rit == manifests_.end()) return error(404, "NAME_UNKNOWN", "repository name not known");
      auto it = rit->second.find(ref);
      if (it == rit->second.end()) return error(404, "MANIFEST_UNKNOWN", "manifest unknown");
      auto r = reply(200, it->second.body, it->second.mediaType);
      r.headers.set("docker-content-digest", Digest::of(it->second.body).toString());
      return r;
    }
    auto rit = blobs_.find(repo);
    if (rit == blobs_.end() || !rit->second.count(ref))
      return error(404, "BLOB_UNKNOWN", "blob unknown");
    if (redirectBlobs) {
      auto r = reply(307, "", "");
      r.headers.set("location", redirectLocation.empty()
                                    ? "https://" + blobHost + "/store/" + ref + "?sig=abc"
                                    : redirectLocation);
      return r;
    }
    return reply(200, mangle(ref, rit->second.at(ref)), "application/octet-stream");
  }

  std::string mangle(const std::string& d, std::string body) const {
    if (corruptBlobs.count(d) && !body.empty()) body[body.size() / 2] ^= 0x5a;
    if (truncatedBlobs.count(d) && !body.empty()) body.pop_back();
    return body;
  }

  Result<net::HttpResponse> token(const net::HttpRequest& req, const net::Url& u) {
    std::map<std::string, std::string> q;
    std::string query = u.query;
    if (req.method == "POST") query = req.body;
    std::size_t pos = 0;
    while (pos < query.size()) {
      auto amp = query.find('&', pos);
      if (amp == std::string::npos) amp = query.size();
      auto kv = query.substr(pos, amp - pos);
      auto eq = kv.find('=');
      std::string v = eq == std::string::npos ? "" : kv.substr(eq + 1);
      std::string dec;
      for (std::size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size()) {
          dec += static_cast<char>(std::stoi(v.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else {
          dec += v[i];
        }
      }
      q[kv.substr(0, eq)] = dec;
      pos = amp + 1;
    }
    bool ok;
    if (req.method == "POST") {
      ok = q["grant_type"] == "refresh_token" && q["refresh_token"] == "refresh-" + user;
    } else {
      auto h = req.headers.get("authorization");
      ok = h ? *h == "Basic " + base64Encode(user + ":" + pass) : anonymousPull;
    }
    if (!ok || q["service"] != service) return reply(401, "{\"details\":\"bad credentials\"}");
    std::string tok = "tok-" + std::to_string(++tokenSerial_);
    issued_[tok] = q["scope"];
    return reply(
        200, "{\"token\":\"" + tok + "\",\"expires_in\":" + std::to_string(tokenExpiresIn) + "}");
  }

  mutable std::mutex mu_;
  std::map<std::string, std::map<std::string, Stored>> manifests_;
  std::map<std::string, std::map<std::string, std::string>> blobs_;
  std::map<std::string, std::string> issued_;  // token → scope
  int tokenSerial_ = 0;
  int uploads_ = 0;
  std::vector<Seen> seen_;
  std::vector<net::TlsConfig> tls_;
};

}  // namespace schedkit::oci::testing
