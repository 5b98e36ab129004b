#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>

#include "attach/attacher.h"
#include "attach/command_runner.h"
#include "attach/crun_bundle.h"
#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/os/event_loop.h"
#include "schedkit/os/filesystem.h"

namespace schedkit::agent {

struct ProcessAttacherOptions {
  enum class NoPivot { kAuto, kOn, kOff };

  std::string crunPath = "crun";                    // the agent's own; PATH is searched
  std::string runtimeRoot = "/run/schedkit/crun";   // host path: crun --root
  std::string bundleDir = "/var/lib/schedkit/bundles";  // host path: <bundleDir>/<id>/
  std::string logDir = "/var/lib/schedkit/run";     // host path: <logDir>/<id>.log
  std::string cgroupParent = "/schedkit";           // containers go to <cgroupParent>/<id>
  // kAuto: --no-pivot when the agent's own / is an initramfs (pivot_root cannot work there).
  NoPivot noPivot = NoPivot::kAuto;
  // cleanup() trims a log bigger than this to its last maxLogBytes.
  std::size_t maxLogBytes = 1u << 20;

  // The defaults under a state dir other than /var/lib/schedkit.
  static ProcessAttacherOptions forStateDir(const std::string& stateDir);
};

// Runs binary schedulers (scx_* style: attach a sched_ext scheduler and stay resident) through
// a real OCI runtime, crun, as detached containers: an agent restart or upgrade leaves them
// running, and the next agent re-adopts them by id and pid.
//
// Each scheduler is container "schedkit-<policy>" in the host's PID, cgroup, network, IPC and
// UTS namespaces; only the mount namespace is its own (crun_bundle.h builds the config). Its
// root is the unpacked image (read-only), or for hostPath schedulers an empty bundle rootfs with
// the host's /usr /bin /sbin /lib /lib64 /etc bound read-only. stdout and stderr go straight to
// <logDir>/<id>.log: a file, not a pipe, so the scheduler never blocks on or dies of a reader
// that went away with the agent. Each start() moves the last log to <id>.log.prev.
//
// Partial mode appends "--partial" to the scheduler's arguments (see schedulerArgv()).
//
// crun runs in the agent's own mount namespace, so every host path in config.json and on crun's
// command line goes through Filesystem::resolve() (--host-root). In a pod the agent needs the
// host's PID and cgroup namespaces: the container's cgroup (<cgroupParent>/<id>) must lie outside
// the agent pod's, or the kubelet would kill the scheduler with the pod. The log grows while the
// scheduler runs (it writes the file directly); cleanup() trims it to maxLogBytes.
//
// Not thread-safe: call it from the agent's event loop, like the node engine does.
class ProcessAttacher final : public Attacher {
 public:
  // loop may be null (unit tests): watch() then fails, everything else works.
  ProcessAttacher(Filesystem& fs, EventLoop* loop, const Logger& log, Clock& clock,
                  CommandRunner& runner, ProcessAttacherOptions opts);
  // Stops watching; never stops a scheduler (that is what keeps it alive across restarts).
  ~ProcessAttacher() override;
  ProcessAttacher(const ProcessAttacher&) = delete;
  ProcessAttacher& operator=(const ProcessAttacher&) = delete;

  Result<Attachment> start(const LaunchSpec& spec) override;
  Status stop(const Attachment& a, bool force) override;
  bool running(const Attachment& a) override;
  void cleanup(const Attachment& a) override;
  Status watch(const Attachment& a, std::function<void(const std::string& id)> onExit) override;
  std::string tail(const Attachment& a, std::size_t maxLines) override;

  // For tests and tools: what start() derives.
  std::string bundlePath(const std::string& id) const;
  std::string logPath(const std::string& id) const;
  bool usesNoPivot() const;

  // tail() reads at most this much from the end of the log.
  static constexpr std::size_t kTailBytes = 64u << 10;

 private:
  struct Watch {
    int pidfd = -1;
    std::int64_t pid = 0;
  };

  std::vector<std::string> crun(std::initializer_list<std::string> args) const;
  Result<CommandOutput> runCrun(const std::string& what, std::vector<std::string> argv,
                                const CommandIo& io = {});
  // The container's state; kNotFound when crun does not know the id.
  Result<CrunState> state(const std::string& id);
  Status deleteContainer(const std::string& id);
  Status writeBundle(const std::string& id, const LaunchSpec& spec);
  void removeBundle(const std::string& id);
  void rotateLog(const std::string& path);
  void trimLog(const std::string& path);
  std::string crunLogTail(const std::string& id) const;
  bool processAlive(std::int64_t pid) const;
  void unwatch(const std::string& id);

  Filesystem& fs_;
  EventLoop* loop_;
  Logger log_;
  [[maybe_unused]] Clock& clock_;  // crun calls are bounded by the CommandRunner's own timeout
  CommandRunner& runner_;
  ProcessAttacherOptions o_;
  std::map<std::string, Watch> watches_;
};

}  // namespace schedkit::agent
