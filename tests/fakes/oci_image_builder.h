#pragma once

// Builds tar layers (plain, gzip, zstd; with hostile entries when asked) and whole images for
// OCI tests, into a FakeRegistry, an OCI layout directory, or plain bytes. Uses libarchive's
// writer, which stores paths exactly as given (absolute, "..") so refusals can be tested.

#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "schedkit/oci/digest.h"
#include "schedkit/oci/manifest.h"
#include "schedkit/oci/media_types.h"

namespace schedkit::oci::testing {

struct TarEntry {
  enum Kind { kFile, kDir, kSymlink, kHardlink, kCharDev, kBlockDev, kFifo };
  Kind kind = kFile;
  std::string path;
  std::string data;  // file content
  std::string link;  // symlink / hard link target
  unsigned mode = 0644;
  std::int64_t zeros = 0;  // extra zero bytes appended to data (bombs), streamed
};

inline TarEntry file(std::string p, std::string data, unsigned mode = 0644) {
  return {TarEntry::kFile, std::move(p), std::move(data), "", mode, 0};
}
inline TarEntry dir(std::string p, unsigned mode = 0755) {
  return {TarEntry::kDir, std::move(p), "", "", mode, 0};
}
inline TarEntry symlink(std::string p, std::string target) {
  return {TarEntry::kSymlink, std::move(p), "", std::move(target), 0777, 0};
}
inline TarEntry hardlink(std::string p, std::string target) {
  return {TarEntry::kHardlink, std::move(p), "", std::move(target), 0644, 0};
}

enum class Compression { kNone, kGzip, kZstd };

inline std::string buildTar(const std::vector<TarEntry>& entries,
                            Compression c = Compression::kGzip) {
  std::string out;
  struct archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (c == Compression::kGzip) {
    archive_write_add_filter_gzip(a);
    archive_write_set_filter_option(a, "gzip", "timestamp", nullptr);  // deterministic bytes
  }
  if (c == Compression::kZstd) archive_write_add_filter_zstd(a);
  archive_write_set_bytes_in_last_block(a, 1);
  archive_write_open(
      a, &out, nullptr,
      [](struct archive*, void* client, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  for (const auto& t : entries) {
    struct archive_entry* e = archive_entry_new();
    archive_entry_copy_pathname(e, t.path.c_str());
    archive_entry_set_perm(e, t.mode);
    archive_entry_set_mtime(e, 0, 0);
    switch (t.kind) {
      case TarEntry::kFile:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_set_size(e, static_cast<la_int64_t>(t.data.size()) + t.zeros);
        break;
      case TarEntry::kDir:
        archive_entry_set_filetype(e, AE_IFDIR);
        break;
      case TarEntry::kSymlink:
        archive_entry_set_filetype(e, AE_IFLNK);
        archive_entry_copy_symlink(e, t.link.c_str());
        break;
      case TarEntry::kHardlink:
        archive_entry_set_filetype(e, AE_IFREG);
        archive_entry_copy_hardlink(e, t.link.c_str());
        archive_entry_set_size(e, 0);
        break;
      case TarEntry::kCharDev:
        archive_entry_set_filetype(e, AE_IFCHR);
        archive_entry_set_rdev(e, makedev(1, 3));
        break;
      case TarEntry::kBlockDev:
        archive_entry_set_filetype(e, AE_IFBLK);
        archive_entry_set_rdev(e, makedev(8, 0));
        break;
      case TarEntry::kFifo:
        archive_entry_set_filetype(e, AE_IFIFO);
        break;
    }
    if (archive_write_header(a, e) != ARCHIVE_OK) {
      std::string err = archive_error_string(a) ? archive_error_string(a) : "?";
      archive_entry_free(e);
      archive_write_free(a);
      throw std::runtime_error("buildTar: " + err);
    }
    if (t.kind == TarEntry::kFile) {
      archive_write_data(a, t.data.data(), t.data.size());
      std::string zeros(1 << 16, '\0');
      for (std::int64_t left = t.zeros; left > 0;) {
        auto n = static_cast<size_t>(
            std::min<std::int64_t>(left, static_cast<std::int64_t>(zeros.size())));
        archive_write_data(a, zeros.data(), n);
        left -= static_cast<std::int64_t>(n);
      }
    }
    archive_entry_free(e);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

inline std::string layerMediaType(Compression c) {
  switch (c) {
    case Compression::kNone:
      return std::string(media::kOciLayerTar);
    case Compression::kGzip:
      return std::string(media::kOciLayerGzip);
    case Compression::kZstd:
      return std::string(media::kOciLayerZstd);
  }
  return {};
}

// A whole image: blobs by digest plus its manifest.
struct BuiltImage {
  std::map<std::string, std::string> blobs;  // digest string → bytes (config + layers)
  std::string config;
  std::string manifest;
  std::string manifestMediaType = std::string(media::kOciManifest);
  Digest digest;  // of manifest
  Descriptor descriptor(const Platform* p = nullptr) const {
    Descriptor d{manifestMediaType, digest, static_cast<std::int64_t>(manifest.size()), {}, {}, {}};
    if (p) d.platform = *p;
    return d;
  }
};

// sha256 of a layer's uncompressed tar (its diff_id), decompressed with libarchive.
inline Digest diffIdOf(const std::string& blob) {
  struct archive* a = archive_read_new();
  archive_read_support_filter_all(a);
  archive_read_support_format_raw(a);
  archive_read_support_format_empty(a);
  Sha256 h;
  if (archive_read_open_memory(a, blob.data(), blob.size()) == ARCHIVE_OK) {
    struct archive_entry* e;
    if (archive_read_next_header(a, &e) == ARCHIVE_OK) {
      char buf[65536];
      la_ssize_t n;
      while ((n = archive_read_data(a, buf, sizeof buf)) > 0) {
        h.update(std::string_view(buf, static_cast<std::size_t>(n)));
      }
    }
  }
  archive_read_free(a);
  return h.finish();
}

inline std::string configJson(const std::map<std::string, std::string>& labels,
                              const std::string& arch = "amd64", const std::string& variant = "",
                              const std::vector<Digest>& diffIds = {}) {
  std::string l;
  for (const auto& [k, v] : labels) {
    std::string ev;
    for (char ch : v) {
      if (ch == '"' || ch == '\\') ev += '\\';
      ev += ch;
    }
    l += (l.empty() ? "" : ",") + ("\"" + k + "\":\"" + ev + "\"");
  }
  std::string ids;
  for (const auto& d : diffIds) ids += (ids.empty() ? "\"" : ",\"") + d.toString() + "\"";
  return "{\"architecture\":\"" + arch + "\",\"os\":\"linux\"" +
         (variant.empty() ? "" : ",\"variant\":\"" + variant + "\"") + ",\"config\":{\"Labels\":{" +
         l + "}},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[" + ids + "]}}";
}

struct ImageSpec {
  std::vector<std::string> layers;           // already-built tar blobs
  std::vector<std::string> layerMediaTypes;  // defaults to gzip
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string arch = "amd64", variant;
  std::string manifestMediaType = std::string(media::kOciManifest);
  std::string configMediaType;  // default follows the manifest kind
  std::string rawConfig;        // overrides labels
  bool noDiffIds = false;       // a config without rootfs.diff_ids
  std::vector<Digest> diffIds;  // overrides the computed ones
};

inline BuiltImage buildImage(const ImageSpec& s) {
  BuiltImage img;
  bool docker = s.manifestMediaType == media::kDockerManifest;
  std::vector<Digest> ids = s.diffIds;
  if (ids.empty() && !s.noDiffIds) {
    for (const auto& l : s.layers) ids.push_back(diffIdOf(l));
  }
  img.config = s.rawConfig.empty() ? configJson(s.labels, s.arch, s.variant, ids) : s.rawConfig;
  ImageManifest m;
  m.mediaType = s.manifestMediaType;
  std::string cmt = !s.configMediaType.empty() ? s.configMediaType
                    : docker                   ? std::string(media::kDockerConfig)
                                               : std::string(media::kOciConfig);
  m.config = {cmt, Digest::of(img.config), static_cast<std::int64_t>(img.config.size()), {}, {},
              {}};
  img.blobs[m.config.digest.toString()] = img.config;
  for (std::size_t i = 0; i < s.layers.size(); ++i) {
    std::string mt = i < s.layerMediaTypes.size() ? s.layerMediaTypes[i]
                     : docker                     ? std::string(media::kDockerLayerGzip)
                                                  : std::string(media::kOciLayerGzip);
    Descriptor d{mt, Digest::of(s.layers[i]), static_cast<std::int64_t>(s.layers[i].size()), {}, {},
                 {}};
    img.blobs[d.digest.toString()] = s.layers[i];
    m.layers.push_back(d);
  }
  m.annotations = s.annotations;
  img.manifest = imageManifestJson(m);
  img.manifestMediaType = s.manifestMediaType;
  img.digest = Digest::of(img.manifest);
  return img;
}

// The labels of a valid schedkit scheduler image.
inline std::map<std::string, std::string> schedulerLabels(
    const std::string& type = "binary", const std::string& path = "/usr/bin/scx_test") {
  return {{"io.schedkit.scheduler.type", type},
          {"io.schedkit.scheduler.path", path},
          {"io.schedkit.scheduler.name", "test"},
          {"io.schedkit.scheduler.version", "1.2.3"},
          {"io.schedkit.kernel.min", "6.12"},
          {"io.schedkit.scheduler.args", "[\"--fast\",\"-v\"]"}};
}

}  // namespace schedkit::oci::testing
