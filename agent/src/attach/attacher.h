#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "schedkit/common/status.h"
#include "schedkit/policy/types.h"

namespace schedkit::agent {

// What to run: resolved from a policy (and, for images, an unpacked image).
struct LaunchSpec {
  std::string policy;
  std::string revision;
  policy::SchedulerType type = policy::SchedulerType::kBinary;
  std::string path;     // the scheduler file: on the host for hostPath, inside `rootfs` for images
  std::string rootfs;   // unpacked image root; empty for hostPath schedulers
  std::vector<std::string> args;
  std::vector<policy::EnvVar> env;
  policy::SchedulerMode mode = policy::SchedulerMode::kFull;
  std::string expectedOps;  // ops-name prefix to confirm against root/ops; may be empty
  std::string image;        // what to report (digest reference), empty for hostPath
  friend bool operator==(const LaunchSpec&, const LaunchSpec&) = default;
};

// A scheduler this agent started. Persisted in the state dir so a restarted agent can re-adopt
// it without detaching.
struct Attachment {
  std::string id;             // stable per node: names the pin / container
  policy::SchedulerType type = policy::SchedulerType::kBinary;
  std::int64_t pid = 0;       // process schedulers
  std::string pinPath;        // bpf-object schedulers: the pinned struct_ops link
  std::string opsName;        // known at start for objects; learned from the kernel for binaries
  std::string logPath;        // the scheduler's stdout/stderr, for exit reasons
  LaunchSpec spec;
  friend bool operator==(const Attachment&, const Attachment&) = default;
};

nlohmann::json encodeAttachment(const Attachment& a);
Result<Attachment> decodeAttachment(const nlohmann::json& j);

// Starts and stops one kind of scheduler. Confirming that the kernel really enabled it is the
// node engine's job (sysfs), not the attacher's.
class Attacher {
 public:
  virtual ~Attacher() = default;
  // Loads/launches the scheduler. For objects this returns after the kernel's enable path ran
  // (which may already have ejected it); for processes, once the process started.
  virtual Result<Attachment> start(const LaunchSpec& spec) = 0;
  // Asks the scheduler to go: a clean detach (SIGTERM / link detach) or, with force, a kill.
  virtual Status stop(const Attachment& a, bool force) = 0;
  // Whether the process lives / the pinned link still exists.
  virtual bool running(const Attachment& a) = 0;
  // Removes what start() left behind (pins, runtime state, bundles). Safe to call twice.
  virtual void cleanup(const Attachment& a) = 0;
  // Calls onExit(id) when a started or adopted scheduler's process ends (not called for objects).
  virtual Status watch(const Attachment& a, std::function<void(const std::string& id)> onExit) = 0;
  // The last lines the scheduler printed (for binaries), to explain an exit.
  virtual std::string tail(const Attachment& a, std::size_t maxLines) = 0;
};
using AttacherPtr = std::unique_ptr<Attacher>;

}  // namespace schedkit::agent
