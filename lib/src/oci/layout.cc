#include "schedkit/oci/layout.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "schedkit/oci/media_types.h"

namespace schedkit::oci {

namespace {

Result<std::string> readSmall(const std::string& path, std::int64_t max) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return notFound(path + " does not exist");
    return fromErrno(errno, "open " + path);
  }
  std::string out;
  char buf[65536];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    out.append(buf, static_cast<std::size_t>(n));
    if (static_cast<std::int64_t>(out.size()) > max) {
      ::close(fd);
      return resourceExhausted(path + " is larger than " + std::to_string(max) + " bytes");
    }
  }
  ::close(fd);
  if (n < 0) return fromErrno(errno, "read " + path);
  return out;
}

Status writeAtomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return fromErrno(errno, "create " + tmp);
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fromErrno(e, "write " + tmp);
    }
    off += static_cast<std::size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return fromErrno(errno, "rename " + tmp);
  return Status::ok();
}

}  // namespace

std::string OciLayout::blobPath(const Digest& d) const { return dir_ + "/blobs/sha256/" + d.hex(); }

Result<ImageIndex> OciLayout::index() const {
  auto marker = readSmall(dir_ + "/oci-layout", 4096);
  if (!marker.isOk()) return marker.status().withContext("not an OCI image layout: " + dir_);
  SK_ASSIGN_OR_RETURN(std::string body, readSmall(dir_ + "/index.json", kMaxManifestBytes));
  auto idx = parseImageIndex(body, media::kOciIndex);
  if (!idx.isOk()) return idx.status().withContext(dir_ + "/index.json");
  return idx;
}

Result<Descriptor> OciLayout::resolve(std::string_view tag) const {
  SK_ASSIGN_OR_RETURN(ImageIndex idx, index());
  std::string tags;
  for (const auto& d : idx.manifests) {
    auto it = d.annotations.find(std::string(kRefNameAnnotation));
    std::string t = it == d.annotations.end() ? "" : it->second;
    if (!tag.empty() && t == tag) return d;
    if (!t.empty()) tags += (tags.empty() ? "" : ", ") + t;
  }
  if (tag.empty() && idx.manifests.size() == 1) return idx.manifests[0];
  if (tag.empty()) {
    for (const auto& d : idx.manifests) {
      auto it = d.annotations.find(std::string(kRefNameAnnotation));
      if (it != d.annotations.end() && it->second == "latest") return d;
    }
  }
  return notFound("no image tagged \"" + std::string(tag.empty() ? "latest" : tag) + "\" in " +
                  dir_ + " (tags: " + (tags.empty() ? "none" : tags) + ")");
}

Result<FetchedManifest> OciLayout::manifest(const Descriptor& d) const {
  if (d.size > kMaxManifestBytes) {
    return resourceExhausted("manifest " + d.digest.toString() + " is larger than the " +
                             std::to_string(kMaxManifestBytes) + "-byte limit");
  }
  SK_ASSIGN_OR_RETURN(std::string body, readSmall(blobPath(d.digest), kMaxManifestBytes));
  FetchedManifest m;
  m.digest = Digest::of(body);
  SK_RETURN_IF_ERROR(verifyDigest("manifest " + d.digest.toString(), d.digest, m.digest));
  SK_ASSIGN_OR_RETURN(m.mediaType, manifestMediaType(body, d.mediaType));
  m.body = std::move(body);
  return m;
}

Status OciLayout::blob(const Descriptor& d, BlobSink& sink, const ByteProgress& progress) const {
  std::string path = blobPath(d.digest);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return notFound("blob " + d.digest.toString() + " is missing from " + dir_);
    return fromErrno(errno, "open " + path);
  }
  Sha256 h;
  std::int64_t total = 0;
  std::string buf(1 << 16, '\0');
  Status st;
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      st = fromErrno(errno, "read " + path);
      break;
    }
    if (n == 0) break;
    total += n;
    if (total > d.size) {
      st = dataLoss("blob " + d.digest.toString() + " is larger than its descriptor says");
      break;
    }
    std::string_view chunk(buf.data(), static_cast<std::size_t>(n));
    h.update(chunk);
    st = sink.write(chunk);
    if (!st.isOk()) break;
    if (progress) progress(total, d.size);
  }
  ::close(fd);
  SK_RETURN_IF_ERROR(st);
  if (total != d.size) {
    return dataLoss("blob " + d.digest.toString() + " has " + std::to_string(total) +
                    " bytes, expected " + std::to_string(d.size));
  }
  return verifyDigest("blob", d.digest, h.finish());
}

Status OciLayout::init() const {
  for (const std::string& p : {dir_, dir_ + "/blobs", dir_ + "/blobs/sha256"}) {
    if (::mkdir(p.c_str(), 0755) != 0 && errno != EEXIST) return fromErrno(errno, "mkdir " + p);
  }
  struct stat st {};
  if (::stat((dir_ + "/oci-layout").c_str(), &st) != 0) {
    SK_RETURN_IF_ERROR(writeAtomic(dir_ + "/oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}"));
  }
  if (::stat((dir_ + "/index.json").c_str(), &st) != 0) {
    SK_RETURN_IF_ERROR(writeAtomic(dir_ + "/index.json", "{\"schemaVersion\":2,\"manifests\":[]}"));
  }
  return Status::ok();
}

Status OciLayout::putBlob(std::string_view data) const {
  return writeAtomic(blobPath(Digest::of(data)), data);
}

Status OciLayout::tag(const Descriptor& d, std::string_view tag) const {
  SK_ASSIGN_OR_RETURN(ImageIndex idx, index());
  ImageIndex out;
  out.mediaType = std::string(media::kOciIndex);
  for (const auto& m : idx.manifests) {
    auto it = m.annotations.find(std::string(kRefNameAnnotation));
    if (it != m.annotations.end() && it->second == tag) continue;
    out.manifests.push_back(m);
  }
  Descriptor t = d;
  t.annotations[std::string(kRefNameAnnotation)] = std::string(tag);
  out.manifests.push_back(t);
  return writeAtomic(dir_ + "/index.json", imageIndexJson(out));
}

}  // namespace schedkit::oci
