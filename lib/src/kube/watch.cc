#include "schedkit/kube/watch.h"

namespace schedkit::kube {

std::string_view watchStateName(WatchState s) {
  switch (s) {
    case WatchState::kEmpty:
      return "Empty";
    case WatchState::kListing:
      return "Listing";
    case WatchState::kWatching:
      return "Watching";
    case WatchState::kBackoff:
      return "Backoff";
    case WatchState::kStopped:
      return "Stopped";
  }
  return "?";
}

std::string_view deltaTypeName(Delta::Type t) {
  switch (t) {
    case Delta::Type::kAdded:
      return "Added";
    case Delta::Type::kUpdated:
      return "Updated";
    case Delta::Type::kDeleted:
      return "Deleted";
  }
  return "?";
}

Reflector::Reflector(Client& client, Resource resource, ReflectorOptions opts, DeltaSink sink)
    : client_(client),
      resource_(std::move(resource)),
      opts_(std::move(opts)),
      sink_(std::move(sink)),
      backoff_(opts_.backoff) {}

WatchState Reflector::state() const {
  std::lock_guard lk(mu_);
  return state_;
}

void Reflector::setState(WatchState s) {
  std::lock_guard lk(mu_);
  if (state_ != WatchState::kStopped) state_ = s;
}

std::string Reflector::resourceVersion() const {
  std::lock_guard lk(mu_);
  return rv_;
}

ReflectorStats Reflector::stats() const {
  std::lock_guard lk(mu_);
  return stats_;
}

ObjectPtr Reflector::get(const std::string& key) const {
  std::lock_guard lk(mu_);
  auto it = cache_.find(key);
  return it == cache_.end() ? nullptr : it->second;
}

std::size_t Reflector::size() const {
  std::lock_guard lk(mu_);
  return cache_.size();
}

void Reflector::stop() {
  {
    std::lock_guard lk(mu_);
    state_ = WatchState::kStopped;
  }
  cancel_->cancel();
}

Duration Reflector::step() {
  WatchState s = state();
  if (s == WatchState::kStopped) return Duration::zero();
  if (s == WatchState::kBackoff) s = resume_;
  if (s == WatchState::kWatching) return watch();
  return list();
}

Duration Reflector::backoffTo(WatchState resume, const Status& why) {
  resume_ = resume;
  setState(WatchState::kBackoff);
  Duration d = backoff_.next(client_.random());
  client_.log().warn("kube: watch backing off", {{"resource", resource_.plural},
                                                 {"then", std::string(watchStateName(resume))},
                                                 {"after", d},
                                                 {"error", why}});
  return d;
}

Duration Reflector::list() {
  setState(WatchState::kListing);
  {
    std::lock_guard lk(mu_);
    ++stats_.lists;
  }
  ListOptions lo;
  lo.labelSelector = opts_.labelSelector;
  lo.fieldSelector = opts_.fieldSelector;
  lo.cancel = cancel_;
  auto r = client_.listAll(resource_, opts_.ns, lo, opts_.pageSize);
  if (cancel_->cancelled()) return Duration::zero();
  if (!r.isOk()) return backoffTo(WatchState::kEmpty, r.status());

  // Compare with what the handlers were told, so a re-list after 410 reports only what changed
  // in between: no second "added" for an object they already have.
  std::map<std::string, ObjectPtr> fresh;
  std::vector<Delta> deltas;
  std::vector<Delta> deleted;
  {
    std::lock_guard lk(mu_);
    for (auto& item : r->items) {
      std::string key = objectKey(item);
      auto it = cache_.find(key);
      if (it != cache_.end() && resourceVersionOf(*it->second) == resourceVersionOf(item)) {
        fresh.emplace(key, it->second);
        continue;
      }
      auto obj = std::make_shared<const Json>(std::move(item));
      if (it == cache_.end()) {
        deltas.push_back({Delta::Type::kAdded, obj, nullptr});
      } else {
        deltas.push_back({Delta::Type::kUpdated, obj, it->second});
      }
      fresh.emplace(std::move(key), std::move(obj));
    }
    for (const auto& [key, obj] : cache_) {
      if (!fresh.count(key)) deleted.push_back({Delta::Type::kDeleted, obj, nullptr});
    }
    cache_ = std::move(fresh);
    rv_ = r->resourceVersion;
    if (state_ != WatchState::kStopped) state_ = WatchState::kWatching;
  }
  for (auto& d : deleted) deltas.push_back(std::move(d));
  backoff_.reset();
  client_.log().debug("kube: listed", {{"resource", resource_.plural},
                                       {"resourceVersion", r->resourceVersion},
                                       {"items", r->items.size()},
                                       {"changes", deltas.size()}});
  sink_(std::move(deltas), true);
  return Duration::zero();
}

std::optional<Delta> Reflector::apply(WatchEvent& ev) {
  std::string key = objectKey(ev.object);
  std::string rv = resourceVersionOf(ev.object);
  std::lock_guard lk(mu_);
  if (!rv.empty()) rv_ = rv;
  ++stats_.events;
  auto it = cache_.find(key);
  if (ev.type == WatchEvent::Type::kDeleted) {
    if (it == cache_.end()) {
      ++stats_.duplicates;
      return std::nullopt;
    }
    cache_.erase(it);
    return Delta{Delta::Type::kDeleted, std::make_shared<const Json>(std::move(ev.object)),
                 nullptr};
  }
  if (it != cache_.end() && resourceVersionOf(*it->second) == rv) {
    ++stats_.duplicates;  // e.g. replayed after a resume: the handlers have seen it
    return std::nullopt;
  }
  auto obj = std::make_shared<const Json>(std::move(ev.object));
  if (it == cache_.end()) {
    cache_.emplace(key, obj);
    return Delta{Delta::Type::kAdded, obj, nullptr};
  }
  ObjectPtr old = it->second;
  it->second = obj;
  return Delta{Delta::Type::kUpdated, obj, old};
}

Duration Reflector::watch() {
  setState(WatchState::kWatching);
  WatchOptions wo;
  wo.resourceVersion = resourceVersion();
  wo.labelSelector = opts_.labelSelector;
  wo.fieldSelector = opts_.fieldSelector;
  wo.allowBookmarks = true;
  wo.timeoutSeconds = opts_.watchTimeoutSeconds +
                      static_cast<int>(client_.random().unit() * opts_.watchTimeoutSeconds);
  wo.cancel = cancel_;
  {
    std::lock_guard lk(mu_);
    ++stats_.watches;
  }
  const MonoTime started = client_.clock().now();
  bool gone = false;
  bool progressed = false;  // an event or bookmark arrived: the watch was healthy
  Status error_event;
  Status s = client_.watch(resource_, opts_.ns, wo, [&](WatchEvent& ev) {
    switch (ev.type) {
      case WatchEvent::Type::kBookmark: {
        std::string rv = resourceVersionOf(ev.object);
        std::lock_guard lk(mu_);
        if (!rv.empty()) rv_ = rv;
        ++stats_.bookmarks;
        progressed = true;
        return true;
      }
      case WatchEvent::Type::kError: {
        Status e = statusFromObject(ev.object, "WATCH " + resource_.path(opts_.ns));
        if (isGone(e)) {
          gone = true;
        } else {
          error_event = e;
        }
        return false;
      }
      default: {
        progressed = true;
        if (auto d = apply(ev)) sink_({std::move(*d)}, false);
        return true;
      }
    }
  });
  if (cancel_->cancelled()) return Duration::zero();
  if (progressed) {
    backoff_.reset();
    consecutive_gone_ = 0;
  }
  if (gone || isGone(s)) {
    // The server no longer has history from rv: start over with a fresh list.
    {
      std::lock_guard lk(mu_);
      ++stats_.relists;
      rv_.clear();
    }
    client_.log().info("kube: watch expired (410), re-listing",
                       {{"resource", resource_.plural}, {"resourceVersion", wo.resourceVersion}});
    // Twice in a row with nothing in between: do not hammer the server.
    if (++consecutive_gone_ > 1) {
      return backoffTo(WatchState::kEmpty, gone ? Status(StatusCode::kOutOfRange, "410 Gone") : s);
    }
    setState(WatchState::kEmpty);
    return Duration::zero();
  }
  if (!error_event.isOk()) return backoffTo(WatchState::kWatching, error_event);
  if (!s.isOk()) {
    {
      std::lock_guard lk(mu_);
      ++stats_.resumes;
    }
    return backoffTo(WatchState::kWatching, s);
  }
  // The server closed the watch cleanly (timeoutSeconds): go on from rv at once. A watch that
  // ends quickly having said nothing is a server in trouble (shutting down, say): back off.
  Duration lasted = client_.clock().now() - started;
  if (!progressed && lasted < std::chrono::seconds(std::min(10, opts_.watchTimeoutSeconds / 2))) {
    {
      std::lock_guard lk(mu_);
      ++stats_.resumes;
    }
    return backoffTo(WatchState::kWatching,
                     Status(StatusCode::kUnavailable, "watch ended without events or bookmarks"));
  }
  backoff_.reset();
  return Duration::zero();
}

}  // namespace schedkit::kube
