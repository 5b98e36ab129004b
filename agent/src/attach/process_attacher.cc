#include "attach/process_attacher.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace schedkit::agent {

namespace {

// waitid()'s P_PIDFD (Linux 5.4); spelled out for C libraries that predate it.
constexpr int kIdTypePidfd = 3;

int pidfdOpen(std::int64_t pid) {
  return static_cast<int>(::syscall(SYS_pidfd_open, static_cast<pid_t>(pid), 0));
}

int pidfdSendSignal(int pidfd, int sig) {
  return static_cast<int>(::syscall(SYS_pidfd_send_signal, pidfd, sig, nullptr, 0));
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\r')) s.pop_back();
  std::size_t b = s.find_first_not_of(" \n\r");
  return b == std::string::npos ? std::string() : s.substr(b);
}

// The last `maxLines` non-blank lines of text, joined by '\n'.
std::string lastLines(std::string_view text, std::size_t maxLines) {
  std::vector<std::string_view> lines;
  std::size_t end = text.size();
  while (end > 0 && lines.size() < maxLines) {
    std::size_t nl = text.rfind('\n', end - 1);
    std::size_t begin = nl == std::string_view::npos ? 0 : nl + 1;
    std::string_view line = text.substr(begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.find_first_not_of(" \t") != std::string_view::npos) lines.push_back(line);
    if (nl == std::string_view::npos) break;
    end = nl;
  }
  std::string out;
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (!out.empty()) out += '\n';
    out += *it;
  }
  return out;
}

// Reads at most `maxBytes` from the end of a file; the first, possibly partial, line of a
// window that does not start at offset 0 is dropped.
Result<std::string> readEnd(const std::string& realPath, std::size_t maxBytes) {
  int fd = ::open(realPath.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return fromErrno(errno, "open " + realPath);
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    int e = errno;
    ::close(fd);
    return fromErrno(e, "stat " + realPath);
  }
  auto size = static_cast<std::size_t>(st.st_size);
  std::size_t from = size > maxBytes ? size - maxBytes : 0;
  std::string buf(size - from, '\0');
  std::size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::pread(fd, buf.data() + got, buf.size() - got, static_cast<off_t>(from + got));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  buf.resize(got);
  if (from > 0) {
    std::size_t nl = buf.find('\n');
    buf.erase(0, nl == std::string::npos ? buf.size() : nl + 1);
  }
  return buf;
}

std::string tailFile(const std::string& realPath, std::size_t maxLines) {
  auto text = readEnd(realPath, ProcessAttacher::kTailBytes);
  return text.isOk() ? lastLines(*text, maxLines) : std::string();
}

bool mentionsMissing(const CommandOutput& r) {
  // crun's words for an unknown container id (1.x): "error opening file `<root>/<id>/status`:
  // No such file or directory", or "container `<id>` does not exist".
  const std::string& e = r.err;
  return e.find("No such file or directory") != std::string::npos ||
         e.find("does not exist") != std::string::npos;
}

}  // namespace

ProcessAttacherOptions ProcessAttacherOptions::forStateDir(const std::string& stateDir) {
  ProcessAttacherOptions o;
  o.bundleDir = joinPath(stateDir, "bundles");
  o.logDir = joinPath(stateDir, "run");
  return o;
}

ProcessAttacher::ProcessAttacher(Filesystem& fs, EventLoop* loop, const Logger& log, Clock& clock,
                                 CommandRunner& runner, ProcessAttacherOptions opts)
    : fs_(fs),
      loop_(loop),
      log_(log.with({{"attacher", "process"}})),
      clock_(clock),
      runner_(runner),
      o_(std::move(opts)) {}

ProcessAttacher::~ProcessAttacher() {
  while (!watches_.empty()) unwatch(watches_.begin()->first);
}

std::string ProcessAttacher::bundlePath(const std::string& id) const {
  return joinPath(o_.bundleDir, id);
}

std::string ProcessAttacher::logPath(const std::string& id) const {
  return joinPath(o_.logDir, id + ".log");
}

bool ProcessAttacher::usesNoPivot() const {
  switch (o_.noPivot) {
    case ProcessAttacherOptions::NoPivot::kOn: return true;
    case ProcessAttacherOptions::NoPivot::kOff: return false;
    case ProcessAttacherOptions::NoPivot::kAuto: break;
  }
  // /proc/self under the host root is still this process: its mount table, its "/".
  auto mi = fs_.readFile("/proc/self/mountinfo");
  return mi.isOk() && rootIsInitramfs(*mi);
}

std::vector<std::string> ProcessAttacher::crun(std::initializer_list<std::string> args) const {
  std::vector<std::string> argv{o_.crunPath, "--root", fs_.resolve(o_.runtimeRoot)};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Result<CommandOutput> ProcessAttacher::runCrun(const std::string& what,
                                               std::vector<std::string> argv,
                                               const CommandIo& io) {
  auto r = runner_.run(argv, io);
  if (!r.isOk()) {
    if (r.status().code() == StatusCode::kNotFound) {
      return failedPrecondition(what + ": the OCI runtime '" + o_.crunPath +
                                "' was not found (install crun or set the crun path): " +
                                r.status().message());
    }
    return r.status().withContext(what);
  }
  return r;
}

Result<CrunState> ProcessAttacher::state(const std::string& id) {
  std::string what = "crun state " + id;
  SK_ASSIGN_OR_RETURN(CommandOutput r, runCrun(what, crun({"state", id})));
  if (!r.succeeded()) {
    if (mentionsMissing(r)) return notFound(what + ": no such container");
    return unavailable(what + ": " + r.describe() + ": " + trimmed(r.err));
  }
  auto s = parseCrunState(r.out);
  if (!s.isOk()) return s.status().withContext(what);
  return s;
}

Status ProcessAttacher::deleteContainer(const std::string& id) {
  std::string what = "crun delete " + id;
  SK_ASSIGN_OR_RETURN(CommandOutput r, runCrun(what, crun({"delete", "--force", id})));
  if (r.succeeded() || mentionsMissing(r)) return Status::ok();
  return unavailable(what + ": " + r.describe() + ": " + trimmed(r.err));
}

Status ProcessAttacher::writeBundle(const std::string& id, const LaunchSpec& spec) {
  std::string dir = bundlePath(id);
  removeBundle(id);  // a crashed agent's leftovers
  SK_RETURN_IF_ERROR(fs_.makeDirs(dir, 0700));
  BundleParams params;
  params.cgroupsPath = joinPath(o_.cgroupParent, id);
  HostLayout host = probeHostLayout(fs_);
  if (spec.rootfs.empty()) {
    std::string rootfs = joinPath(dir, "rootfs");
    SK_RETURN_IF_ERROR(fs_.makeDirs(rootfs, 0755));
    // Merged-/usr hosts: /bin is a link to usr/bin. The same link in the bundle keeps every path
    // the host has working, with /usr bound once.
    for (const auto& [link, target] : host.symlinks) {
      std::string at = fs_.resolve(joinPath(rootfs, link));
      if (::symlink(target.c_str(), at.c_str()) != 0 && errno != EEXIST) {
        return fromErrno(errno, "symlink " + at);
      }
    }
    params.rootPath = fs_.resolve(rootfs);
  } else {
    if (!fs_.isDirectory(spec.rootfs)) {
      return failedPrecondition("the scheduler image root " + spec.rootfs + " is not a directory");
    }
    params.rootPath = fs_.resolve(spec.rootfs);
  }
  SK_RETURN_IF_ERROR(fs_.makeDirs("/run/scx", 0755));
  nlohmann::json config = makeOciConfig(fs_, spec, host, params);
  return fs_.writeFileAtomic(joinPath(dir, "config.json"), config.dump(2) + "\n", 0600);
}

void ProcessAttacher::removeBundle(const std::string& id) {
  std::string dir = bundlePath(id);
  if (!fs_.exists(dir)) return;
  // Never walk into a mount: if anything is mounted in the bundle in our namespace, a recursive
  // delete would reach the host's own files (a bound /etc, a bpffs with pins).
  if (auto mi = fs_.readFile("/proc/self/mountinfo"); mi.isOk()) {
    auto mounted = mountsUnder(*mi, fs_.resolve(dir));
    if (!mounted.empty()) {
      log_.warn("not removing a bundle that has mounts in it", {{"bundle", dir},
                                                              {"mount", mounted.front()}});
      return;
    }
  }
  // Bottom-up: remove() deletes files, symlinks (never followed) and empty directories.
  std::function<void(const std::string&)> removeTree = [&](const std::string& path) {
    if (fs_.remove(path).isOk()) return;
    if (!fs_.isDirectory(path)) return;
    if (auto names = fs_.listDir(path); names.isOk()) {
      for (const auto& n : *names) removeTree(joinPath(path, n));
    }
    Status s = fs_.remove(path);
    if (!s.isOk()) log_.warn("cannot remove bundle leftovers", {{"path", path}, {"error", s}});
  };
  removeTree(dir);
}

void ProcessAttacher::rotateLog(const std::string& path) {
  if (!fs_.exists(path)) return;
  std::string from = fs_.resolve(path), to = fs_.resolve(path + ".prev");
  if (::rename(from.c_str(), to.c_str()) != 0) {
    log_.warn("cannot keep the previous scheduler log", {{"path", path},
                                                        {"error", fromErrno(errno, "rename")}});
  }
}

void ProcessAttacher::trimLog(const std::string& path) {
  std::string real = fs_.resolve(path);
  struct stat st {};
  if (::stat(real.c_str(), &st) != 0 || static_cast<std::size_t>(st.st_size) <= o_.maxLogBytes) {
    return;
  }
  auto end = readEnd(real, o_.maxLogBytes);
  Status s = end.isOk() ? fs_.writeFileAtomic(path, *end, 0640) : end.status();
  if (!s.isOk()) log_.warn("cannot trim the scheduler log", {{"path", path}, {"error", s}});
}

std::string ProcessAttacher::crunLogTail(const std::string& id) const {
  auto text = readEnd(fs_.resolve(joinPath(bundlePath(id), "crun.log")), 4096);
  return text.isOk() ? lastLines(*text, 3) : std::string();
}

Result<Attachment> ProcessAttacher::start(const LaunchSpec& spec) {
  if (spec.path.empty()) return invalidArgument("binary scheduler without a path");
  std::string id = containerIdFor(spec.policy);
  std::string what = "crun run " + id;

  // A container left by a crashed agent (or a failed cleanup) holds the id: remove it first.
  auto stale = state(id);
  if (stale.isOk()) {
    log_.warn("removing a stale container with the same id",
              {{"id", id}, {"status", stale->status}, {"pid", static_cast<long long>(stale->pid)}});
    unwatch(id);
    SK_RETURN_IF_ERROR(deleteContainer(id));
  } else if (stale.status().code() == StatusCode::kFailedPrecondition) {
    return stale.status();  // no crun: say so instead of failing later with a vaguer error
  }

  SK_RETURN_IF_ERROR(writeBundle(id, spec).withContext("writing the bundle for " + id));
  SK_RETURN_IF_ERROR(fs_.makeDirs(o_.runtimeRoot, 0700));
  SK_RETURN_IF_ERROR(fs_.makeDirs(o_.logDir, 0755));
  std::string logFile = logPath(id);
  rotateLog(logFile);
  std::string realLog = fs_.resolve(logFile);
  int logFd = ::open(realLog.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0640);
  if (logFd < 0) return fromErrno(errno, "open the scheduler log " + realLog);

  std::string bundle = fs_.resolve(bundlePath(id));
  std::vector<std::string> argv = crun({"--log=file:" + joinPath(bundle, "crun.log"), "run",
                                        "--detach"});
  if (usesNoPivot()) argv.emplace_back("--no-pivot");
  argv.insert(argv.end(), {"--bundle", bundle, id});
  log_.info("starting scheduler container",
            {{"id", id}, {"path", spec.path}, {"rootfs", spec.rootfs}, {"log", logFile}});
  // The container inherits crun's stdout/stderr: the log file, kept open by the scheduler after
  // crun returns. crun's own messages go to crun.log in the bundle (and also to the log file).
  auto r = runCrun(what, argv, CommandIo{logFd, logFd});
  ::close(logFd);
  if (!r.isOk()) {
    removeBundle(id);
    return r.status();
  }
  if (!r->succeeded()) {
    std::string why = crunLogTail(id);
    if (why.empty()) why = tailFile(fs_.resolve(logFile), 3);
    Status s = unavailable(what + ": " + r->describe() + (why.empty() ? "" : ": " + why));
    if (Status d = deleteContainer(id); !d.isOk()) log_.warn("cleanup after a failed run", {{"error", d}});
    removeBundle(id);
    return s;
  }

  auto st = state(id);
  if (!st.isOk() || st->status != "running" || st->pid <= 0) {
    Status s = !st.isOk() ? st.status()
                          : unavailable("scheduler container " + id + " is " + st->status +
                                        " right after start");
    std::string out = tailFile(fs_.resolve(logFile), 3);
    if (!out.empty()) s = Status(s.code(), s.message() + "; it printed: " + out);
    if (Status d = deleteContainer(id); !d.isOk()) log_.warn("cleanup after a failed run", {{"error", d}});
    removeBundle(id);
    return s;
  }

  Attachment a;
  a.id = id;
  a.type = policy::SchedulerType::kBinary;
  a.pid = st->pid;
  a.logPath = logFile;
  a.spec = spec;
  log_.info("scheduler container running", {{"id", id}, {"pid", static_cast<long long>(a.pid)}});
  return a;
}

bool ProcessAttacher::processAlive(std::int64_t pid) const {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  // A zombie still answers kill(0): it is gone for our purposes.
  auto stat = fs_.readFile("/proc/" + std::to_string(pid) + "/stat", 4096);
  if (!stat.isOk()) return true;
  std::size_t paren = stat->rfind(')');
  return paren == std::string::npos || paren + 2 >= stat->size() || (*stat)[paren + 2] != 'Z';
}

bool ProcessAttacher::running(const Attachment& a) {
  if (a.id.empty() || a.pid <= 0) return false;
  auto st = state(a.id);
  if (st.isOk()) return st->status == "running" && st->pid == a.pid;
  if (st.status().code() == StatusCode::kNotFound) return false;
  // crun is unusable right now; the process itself is the next best witness.
  log_.warn("cannot ask crun about the scheduler; checking its process",
            {{"id", a.id}, {"error", st.status()}});
  return processAlive(a.pid);
}

Status ProcessAttacher::stop(const Attachment& a, bool force) {
  if (a.id.empty()) return Status::ok();
  const char* sig = force ? "KILL" : "TERM";
  std::string what = std::string("crun kill ") + a.id + " " + sig;
  auto r = runCrun(what, crun({"kill", a.id, sig}));
  if (r.isOk() && r->succeeded()) return Status::ok();
  // Already gone is what stop() wants.
  if (!running(a)) return Status::ok();
  // crun failed but the scheduler lives: the pidfd from watch() still names exactly it.
  if (auto it = watches_.find(a.id); it != watches_.end() && it->second.pid == a.pid) {
    if (pidfdSendSignal(it->second.pidfd, force ? SIGKILL : SIGTERM) == 0) {
      log_.warn("crun kill failed; signalled the scheduler through its pidfd", {{"id", a.id}});
      return Status::ok();
    }
  }
  if (!r.isOk()) return r.status();
  return unavailable(what + ": " + r->describe() + ": " + trimmed(r->err));
}

void ProcessAttacher::cleanup(const Attachment& a) {
  if (a.id.empty()) return;
  unwatch(a.id);
  if (Status s = deleteContainer(a.id); !s.isOk()) {
    log_.warn("cannot delete the scheduler container", {{"id", a.id}, {"error", s}});
  }
  removeBundle(a.id);
  trimLog(a.logPath.empty() ? logPath(a.id) : a.logPath);
}

Status ProcessAttacher::watch(const Attachment& a,
                              std::function<void(const std::string& id)> onExit) {
  if (loop_ == nullptr) return failedPrecondition("no event loop to watch " + a.id + " with");
  if (a.id.empty() || a.pid <= 0) return invalidArgument("watch: attachment without id or pid");
  unwatch(a.id);
  std::string id = a.id;
  int fd = pidfdOpen(a.pid);
  if (fd < 0) {
    if (errno != ESRCH) return fromErrno(errno, "pidfd_open " + std::to_string(a.pid));
    loop_->post([id, onExit] { onExit(id); });  // already gone; report it from the loop
    return Status::ok();
  }
  // The pidfd is open; if the pid was reused before that, crun's pid no longer matches.
  if (!running(a)) {
    ::close(fd);
    loop_->post([id, onExit] { onExit(id); });
    return Status::ok();
  }
  Status s = loop_->addFd(fd, EPOLLIN, [this, id, fd, onExit](std::uint32_t) {
    // Reap it if it happens to be our child (an agent that is a subreaper adopts orphaned
    // containers); for anyone else's process this fails with ECHILD and does nothing.
    siginfo_t info{};
    ::waitid(static_cast<idtype_t>(kIdTypePidfd), static_cast<id_t>(fd), &info, WEXITED | WNOHANG);
    unwatch(id);
    log_.info("scheduler process exited", {{"id", id}});
    onExit(id);
  });
  if (!s.isOk()) {
    ::close(fd);
    return s.withContext("watching " + id);
  }
  watches_[id] = Watch{fd, a.pid};
  return Status::ok();
}

void ProcessAttacher::unwatch(const std::string& id) {
  auto it = watches_.find(id);
  if (it == watches_.end()) return;
  if (loop_ != nullptr) loop_->removeFd(it->second.pidfd);
  ::close(it->second.pidfd);
  watches_.erase(it);
}

std::string ProcessAttacher::tail(const Attachment& a, std::size_t maxLines) {
  if (maxLines == 0) return "";
  std::string path = a.logPath.empty() ? (a.id.empty() ? "" : logPath(a.id)) : a.logPath;
  if (path.empty()) return "";
  return tailFile(fs_.resolve(path), maxLines);
}

}  // namespace schedkit::agent
