#pragma once

#include <map>
#include <set>
#include <string>

#include "schedkit/os/filesystem.h"

namespace schedkit {

// An in-memory Filesystem for unit tests; paths are host paths, nothing touches the disk.
class MemFilesystem final : public Filesystem {
 public:
  Result<std::string> readFile(const std::string& path, std::size_t max_bytes = kDefaultMaxRead) const override {
    auto it = files_.find(path);
    if (it == files_.end()) return notFound("open " + path + ": No such file or directory (ENOENT)");
    if (it->second.size() > max_bytes) return resourceExhausted("read " + path + ": too large");
    return it->second;
  }
  Status writeFileAtomic(const std::string& path, std::string_view data, unsigned = 0644) override {
    if (failWrites) return unavailable("write " + path + ": injected failure");
    files_[path] = std::string(data);
    ++writes;
    return Status::ok();
  }
  bool exists(const std::string& path) const override {
    return files_.count(path) != 0 || dirs_.count(path) != 0;
  }
  bool isDirectory(const std::string& path) const override { return dirs_.count(path) != 0; }
  Result<std::vector<std::string>> listDir(const std::string& path) const override {
    std::set<std::string> names;
    std::string prefix = path.back() == '/' ? path : path + "/";
    auto collect = [&](const std::string& p) {
      if (p.rfind(prefix, 0) == 0) {
        std::string rest = p.substr(prefix.size());
        if (!rest.empty()) names.insert(rest.substr(0, rest.find('/')));
      }
    };
    for (const auto& [p, _] : files_) collect(p);
    for (const auto& d : dirs_) collect(d);
    if (names.empty() && !isDirectory(path)) return notFound("opendir " + path);
    return std::vector<std::string>(names.begin(), names.end());
  }
  Status makeDirs(const std::string& path, unsigned = 0755) override {
    std::string cur;
    for (std::size_t i = 1; i <= path.size(); ++i) {
      if (i == path.size() || path[i] == '/') dirs_.insert(path.substr(0, i));
    }
    return Status::ok();
  }
  Status remove(const std::string& path) override {
    files_.erase(path);
    dirs_.erase(path);
    return Status::ok();
  }
  std::string resolve(const std::string& path) const override { return path; }

  void put(const std::string& path, std::string data) { files_[path] = std::move(data); }
  const std::map<std::string, std::string>& files() const { return files_; }

  bool failWrites = false;
  int writes = 0;

 private:
  std::map<std::string, std::string> files_;
  std::set<std::string> dirs_;
};

}  // namespace schedkit
