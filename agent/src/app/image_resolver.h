#pragma once

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "node/node_engine.h"
#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/common/random.h"
#include "schedkit/oci/credentials.h"
#include "schedkit/oci/image_store.h"
#include "schedkit/policy/types.h"

namespace schedkit::agent {

// Where image credentials and verification keys come from: Secrets in the agent's namespace
// (cluster mode) or a directory laid out like mounted Secrets (standalone). Called on the loop.
class SecretSource {
 public:
  virtual ~SecretSource() = default;
  // The Secret's data, base64-encoded values as the API returns them.
  virtual Result<std::map<std::string, std::string>> get(const std::string& name) = 0;
};

// Turns an image policy into something the node engine can start: pulls the image off the event
// loop (ImagePuller), reads the schedkit image convention and fills the LaunchSpec. While the
// pull runs the desired scheduler is blocked in phase Pulling; a failed pull blocks it in Failed
// with the reason and is retried with backoff. Either way whatever runs now keeps running.
class ImageResolver {
 public:
  struct Deps {
    oci::ImagePuller& puller;
    Clock& clock;
    Random& random;
    const Logger& log;
    SecretSource* secrets = nullptr;  // null: no pull secrets or keys available
    std::function<void()> onChange;   // a pull finished: recompute and re-apply the desired state
  };
  explicit ImageResolver(Deps d) : d_(std::move(d)) {}

  // For a desired scheduler with an image: ready (launch filled from the pulled image), or
  // blocked (Pulling / PullFailed). Desired schedulers without an image pass through.
  DesiredScheduler resolve(DesiredScheduler d, const policy::SchedulerSpec& spec);

 private:
  struct Entry {
    enum class State { kPulling, kReady, kFailed } state = State::kPulling;
    oci::PulledImage image;
    std::string error;
    int failures = 0;
    TimerId retry = 0;
  };
  void startPull(const std::string& key, const policy::SchedulerSpec& spec);

  Deps d_;
  std::map<std::string, Entry> entries_;  // by revision + image: one pull per revision
};

// The same fill-in, exposed for tests: a pulled image → the launch spec computeDesired() made.
void applyPulledImage(const oci::PulledImage& img, DesiredScheduler& d);

}  // namespace schedkit::agent
