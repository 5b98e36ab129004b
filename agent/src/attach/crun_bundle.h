#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "attach/attacher.h"
#include "schedkit/common/status.h"
#include "schedkit/os/filesystem.h"

// The OCI bundle a binary scheduler runs from, and the pure helpers around crun's CLI.
namespace schedkit::agent {

// "schedkit-" + the policy name made safe for a container id, a cgroup name and a file name:
// [a-z0-9._-] only, at most 64 characters (long names keep a hash of the full name so two long
// policies sharing a prefix still get different ids).
std::string containerIdFor(std::string_view policy);

// The container's argv: path, args, and "--partial" last in Partial mode. That flag is the
// schedkit image convention for SCX_OPS_SWITCH_PARTIAL (schedkit-testsched-runner takes it);
// a binary that spells it differently can get its own flag through spec.args in Full mode.
std::vector<std::string> schedulerArgv(const LaunchSpec& spec);

// Host directories a hostPath scheduler sees read-only, mirrored into the bundle's rootfs.
inline constexpr const char* kHostSystemDirs[] = {"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"};

// What the host offers, probed once per start so that building config.json stays pure.
struct HostLayout {
  std::vector<std::string> bindDirs;                         // real directories to bind
  std::vector<std::pair<std::string, std::string>> symlinks;  // merged-/usr links: /bin → usr/bin
  bool debugfs = false;                                       // /sys/kernel/debug exists
  bool tracefs = false;                                       // /sys/kernel/tracing exists
  // /boot/config-$(uname -r) when the host has it: libbpf resolves __kconfig externs from it
  // (Debian kernels have no /proc/config.gz), and every scx scheduler has some.
  std::string kernelConfig;
};
HostLayout probeHostLayout(const Filesystem& fs);

struct BundleParams {
  std::string rootPath;     // root.path as crun opens it (host root applied)
  std::string cgroupsPath;  // linux.cgroupsPath
};

// config.json for `spec`. Every mount source goes through fs.resolve(): crun runs in the agent's
// mount namespace, where the host's / may live at --host-root.
nlohmann::json makeOciConfig(const Filesystem& fs, const LaunchSpec& spec, const HostLayout& host,
                             const BundleParams& params);

// `crun state` output.
struct CrunState {
  std::string id;
  std::string status;  // creating | created | running | stopped | paused
  std::int64_t pid = 0;
};
Result<CrunState> parseCrunState(std::string_view json);

// Whether the mount at "/" in a /proc/self/mountinfo is the kernel's initial rootfs (an
// initramfs), where pivot_root fails and crun needs --no-pivot: fstype rootfs or ramfs, or a
// tmpfs with no parent mount.
bool rootIsInitramfs(std::string_view mountinfo);

// Mount points in a mountinfo at or below `dir`.
std::vector<std::string> mountsUnder(std::string_view mountinfo, std::string_view dir);

}  // namespace schedkit::agent
