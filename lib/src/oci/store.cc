#include "schedkit/oci/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

namespace schedkit::oci {

namespace {

std::atomic<std::uint64_t> g_serial{0};

std::string uniqueSuffix() {
  return std::to_string(::getpid()) + "-" + std::to_string(++g_serial) + "-" +
         std::to_string(reinterpret_cast<std::uintptr_t>(&g_serial) ^
                        static_cast<std::uintptr_t>(::gettid()));
}

Status mkdirs(const std::string& path, unsigned mode = 0755) {
  std::string cur;
  for (std::size_t pos = 0; pos <= path.size();) {
    std::size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    cur = path.substr(0, next);
    pos = next + 1;
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return fromErrno(errno, "mkdir " + cur);
  }
  return Status::ok();
}

Status writeAll(int fd, std::string_view data, const std::string& what) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fromErrno(errno, "write " + what);
    }
    off += static_cast<std::size_t>(n);
  }
  return Status::ok();
}

Status fsyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fromErrno(errno, "open " + dir);
  ::fsync(fd);
  ::close(fd);
  return Status::ok();
}

// temp + fsync + rename, with a name unique to this thread.
Status writeFileAtomic(const std::string& path, std::string_view data, unsigned mode) {
  std::string tmp = path + ".tmp-" + uniqueSuffix();
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return fromErrno(errno, "create " + tmp);
  Status st = writeAll(fd, data, tmp);
  if (st.isOk() && ::fsync(fd) != 0) st = fromErrno(errno, "fsync " + tmp);
  ::close(fd);
  if (st.isOk() && ::rename(tmp.c_str(), path.c_str()) != 0) st = fromErrno(errno, "rename " + tmp);
  if (!st.isOk()) {
    ::unlink(tmp.c_str());
    return st;
  }
  return fsyncDir(path.substr(0, path.rfind('/')));
}

bool isHex64(const std::string& s) {
  return s.size() == 64 && s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

// The entries of an open directory, without "." and "..".
std::vector<std::string> entryNames(DIR* d) {
  std::vector<std::string> out;
  while (dirent* e = ::readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") out.push_back(n);
  }
  return out;
}

// Opens parent/name as a directory without following a symlink, runs each(dirfd, entry) for
// every entry (all of them, keeping the first error), then last(dirfd) before closing it.
Status walkDirAt(int parent, const std::string& name, const std::string& shown,
                 const std::function<Status(int, const std::string&)>& each,
                 const std::function<Status(int)>& last) {
  int fd = ::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return fromErrno(errno, "open " + shown);
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return fromErrno(errno, "fdopendir " + shown);
  }
  Status result;
  for (const auto& n : entryNames(d)) {
    Status s = each(::dirfd(d), n);
    if (!s.isOk() && result.isOk()) result = s;
  }
  if (last) {
    Status s = last(::dirfd(d));
    if (!s.isOk() && result.isOk()) result = s;
  }
  ::closedir(d);
  return result;
}

Result<std::vector<std::string>> listNames(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    if (errno == ENOENT) return std::vector<std::string>{};
    return fromErrno(errno, "opendir " + dir);
  }
  std::vector<std::string> out = entryNames(d);
  ::closedir(d);
  return out;
}

Status removeAt(int parent, const std::string& name, const std::string& shown) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
    if (errno == ENOENT) return Status::ok();
    return fromErrno(errno, "stat " + shown);
  }
  if (!S_ISDIR(st.st_mode)) {
    if (::unlinkat(parent, name.c_str(), 0) != 0 && errno != ENOENT)
      return fromErrno(errno, "unlink " + shown);
    return Status::ok();
  }
  ::fchmodat(parent, name.c_str(), 0700, 0);
  Status result = walkDirAt(
      parent, name, shown,
      [&](int dfd, const std::string& n) { return removeAt(dfd, n, shown + "/" + n); }, nullptr);
  if (::unlinkat(parent, name.c_str(), AT_REMOVEDIR) != 0 && errno != ENOENT && result.isOk()) {
    result = fromErrno(errno, "rmdir " + shown);
  }
  return result;
}

Status readOnlyAt(int parent, const std::string& name, const std::string& shown) {
  struct stat st {};
  if (::fstatat(parent, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return fromErrno(errno, "stat " + shown);
  if (S_ISLNK(st.st_mode)) return Status::ok();
  if (S_ISDIR(st.st_mode)) {
    // Through the directory's fd, never by path: a path may have become a symlink.
    return walkDirAt(
        parent, name, shown,
        [&](int dfd, const std::string& n) { return readOnlyAt(dfd, n, shown + "/" + n); },
        [&](int dfd) {
          return ::fchmod(dfd, (st.st_mode & 07777) & ~0222u) == 0
                     ? Status::ok()
                     : fromErrno(errno, "chmod " + shown);
        });
  }
  if (::fchmodat(parent, name.c_str(), (st.st_mode & 07777) & ~0222u, 0) != 0) {
    return fromErrno(errno, "chmod " + shown);
  }
  return Status::ok();
}

nlohmann::json digests(const std::vector<Digest>& ds) {
  auto a = nlohmann::json::array();
  for (const auto& d : ds) a.push_back(d.toString());
  return a;
}

}  // namespace

Status removeTree(const std::string& path) {
  auto slash = path.rfind('/');
  std::string parent =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return Status::ok();
    return fromErrno(errno, "open " + parent);
  }
  Status st = removeAt(fd, path.substr(slash + 1), path);
  ::close(fd);
  return st;
}

Status makeTreeReadOnly(const std::string& path) {
  auto slash = path.rfind('/');
  std::string parent =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fromErrno(errno, "open " + parent);
  Status st = readOnlyAt(fd, path.substr(slash + 1), path);
  ::close(fd);
  return st;
}

FileLock& FileLock::operator=(FileLock&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = o.fd_;
    o.fd_ = -1;
  }
  return *this;
}

FileLock::~FileLock() {
  if (fd_ >= 0) ::close(fd_);  // closing the description releases the flock
}

ContentStore::ContentStore(std::string root) : root_(std::move(root)) {
  while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
}

Status ContentStore::init() {
  for (const char* sub : {"/blobs/sha256", "/refs", "/rootfs", "/tmp", "/locks"}) {
    SK_RETURN_IF_ERROR(mkdirs(root_ + sub, 0755));
  }
  return Status::ok();
}

std::string ContentStore::blobPath(const Digest& d) const {
  return root_ + "/blobs/sha256/" + d.hex();
}
std::string ContentStore::rootfsPath(const Digest& m) const { return root_ + "/rootfs/" + m.hex(); }

bool ContentStore::hasBlob(const Digest& d) const {
  struct stat st {};
  return ::stat(blobPath(d).c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

bool ContentStore::hasRootfs(const Digest& m) const {
  struct stat st {};
  return ::lstat(rootfsPath(m).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::string> ContentStore::readBlob(const Digest& d, std::int64_t maxBytes) const {
  std::string path = blobPath(d);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return notFound("blob " + d.toString() + " is not in the cache");
    return fromErrno(errno, "open " + path);
  }
  std::string out;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return fromErrno(e, "read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (static_cast<std::int64_t>(out.size()) > maxBytes) {
      ::close(fd);
      return resourceExhausted("cached blob " + d.toString() + " is larger than " +
                               std::to_string(maxBytes) + " bytes");
    }
  }
  ::close(fd);
  Status st = verifyDigest("cached blob " + d.toString(), d, Digest::of(out));
  if (!st.isOk()) {
    ::unlink(path.c_str());
    return st;
  }
  return out;
}

Status ContentStore::verifyBlob(const Digest& d, std::int64_t size) const {
  std::string path = blobPath(d);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return notFound("blob " + d.toString() + " is not in the cache");
    return fromErrno(errno, "open " + path);
  }
  Sha256 h;
  std::int64_t total = 0;
  std::string buf(1 << 16, '\0');
  for (;;) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      return fromErrno(e, "read " + path);
    }
    if (n == 0) break;
    total += n;
    h.update(std::string_view(buf.data(), static_cast<std::size_t>(n)));
  }
  ::close(fd);
  Status st = total == size
                  ? verifyDigest("cached blob " + d.toString(), d, h.finish())
                  : dataLoss("cached blob " + d.toString() + " has " + std::to_string(total) +
                             " bytes, expected " + std::to_string(size));
  if (!st.isOk()) ::unlink(path.c_str());
  return st;
}

Result<std::unique_ptr<ContentStore::BlobWriter>> ContentStore::newBlobWriter(
    const Descriptor& d) const {
  std::string tmp = root_ + "/tmp/blob-" + d.digest.hex().substr(0, 16) + "-" + uniqueSuffix();
  int fd = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return fromErrno(errno, "create " + tmp);
  ::flock(fd, LOCK_EX);  // marks it in use for GC
  return std::unique_ptr<BlobWriter>(new BlobWriter(*this, d, tmp, fd));
}

ContentStore::BlobWriter::~BlobWriter() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_.c_str());
}

Status ContentStore::BlobWriter::write(std::string_view chunk) {
  written_ += static_cast<std::int64_t>(chunk.size());
  if (written_ > d_.size) {
    return dataLoss("blob " + d_.digest.toString() + " is larger than its descriptor's " +
                    std::to_string(d_.size) + " bytes");
  }
  hash_->update(chunk);
  return writeAll(fd_, chunk, tmp_);
}

Status ContentStore::BlobWriter::reset() {
  if (::ftruncate(fd_, 0) != 0 || ::lseek(fd_, 0, SEEK_SET) != 0)
    return fromErrno(errno, "truncate " + tmp_);
  hash_ = std::make_unique<Sha256>();
  written_ = 0;
  return Status::ok();
}

Status ContentStore::BlobWriter::commit() {
  if (written_ != d_.size) {
    return dataLoss("blob " + d_.digest.toString() + " has " + std::to_string(written_) +
                    " bytes, its descriptor says " + std::to_string(d_.size));
  }
  SK_RETURN_IF_ERROR(verifyDigest("blob", d_.digest, hash_->finish()));
  if (::fchmod(fd_, 0444) != 0) return fromErrno(errno, "chmod " + tmp_);
  if (::fsync(fd_) != 0) return fromErrno(errno, "fsync " + tmp_);
  std::string dst = store_.blobPath(d_.digest);
  if (::rename(tmp_.c_str(), dst.c_str()) != 0)
    return fromErrno(errno, "rename " + tmp_ + " -> " + dst);
  committed_ = true;
  ::close(fd_);
  fd_ = -1;
  return fsyncDir(store_.root() + "/blobs/sha256");
}

Status ContentStore::putBlob(const Digest& d, std::string_view data) {
  SK_RETURN_IF_ERROR(verifyDigest("blob", d, Digest::of(data)));
  Descriptor desc;
  desc.digest = d;
  desc.size = static_cast<std::int64_t>(data.size());
  SK_ASSIGN_OR_RETURN(auto w, newBlobWriter(desc));
  SK_RETURN_IF_ERROR(w->write(data));
  return w->commit();
}

Result<FileLock> ContentStore::lockFile(const std::string& path, bool exclusive) const {
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fromErrno(errno, "open " + path);
  while (::flock(fd, exclusive ? LOCK_EX : LOCK_SH) != 0) {
    if (errno == EINTR) continue;
    int e = errno;
    ::close(fd);
    return fromErrno(e, "flock " + path);
  }
  return FileLock(fd);
}

Result<FileLock> ContentStore::lockBlob(const Digest& d) const {
  return lockFile(root_ + "/locks/blob-" + d.hex() + ".lock", true);
}
Result<FileLock> ContentStore::lockRoot(const Digest& m) const {
  return lockFile(root_ + "/locks/root-" + m.hex() + ".lock", true);
}
Result<FileLock> ContentStore::lockStore(bool exclusive) const {
  return lockFile(root_ + "/locks/store.lock", exclusive);
}

Result<ContentStore::TempDir> ContentStore::makeTempDir(const std::string& prefix) const {
  std::string tmpl = root_ + "/tmp/" + prefix + "-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return fromErrno(errno, "mkdtemp " + tmpl);
  TempDir t;
  t.path = buf.data();
  int fd = ::open(t.path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fromErrno(errno, "open " + t.path);
  ::flock(fd, LOCK_EX);
  t.lock = FileLock(fd);
  return t;
}

std::string ContentStore::recordPath(const std::string& reference) const {
  return root_ + "/refs/" + Digest::of(reference).hex() + ".json";
}

Status ContentStore::putRecord(const ImageRecord& r) {
  nlohmann::ordered_json j;
  j["reference"] = r.reference;
  j["digest"] = r.digest.toString();
  j["mediaType"] = r.mediaType;
  j["manifestDigest"] = r.manifestDigest.toString();
  j["configDigest"] = r.configDigest.toString();
  j["layers"] = digests(r.layers);
  j["platform"] = r.platform;
  j["signatureBlobs"] = digests(r.signatureBlobs);
  j["signatureKey"] = r.signatureKey;
  j["pulledAt"] = r.pulledAt;
  return writeFileAtomic(recordPath(r.reference), j.dump(2) + "\n", 0644);
}

namespace {
Result<ImageRecord> decodeRecord(const std::string& text, const std::string& path) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return dataLoss("image record " + path + " is not JSON");
  try {
    ImageRecord r;
    r.reference = j.at("reference").get<std::string>();
    auto dg = [&](const std::string& s) -> Result<Digest> {
      if (s.empty()) return Digest();
      return Digest::parse(s);
    };
    SK_ASSIGN_OR_RETURN(r.digest, dg(j.at("digest").get<std::string>()));
    r.mediaType = j.value("mediaType", "");
    SK_ASSIGN_OR_RETURN(r.manifestDigest, dg(j.at("manifestDigest").get<std::string>()));
    SK_ASSIGN_OR_RETURN(r.configDigest, dg(j.value("configDigest", "")));
    for (const auto& l : j.value("layers", nlohmann::json::array())) {
      SK_ASSIGN_OR_RETURN(auto d, dg(l.get<std::string>()));
      r.layers.push_back(d);
    }
    for (const auto& l : j.value("signatureBlobs", nlohmann::json::array())) {
      SK_ASSIGN_OR_RETURN(auto d, dg(l.get<std::string>()));
      r.signatureBlobs.push_back(d);
    }
    r.platform = j.value("platform", "");
    r.signatureKey = j.value("signatureKey", "");
    r.pulledAt = j.value("pulledAt", "");
    return r;
  } catch (const nlohmann::json::exception& e) {
    return dataLoss("image record " + path + ": " + e.what());
  }
}
}  // namespace

Result<ImageRecord> ContentStore::getRecord(const std::string& reference) const {
  std::string path = recordPath(reference);
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return notFound(reference + " is not in the image cache");
    return fromErrno(errno, "open " + path);
  }
  std::string text;
  char buf[8192];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (1u << 20))
    text.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  SK_ASSIGN_OR_RETURN(auto r, decodeRecord(text, path));
  if (r.reference != reference) return dataLoss("image record " + path + " names " + r.reference);
  return r;
}

Result<std::vector<ImageRecord>> ContentStore::listRecords() const {
  SK_ASSIGN_OR_RETURN(auto names, listNames(root_ + "/refs"));
  std::vector<ImageRecord> out;
  for (const auto& n : names) {
    if (n.size() != 69 || n.substr(64) != ".json") continue;
    std::string path = root_ + "/refs/" + n;
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    std::string text;
    char buf[8192];
    ssize_t k;
    while ((k = ::read(fd, buf, sizeof buf)) > 0 && text.size() < (1u << 20))
      text.append(buf, static_cast<std::size_t>(k));
    ::close(fd);
    auto r = decodeRecord(text, path);
    if (r.isOk()) out.push_back(std::move(*r));
  }
  return out;
}

Status ContentStore::removeRecord(const std::string& reference) {
  std::string path = recordPath(reference);
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return fromErrno(errno, "unlink " + path);
  return Status::ok();
}

Result<GcStats> ContentStore::garbageCollect(const GcOptions& opts) {
  SK_ASSIGN_OR_RETURN(FileLock storeLock, lockStore(true));
  GcStats stats;
  SK_ASSIGN_OR_RETURN(auto records, listRecords());
  std::set<std::string> keepBlobs;
  std::set<std::string> keepRoots;
  for (const auto& d : opts.keepRoots) keepRoots.insert(d.hex());
  for (const auto& r : records) {
    if (opts.keepReferences && !opts.keepReferences->count(r.reference)) {
      SK_RETURN_IF_ERROR(removeRecord(r.reference));
      ++stats.recordsRemoved;
      continue;
    }
    for (const Digest* d : {&r.digest, &r.manifestDigest, &r.configDigest}) {
      if (!d->empty()) keepBlobs.insert(d->hex());
    }
    for (const auto& l : r.layers) keepBlobs.insert(l.hex());
    for (const auto& s : r.signatureBlobs) keepBlobs.insert(s.hex());
    if (!r.manifestDigest.empty()) keepRoots.insert(r.manifestDigest.hex());
  }
  // Unreferenced index children: an index blob keeps nothing else; only what records name stays.
  SK_ASSIGN_OR_RETURN(auto blobs, listNames(root_ + "/blobs/sha256"));
  for (const auto& n : blobs) {
    if (keepBlobs.count(n)) continue;
    std::string path = root_ + "/blobs/sha256/" + n;
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) stats.bytesFreed += st.st_size;
    if (::unlink(path.c_str()) == 0) ++stats.blobsRemoved;
  }
  SK_ASSIGN_OR_RETURN(auto roots, listNames(root_ + "/rootfs"));
  for (const auto& n : roots) {
    if (isHex64(n) && keepRoots.count(n)) continue;
    SK_RETURN_IF_ERROR(removeTree(root_ + "/rootfs/" + n));
    ++stats.rootsRemoved;
  }
  SK_ASSIGN_OR_RETURN(auto temps, listNames(root_ + "/tmp"));
  for (const auto& n : temps) {
    std::string path = root_ + "/tmp/" + n;
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (fd >= 0 && ::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      ::close(fd);  // its writer is alive
      continue;
    }
    if (fd >= 0) ::close(fd);
    SK_RETURN_IF_ERROR(removeTree(path));
    ++stats.tempsRemoved;
  }
  return stats;
}

}  // namespace schedkit::oci
