#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "schedkit/common/status.h"
#include "schedkit/oci/digest.h"

namespace schedkit::oci {

struct Platform {
  std::string os;                // "linux"
  std::string architecture;      // "amd64", "arm64", "arm"
  std::string variant;           // "v8", "v7"; empty = unspecified
  std::string toString() const;  // "linux/arm64/v8"
  friend bool operator==(const Platform&, const Platform&) = default;
};

// The platform of this process's host (uname), in OCI terms: x86_64 → linux/amd64,
// aarch64 → linux/arm64/v8, armv7l → linux/arm/v7.
Platform hostPlatform();
// Parses "linux/amd64", "linux/arm64/v8".
Result<Platform> parsePlatform(std::string_view s);

struct Descriptor {
  std::string mediaType;
  Digest digest;
  std::int64_t size = 0;
  std::map<std::string, std::string> annotations;
  std::optional<Platform> platform;  // index entries
  std::vector<std::string> urls;     // foreign layers; never followed
};

// An image manifest (OCI image manifest or Docker schema 2).
struct ImageManifest {
  std::string mediaType;  // as declared (or as served, when the body does not say)
  Descriptor config;
  std::vector<Descriptor> layers;
  std::map<std::string, std::string> annotations;
  std::optional<Descriptor> subject;
  std::string artifactType;
};

// An image index (OCI index or Docker manifest list).
struct ImageIndex {
  std::string mediaType;
  std::vector<Descriptor> manifests;
  std::map<std::string, std::string> annotations;
};

// The part of an image config schedkit reads.
struct ImageConfig {
  Platform platform;
  std::map<std::string, std::string> labels;
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;
  std::vector<Digest> diffIds;
};

// Default size limits for documents fetched from a registry (and read from a layout).
inline constexpr std::int64_t kMaxManifestBytes = 4 << 20;
inline constexpr std::int64_t kMaxConfigBytes = 8 << 20;

// Classifies a manifest body: `served` is the Content-Type (may be empty or generic); the body's
// own mediaType wins when present, and the two must agree when both name a manifest kind.
// Returns the effective media type, or kInvalidArgument for an unsupported/unknown kind
// (schema 1, plain JSON without mediaType and without a recognisable shape, ...).
Result<std::string> manifestMediaType(std::string_view body, std::string_view served);

Result<ImageManifest> parseImageManifest(std::string_view body, std::string_view mediaType);
Result<ImageIndex> parseImageIndex(std::string_view body, std::string_view mediaType);
Result<ImageConfig> parseImageConfig(std::string_view body);
Result<Descriptor> parseDescriptorJson(std::string_view json);

// Picks the entry of an index for `want`: os and architecture must match; a wanted variant must
// match when the entry names one (an entry without variant matches any); among several matches
// an exact variant wins, then the first. Attestation manifests (unknown/unknown) are skipped.
// kNotFound lists the platforms the index has.
Result<Descriptor> selectPlatform(const ImageIndex& index, const Platform& want);

// Serialisers (for OCI layouts written by tests and, later, `schedkitctl image build`).
std::string descriptorJson(const Descriptor& d);
std::string imageManifestJson(const ImageManifest& m);
std::string imageIndexJson(const ImageIndex& i);

}  // namespace schedkit::oci
