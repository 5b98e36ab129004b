#pragma once

// The list+watch state machine (CONVENTIONS habit 8). A Reflector keeps a local copy of one
// collection in step with the API server and reports every change to it as a Delta:
//
//          ┌──────────── 410 Gone (HTTP or ERROR event): re-list, deltas vs the cache ─────┐
//          ▼                                                                                │
//   Empty ──▶ Listing ──ok──▶ Watching(rv) ──ADDED/MODIFIED/DELETED/BOOKMARK──▶ Watching(rv')
//               │ fail              │ watch ended by the server (timeoutSeconds): re-watch now
//               ▼                   │ disconnect, 5xx, 429, ERROR: ─▶ Backoff ─▶ Watching(rv)
//            Backoff ─▶ Listing     ▼
//                                 stop() from any state ─▶ Stopped
//
// step() performs one transition on the calling thread (blocking on the network) and returns
// how long to wait before the next one. Informer runs it on its own thread; unit tests call it
// directly against a ScriptedTransport, one test per transition.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "schedkit/common/random.h"
#include "schedkit/kube/client.h"

namespace schedkit::kube {

using ObjectPtr = std::shared_ptr<const Json>;

enum class WatchState { kEmpty, kListing, kWatching, kBackoff, kStopped };
std::string_view watchStateName(WatchState s);

struct Delta {
  enum class Type { kAdded, kUpdated, kDeleted };
  Type type = Type::kAdded;
  ObjectPtr object;  // the new object; for kDeleted the last state known
  ObjectPtr old;     // kUpdated only: the previous object
};
std::string_view deltaTypeName(Delta::Type t);

struct ReflectorOptions {
  std::string ns;  // "" = cluster-scoped, or every namespace
  std::string labelSelector{};
  std::string fieldSelector{};
  std::int64_t pageSize = 500;
  // The server ends each watch after this many seconds, stretched by up to 2x at random so a
  // fleet of agents does not re-watch in step.
  int watchTimeoutSeconds = 300;
  Backoff::Options backoff{.initial = std::chrono::seconds(1),
                           .max = std::chrono::seconds(30),
                           .factor = 2.0,
                           .jitter = 0.5};
};

struct ReflectorStats {
  std::uint64_t lists = 0;       // list attempts (each may be several pages)
  std::uint64_t relists = 0;     // lists forced by 410 Gone
  std::uint64_t watches = 0;     // watch requests
  std::uint64_t resumes = 0;     // watches that failed and were resumed from rv after backoff
  std::uint64_t events = 0;      // ADDED/MODIFIED/DELETED received
  std::uint64_t duplicates = 0;  // events for a version the cache already had (not delivered)
  std::uint64_t bookmarks = 0;
};

class Reflector {
 public:
  // Called on the stepping thread, in order: one call per list (fromList) or watch event.
  using DeltaSink = std::function<void(std::vector<Delta> deltas, bool fromList)>;

  Reflector(Client& client, Resource resource, ReflectorOptions opts, DeltaSink sink);

  // One transition; returns the wait before the next (zero: go on at once).
  Duration step();
  // Thread-safe: aborts an in-flight list or watch and ends in kStopped.
  void stop();
  const net::CancelTokenPtr& cancelToken() const { return cancel_; }

  WatchState state() const;
  std::string resourceVersion() const;  // where the next watch starts ("" before a list)
  ReflectorStats stats() const;
  // The reflector's own cache (what deltas are computed against). Thread-safe.
  ObjectPtr get(const std::string& key) const;
  std::size_t size() const;

 private:
  Duration list();
  Duration watch();
  Duration backoffTo(WatchState resume, const Status& why);
  void setState(WatchState s);
  // Applies one watch event to the cache; returns the delta to report, if any.
  std::optional<Delta> apply(WatchEvent& ev);

  Client& client_;
  const Resource resource_;
  const ReflectorOptions opts_;
  DeltaSink sink_;
  net::CancelTokenPtr cancel_ = std::make_shared<net::CancelToken>();
  Backoff backoff_;
  WatchState resume_ = WatchState::kEmpty;  // where Backoff leads
  int consecutive_gone_ = 0;

  mutable std::mutex mu_;
  WatchState state_ = WatchState::kEmpty;
  std::string rv_;
  std::map<std::string, ObjectPtr> cache_;
  ReflectorStats stats_;
};

}  // namespace schedkit::kube
