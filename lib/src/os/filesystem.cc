#include "schedkit/os/filesystem.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace schedkit {

std::string joinPath(std::string_view a, std::string_view b) {
  std::string out(a);
  while (!out.empty() && out.back() == '/') out.pop_back();
  while (!b.empty() && b.front() == '/') b.remove_prefix(1);
  out += '/';
  out += b;
  return out;
}

HostFilesystem::HostFilesystem(std::string root) : root_(std::move(root)) {
  while (!root_.empty() && root_.back() == '/') root_.pop_back();
}

std::string HostFilesystem::resolve(const std::string& path) const {
  if (root_.empty()) return path;
  return joinPath(root_, path);
}

Result<std::string> HostFilesystem::readFile(const std::string& path,
                                             std::size_t max_bytes) const {
  std::string real = resolve(path);
  int fd = ::open(real.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fromErrno(errno, "open " + real);
  std::string out;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return fromErrno(e, "read " + real);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    if (out.size() > max_bytes) {
      ::close(fd);
      return resourceExhausted("read " + real + ": larger than " + std::to_string(max_bytes) +
                               " bytes");
    }
  }
  ::close(fd);
  return out;
}

Status HostFilesystem::writeFileAtomic(const std::string& path, std::string_view data,
                                       unsigned mode) {
  std::string real = resolve(path);
  std::string tmp = real + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return fromErrno(errno, "create " + tmp);
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fromErrno(e, "write " + tmp);
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    int e = errno;
    ::close(fd);
    ::unlink(tmp.c_str());
    return fromErrno(e, "fsync " + tmp);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), real.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return fromErrno(e, "rename " + tmp + " -> " + real);
  }
  return Status::ok();
}

bool HostFilesystem::exists(const std::string& path) const {
  struct stat st {};
  return ::lstat(resolve(path).c_str(), &st) == 0;
}

bool HostFilesystem::isDirectory(const std::string& path) const {
  struct stat st {};
  return ::stat(resolve(path).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<std::vector<std::string>> HostFilesystem::listDir(const std::string& path) const {
  std::string real = resolve(path);
  DIR* d = ::opendir(real.c_str());
  if (d == nullptr) return fromErrno(errno, "opendir " + real);
  std::vector<std::string> names;
  while (struct dirent* e = ::readdir(d)) {
    std::string_view n(e->d_name);
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

Status HostFilesystem::makeDirs(const std::string& path, unsigned mode) {
  std::string real = resolve(path);
  std::string cur;
  std::size_t pos = 0;
  while (pos <= real.size()) {
    std::size_t next = real.find('/', pos);
    if (next == std::string::npos) next = real.size();
    cur = real.substr(0, next);
    pos = next + 1;
    if (cur.empty()) continue;
    if (::mkdir(cur.c_str(), mode) != 0 && errno != EEXIST) return fromErrno(errno, "mkdir " + cur);
  }
  if (!isDirectory(path)) return failedPrecondition(real + " exists and is not a directory");
  return Status::ok();
}

Status HostFilesystem::remove(const std::string& path) {
  std::string real = resolve(path);
  if (::unlink(real.c_str()) == 0 || errno == ENOENT) return Status::ok();
  if (errno == EISDIR || errno == EPERM) {
    if (::rmdir(real.c_str()) == 0 || errno == ENOENT) return Status::ok();
  }
  return fromErrno(errno, "remove " + real);
}

}  // namespace schedkit
