#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "schedkit/common/status.h"
#include "schedkit/oci/artifact.h"
#include "schedkit/oci/digest.h"
#include "schedkit/oci/manifest.h"

namespace schedkit::cli {

// The artifactType of artifact-style images (manifest annotations, empty config).
inline constexpr std::string_view kSchedulerArtifactType = "application/vnd.schedkit.scheduler.v1";

// `schedkitctl image build`: one file (a binary: with its shared libraries and loader, when asked)
// → a one-layer scheduler image in an OCI layout.
struct BuildOptions {
  std::string type;  // "binary" | "bpf-object"
  std::string file;  // on the host
  std::string path;  // in the image; default /usr/bin/<base> (binary), /<base> (bpf-object)
  std::string name;  // ops-name prefix; a bpf-object's defaults to the name it declares
  std::string version;
  std::string kernelMin;  // "6.12" or "6.12.3"
  std::vector<std::string> args;
  std::vector<std::string> labels;  // extra "k=v"
  std::string platform;             // "linux/amd64"; default: this host's
  bool annotations = false;         // artifact style: manifest annotations + the empty config
  bool addToIndex = false;          // merge into an image index at the tag (multi-arch)
  bool withLibs = false;            // binary: add its shared libraries and the loader
  std::string outputLayout;         // DIR[:TAG]
};

// A shared library (or the loader) --with-libs put in the layer.
struct AddedLibrary {
  std::string name;                // as needed: DT_NEEDED, or the PT_INTERP path for the loader
  std::string path;                // the regular file in the image (resolved on the build machine)
  std::vector<std::string> links;  // symlinks to it: the paths the loader opens it by
  std::int64_t size = 0;
  oci::Digest digest;
  bool interpreter = false;
};

struct BuildResult {
  std::string layout, tag;
  std::string reference;       // oci:DIR:TAG
  oci::Digest digest;          // what the tag names now (the manifest, or the index)
  std::string mediaType;       // of `digest`
  oci::Digest manifestDigest;  // the image manifest built
  oci::Platform platform;
  oci::Descriptor config;
  oci::Descriptor layer;
  oci::Digest diffId;
  std::map<std::string, std::string> labels;  // everything written (labels or annotations)
  bool annotations = false;
  oci::SchedulerArtifact artifact;            // what the agent will read from the image
  std::string opsName;                        // a bpf-object's declared sched_ext_ops.name
  std::vector<oci::Platform> indexPlatforms;  // with --add-to-index
  bool withLibs = false;
  std::vector<AddedLibrary> libraries;  // with --with-libs: the loader first
  std::vector<std::string> notes;       // for people: printed on stderr in text mode
};

// The flags alone, before any file is read: a failure here is a usage error (exit 2).
struct BuildFlags {
  std::string layout, tag;
  oci::Platform platform;
  std::map<std::string, std::string> labels;  // the extra --label ones
};
Result<BuildFlags> checkBuildFlags(const BuildOptions& o);

// Reads the sched_ext_ops name a BPF object declares (the agent's readObjectOpsName); injected so
// unit tests need no real BPF object.
using OpsNameReader = std::function<Result<std::string>(const std::string& path)>;

// Validates the input (a bpf-object must be an ELF for EM_BPF that declares a sched_ext_ops
// struct_ops whose name starts with `name`; a binary must be executable, and with --with-libs an
// ELF program whose libraries are all found; labels, path, kernel version and platform must be
// well formed) and writes the image. Same inputs → same digests.
Result<BuildResult> buildSchedulerImage(const BuildOptions& o, const OpsNameReader& readOpsName);

// "X.Y" or "X.Y.Z", digits only.
bool validKernelVersion(std::string_view v);
// Checks the first bytes of an ELF file: 64-bit relocatable object for EM_BPF.
Status checkBpfElf(std::string_view head, const std::string& what);

}  // namespace schedkit::cli
