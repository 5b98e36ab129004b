#pragma once

#include <string>

#include "app/image_resolver.h"
#include "schedkit/os/filesystem.h"

namespace schedkit::agent {

// Secrets laid out as Kubernetes mounts them: DIR/<secret>/<key> holds the decoded value.
// Standalone mode's source of image pull secrets and signature keys (--secrets-dir).
class DirSecretSource final : public SecretSource {
 public:
  DirSecretSource(Filesystem& fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  Result<std::map<std::string, std::string>> get(const std::string& name) override;

 private:
  Filesystem& fs_;
  std::string dir_;
};

}  // namespace schedkit::agent
