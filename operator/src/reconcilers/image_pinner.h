#pragma once

// Tag → digest pinning (DESIGN.md §2 step 4): the operator asks the registry once what a tag
// names, with the policy's pull secrets, and writes the digest into status.resolvedImage so that
// every node runs the same bits.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/common/random.h"
#include "schedkit/common/status.h"
#include "schedkit/kube/client.h"
#include "schedkit/oci/registry.h"

namespace schedkit::op {

class ImagePinner {
 public:
  virtual ~ImagePinner() = default;
  // "registry/repo:tag" → "registry/repo@sha256:…" (the digest of what the tag names: an index
  // for a multi-arch image, agents pick their platform from it). Blocking.
  virtual Result<std::string> pin(const std::string& image,
                                  const std::vector<std::string>& pullSecrets) = 0;
};
using ImagePinnerPtr = std::unique_ptr<ImagePinner>;

// Asks the registry through lib/oci; pull secrets are kubernetes.io/dockerconfigjson Secrets in
// the operator's namespace.
class RegistryImagePinner final : public ImagePinner {
 public:
  RegistryImagePinner(kube::Client& secrets, std::string ns, oci::RegistryClient& registry)
      : secrets_(secrets), ns_(std::move(ns)), registry_(registry) {}
  Result<std::string> pin(const std::string& image,
                          const std::vector<std::string>& pullSecrets) override;

 private:
  kube::Client& secrets_;
  std::string ns_;
  oci::RegistryClient& registry_;
};

// Remembers answers so a reconcile pass never asks twice: successes for `ttl` (a new revision
// with the same tag pins afresh after that), failures until a backoff retry time.
class PinCache {
 public:
  struct Answer {
    bool ok = false;
    std::string image;  // ok
    std::string error;  // !ok
    MonoTime retryAt{};  // !ok: ask again from then on
  };
  PinCache(ImagePinner& pinner, const Clock& clock, Random& random, const Logger& log,
           Duration ttl = std::chrono::minutes(1));
  // Cached, or asked now (blocking) when there is no fresh answer.
  Answer get(const std::string& image, const std::vector<std::string>& pullSecrets);
  // The earliest retry of a failed answer, if any.
  std::optional<MonoTime> nextRetry() const;

 private:
  struct Entry {
    Answer answer;
    MonoTime askedAt{};
    Backoff backoff;
  };
  ImagePinner& pinner_;
  const Clock& clock_;
  Random& random_;
  const Logger& log_;
  Duration ttl_;
  std::map<std::string, Entry> entries_;
};

}  // namespace schedkit::op
