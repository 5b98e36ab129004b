#include "image/layer.h"

#include <archive.h>
#include <archive_entry.h>
#include <zlib.h>

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

}  // namespace

Result<BuiltLayer> buildSingleFileLayer(std::string_view pathInImage, std::string_view content,
                                        unsigned mode) {
  if (pathInImage.size() < 2 || pathInImage.front() != '/') {
    return invalidArgument("layer path must be absolute: " + std::string(pathInImage));
  }
  if (content.size() > (std::size_t{1} << 31)) {
    return invalidArgument("the file is over 2 GiB; a scheduler should be far smaller");
  }
  std::string rel(pathInImage.substr(1));
  // Parents first ("usr/", "usr/bin/"), as docker and buildah write them.
  std::vector<std::string> dirs;
  for (std::size_t pos = rel.find('/'); pos != std::string::npos; pos = rel.find('/', pos + 1)) {
    dirs.push_back(rel.substr(0, pos + 1));
  }

  std::string tar;
  std::unique_ptr<struct archive, ArchiveCloser> a(archive_write_new());
  // pax_restricted writes plain ustar headers unless a field does not fit (long paths).
  if (archive_write_set_format_pax_restricted(a.get()) != ARCHIVE_OK ||
      archive_write_set_bytes_in_last_block(a.get(), 1) != ARCHIVE_OK ||
      archive_write_open(a.get(), &tar, nullptr, appendToString, nullptr) != ARCHIVE_OK) {
    return archiveError(a.get(), "open");
  }
  auto header = [&](const std::string& name, unsigned type, unsigned perm,
                    std::int64_t size) -> Status {
    std::unique_ptr<struct archive_entry, EntryCloser> e(archive_entry_new());
    archive_entry_copy_pathname(e.get(), name.c_str());
    archive_entry_set_filetype(e.get(), type);
    archive_entry_set_perm(e.get(), perm);
    archive_entry_set_uid(e.get(), 0);
    archive_entry_set_gid(e.get(), 0);
    archive_entry_set_mtime(e.get(), 0, 0);
    archive_entry_set_size(e.get(), size);
    if (archive_write_header(a.get(), e.get()) != ARCHIVE_OK) return archiveError(a.get(), name);
    return Status::ok();
  };
  for (const auto& d : dirs) SK_RETURN_IF_ERROR(header(d, AE_IFDIR, 0755, 0));
  SK_RETURN_IF_ERROR(
      header(rel, AE_IFREG, mode & 07777, static_cast<std::int64_t>(content.size())));
  if (!content.empty() && archive_write_data(a.get(), content.data(), content.size()) !=
                              static_cast<la_ssize_t>(content.size())) {
    return archiveError(a.get(), rel);
  }
  if (archive_write_close(a.get()) != ARCHIVE_OK) return archiveError(a.get(), "close");

  BuiltLayer out;
  out.diffId = oci::Digest::of(tar);
  out.tarSize = static_cast<std::int64_t>(tar.size());
  SK_ASSIGN_OR_RETURN(out.blob, gzip(tar));
  out.digest = oci::Digest::of(out.blob);
  return out;
}

}  // namespace schedkit::cli
