#pragma once

// An informer: a Reflector on its own thread (the blocking list/watch), a cache keyed by
// "namespace/name" (or "name"), and add/update/delete handlers that run where the owner wants
// them, normally on the agent's EventLoop (Informer::dispatchTo(loop)).

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "schedkit/kube/watch.h"
#include "schedkit/os/event_loop.h"

namespace schedkit::kube {

class Informer {
 public:
  // Runs a closure on the thread that owns the handlers and the cache, in order.
  using Dispatch = std::function<void(std::function<void()>)>;
  static Dispatch dispatchTo(EventLoop& loop);
  static Dispatch dispatchInline();  // on the reflector's thread (tests, simple tools)

  struct Handlers {
    std::function<void(const Json& obj)> onAdd = {};
    std::function<void(const Json& oldObj, const Json& newObj)> onUpdate = {};
    std::function<void(const Json& lastKnown)> onDelete = {};
    // After each full list has been delivered (first = the initial sync), with hasSynced()
    // already true: an empty list still tells its handlers the cache is complete.
    std::function<void(bool first)> onSynced = {};
  };

  Informer(Client& client, Resource resource, ReflectorOptions opts, Dispatch dispatch);
  ~Informer();  // stops
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Before start(): handlers added later miss what was already delivered.
  void addHandlers(Handlers h);
  // Runs the reflector on a thread of its own until stop().
  void start();
  // Aborts the in-flight request, joins the thread. Closures already dispatched still run.
  void stop();
  // One reflector transition on the caller's thread (tests drive it this way, no thread).
  Duration step() { return reflector_.step(); }

  // True once the first list has been applied to the cache and handed to the handlers (on the
  // dispatch thread).
  bool hasSynced() const { return shared_->synced.load(); }
  WatchState state() const { return reflector_.state(); }
  std::string resourceVersion() const { return reflector_.resourceVersion(); }
  ReflectorStats stats() const { return reflector_.stats(); }

  // The cache as the handlers have seen it: updated on the dispatch thread just before the
  // handlers of each change run. Thread-safe.
  ObjectPtr get(const std::string& key) const;
  std::vector<ObjectPtr> list() const;
  std::size_t size() const;

 private:
  struct Shared {
    std::mutex mu;
    std::map<std::string, ObjectPtr> cache;
    std::vector<Handlers> handlers;
    std::atomic<bool> synced{false};
  };
  static void deliver(Shared& shared, const std::vector<Delta>& deltas, bool fromList);
  void run();

  Client& client_;
  Dispatch dispatch_;
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  Reflector reflector_;
  std::thread thread_;
};

}  // namespace schedkit::kube
