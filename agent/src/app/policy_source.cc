#include "app/policy_source.h"

#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "schedkit/policy/decode.h"

namespace schedkit::agent {

namespace fs = std::filesystem;

namespace {
constexpr std::size_t kMaxPolicyFile = 4u << 20;

bool isPolicyFile(const fs::path& p) {
  auto ext = p.extension().string();
  return (ext == ".yaml" || ext == ".yml" || ext == ".json") && p.filename().string()[0] != '.';
}

Result<std::string> slurp(const fs::path& p) {
  std::error_code ec;
  auto size = fs::file_size(p, ec);
  if (ec) return notFound("reading " + p.string() + ": " + ec.message());
  if (size > kMaxPolicyFile) {
    return resourceExhausted("reading " + p.string() + ": larger than " +
                             std::to_string(kMaxPolicyFile) + " bytes");
  }
  std::ifstream in(p);
  if (!in) return permissionDenied("reading " + p.string() + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

PolicyFileSource::PolicyFileSource(std::string path, EventLoop* loop, const Logger& log)
    : path_(std::move(path)), loop_(loop), log_(log) {}

PolicyFileSource::~PolicyFileSource() {
  if (inotifyFd_ >= 0) {
    if (loop_ != nullptr) loop_->removeFd(inotifyFd_);
    ::close(inotifyFd_);
  }
}

Result<std::vector<policy::SchedulerPolicy>> PolicyFileSource::load(const std::string& path) {
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(path, ec)) {
    for (const auto& e : fs::directory_iterator(path, ec)) {
      if (e.is_regular_file() && isPolicyFile(e.path())) files.push_back(e.path());
    }
    std::sort(files.begin(), files.end());
  } else if (fs::exists(path, ec)) {
    files.push_back(path);
  } else {
    return notFound("policy file " + path + " does not exist");
  }
  std::vector<policy::SchedulerPolicy> all;
  for (const auto& f : files) {
    SK_ASSIGN_OR_RETURN(std::string text, slurp(f));
    auto ps = policy::parsePolicies(text);
    if (!ps.isOk()) return ps.status().withContext(f.string());
    for (auto& p : *ps) {
      for (const auto& q : all) {
        if (q.metadata.name == p.metadata.name) {
          return invalidArgument(f.string() + ": SchedulerPolicy \"" + p.metadata.name +
                                 "\" is also defined in another file");
        }
      }
      if (p.metadata.uid.empty()) p.metadata.uid = "file:" + p.metadata.name;
      all.push_back(std::move(p));
    }
  }
  return all;
}

Status PolicyFileSource::start(OnChange onChange, OnError onError) {
  onChange_ = std::move(onChange);
  onError_ = std::move(onError);
  if (loop_ != nullptr) {
    inotifyFd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (inotifyFd_ < 0) return fromErrno(errno, "inotify_init1");
    // Watch the directory: editors and ConfigMap updates replace files by rename.
    std::error_code ec;
    std::string dir = fs::is_directory(path_, ec) ? path_ : fs::path(path_).parent_path().string();
    if (dir.empty()) dir = ".";
    if (::inotify_add_watch(inotifyFd_, dir.c_str(),
                            IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE |
                                IN_ATTRIB) < 0) {
      return fromErrno(errno, "watching " + dir);
    }
    SK_RETURN_IF_ERROR(loop_->addFd(inotifyFd_, EPOLLIN, [this](std::uint32_t) {
      char buf[4096];
      while (::read(inotifyFd_, buf, sizeof buf) > 0) {
      }
      // Coalesce a burst of events (write + rename) into one reload.
      if (debounce_ != 0) loop_->clock().cancel(debounce_);
      debounce_ = loop_->clock().callAfter(std::chrono::milliseconds(50), [this] {
        debounce_ = 0;
        reload();
      });
    }));
  }
  reload();
  return Status::ok();
}

void PolicyFileSource::reload() {
  auto ps = load(path_);
  if (!ps.isOk()) {
    if (haveGood_) {
      log_.error("policy file is invalid; keeping the last good policies",
                 {{"path", path_}, {"error", ps.status()}});
    } else {
      log_.error("policy file is invalid; nothing will be attached until it is fixed",
                 {{"path", path_}, {"error", ps.status()}});
    }
    if (onError_) onError_(ps.status());
    return;
  }
  for (auto& p : *ps) {
    auto it = generations_.find(p.metadata.name);
    if (it == generations_.end()) {
      generations_[p.metadata.name] = {p.spec, std::max<std::int64_t>(p.metadata.generation, 1)};
    } else if (!(it->second.first == p.spec)) {
      it->second = {p.spec, it->second.second + 1};
    }
    p.metadata.generation = generations_[p.metadata.name].second;
  }
  if (haveGood_ && *ps == last_) return;
  haveGood_ = true;
  last_ = *ps;
  log_.info("policies loaded", {{"path", path_}, {"count", static_cast<unsigned long>(last_.size())}});
  onChange_(last_);
}

}  // namespace schedkit::agent
