#pragma once

#include <string>
#include <string_view>

#include "schedkit/common/status.h"
#include "schedkit/oci/manifest.h"
#include "schedkit/oci/registry.h"

namespace schedkit::oci {

inline constexpr std::string_view kRefNameAnnotation = "org.opencontainers.image.ref.name";

// An OCI image layout directory (oci-layout, index.json, blobs/sha256/…) as a read source, and
// the few writes `schedkitctl image build` and tests need.
class OciLayout {
 public:
  explicit OciLayout(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }

  // Checks oci-layout and reads index.json.
  Result<ImageIndex> index() const;
  // The index.json entry for a tag (org.opencontainers.image.ref.name), or the only entry when
  // tag is empty and there is one. kNotFound lists the tags there are.
  Result<Descriptor> resolve(std::string_view tag) const;
  // A manifest/index by digest, verified, within the size limit; mediaType from the body or `d`.
  Result<FetchedManifest> manifest(const Descriptor& d) const;
  // Streams a blob into sink, verifying digest and size.
  Status blob(const Descriptor& d, BlobSink& sink, const ByteProgress& progress = nullptr) const;
  std::string blobPath(const Digest& d) const;

  // Writes: creates the layout when missing, stores a blob (verified), tags a descriptor in
  // index.json (replacing the tag's previous entry).
  Status init() const;
  Status putBlob(std::string_view data) const;
  Status tag(const Descriptor& d, std::string_view tag) const;

 private:
  std::string dir_;
};

}  // namespace schedkit::oci
