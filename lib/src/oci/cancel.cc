#include "schedkit/oci/cancel.h"

namespace schedkit::oci {

void CancelToken::cancel() {
  {
    std::lock_guard lk(mu_);
    cancelled_ = true;
  }
  cv_.notify_all();
}

bool CancelToken::waitFor(Duration d) {
  std::unique_lock lk(mu_);
  return !cv_.wait_for(lk, d, [this] { return cancelled_.load(); });
}

}  // namespace schedkit::oci
