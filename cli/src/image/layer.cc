#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

#include <map>
#include <memory>
#include <vector>

namespace schedkit::cli {

namespace {

struct ArchiveCloser {
  void operator()(struct archive* a) const { archive_write_free(a); }
};
struct EntryCloser {
  void operator()(struct archive_entry* e) const { archive_entry_free(e); }
};

la_ssize_t appendToString(struct archive*, void* client, const void* buf, size_t n) {
  static_cast<std::string*>(client)->append(static_cast<const char*>(buf), n);
  return static_cast<la_ssize_t>(n);
}

Status archiveError(struct archive* a, const std::string& what) {
  const char* e = archive_error_string(a);
  return internalError("writing the layer tar (" + what + "): " + (e ? e : "unknown error"));
}

Result<std::string> gzip(std::string_view in) {
  z_stream z{};
  // windowBits 15 + 16: a gzip wrapper. zlib writes mtime 0 and no name unless told otherwise.
  if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return internalError("deflateInit2 failed");
  }
  std::string out;
  out.resize(deflateBound(&z, static_cast<uLong>(in.size())) + 64);
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&z, Z_FINISH);
  std::size_t n = out.size() - z.avail_out;
  deflateEnd(&z);
  if (rc != Z_STREAM_END) return internalError("gzip: deflate returned " + std::to_string(rc));
  out.resize(n);
  return out;
}

// "/usr/bin/x" → {"usr", "bin", "x"}; refuses relative paths, empty, "." and ".." components.
Result<std::vector<std::string>> splitLayerPath(const std::string& p) {
  if (p.size() < 2 || p.front() != '/') return invalidArgument("layer path must be absolute: " + p);
  std::vector<std::string> parts;
  std::size_t pos = 1;
  while (pos <= p.size()) {
    std::size_t next = p.find('/', pos);
    if (next == std::string::npos) next = p.size();
    std::string c = p.substr(pos, next - pos);
    if (c.empty() || c == "." || c == "..") {
      return invalidArgument("layer path must be normalised: " + p);
    }
    parts.push_back(std::move(c));
    pos = next + 1;
  }
  return parts;
}

}  // namespace

Result<BuiltLayer> buildLayer(const std::vector<LayerEntry>& entries) {
  constexpr std::int64_t kMaxLayerBytes = std::int64_t{1} << 31;
  // Path components → the entry there (-1: a parent directory). Ordered by components, so
  // "usr" < "usr/bin" < "usr/bin/x" < "usr-x": parents always come before their children.
  std::map<std::vector<std::string>, int> tree;
  std::int64_t total = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const LayerEntry& e = entries[i];
    SK_ASSIGN_OR_RETURN(std::vector<std::string> parts, splitLayerPath(e.path));
    if (e.directory && !e.symlinkTarget.empty()) {
      return invalidArgument("layer: " + e.path + " cannot be a directory and a symlink");
    }
    for (std::size_t n = 1; n < parts.size(); ++n) {
      std::vector<std::string> dir(parts.begin(), parts.begin() + static_cast<long>(n));
      auto [it, inserted] = tree.emplace(dir, -1);
      if (!inserted && it->second >= 0 &&
          !entries[static_cast<std::size_t>(it->second)].directory) {
        return invalidArgument("layer: " + entries[static_cast<std::size_t>(it->second)].path +
                               " is a file, but " + e.path + " needs it to be a directory");
      }
    }
    auto [it, inserted] = tree.emplace(parts, static_cast<int>(i));
    if (!inserted) {
      if (it->second < 0) {
        // A directory entry gives the mode of a directory other entries imply.
        if (e.directory) {
          it->second = static_cast<int>(i);
          continue;
        }
        return invalidArgument("layer: " + e.path + " is a directory of another entry");
      }
      return invalidArgument("layer: two entries for " + e.path);
    }
    if (e.directory) continue;
    if (e.symlinkTarget.empty()) {
      if (e.content.size() > static_cast<std::size_t>(kMaxLayerBytes)) {
        return invalidArgument(e.path + " is over 2 GiB; a scheduler should be far smaller");
      }
      total += static_cast<std::int64_t>(e.content.size());
    }
  }
  if (total > kMaxLayerBytes) {
    return invalidArgument("the layer's files are over 2 GiB; a scheduler should be far smaller");
  }

  std::string tar;
  std::unique_ptr<struct archive, ArchiveCloser> a(archive_write_new());
  // pax_restricted writes plain ustar headers unless a field does not fit (long paths).
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK ||
      archive_write_open(a.get(), &tar, nullptr, appendToString, nullptr) != ARCHIVE_OK) {
    return archiveError(a.get(), "open");
  }
  auto header = [&](const std::string& name, unsigned type, unsigned perm, std::int64_t size,
                    const std::string& linkTarget) -> Status {
    std::unique_ptr<struct archive_entry, EntryCloser> e(archive_entry_new());
    archive_entry_copy_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), perm);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_mtime(e.get(), 0, 0);
    archive_entry_set_size(e.get(), size);
    if (!linkTarget.empty()) archive_entry_copy_symlink(e.get(), linkTarget.c_str());
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) return archiveError(a.get(), name);
    return Status::ok();
  };
  for (const auto& [parts, index] : tree) {
    std::string rel;
    for (const auto& c : parts) rel += (rel.empty() ? "" : "/") + c;
    if (index < 0) {
      // Parents as "usr/", "usr/bin/", as docker and buildah write them.
      SK_RETURN_IF_ERROR(header(rel + "/", AE_IFDIR, 0755, 0, {}));
      continue;
    }
    const LayerEntry& e = entries[static_cast<std::size_t>(index)];
    if (e.directory) {
      SK_RETURN_IF_ERROR(header(rel + "/", AE_IFDIR, e.mode & 07777, 0, {}));
      continue;
    }
    if (!e.symlinkTarget.empty()) {
      SK_RETURN_IF_ERROR(header(rel, AE_IFLNK, 0777, 0, e.symlinkTarget));
      continue;
    }
    SK_RETURN_IF_ERROR(
        header(rel, AE_IFREG, e.mode & 07777, static_cast<std::int64_t>(e.content.size()), {}));
    if (!e.content.empty() && archive_write_data(a.get(), e.content.data(), e.content.size()) !=
                                  static_cast<la_ssize_t>(e.content.size())) {
      return archiveError(a.get(), rel);
    }
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return archiveError(a.get(), "close");

  BuiltLayer out;
  out.diffId = oci::Digest::of(tar);
  out.tarSize = static_cast<std::int64_t>(tar.size());
  SK_ASSIGN_OR_RETURN(out.blob, gzip(tar));
  out.digest = oci::Digest::of(out.blob);
  return out;
}

Result<BuiltLayer> buildSingleFileLayer(std::string_view pathInImage, std::string_view content,
                                        unsigned mode) {
  LayerEntry e;
  e.path = std::string(pathInImage);
  e.content = content;
  e.mode = mode;
  return buildLayer({e});
}

}  // namespace schedkit::cli
