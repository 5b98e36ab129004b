#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "schedkit/common/status.h"
#include "schedkit/oci/image_store.h"

namespace schedkit::cli {

// `image inspect` and `image pull` go through the agent's own OciImageStore, so what they print
// is what the agent would do with the same reference, key and credentials.
struct FetchOptions {
  std::string image;     // registry reference or oci:DIR[:TAG][@digest]
  std::string platform;  // default: this host's
  std::optional<std::string> verifyKeyPem;
  oci::PullPolicy policy = oci::PullPolicy::kIfNotPresent;  // pull only
  oci::Keychain credentials;
};

struct IndexEntry {
  oci::Platform platform;
  oci::Digest digest;
  std::string mediaType;
};

struct InspectResult {
  oci::ImageInfo info;
  std::vector<IndexEntry> index;  // when the reference names an index
  std::string manifestMediaType;  // the platform manifest's
  oci::Descriptor config;
  std::map<std::string, std::string> labels;       // the config's
  std::map<std::string, std::string> annotations;  // the manifest's
  // "unchecked" (no key), "verified", or "failed" with signatureError.
  std::string signature = "unchecked";
  std::string signatureError;
};

// Resolves the reference, checks the signature (when a key is given) and reads the convention,
// without fetching layers. A failed signature check is still a result (signature "failed"), with
// everything else read without the key; `store` is a scratch or real cache.
Result<InspectResult> inspectImage(oci::OciImageStore& store, const FetchOptions& o);

Result<oci::PulledImage> pullImage(oci::OciImageStore& store, const FetchOptions& o,
                                   const std::function<void(const oci::PullProgress&)>& progress);

}  // namespace schedkit::cli
