#pragma once

// Kubernetes Events (events.k8s.io/v1) with de-duplication. The first occurrence of an
// (object, type, reason, action, note) creates an Event at once; repeats within a window update
// that Event's series (count, lastObservedTime) with a PATCH instead of creating more objects,
// at most once per seriesUpdateInterval per series, and every repeat in between folds into that
// one write. All writes share a rate limit, so a crash-looping scheduler costs the API server a
// bounded trickle, not a flood. stop() writes the final counts.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "schedkit/kube/client.h"
#include "schedkit/kube/rate_limiter.h"

namespace schedkit::kube {

struct ObjectReference {
  std::string apiVersion{};
  std::string kind{};
  std::string ns{};  // empty for cluster-scoped objects
  std::string name{};
  std::string uid{};
  std::string resourceVersion{};
  std::string fieldPath{};

  // The reference to an object as the API server returned it.
  static ObjectReference of(const Json& obj);
  Json toJson() const;
};

enum class EventType { kNormal, kWarning };

struct EventRecord {
  ObjectReference regarding{};
  std::optional<ObjectReference> related{};
  EventType type = EventType::kNormal;
  std::string reason{};  // UpperCamelCase, e.g. "SchedulerFallback"
  std::string action{};  // what was done, e.g. "Attach"
  std::string note{};    // human-readable; cut to 1 KiB
};

struct EventRecorderOptions {
  std::string reportingController = "schedkit.io/agent";
  std::string reportingInstance{};  // who exactly, e.g. "schedkit-agent-node-a" (required)
  // A repeat within this long of the previous occurrence joins the series.
  Duration seriesWindow = std::chrono::minutes(10);
  // A series is patched at most this often (its count is exact again at the next patch).
  Duration seriesUpdateInterval = std::chrono::seconds(10);
  // API writes (creates and series patches): burst, then qps.
  double qps = 0.5;
  int burst = 25;
  std::size_t maxPending = 1000;  // new series beyond this many pending writes are dropped
  std::size_t maxSeries = 4096;   // series remembered for de-duplication
  std::size_t flushOnStop = 100;  // pending writes stop() still sends, without waiting
};

struct EventRecorderStats {
  std::uint64_t recorded = 0;   // record() calls
  std::uint64_t created = 0;    // Event objects created
  std::uint64_t patched = 0;    // series updates written
  std::uint64_t coalesced = 0;  // occurrences folded into a pending write
  std::uint64_t dropped = 0;    // occurrences dropped (too many pending)
  std::uint64_t failed = 0;     // writes the API server refused
};

class EventRecorder {
 public:
  EventRecorder(Client& client, EventRecorderOptions opts);
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Thread-safe and non-blocking: never waits for the network.
  void record(EventRecord e);
  // Writes on a thread of its own until stop().
  void start();
  // Sends what is pending (up to flushOnStop writes) and joins.
  void stop();
  // Performs every pending write on the caller's thread, waiting (through the client's Sleeper)
  // for series intervals and the rate limit as the thread would (tests; tools without a thread).
  void drain();

  EventRecorderStats stats() const;
  std::size_t pending() const;

 private:
  struct Series {
    EventRecord record;
    std::string eventNamespace;
    std::string eventName;  // empty until created
    std::int32_t count = 0;
    std::int32_t written = 0;  // count the API server has
    WallTime first{};
    WallTime lastObserved{};
    MonoTime lastSeen{};
    std::optional<MonoTime> lastWrite;
    bool queued = false;
  };

  static std::string seriesKey(const EventRecord& e);
  std::string newEventName(const EventRecord& e);
  Json eventObject(const Series& s) const;
  // Performs (or waits for) the next queued write; false when nothing is queued. `paced`
  // honours series intervals and the rate limit; stop()'s flush does not.
  bool writeOne(bool paced);
  void enqueueLocked(const std::string& key, Series& s, MonoTime now);
  void evictLocked(MonoTime now);
  void run();

  Client& client_;
  const EventRecorderOptions opts_;
  TokenBucket bucket_;
  net::CancelTokenPtr cancel_ = std::make_shared<net::CancelToken>();  // stop()

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, Series> series_;
  std::multimap<MonoTime, std::string> queue_;  // not-before time → series key
  net::CancelTokenPtr wake_ = std::make_shared<net::CancelToken>();  // new work for a waiter
  EventRecorderStats stats_;
  std::uint64_t name_seq_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace schedkit::kube
