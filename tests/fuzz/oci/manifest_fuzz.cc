// Manifest, index, config and descriptor parsing, and platform selection, on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "schedkit/oci/artifact.h"
#include "schedkit/oci/manifest.h"
#include "schedkit/oci/media_types.h"

using namespace schedkit::oci;  // NOLINT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  // The first byte picks what the registry claims the body is.
  static constexpr std::string_view kServed[] = {"",
                                                 media::kOciManifest,
                                                 media::kOciIndex,
                                                 media::kDockerManifest,
                                                 media::kDockerManifestList,
                                                 "application/json; charset=utf-8"};
  std::string_view served = size ? kServed[data[0] % 6] : "";
  auto mt = manifestMediaType(body, served);
  if (mt.isOk()) {
    if (media::isIndex(*mt)) {
      auto idx = parseImageIndex(body, *mt);
      if (idx.isOk()) {
        (void)selectPlatform(*idx, {"linux", "amd64", ""});
        (void)selectPlatform(*idx, {"linux", "arm64", "v8"});
        (void)imageIndexJson(*idx);
      }
    } else {
      auto m = parseImageManifest(body, *mt);
      if (m.isOk()) {
        auto again = parseImageManifest(imageManifestJson(*m), *mt);
        if (!again.isOk() || again->layers.size() != m->layers.size())
          __builtin_trap();  // round trip
        (void)parseSchedulerArtifact({}, m->annotations);
      }
    }
  }
  auto cfg = parseImageConfig(body);
  if (cfg.isOk()) (void)parseSchedulerArtifact(cfg->labels, {});
  (void)parseDescriptorJson(body);
  (void)parsePlatform(body);
  return 0;
}
