#include "schedkit/kube/client.h"

#include <algorithm>
#include <charconv>

namespace schedkit::kube {

namespace {

constexpr std::size_t kMaxErrorBody = 64u << 10;

bool is2xx(int s) { return s >= 200 && s < 300; }

std::string pathOnly(std::string_view p) { return std::string(p.substr(0, p.find('?'))); }

std::optional<Duration> retryAfter(const net::Headers& h) {
  auto v = h.get("retry-after");
  if (!v) return std::nullopt;
  long secs = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), secs);
  if (ec != std::errc() || secs < 0) return std::nullopt;  // HTTP-date form: use backoff
  return std::chrono::seconds(secs);
}

std::string metaString(const Json& obj, const char* field) {
  if (!obj.is_object()) return "";
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return "";
  auto f = m->find(field);
  if (f == m->end() || !f->is_string()) return "";
  return f->get<std::string>();
}

const char* patchContentType(PatchType t) {
  switch (t) {
    case PatchType::kMerge:
      return "application/merge-patch+json";
    case PatchType::kJson:
      return "application/json-patch+json";
    case PatchType::kStrategicMerge:
      return "application/strategic-merge-patch+json";
  }
  return "application/merge-patch+json";
}

Query writeQuery(const WriteOptions& o) {
  Query q;
  q.addIf(!o.fieldManager.empty(), "fieldManager", o.fieldManager);
  q.addIf(o.dryRun, "dryRun", "All");
  return q;
}

std::optional<WatchEvent::Type> parseEventType(std::string_view t) {
  if (t == "ADDED") return WatchEvent::Type::kAdded;
  if (t == "MODIFIED") return WatchEvent::Type::kModified;
  if (t == "DELETED") return WatchEvent::Type::kDeleted;
  if (t == "BOOKMARK") return WatchEvent::Type::kBookmark;
  if (t == "ERROR") return WatchEvent::Type::kError;
  return std::nullopt;
}

}  // namespace

std::string_view watchEventTypeName(WatchEvent::Type t) {
  switch (t) {
    case WatchEvent::Type::kAdded:
      return "ADDED";
    case WatchEvent::Type::kModified:
      return "MODIFIED";
    case WatchEvent::Type::kDeleted:
      return "DELETED";
    case WatchEvent::Type::kBookmark:
      return "BOOKMARK";
    case WatchEvent::Type::kError:
      return "ERROR";
  }
  return "?";
}

Query& Query::add(std::string_view key, std::string_view value) {
  q_ += q_.empty() ? '?' : '&';
  q_ += net::urlEncode(key);
  q_ += '=';
  q_ += net::urlEncode(value);
  return *this;
}

std::string objectKey(const Json& obj) {
  std::string ns = metaString(obj, "namespace");
  std::string name = metaString(obj, "name");
  return ns.empty() ? name : ns + "/" + name;
}

std::string resourceVersionOf(const Json& obj) { return metaString(obj, "resourceVersion"); }

// --- Client ------------------------------------------------------------------------------------

Client::Client(Config config, net::HttpTransportPtr transport, ClientDeps deps, ClientOptions opts)
    : config_(std::move(config)),
      transport_(std::move(transport)),
      deps_(std::move(deps)),
      opts_(opts),
      bucket_(deps_.clock, opts_.qps, opts_.burst) {}

Client::~Client() = default;

Result<std::unique_ptr<Client>> Client::create(Config config, ClientDeps deps, ClientOptions opts) {
  auto t = net::makeCpprestTransport(config.tls);
  if (!t.isOk()) return t.status().withContext(config.source);
  return std::make_unique<Client>(std::move(config), std::move(t).value(), std::move(deps), opts);
}

ClientStats Client::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

std::string Client::bearerToken() {
  if (!config_.token.empty()) return config_.token;
  if (config_.tokenFile.empty()) return "";
  std::lock_guard lk(mu_);
  MonoTime now = deps_.clock.now();
  if (!token_read_at_ || now - *token_read_at_ >= opts_.tokenReload) {
    auto t = deps_.fs.readFile(config_.tokenFile, 1u << 20);
    ++stats_.tokenReloads;
    token_read_at_ = now;
    if (t.isOk()) {
      std::string tok = *t;
      while (!tok.empty() && (tok.back() == '\n' || tok.back() == '\r' || tok.back() == ' ')) {
        tok.pop_back();
      }
      file_token_ = std::move(tok);
    } else {
      // Keep the previous token: it may still be valid, and the next read may work.
      deps_.log.warn("kube: cannot read the token file",
                     {{"path", config_.tokenFile}, {"error", t.status()}});
    }
  }
  return file_token_;
}

void Client::invalidateToken() {
  std::lock_guard lk(mu_);
  token_read_at_.reset();
}

bool Client::throttle(const net::CancelTokenPtr& cancel) {
  Duration d = bucket_.reserve();
  if (d <= Duration::zero()) return true;
  {
    std::lock_guard lk(mu_);
    ++stats_.throttled;
    stats_.throttledTime += d;
  }
  return deps_.sleeper.sleepFor(d, cancel);
}

net::HttpRequest Client::makeRequest(const Call& call) {
  net::HttpRequest req;
  req.method = call.method;
  req.url = config_.server + call.path;
  req.headers.set("Accept", "application/json");
  req.headers.set("User-Agent", config_.userAgent);
  std::string tok = bearerToken();
  if (!tok.empty()) req.headers.set("Authorization", "Bearer " + tok);
  if (!call.body.empty() || !call.contentType.empty()) {
    req.headers.set("Content-Type",
                    call.contentType.empty() ? "application/json" : call.contentType);
  }
  req.body = call.body;
  req.timeout = opts_.requestTimeout;
  req.cancel = call.cancel;
  return req;
}

Result<net::HttpResponse> Client::execute(const Call& call) {
  const std::string what = call.method + " " + pathOnly(call.path);
  Backoff backoff(opts_.retryBackoff);
  bool reauthenticated = false;
  for (int attempt = 0;; ++attempt) {
    if (!throttle(call.cancel)) return cancelled(what + ": cancelled");
    net::HttpRequest req = makeRequest(call);
    {
      std::lock_guard lk(mu_);
      ++stats_.requests;
    }
    auto resp = transport_->send(req);
    std::optional<Duration> delay;
    std::string why;
    if (!resp.isOk()) {
      if (resp.status().code() == StatusCode::kCancelled) return resp.status();
      if (!call.idempotent || attempt >= opts_.maxRetries) return resp.status();
      delay = backoff.next(deps_.random);
      why = resp.status().toString();
    } else {
      int st = resp->status;
      if (st == 401 && !reauthenticated && !config_.tokenFile.empty()) {
        // A rotated projected token: read the file again and retry once, at once.
        reauthenticated = true;
        invalidateToken();
        deps_.log.info("kube: 401, re-reading the token file", {{"request", what}});
        continue;
      }
      auto ra = retryAfter(resp->headers);
      bool retriable = st == 429 || (st == 500 && ra) ||
                       ((st == 502 || st == 503 || st == 504) && (call.idempotent || ra));
      if (!retriable || attempt >= opts_.maxRetries) return resp;
      delay = ra ? std::min(*ra, opts_.maxRetryAfter) : backoff.next(deps_.random);
      why = "HTTP " + std::to_string(st);
    }
    {
      std::lock_guard lk(mu_);
      ++stats_.retries;
    }
    deps_.log.warn(
        "kube: retrying",
        {{"request", what}, {"attempt", attempt + 1}, {"after", *delay}, {"reason", why}});
    if (!deps_.sleeper.sleepFor(*delay, call.cancel)) return cancelled(what + ": cancelled");
  }
}

Result<Json> Client::callJson(const Call& call) {
  SK_ASSIGN_OR_RETURN(net::HttpResponse resp, execute(call));
  const std::string what = call.method + " " + pathOnly(call.path);
  if (!is2xx(resp.status)) return statusFromResponse(resp.status, resp.body, what);
  if (resp.body.empty()) return Json::object();
  auto j = Json::parse(resp.body, nullptr, false);
  if (j.is_discarded()) return dataLoss(what + ": response is not JSON");
  return j;
}

Result<Json> Client::get(const Resource& r, std::string_view ns, std::string_view name,
                         std::string_view subresource) {
  if (name.empty()) return invalidArgument("get " + r.plural + ": empty name");
  return callJson(Call{"GET", r.path(ns, name, subresource)});
}

Result<ObjectList> Client::list(const Resource& r, std::string_view ns, const ListOptions& o) {
  Query q;
  q.addIf(!o.labelSelector.empty(), "labelSelector", o.labelSelector);
  q.addIf(!o.fieldSelector.empty(), "fieldSelector", o.fieldSelector);
  q.addIf(o.limit > 0, "limit", std::to_string(o.limit));
  q.addIf(!o.continueToken.empty(), "continue", o.continueToken);
  q.addIf(!o.resourceVersion.empty(), "resourceVersion", o.resourceVersion);
  q.addIf(!o.resourceVersionMatch.empty(), "resourceVersionMatch", o.resourceVersionMatch);
  Call c{"GET", r.path(ns) + q.str()};
  c.cancel = o.cancel;
  SK_ASSIGN_OR_RETURN(Json j, callJson(c));
  ObjectList out;
  if (j.contains("metadata") && j["metadata"].is_object()) {
    const Json& m = j["metadata"];
    out.resourceVersion = m.value("resourceVersion", "");
    out.continueToken = m.value("continue", "");
    if (m.contains("remainingItemCount") && m["remainingItemCount"].is_number_integer()) {
      out.remainingItemCount = m["remainingItemCount"].get<std::int64_t>();
    }
  }
  if (j.contains("items") && j["items"].is_array()) {
    out.items.reserve(j["items"].size());
    for (auto& item : j["items"]) {
      // Built-in kinds leave these out of list items; make every item self-describing.
      if (!item.contains("apiVersion")) item["apiVersion"] = r.apiVersion();
      if (!item.contains("kind")) item["kind"] = r.kind;
      out.items.push_back(std::move(item));
    }
  }
  return out;
}

Result<ObjectList> Client::listAll(const Resource& r, std::string_view ns, ListOptions o,
                                   std::int64_t pageSize) {
  o.limit = pageSize;
  const std::string first_continue = o.continueToken;
  for (int restart = 0;; ++restart) {
    ObjectList all;
    o.continueToken = first_continue;
    bool first = true;
    Status failed;
    for (;;) {
      auto page = list(r, ns, o);
      if (!page.isOk()) {
        failed = page.status();
        break;
      }
      if (first) all.resourceVersion = page->resourceVersion;
      first = false;
      for (auto& item : page->items) all.items.push_back(std::move(item));
      if (page->continueToken.empty()) return all;
      o.continueToken = page->continueToken;
    }
    // The snapshot behind a continue token is compacted away: start over (a fresh snapshot).
    if (isGone(failed) && !first && restart < 3) {
      deps_.log.info("kube: list continue token expired, listing again",
                     {{"resource", r.plural}, {"error", failed}});
      continue;
    }
    return failed;
  }
}

Result<Json> Client::create(const Resource& r, std::string_view ns, const Json& obj,
                            const WriteOptions& o) {
  Call c{"POST", r.path(ns) + writeQuery(o).str(), obj.dump(), "application/json"};
  c.idempotent = false;
  return callJson(c);
}

Result<Json> Client::update(const Resource& r, const Json& obj, const WriteOptions& o) {
  std::string name = metaString(obj, "name");
  if (name.empty()) return invalidArgument("update " + r.plural + ": object has no metadata.name");
  return callJson(Call{"PUT", r.path(metaString(obj, "namespace"), name) + writeQuery(o).str(),
                       obj.dump(), "application/json"});
}

Result<Json> Client::updateStatus(const Resource& r, const Json& obj, const WriteOptions& o) {
  std::string name = metaString(obj, "name");
  if (name.empty()) return invalidArgument("update " + r.plural + ": object has no metadata.name");
  return callJson(Call{"PUT",
                       r.path(metaString(obj, "namespace"), name, "status") + writeQuery(o).str(),
                       obj.dump(), "application/json"});
}

Status Client::remove(const Resource& r, std::string_view ns, std::string_view name,
                      const DeleteOptions& o) {
  if (name.empty()) return invalidArgument("delete " + r.plural + ": empty name");
  Json body = {{"kind", "DeleteOptions"}, {"apiVersion", "v1"}};
  if (!o.preconditionUid.empty()) body["preconditions"]["uid"] = o.preconditionUid;
  if (!o.preconditionResourceVersion.empty()) {
    body["preconditions"]["resourceVersion"] = o.preconditionResourceVersion;
  }
  if (!o.propagationPolicy.empty()) body["propagationPolicy"] = o.propagationPolicy;
  if (o.gracePeriodSeconds) body["gracePeriodSeconds"] = *o.gracePeriodSeconds;
  return callJson(Call{"DELETE", r.path(ns, name), body.dump(), "application/json"}).status();
}

Result<Json> Client::patch(const Resource& r, std::string_view ns, std::string_view name,
                           PatchType type, const Json& p, const WriteOptions& o,
                           std::string_view subresource) {
  if (name.empty()) return invalidArgument("patch " + r.plural + ": empty name");
  Call c{"PATCH", r.path(ns, name, subresource) + writeQuery(o).str(), p.dump(),
         patchContentType(type)};
  c.idempotent = type != PatchType::kJson;  // a JSON patch may append: replaying is not safe
  return callJson(c);
}

Result<Json> Client::apply(const Resource& r, const Json& obj, const ApplyOptions& o,
                           std::string_view subresource) {
  if (o.fieldManager.empty()) return invalidArgument("apply: a field manager is required");
  std::string name = metaString(obj, "name");
  if (name.empty()) return invalidArgument("apply " + r.plural + ": object has no metadata.name");
  Json body = obj;
  if (!body.contains("apiVersion")) body["apiVersion"] = r.apiVersion();
  if (!body.contains("kind")) body["kind"] = r.kind;
  Query q;
  q.add("fieldManager", o.fieldManager);
  q.addIf(o.force, "force", "true");
  q.addIf(o.dryRun, "dryRun", "All");
  // JSON is YAML, so the body needs no conversion.
  return callJson(Call{"PATCH", r.path(metaString(obj, "namespace"), name, subresource) + q.str(),
                       body.dump(), "application/apply-patch+yaml"});
}

Result<Json> Client::retryOnConflict(const Resource& r, std::string_view ns, std::string_view name,
                                     const std::function<Status(Json&)>& mutate,
                                     const RetryOnConflictOptions& o) {
  Backoff backoff(o.backoff);
  for (int attempt = 1;; ++attempt) {
    SK_ASSIGN_OR_RETURN(Json cur, get(r, ns, name));
    SK_RETURN_IF_ERROR(mutate(cur));
    auto res = o.status ? updateStatus(r, cur, o.write) : update(r, cur, o.write);
    if (res.isOk() || !isConflict(res.status()) || attempt >= o.maxAttempts) return res;
    Duration d = backoff.next(deps_.random);
    deps_.log.info("kube: update conflict, retrying with a fresh copy",
                   {{"resource", r.plural}, {"name", std::string(name)}, {"attempt", attempt}});
    deps_.sleeper.sleepFor(d, nullptr);
  }
}

Status Client::watch(const Resource& r, std::string_view ns, const WatchOptions& o,
                     const std::function<bool(WatchEvent&)>& onEvent) {
  Query q;
  q.add("watch", "1");
  q.addIf(!o.resourceVersion.empty(), "resourceVersion", o.resourceVersion);
  q.addIf(o.allowBookmarks, "allowWatchBookmarks", "true");
  q.addIf(o.timeoutSeconds > 0, "timeoutSeconds", std::to_string(o.timeoutSeconds));
  q.addIf(!o.labelSelector.empty(), "labelSelector", o.labelSelector);
  q.addIf(!o.fieldSelector.empty(), "fieldSelector", o.fieldSelector);
  Call call{"GET", r.path(ns) + q.str()};
  call.cancel = o.cancel;
  const std::string what = "WATCH " + r.path(ns);
  if (!throttle(o.cancel)) return cancelled(what + ": cancelled");
  net::HttpRequest req = makeRequest(call);
  // The transport's idle bound: the server ends the watch at timeoutSeconds; silence well past
  // that means a dead connection.
  req.timeout = std::chrono::seconds(std::max(o.timeoutSeconds, 0) + 30);
  {
    std::lock_guard lk(mu_);
    ++stats_.requests;
  }
  int http_status = 0;
  std::string error_body;
  std::string buf;
  Status decode_error;
  bool stopped = false;
  Status s = transport_->stream(
      req,
      [&](const net::HttpResponse& head) {
        http_status = head.status;
        if (http_status == 401) invalidateToken();
        return true;
      },
      [&](std::string_view chunk) {
        if (http_status != 200) {
          if (error_body.size() < kMaxErrorBody) error_body.append(chunk);
          return true;
        }
        buf.append(chunk);
        std::size_t start = 0;
        for (std::size_t nl; (nl = buf.find('\n', start)) != std::string::npos; start = nl + 1) {
          std::string_view line(buf.data() + start, nl - start);
          if (line.find_first_not_of(" \r\t") == std::string_view::npos) continue;
          auto j = Json::parse(line, nullptr, false);
          std::optional<WatchEvent::Type> type;
          if (!j.is_discarded() && j.is_object() && j.contains("type") && j["type"].is_string()) {
            type = parseEventType(j["type"].get<std::string>());
          }
          if (!type || !j.contains("object")) {
            decode_error =
                dataLoss(what + ": undecodable watch event: " + std::string(line.substr(0, 200)));
            return false;
          }
          WatchEvent ev{*type, std::move(j["object"])};
          if (!onEvent(ev)) {
            stopped = true;
            return false;
          }
        }
        buf.erase(0, start);
        return true;
      });
  if (!decode_error.isOk()) return decode_error;
  if (stopped) return Status::ok();
  if (!s.isOk()) return s;
  if (http_status != 200) return statusFromResponse(http_status, error_body, what);
  return Status::ok();
}

Result<net::HttpResponse> Client::raw(std::string method, std::string path, std::string body,
                                      std::string contentType) {
  bool idempotent = method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE";
  Call c{std::move(method), std::move(path), std::move(body), std::move(contentType)};
  c.idempotent = idempotent;
  return execute(c);
}

}  // namespace schedkit::kube
