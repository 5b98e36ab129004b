#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "schedkit/common/status.h"

namespace schedkit {

// Every host path the agent touches goes through this seam, rooted at --host-root. Paths passed
// in are absolute paths as seen on the host ("/sys/kernel/sched_ext/state").
class Filesystem {
 public:
  virtual ~Filesystem() = default;

  static constexpr std::size_t kDefaultMaxRead = 16u << 20;

  virtual Result<std::string> readFile(const std::string& path,
                                       std::size_t max_bytes = kDefaultMaxRead) const = 0;
  // Writes via a temp file, fsync and rename, so readers see the old or the new content.
  virtual Status writeFileAtomic(const std::string& path, std::string_view data,
                                 unsigned mode = 0644) = 0;
  virtual bool exists(const std::string& path) const = 0;
  virtual bool isDirectory(const std::string& path) const = 0;
  // Entry names (not paths), sorted, without "." and "..".
  virtual Result<std::vector<std::string>> listDir(const std::string& path) const = 0;
  virtual Status makeDirs(const std::string& path, unsigned mode = 0755) = 0;
  // Removes a file or an empty directory; a missing path is not an error.
  virtual Status remove(const std::string& path) = 0;
  // The path this process must open for `path` (host root applied), for APIs that take paths.
  virtual std::string resolve(const std::string& path) const = 0;
};
using FilesystemPtr = std::unique_ptr<Filesystem>;

// The real filesystem with every path placed under `root` ("/" in production,
// a canned tree in tests).
class HostFilesystem final : public Filesystem {
 public:
  explicit HostFilesystem(std::string root);

  Result<std::string> readFile(const std::string& path,
                               std::size_t max_bytes = kDefaultMaxRead) const override;
  Status writeFileAtomic(const std::string& path, std::string_view data,
                         unsigned mode = 0644) override;
  bool exists(const std::string& path) const override;
  bool isDirectory(const std::string& path) const override;
  Result<std::vector<std::string>> listDir(const std::string& path) const override;
  Status makeDirs(const std::string& path, unsigned mode = 0755) override;
  Status remove(const std::string& path) override;
  std::string resolve(const std::string& path) const override;

  const std::string& root() const { return root_; }

 private:
  std::string root_;  // no trailing slash; empty means "/"
};

// Joins path segments with single slashes; does not resolve "..".
std::string joinPath(std::string_view a, std::string_view b);

}  // namespace schedkit
