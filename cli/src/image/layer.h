#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

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

// A file, symlink or directory to put in a layer.
struct LayerEntry {
  std::string path;           // absolute, normalised ("/usr/bin/x")
  std::string_view content;   // a regular file's bytes; not copied, must outlive buildLayer()
  unsigned mode = 0644;       // a regular file's (or a directory's) permission bits
  std::string symlinkTarget;  // non-empty: a symlink to this (content and mode unused)
  bool directory = false;     // a directory with `mode` (e.g. /tmp 01777); content unused
};

// A layer holding `entries` and an entry for each parent directory (mode 0755, unless an entry
// for that directory gives its mode). Deterministic:
// entries sorted by path component (so parents come first; the order `entries` come in does not
// matter), mtime 0, uid/gid 0, no user or group names, no pax timestamps, symlinks mode 0777,
// gzip header without a timestamp or file name. The same entries give the same bytes with the
// same zlib and libarchive. Two entries at one path, or a file where another entry needs a
// directory, are kInvalidArgument.
Result<BuiltLayer> buildLayer(const std::vector<LayerEntry>& entries);

// buildLayer() with one regular file.
Result<BuiltLayer> buildSingleFileLayer(std::string_view pathInImage, std::string_view content,
                                        unsigned mode);

}  // namespace schedkit::cli
