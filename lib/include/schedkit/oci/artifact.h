#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "schedkit/common/status.h"

namespace schedkit::oci {

// The schedkit image convention (DESIGN.md §4, docs/image-format.md).
namespace labels {
inline constexpr std::string_view kType = "io.schedkit.scheduler.type";
inline constexpr std::string_view kPath = "io.schedkit.scheduler.path";
inline constexpr std::string_view kName = "io.schedkit.scheduler.name";
inline constexpr std::string_view kVersion = "io.schedkit.scheduler.version";
inline constexpr std::string_view kArgs = "io.schedkit.scheduler.args";
inline constexpr std::string_view kKernelMin = "io.schedkit.kernel.min";
}  // namespace labels

enum class ArtifactType { kBinary, kBpfObject };
std::string_view toString(ArtifactType t);

// What an image says it runs.
struct SchedulerArtifact {
  ArtifactType type = ArtifactType::kBinary;
  std::string path;               // absolute path inside the image root
  std::string opsName;            // expected sched_ext ops-name prefix; may be empty
  std::string version;            // may be empty
  std::string kernelMin;          // "6.12"; empty = any sched_ext kernel
  std::vector<std::string> args;  // defaults, from a JSON array of strings
  std::string hostPath;           // set by checkArtifactInRoot: the resolved file on the host
  friend bool operator==(const SchedulerArtifact&, const SchedulerArtifact&) = default;
};

// Reads the convention from image config labels and manifest annotations (artifact-style images
// carry them as annotations). A key may come from either; from both, the values must agree.
// kInvalidArgument names the label: missing type/path, unknown type, relative path or one with
// "..", bad args JSON, bad kernel version, bad ops name.
Result<SchedulerArtifact> parseSchedulerArtifact(
    const std::map<std::string, std::string>& configLabels,
    const std::map<std::string, std::string>& annotations);

// Checks the artifact against the unpacked root: the path resolves inside it (symlinks followed
// as the container would) to a regular file; a bpf-object is an ELF object for the BPF machine;
// a binary is executable. Sets hostPath.
Status checkArtifactInRoot(SchedulerArtifact& a, const std::string& rootfs);

}  // namespace schedkit::oci
