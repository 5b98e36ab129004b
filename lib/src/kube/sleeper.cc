#include "schedkit/kube/sleeper.h"

#include <condition_variable>
#include <mutex>

namespace schedkit::kube {

bool RealSleeper::sleepFor(Duration d, const net::CancelTokenPtr& cancel) {
  struct Wait {
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;
  };
  auto w = std::make_shared<Wait>();
  std::uint64_t id = 0;
  if (cancel) {
    id = cancel->onCancel([w] {
      {
        std::lock_guard lk(w->mu);
        w->woken = true;
      }
      w->cv.notify_all();
    });
  }
  bool cancelled;
  {
    std::unique_lock lk(w->mu);
    // The one real-time wait of the kube client (see the class comment).
    cancelled = w->cv.wait_for(lk, d, [&] { return w->woken; });
  }
  if (cancel && id != 0) cancel->removeCallback(id);
  return !cancelled;
}

}  // namespace schedkit::kube
