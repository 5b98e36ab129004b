#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "schedkit/common/status.h"
#include "schedkit/oci/digest.h"

namespace schedkit::oci {

// Caps that stop decompression bombs and hostile layers. Counted across all layers of an image.
struct UnpackLimits {
  std::int64_t maxBytes = 2LL << 30;  // regular-file bytes written (declared sizes count too)
  std::int64_t maxEntries = 200000;   // tar entries, whiteouts included
  std::size_t maxPathLength = 4096;
  std::size_t maxPathDepth = 256;  // components; bounds the per-entry path walk
  int maxSymlinkHops = 40;
};

struct LayerFile {
  std::string path;  // the (cached) blob
  Digest digest;     // re-verified while reading; empty skips the check
  std::string name;  // for messages, e.g. "layer 2 (sha256:…)"
  Digest diffId;     // sha256 of the uncompressed tar (config rootfs.diff_ids); empty skips
};

struct UnpackStats {
  std::int64_t entries = 0;
  std::int64_t bytes = 0;
  std::int64_t whiteouts = 0;
};

// Applies tar layers (uncompressed, gzip or zstd; detected from the data and decompressed here,
// so both the blob digest and the uncompressed diff_id are checked in one pass) in order onto
// `dest`, an existing empty directory, with OCI whiteouts (".wh.<name>" removes <name> from lower
// layers,
// ".wh..wh..opq" empties a directory of lower-layer content). Refused, with the entry named:
// absolute paths, ".." components, writes through symlinks that leave `dest`, hard links to
// targets outside `dest` or missing, device nodes, fifos and sockets, and anything over `limits`.
// Everything is written relative to a directory fd of `dest` with O_NOFOLLOW walks, so nothing
// lands outside it; a failed entry is removed before returning. Owners, xattrs and set-id bits
// are not applied (the agent runs schedulers as root from a read-only root). The caller unpacks
// into a temp dir and renames it into place (ContentStore does), then makes it read-only.
Result<UnpackStats> unpackLayers(const std::vector<LayerFile>& layers, const std::string& dest,
                                 const UnpackLimits& limits);
// The same for one layer held in memory (fuzzing, tests).
Result<UnpackStats> unpackLayerBytes(std::string_view data, const std::string& dest,
                                     const UnpackLimits& limits);

// Resolves `path` (absolute or relative to the image root) inside `root` the way the container
// would see it: symlinks are followed with absolute targets taken relative to `root`; a ".."
// above the root or a symlink leaving it is kPermissionDenied. Returns the host path of the final
// file (never a symlink), which must exist.
Result<std::string> resolveInRoot(const std::string& root, std::string_view path,
                                  int maxSymlinkHops = 40);

}  // namespace schedkit::oci
