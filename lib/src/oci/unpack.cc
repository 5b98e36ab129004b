#include "schedkit/oci/unpack.h"

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <cerrno>
#include <deque>
#include <functional>
#include <map>
#include <set>
#include <unordered_map>
#include <unordered_set>

namespace schedkit::oci {

namespace {

constexpr std::string_view kWhiteoutPrefix = ".wh.";
constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";

std::string joinParts(const std::vector<std::string>& parts, std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n && i < parts.size(); ++i) {
    if (i) out += '/';
    out += parts[i];
  }
  return out;
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.fd_;
      o.fd_ = -1;
    }
    return *this;
  }
  ~Fd() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Removes name under dirfd, recursing into directories without following symlinks.
int removeEntryAt(int dirfd, const std::string& name) {
  struct stat st {};
  if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return errno == ENOENT ? 0 : errno;
  if (!S_ISDIR(st.st_mode)) return ::unlinkat(dirfd, name.c_str(), 0) == 0 ? 0 : errno;
  ::fchmodat(dirfd, name.c_str(), 0700, 0);
  int fd = ::openat(dirfd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return errno;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return errno;
  }
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  int err = 0;
  for (const auto& n : names) {
    int e = removeEntryAt(::dirfd(d), n);
    if (e && !err) err = e;
  }
  ::closedir(d);
  if (::unlinkat(dirfd, name.c_str(), AT_REMOVEDIR) != 0 && !err) err = errno;
  return err;
}

// Walks `parts` from rootFd inside the tree, following in-root symlinks, creating missing
// directories when asked. Produces the resolved component list.
class Resolver {
 public:
  Resolver(int rootFd, int maxHops) : rootFd_(rootFd), maxHops_(maxHops) {}

  // Resolves a directory path; `created` receives directories made on the way.
  Status resolveDir(const std::vector<std::string>& parts, bool create,
                    std::vector<std::string>& resolved, std::vector<std::string>* created,
                    const std::string& entry) {
    resolved.clear();
    std::deque<std::string> todo(parts.begin(), parts.end());
    int hops = 0;
    while (!todo.empty()) {
      std::string c = std::move(todo.front());
      todo.pop_front();
      if (c.empty() || c == ".") continue;
      if (c == "..") {
        if (resolved.empty()) return permissionDenied(entry + ": path leaves the image root");
        resolved.pop_back();
        continue;
      }
      resolved.push_back(c);
      std::string rel = joinParts(resolved, resolved.size());
      struct stat st {};
      if (::fstatat(rootFd_, rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
        if (errno != ENOENT) return fromErrno(errno, entry + ": stat " + rel);
        if (!create) return notFound(entry + ": " + rel + " does not exist");
        Fd parent;
        SK_RETURN_IF_ERROR(openDir(resolved, resolved.size() - 1, parent, entry));
        if (::mkdirat(parent.get(), c.c_str(), 0755) != 0 && errno != EEXIST) {
          return fromErrno(errno, entry + ": mkdir " + rel);
        }
        if (created) created->push_back(rel);
        continue;
      }
      if (S_ISLNK(st.st_mode)) {
        if (++hops > maxHops_) return permissionDenied(entry + ": too many symlinks at " + rel);
        char buf[4096];
        ssize_t n = ::readlinkat(rootFd_, rel.c_str(), buf, sizeof buf - 1);
        if (n < 0) return fromErrno(errno, entry + ": readlink " + rel);
        std::string target(buf, static_cast<std::size_t>(n));
        resolved.pop_back();
        if (!target.empty() && target.front() == '/') resolved.clear();
        auto tp = splitPathKeepDots(target);
        for (auto it = tp.rbegin(); it != tp.rend(); ++it) todo.push_front(*it);
        // A ".." that climbs above the root through a symlink is an escape, not a clamp.
        SK_RETURN_IF_ERROR(checkNoEscape(resolved, todo, entry, rel, target));
        continue;
      }
      if (!S_ISDIR(st.st_mode)) {
        return failedPrecondition(entry + ": " + rel + " is not a directory");
      }
    }
    return Status::ok();
  }

  // Opens the first n resolved components as a directory, one O_NOFOLLOW step at a time.
  Status openDir(const std::vector<std::string>& resolved, std::size_t n, Fd& out,
                 const std::string& entry) {
    Fd cur(::fcntl(rootFd_, F_DUPFD_CLOEXEC, 0));
    for (std::size_t i = 0; i < n; ++i) {
      int fd =
          ::openat(cur.get(), resolved[i].c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return fromErrno(errno, entry + ": open " + joinParts(resolved, i + 1));
      cur = Fd(fd);
    }
    out = std::move(cur);
    return Status::ok();
  }

  static std::vector<std::string> splitPathKeepDots(std::string_view p) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos <= p.size()) {
      auto next = p.find('/', pos);
      if (next == std::string_view::npos) next = p.size();
      std::string_view c = p.substr(pos, next - pos);
      if (!c.empty() && c != ".") out.emplace_back(c);
      pos = next + 1;
    }
    return out;
  }

 private:
  static Status checkNoEscape(const std::vector<std::string>& resolved,
                              const std::deque<std::string>& todo, const std::string& entry,
                              const std::string& link, const std::string& target) {
    long depth = static_cast<long>(resolved.size());
    for (const auto& c : todo) {
      if (c == "..") {
        if (--depth < 0) {
          return permissionDenied(entry + ": symlink " + link + " -> " + target +
                                  " leaves the image root");
        }
      } else {
        ++depth;
      }
    }
    return Status::ok();
  }

  int rootFd_;
  int maxHops_;
};

// Reads one layer blob (a file or memory), hashing the compressed bytes (the descriptor's
// digest) and, after decompressing gzip or zstd itself, the tar bytes (the config's diff_id).
// libarchive only ever sees tar. The tar stream is capped so that a bomb of compressed padding
// after the end of the archive cannot burn CPU while it is hashed.
class LayerReader {
 public:
  LayerReader(int fd, std::string_view mem, std::int64_t maxTarBytes)
      : fd_(fd), mem_(mem), maxTar_(maxTarBytes) {}
  ~LayerReader() {
    if (zInit_) inflateEnd(&z_);
    if (zs_ != nullptr) ZSTD_freeDStream(zs_);
  }
  LayerReader(const LayerReader&) = delete;
  LayerReader& operator=(const LayerReader&) = delete;

  // The next piece of tar: >0 bytes, 0 at the end, -1 on error (see status()).
  la_ssize_t next(const void** out) {
    if (!err_.isOk()) return -1;
    Status st = step(out);
    if (!st.isOk()) {
      err_ = st;
      return -1;
    }
    if (produced_ > 0) {
      tarHash_.update(std::string_view(static_cast<const char*>(*out), produced_));
      tarBytes_ += static_cast<std::int64_t>(produced_);
      if (tarBytes_ > maxTar_) {
        err_ = resourceExhausted("the layer decompresses to more than " + std::to_string(maxTar_) +
                                 " bytes");
        return -1;
      }
    }
    return static_cast<la_ssize_t>(produced_);
  }
  // Reads and decompresses whatever follows the tar's end, so both digests cover everything.
  Status drain() {
    const void* p;
    while (next(&p) > 0) {
    }
    return err_;
  }
  const Status& status() const { return err_; }
  Digest blobDigest() { return blobHash_.finish(); }
  Digest tarDigest() { return tarHash_.finish(); }

 private:
  enum class Mode { kUnknown, kPlain, kGzip, kZstd };

  Status fill() {
    inPos_ = 0;
    inLen_ = 0;
    if (fd_ < 0) {
      if (memDone_) {
        eof_ = true;
        return Status::ok();
      }
      memDone_ = true;
      in_ = mem_.data();
      inLen_ = mem_.size();
      blobHash_.update(mem_);
      if (inLen_ == 0) eof_ = true;
      return Status::ok();
    }
    for (;;) {
      ssize_t n = ::read(fd_, buf_.data(), buf_.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fromErrno(errno, "read");
      in_ = buf_.data();
      inLen_ = static_cast<std::size_t>(n);
      if (n == 0) eof_ = true;
      blobHash_.update(std::string_view(in_, inLen_));
      return Status::ok();
    }
  }

  bool haveInput() const { return inPos_ < inLen_; }

  Status step(const void** out) {
    produced_ = 0;
    for (;;) {
      if (!haveInput() && !eof_) SK_RETURN_IF_ERROR(fill());
      if (mode_ == Mode::kUnknown) {
        if (!haveInput()) return Status::ok();  // an empty blob: an empty layer
        const auto* p = reinterpret_cast<const unsigned char*>(in_ + inPos_);
        std::size_t n = inLen_ - inPos_;
        if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
          mode_ = Mode::kGzip;
          if (inflateInit2(&z_, 15 + 16) != Z_OK) return internalError("inflateInit2 failed");
          zInit_ = true;
        } else if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f && p[3] == 0xfd) {
          mode_ = Mode::kZstd;
          zs_ = ZSTD_createDStream();
          if (zs_ == nullptr) return internalError("ZSTD_createDStream failed");
          ZSTD_initDStream(zs_);
        } else {
          mode_ = Mode::kPlain;
        }
      }
      if (!haveInput()) {
        if (mode_ == Mode::kGzip && !streamEnded_) return invalidArgument("truncated gzip stream");
        if (mode_ == Mode::kZstd && !streamEnded_) return invalidArgument("truncated zstd stream");
        return Status::ok();  // end
      }
      if (mode_ == Mode::kPlain) {
        *out = in_ + inPos_;
        produced_ = inLen_ - inPos_;
        inPos_ = inLen_;
        return Status::ok();
      }
      if (mode_ == Mode::kGzip) {
        if (streamEnded_) {
          // Another gzip member may follow; anything else after the end is ignored (hashed).
          const auto* p = reinterpret_cast<const unsigned char*>(in_ + inPos_);
          if (inLen_ - inPos_ >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
            inflateReset(&z_);
            streamEnded_ = false;
          } else {
            inPos_ = inLen_;
            continue;
          }
        }
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in_ + inPos_));
        z_.avail_in = static_cast<uInt>(inLen_ - inPos_);
        z_.next_out = reinterpret_cast<Bytef*>(outBuf_.data());
        z_.avail_out = static_cast<uInt>(outBuf_.size());
        int r = inflate(&z_, Z_NO_FLUSH);
        inPos_ = inLen_ - z_.avail_in;
        if (r == Z_STREAM_END) {
          streamEnded_ = true;
        } else if (r != Z_OK && r != Z_BUF_ERROR) {
          return invalidArgument(std::string("corrupt gzip stream: ") +
                                 (z_.msg ? z_.msg : "error " + std::to_string(r)));
        }
        produced_ = outBuf_.size() - z_.avail_out;
      } else {
        ZSTD_inBuffer in{in_ + inPos_, inLen_ - inPos_, 0};
        ZSTD_outBuffer o{outBuf_.data(), outBuf_.size(), 0};
        std::size_t r = ZSTD_decompressStream(zs_, &o, &in);
        if (ZSTD_isError(r))
          return invalidArgument(std::string("corrupt zstd stream: ") + ZSTD_getErrorName(r));
        inPos_ += in.pos;
        streamEnded_ = r == 0;
        produced_ = o.pos;
      }
      if (produced_ > 0) {
        *out = outBuf_.data();
        return Status::ok();
      }
    }
  }

  int fd_;
  std::string_view mem_;
  bool memDone_ = false;
  std::int64_t maxTar_;
  std::string buf_ = std::string(1 << 16, '\0');
  std::string outBuf_ = std::string(1 << 17, '\0');
  const char* in_ = nullptr;
  std::size_t inPos_ = 0, inLen_ = 0, produced_ = 0;
  bool eof_ = false;
  Mode mode_ = Mode::kUnknown;
  z_stream z_{};
  bool zInit_ = false;
  ZSTD_DStream* zs_ = nullptr;
  bool streamEnded_ = false;
  Sha256 blobHash_, tarHash_;
  std::int64_t tarBytes_ = 0;
  Status err_;
};

la_ssize_t readCb(struct archive*, void* client, const void** out) {
  return static_cast<LayerReader*>(client)->next(out);
}

// A compact, collision-resistant key for a path inside the root: hostile layers may carry
// hundreds of thousands of long paths, and keeping the strings would cost gigabytes.
std::uint64_t pathKey(std::string_view rel) {
  Sha256 h;
  h.update(rel);
  const Digest d = h.finish();
  std::uint64_t k = 0;
  for (std::size_t i = 0; i < 16; ++i) {
    char c = d.hex()[i];
    k = (k << 4) | static_cast<std::uint64_t>(c <= '9' ? c - '0' : c - 'a' + 10);
  }
  return k;
}

class Unpacker {
 public:
  Unpacker(int rootFd, const UnpackLimits& limits)
      : rootFd_(rootFd), limits_(limits), resolver_(rootFd, limits.maxSymlinkHops) {}

  Status layer(LayerReader& rs, const std::string& layerName) {
    layerCreated_.clear();
    struct archive* a = archive_read_new();
    if (a == nullptr) return internalError("archive_read_new failed");
    std::unique_ptr<struct archive, int (*)(struct archive*)> guard(a, archive_read_free);
    archive_read_support_format_tar(a);  // no filters: LayerReader decompresses
    archive_read_support_format_empty(a);
    if (archive_read_open(a, &rs, nullptr, readCb, nullptr) != ARCHIVE_OK) {
      if (!rs.status().isOk()) return rs.status().withContext(layerName);
      return invalidArgument(layerName + ": not a tar layer: " + errorString(a));
    }
    for (;;) {
      struct archive_entry* e = nullptr;
      int r = archive_read_next_header(a, &e);
      if (r == ARCHIVE_EOF) break;
      if (r == ARCHIVE_RETRY) continue;
      if (r < ARCHIVE_WARN) {
        if (!rs.status().isOk()) return rs.status().withContext(layerName);
        return invalidArgument(layerName + ": corrupt layer: " + errorString(a));
      }
      const char* p = archive_entry_pathname(e);
      std::string raw = p ? p : "";
      Status st = entry(a, e, raw);
      // A decompression or read failure surfaces as corrupt entry data: report the cause.
      if (!st.isOk() && !rs.status().isOk()) return rs.status().withContext(layerName);
      if (!st.isOk()) return st.withContext(layerName);
    }
    // Read what follows the tar's end (padding) so the digest covers the whole blob.
    return rs.drain().withContext(layerName);
  }

  Status finish() {
    // Directory modes last: a read-only directory from the image must not block later writes.
    // The tree is walked through directory fds without following symlinks (a later layer may
    // have turned a recorded directory into one), and each recorded mode set with fchmod().
    if (!dirModes_.empty()) applyDirModes(::fcntl(rootFd_, F_DUPFD_CLOEXEC, 0), "", 0);
    return Status::ok();
  }

  UnpackStats stats;

 private:
  static std::string errorString(struct archive* a) {
    const char* s = archive_error_string(a);
    return s ? s : "unknown error";
  }

  // Validates an archive path: relative, no "..", bounded. Returns normalised components.
  Result<std::vector<std::string>> checkPath(const std::string& raw, const char* what) {
    if (raw.size() > limits_.maxPathLength) {
      return invalidArgument(std::string(what) + " \"" + raw.substr(0, 100) +
                             "…\" is longer than " + std::to_string(limits_.maxPathLength) +
                             " bytes");
    }
    if (!raw.empty() && raw.front() == '/') {
      return permissionDenied(std::string(what) + " \"" + raw + "\" is absolute");
    }
    auto parts = Resolver::splitPathKeepDots(raw);
    if (parts.size() > limits_.maxPathDepth) {
      return invalidArgument(std::string(what) + " \"" + raw.substr(0, 100) + "…\" is more than " +
                             std::to_string(limits_.maxPathDepth) + " directories deep");
    }
    for (const auto& c : parts) {
      if (c == "..")
        return permissionDenied(std::string(what) + " \"" + raw + "\" contains \"..\"");
    }
    return parts;
  }

  Status entry(struct archive* a, struct archive_entry* e, const std::string& raw) {
    if (++stats.entries > limits_.maxEntries) {
      return resourceExhausted("more than " + std::to_string(limits_.maxEntries) +
                               " entries (limit) at \"" + raw + "\"");
    }
    std::string name = "entry \"" + raw + "\"";
    SK_ASSIGN_OR_RETURN(auto parts, checkPath(raw, "entry"));
    if (parts.empty()) return Status::ok();  // "./" itself
    std::string base = parts.back();
    parts.pop_back();
    std::vector<std::string> dir;
    std::vector<std::string> created;
    SK_RETURN_IF_ERROR(resolver_.resolveDir(parts, true, dir, &created, name));
    for (auto& c : created) layerCreated_.insert(pathKey(c));
    std::string dirRel = joinParts(dir, dir.size());
    Fd parent;
    SK_RETURN_IF_ERROR(resolver_.openDir(dir, dir.size(), parent, name));
    std::string rel = dirRel.empty() ? base : dirRel + "/" + base;

    if (base == kOpaqueMarker) {
      ++stats.whiteouts;
      return opaque(parent.get(), dirRel, name);
    }
    if (base.rfind(kWhiteoutPrefix, 0) == 0) {
      ++stats.whiteouts;
      std::string victim = base.substr(kWhiteoutPrefix.size());
      if (victim.empty() || victim == "." || victim == "..")
        return invalidArgument(name + ": bad whiteout");
      int err = removeEntryAt(parent.get(), victim);
      if (err) return fromErrno(err, name + ": whiteout");
      return Status::ok();
    }

    if (const char* hl = archive_entry_hardlink(e))
      return hardlink(parent.get(), base, rel, hl, name);

    mode_t type = archive_entry_filetype(e);
    mode_t perm = archive_entry_perm(e) & 0777;  // no set-id or sticky bits
    switch (type) {
      case AE_IFDIR: {
        struct stat st {};
        if (::fstatat(parent.get(), base.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            !S_ISDIR(st.st_mode)) {
          if (int err = removeEntryAt(parent.get(), base))
            return fromErrno(err, name + ": replace");
        }
        if (::mkdirat(parent.get(), base.c_str(), 0755) != 0 && errno != EEXIST) {
          return fromErrno(errno, name + ": mkdir");
        }
        dirModes_[pathKey(rel)] = perm;
        layerCreated_.insert(pathKey(rel));
        return Status::ok();
      }
      case AE_IFREG:
        SK_RETURN_IF_ERROR(regular(a, e, parent.get(), base, perm, name));
        layerCreated_.insert(pathKey(rel));
        return Status::ok();
      case AE_IFLNK: {
        const char* target = archive_entry_symlink(e);
        if (target == nullptr || *target == '\0')
          return invalidArgument(name + ": symlink without a target");
        if (std::string_view(target).size() > limits_.maxPathLength) {
          return invalidArgument(name + ": symlink target too long");
        }
        if (int err = removeEntryAt(parent.get(), base)) return fromErrno(err, name + ": replace");
        if (::symlinkat(target, parent.get(), base.c_str()) != 0)
          return fromErrno(errno, name + ": symlink");
        layerCreated_.insert(pathKey(rel));
        return Status::ok();
      }
      case AE_IFCHR:
      case AE_IFBLK:
        return permissionDenied(name + ": device nodes are not allowed in scheduler images");
      case AE_IFIFO:
        return permissionDenied(name + ": fifos are not allowed in scheduler images");
      case AE_IFSOCK:
        return permissionDenied(name + ": sockets are not allowed in scheduler images");
      default:
        return invalidArgument(name + ": unsupported entry type " + std::to_string(type));
    }
  }

  Status regular(struct archive* a, struct archive_entry* e, int parent, const std::string& base,
                 mode_t perm, const std::string& name) {
    std::int64_t declared = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
    if (declared < 0 || declared > limits_.maxBytes - stats.bytes) {
      return resourceExhausted(name + ": " + std::to_string(declared) +
                               " bytes would exceed the unpack limit of " +
                               std::to_string(limits_.maxBytes) + " bytes");
    }
    if (int err = removeEntryAt(parent, base)) return fromErrno(err, name + ": replace");
    int fd =
        ::openat(parent, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return fromErrno(errno, name + ": create");
    Fd guard(fd);
    auto fail = [&](Status s) {
      guard.reset();
      ::unlinkat(parent, base.c_str(), 0);  // no half-written entry stays behind
      return s;
    };
    std::int64_t written = 0;
    for (;;) {
      const void* buf = nullptr;
      size_t len = 0;
      la_int64_t off = 0;
      int r = archive_read_data_block(a, &buf, &len, &off);
      if (r == ARCHIVE_EOF) break;
      if (r < ARCHIVE_WARN)
        return fail(invalidArgument(name + ": corrupt data: " + errorString(a)));
      if (off < 0 || static_cast<std::int64_t>(len) > declared ||
          off > declared - static_cast<std::int64_t>(len)) {
        return fail(invalidArgument(name + ": data beyond the entry's declared size"));
      }
      written += static_cast<std::int64_t>(len);
      if (stats.bytes + written > limits_.maxBytes) {
        return fail(resourceExhausted(name + ": exceeds the unpack limit of " +
                                      std::to_string(limits_.maxBytes) + " bytes"));
      }
      const char* p = static_cast<const char*>(buf);
      std::size_t done = 0;
      while (done < len) {
        ssize_t n =
            ::pwrite(fd, p + done, len - done, static_cast<off_t>(off) + static_cast<off_t>(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return fail(fromErrno(errno, name + ": write"));
        done += static_cast<std::size_t>(n);
      }
    }
    if (::ftruncate(fd, static_cast<off_t>(declared)) != 0)
      return fail(fromErrno(errno, name + ": truncate"));
    if (::fchmod(fd, perm) != 0) return fail(fromErrno(errno, name + ": chmod"));
    stats.bytes += declared;
    return Status::ok();
  }

  Status hardlink(int parent, const std::string& base, const std::string& rel, const char* target,
                  const std::string& name) {
    auto tparts = checkPath(target, "hard link target");
    if (!tparts.isOk()) return tparts.status().withContext(name);
    if (tparts->empty()) return permissionDenied(name + ": hard link to the image root");
    std::string tbase = tparts->back();
    tparts->pop_back();
    std::vector<std::string> tdir;
    Status st = resolver_.resolveDir(*tparts, false, tdir, nullptr, name + " (link target)");
    if (!st.isOk()) {
      if (st.code() == StatusCode::kNotFound) {
        return notFound(name + ": hard link target \"" + std::string(target) + "\" does not exist");
      }
      return st;
    }
    Fd tparent;
    SK_RETURN_IF_ERROR(resolver_.openDir(tdir, tdir.size(), tparent, name));
    struct stat ts {};
    if (::fstatat(tparent.get(), tbase.c_str(), &ts, AT_SYMLINK_NOFOLLOW) != 0) {
      return notFound(name + ": hard link target \"" + std::string(target) + "\" does not exist");
    }
    if (S_ISDIR(ts.st_mode)) return permissionDenied(name + ": hard link to a directory");
    if (!S_ISREG(ts.st_mode) && !S_ISLNK(ts.st_mode)) {
      return permissionDenied(name + ": hard link to a special file");
    }
    std::string trel = joinParts(tdir, tdir.size());
    trel = trel.empty() ? tbase : trel + "/" + tbase;
    if (trel == rel) return Status::ok();  // a link to itself: nothing to do
    if (int err = removeEntryAt(parent, base)) return fromErrno(err, name + ": replace");
    // Flags 0: a symlink target is linked itself, never followed.
    if (::linkat(tparent.get(), tbase.c_str(), parent, base.c_str(), 0) != 0) {
      return fromErrno(errno, name + ": link");
    }
    layerCreated_.insert(pathKey(rel));
    return Status::ok();
  }

  // Takes ownership of fd (a directory); depth bounds the recursion like the path checks do.
  void applyDirModes(int fd, const std::string& rel, std::size_t depth) {
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      return;
    }
    std::vector<std::string> subdirs;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      struct stat st {};
      if (::fstatat(::dirfd(d), n.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)) {
        subdirs.push_back(n);
      }
    }
    for (const auto& n : subdirs) {
      std::string child = rel.empty() ? n : rel + "/" + n;
      int cfd = ::openat(::dirfd(d), n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (cfd < 0) continue;
      if (depth < limits_.maxPathDepth)
        applyDirModes(::fcntl(cfd, F_DUPFD_CLOEXEC, 0), child, depth + 1);
      if (auto it = dirModes_.find(pathKey(child)); it != dirModes_.end()) {
        ::fchmod(cfd, (it->second & 0777) | 0500);
      }
      ::close(cfd);
    }
    ::closedir(d);
  }

  Status opaque(int dirfd, const std::string& dirRel, const std::string& name) {
    int fd = ::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fromErrno(errno, name + ": open");
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      return fromErrno(errno, name + ": opendir");
    }
    std::vector<std::string> names;
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != "..") names.push_back(n);
    }
    ::closedir(d);
    for (const auto& n : names) {
      std::string rel = dirRel.empty() ? n : dirRel + "/" + n;
      if (layerCreated_.count(pathKey(rel))) continue;  // this layer's own content stays
      if (int err = removeEntryAt(dirfd, n)) return fromErrno(err, name + ": opaque whiteout");
    }
    return Status::ok();
  }

  int rootFd_;
  UnpackLimits limits_;
  Resolver resolver_;
  std::unordered_set<std::uint64_t> layerCreated_;
  std::unordered_map<std::uint64_t, mode_t> dirModes_;
};

Result<Fd> openRoot(const std::string& dest) {
  int fd = ::open(dest.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fromErrno(errno, "open " + dest);
  return Fd(fd);
}

// The most tar a layer may decompress to: file data plus headers for every entry, and slack.
std::int64_t maxTarBytes(const UnpackLimits& l) {
  return l.maxBytes + l.maxEntries * 2048 + (1 << 20);
}

}  // namespace

Result<UnpackStats> unpackLayers(const std::vector<LayerFile>& layers, const std::string& dest,
                                 const UnpackLimits& limits) {
  SK_ASSIGN_OR_RETURN(Fd root, openRoot(dest));
  Unpacker u(root.get(), limits);
  for (const auto& l : layers) {
    int fd = ::open(l.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fromErrno(errno, "open " + l.path);
    Fd guard(fd);
    LayerReader rs(fd, {}, maxTarBytes(limits));
    std::string name = l.name.empty() ? l.path : l.name;
    SK_RETURN_IF_ERROR(u.layer(rs, name));
    if (!l.digest.empty()) SK_RETURN_IF_ERROR(verifyDigest(name, l.digest, rs.blobDigest()));
    if (!l.diffId.empty()) {
      SK_RETURN_IF_ERROR(
          verifyDigest(name + ": uncompressed content (config diff_id)", l.diffId, rs.tarDigest()));
    }
  }
  SK_RETURN_IF_ERROR(u.finish());
  return u.stats;
}

Result<UnpackStats> unpackLayerBytes(std::string_view data, const std::string& dest,
                                     const UnpackLimits& limits) {
  SK_ASSIGN_OR_RETURN(Fd root, openRoot(dest));
  Unpacker u(root.get(), limits);
  LayerReader rs(-1, data, maxTarBytes(limits));
  SK_RETURN_IF_ERROR(u.layer(rs, "layer"));
  SK_RETURN_IF_ERROR(u.finish());
  return u.stats;
}

Result<std::string> resolveInRoot(const std::string& root, std::string_view path,
                                  int maxSymlinkHops) {
  SK_ASSIGN_OR_RETURN(Fd rootFd, openRoot(root));
  Resolver r(rootFd.get(), maxSymlinkHops);
  auto parts = Resolver::splitPathKeepDots(path);
  if (parts.empty()) return invalidArgument("\"" + std::string(path) + "\" names the image root");
  std::string what = "\"" + std::string(path) + "\"";
  // Resolve the whole path as if it were a directory chain, except that the last component may
  // be a file: resolve parents, then follow the last component's symlinks by hand.
  std::vector<std::string> todo = parts;
  for (int hop = 0; hop <= maxSymlinkHops; ++hop) {
    std::string base = todo.back();
    std::vector<std::string> dirParts(todo.begin(), todo.end() - 1);
    if (base == "..") dirParts.push_back(base);
    std::vector<std::string> dir;
    SK_RETURN_IF_ERROR(r.resolveDir(dirParts, false, dir, nullptr, what));
    if (base == "..") return invalidArgument(what + " names a directory");
    std::string rel = joinParts(dir, dir.size());
    rel = rel.empty() ? base : rel + "/" + base;
    struct stat st {};
    if (::fstatat(rootFd.get(), rel.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT) return notFound(what + " does not exist in the image");
      return fromErrno(errno, "stat " + rel);
    }
    if (!S_ISLNK(st.st_mode)) return root + "/" + rel;
    char buf[4096];
    ssize_t n = ::readlinkat(rootFd.get(), rel.c_str(), buf, sizeof buf - 1);
    if (n < 0) return fromErrno(errno, "readlink " + rel);
    std::string target(buf, static_cast<std::size_t>(n));
    std::vector<std::string> next;
    if (target.empty() || target.front() != '/') next = dir;
    for (auto& c : Resolver::splitPathKeepDots(target)) next.push_back(c);
    // Check for an escape before resolving again.
    long depth = 0;
    for (const auto& c : next) {
      depth += c == ".." ? -1 : 1;
      if (depth < 0)
        return permissionDenied(what + ": symlink " + rel + " -> " + target +
                                " leaves the image root");
    }
    if (next.empty()) return invalidArgument(what + " resolves to the image root");
    todo = next;
  }
  return permissionDenied(what + ": too many symlinks");
}

}  // namespace schedkit::oci
