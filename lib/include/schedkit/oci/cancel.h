#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "schedkit/common/clock.h"

namespace schedkit::oci {

// Cancels a blocking pull from another thread: in-flight downloads stop at their next chunk
// and retry waits end at once.
class CancelToken {
 public:
  void cancel();
  bool cancelled() const { return cancelled_.load(); }
  // Waits up to `d` of real time on the calling (worker) thread; false when cancelled first.
  // This is the only place the OCI code waits, and only between retries.
  bool waitFor(Duration d);

 private:
  std::atomic<bool> cancelled_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};
using CancelTokenPtr = std::shared_ptr<CancelToken>;

// How the registry client waits before a retry. Returns false to give up (cancelled). Unit tests
// pass one that records the delay and returns at once.
using Sleeper = std::function<bool(Duration)>;

}  // namespace schedkit::oci
