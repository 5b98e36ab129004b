#pragma once

#include <string>
#include <vector>

#include "schedkit/common/status.h"
#include "schedkit/oci/credentials.h"
#include "schedkit/oci/digest.h"
#include "schedkit/oci/manifest.h"
#include "schedkit/oci/registry.h"

namespace schedkit::cli {

struct PushResult {
  std::string source;     // oci:DIR:TAG
  std::string reference;  // registry/repo:tag, normalised
  oci::Digest digest;     // what the tag names now
  std::string mediaType;
  std::string pinnedReference;  // registry/repo@sha256:…
  int blobsPushed = 0, blobsSkipped = 0;
  std::int64_t bytesPushed = 0;
  std::vector<oci::Digest> manifests;  // platform manifests pushed by digest (an index's)
  std::vector<oci::Platform> platforms;
};

// Pushes what `source` (DIR[:TAG] or oci:DIR[:TAG]) names to `dest` (a registry reference with a
// tag; the source tag when it has none): every blob the registry lacks (HEAD first), then each
// platform manifest by digest when the source is an index, then the manifest or index by tag.
Result<PushResult> pushLayout(const std::string& source, const std::string& dest,
                              oci::RegistryClient& client, const oci::Keychain& keys);

}  // namespace schedkit::cli
