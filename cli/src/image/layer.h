#pragma once

#include <string>
#include <string_view>

#include "schedkit/common/status.h"
#include "schedkit/oci/digest.h"

namespace schedkit::cli {

// One tar+gzip layer, built in memory.
struct BuiltLayer {
  std::string blob;    // gzip-compressed tar
  oci::Digest digest;  // sha256 of blob
  oci::Digest diffId;  // sha256 of the uncompressed tar
  std::int64_t tarSize = 0;
};

// A layer holding one file at `pathInImage` (absolute, normalised), preceded by an entry for each
// parent directory (mode 0755). Deterministic: entries in path order, mtime 0, uid/gid 0, no user
// or group names, no pax timestamps, gzip header without a timestamp or file name. The same
// content, path and mode give the same bytes with the same zlib and libarchive.
Result<BuiltLayer> buildSingleFileLayer(std::string_view pathInImage, std::string_view content,
                                        unsigned mode);

}  // namespace schedkit::cli
