#include "schedkit/kube/events.h"

#include <cstdio>

namespace schedkit::kube {

namespace {

constexpr std::size_t kMaxNote = 1024;  // the API server's limit for note
constexpr std::size_t kMaxShort = 128;  // reason, action, reportingInstance

std::string cut(std::string s, std::size_t max) {
  if (s.size() <= max) return s;
  s.resize(max);
  // Do not leave half a UTF-8 sequence at the end.
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80)) s.pop_back();
  return s;
}

std::string meta(const Json& obj, const char* field) {
  if (!obj.is_object() || !obj.contains("metadata") || !obj["metadata"].is_object()) return "";
  const Json& m = obj["metadata"];
  return m.contains(field) && m[field].is_string() ? m[field].get<std::string>() : "";
}

}  // namespace

ObjectReference ObjectReference::of(const Json& obj) {
  ObjectReference r;
  if (obj.is_object()) {
    r.apiVersion = obj.value("apiVersion", "");
    r.kind = obj.value("kind", "");
  }
  r.ns = meta(obj, "namespace");
  r.name = meta(obj, "name");
  r.uid = meta(obj, "uid");
  r.resourceVersion = meta(obj, "resourceVersion");
  return r;
}

Json ObjectReference::toJson() const {
  Json j = Json::object();
  if (!apiVersion.empty()) j["apiVersion"] = apiVersion;
  if (!kind.empty()) j["kind"] = kind;
  if (!ns.empty()) j["namespace"] = ns;
  if (!name.empty()) j["name"] = name;
  if (!uid.empty()) j["uid"] = uid;
  if (!resourceVersion.empty()) j["resourceVersion"] = resourceVersion;
  if (!fieldPath.empty()) j["fieldPath"] = fieldPath;
  return j;
}

EventRecorder::EventRecorder(Client& client, EventRecorderOptions opts)
    : client_(client), opts_(std::move(opts)), bucket_(client.clock(), opts_.qps, opts_.burst) {}

EventRecorder::~EventRecorder() { stop(); }

std::string EventRecorder::seriesKey(const EventRecord& e) {
  // Fields joined with a byte that cannot occur in names, reasons or UIDs.
  std::string k;
  for (const std::string* p : {&e.regarding.kind, &e.regarding.ns, &e.regarding.name,
                               &e.regarding.uid, &e.reason, &e.action, &e.note}) {
    k += *p;
    k += '\x1f';
  }
  k += e.type == EventType::kWarning ? 'W' : 'N';
  return k;
}

std::string EventRecorder::newEventName(const EventRecord& e) {
  // Like kubelet: the object's name and a unique hex suffix (time, then a sequence).
  auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                client_.clock().wallNow().time_since_epoch())
                .count();
  char buf[48];
  std::snprintf(buf, sizeof buf, ".%llx%03llx", static_cast<unsigned long long>(ns),
                static_cast<unsigned long long>(name_seq_++ & 0xfff));
  std::string base = e.regarding.name.empty() ? "schedkit" : e.regarding.name;
  return cut(base, 253 - std::string(buf).size()) + buf;
}

void EventRecorder::record(EventRecord e) {
  e.reason = cut(std::move(e.reason), kMaxShort);
  e.action = cut(std::move(e.action), kMaxShort);
  e.note = cut(std::move(e.note), kMaxNote);
  const MonoTime now = client_.clock().now();
  const WallTime wall = client_.clock().wallNow();
  const std::string key = seriesKey(e);
  net::CancelTokenPtr wake;
  {
    std::lock_guard lk(mu_);
    ++stats_.recorded;
    auto it = series_.find(key);
    if (it != series_.end() && now - it->second.lastSeen <= opts_.seriesWindow) {
      Series& s = it->second;
      ++s.count;
      s.lastObserved = wall;
      s.lastSeen = now;
      if (s.queued) {
        ++stats_.coalesced;
        return;
      }
      enqueueLocked(key, s, now);
    } else {
      if (queue_.size() >= opts_.maxPending) {
        ++stats_.dropped;
        return;
      }
      evictLocked(now);
      Series s;
      s.eventNamespace = e.regarding.ns.empty() ? "default" : e.regarding.ns;
      s.count = 1;
      s.first = wall;
      s.lastObserved = wall;
      s.lastSeen = now;
      s.record = std::move(e);
      Series& placed = series_[key] = std::move(s);
      enqueueLocked(key, placed, now);
      // A new Event is due now: wake a writer that waits for a later series update.
      wake = wake_;
    }
  }
  cv_.notify_all();
  if (wake) wake->cancel();
}

void EventRecorder::enqueueLocked(const std::string& key, Series& s, MonoTime now) {
  MonoTime due = now;
  // A series update waits for its interval; a create (nothing written yet) does not.
  if (s.written > 0 && s.lastWrite && *s.lastWrite + opts_.seriesUpdateInterval > now) {
    due = *s.lastWrite + opts_.seriesUpdateInterval;
  }
  s.queued = true;
  queue_.emplace(due, key);
}

void EventRecorder::evictLocked(MonoTime now) {
  if (series_.size() < opts_.maxSeries) return;
  for (auto it = series_.begin(); it != series_.end();) {
    if (!it->second.queued && now - it->second.lastSeen > opts_.seriesWindow) {
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
  while (series_.size() >= opts_.maxSeries) {
    auto oldest = series_.end();
    for (auto it = series_.begin(); it != series_.end(); ++it) {
      if (!it->second.queued &&
          (oldest == series_.end() || it->second.lastSeen < oldest->second.lastSeen)) {
        oldest = it;
      }
    }
    if (oldest == series_.end()) return;  // everything is pending: keep it
    series_.erase(oldest);
  }
}

Json EventRecorder::eventObject(const Series& s) const {
  const EventRecord& e = s.record;
  Json ev = {{"apiVersion", "events.k8s.io/v1"},
             {"kind", "Event"},
             {"metadata", {{"name", s.eventName}, {"namespace", s.eventNamespace}}},
             {"eventTime", formatRfc3339Micro(s.first)},
             {"reportingController", opts_.reportingController},
             {"reportingInstance", cut(opts_.reportingInstance, kMaxShort)},
             {"action", e.action},
             {"reason", e.reason},
             {"note", e.note},
             {"type", e.type == EventType::kWarning ? "Warning" : "Normal"},
             {"regarding", e.regarding.toJson()}};
  if (e.related) ev["related"] = e.related->toJson();
  if (s.count >= 2) {
    ev["series"] = {{"count", s.count}, {"lastObservedTime", formatRfc3339Micro(s.lastObserved)}};
  }
  return ev;
}

bool EventRecorder::writeOne(bool paced) {
  if (paced) {
    std::optional<Duration> not_yet;
    net::CancelTokenPtr wake;
    {
      std::lock_guard lk(mu_);
      if (queue_.empty()) return false;
      MonoTime now = client_.clock().now();
      if (queue_.begin()->first > now) {
        not_yet = queue_.begin()->first - now;
        wake = wake_;
      }
    }
    if (not_yet) {
      // Wait for the next series update to fall due, or for new work (a create) to arrive.
      if (!client_.sleeper().sleepFor(*not_yet, wake)) {
        std::lock_guard lk(mu_);
        if (wake_ == wake) wake_ = std::make_shared<net::CancelToken>();
      }
      return true;
    }
    // Wait for the token before taking the snapshot, so what happens meanwhile joins the write.
    Duration d = bucket_.reserve();
    if (d > Duration::zero() && !client_.sleeper().sleepFor(d, cancel_)) return false;
  }
  std::string key;
  Series snap;
  {
    std::lock_guard lk(mu_);
    if (queue_.empty()) return false;
    key = queue_.begin()->second;
    queue_.erase(queue_.begin());
    auto it = series_.find(key);
    if (it == series_.end()) return true;
    it->second.queued = false;
    it->second.lastWrite = client_.clock().now();
    if (it->second.eventName.empty()) it->second.eventName = newEventName(it->second.record);
    snap = it->second;
  }
  const auto& log = client_.log();
  if (snap.written == 0) {
    auto r = client_.create(resources::kEvents, snap.eventNamespace, eventObject(snap));
    std::lock_guard lk(mu_);
    auto it = series_.find(key);
    if (r.isOk()) {
      ++stats_.created;
      if (it != series_.end()) it->second.written = snap.count;
    } else {
      ++stats_.failed;
      log.warn("kube: could not create an Event", {{"reason", snap.record.reason},
                                                   {"object", snap.record.regarding.name},
                                                   {"error", r.status()}});
      // Forget it: the next occurrence starts a new Event.
      if (it != series_.end() && !it->second.queued) series_.erase(it);
    }
    return true;
  }
  if (snap.count <= snap.written) return true;
  Json patch = {
      {"series",
       {{"count", snap.count}, {"lastObservedTime", formatRfc3339Micro(snap.lastObserved)}}}};
  auto r = client_.patch(resources::kEvents, snap.eventNamespace, snap.eventName, PatchType::kMerge,
                         patch);
  std::lock_guard lk(mu_);
  auto it = series_.find(key);
  if (r.isOk()) {
    ++stats_.patched;
    if (it != series_.end()) it->second.written = snap.count;
    return true;
  }
  if (isNotFound(r.status()) && it != series_.end()) {
    // The Event expired (the API server keeps them for an hour) or was deleted: start a new
    // one for this series.
    log.info("kube: Event gone, creating a new one", {{"event", snap.eventName}});
    Series& s = it->second;
    s.eventName.clear();
    s.written = 0;
    s.count = 1;
    s.first = s.lastObserved;
    if (!s.queued) enqueueLocked(key, s, client_.clock().now());
    return true;
  }
  ++stats_.failed;
  log.warn("kube: could not update an Event series",
           {{"event", snap.eventName}, {"error", r.status()}});
  return true;
}

void EventRecorder::drain() {
  while (writeOne(true)) {
  }
}

void EventRecorder::start() {
  std::lock_guard lk(mu_);
  if (thread_.joinable() || stopping_) return;
  thread_ = std::thread([this] { run(); });
}

void EventRecorder::run() {
  for (;;) {
    {
      std::unique_lock lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
    }
    writeOne(true);
  }
  // Stopping: send the last counts without waiting for intervals or tokens, within a bound.
  for (std::size_t i = 0; i < opts_.flushOnStop && writeOne(false); ++i) {
  }
}

void EventRecorder::stop() {
  net::CancelTokenPtr wake;
  {
    std::lock_guard lk(mu_);
    stopping_ = true;
    wake = wake_;
  }
  cv_.notify_all();
  cancel_->cancel();
  wake->cancel();
  if (thread_.joinable()) thread_.join();
}

EventRecorderStats EventRecorder::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

std::size_t EventRecorder::pending() const {
  std::lock_guard lk(mu_);
  return queue_.size();
}

}  // namespace schedkit::kube
