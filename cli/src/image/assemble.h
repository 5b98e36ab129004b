#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "image/libraries.h"
#include "schedkit/common/status.h"
#include "schedkit/oci/digest.h"
#include "schedkit/oci/manifest.h"

namespace CLI {
class App;
}

namespace schedkit::cli {

// `schedkitctl image assemble`: programs (each with its loader and shared libraries), files,
// directories and symlinks from this machine → a one-layer container image with an entrypoint,
// environment and labels, in an OCI layout. It makes the images schedkit itself ships (the agent,
// the operator, a pod sandbox) without a container engine; scheduler images come from `image
// build`, which writes the schedkit image convention instead.
struct AssembleOptions {
  std::vector<std::string> binaries;  // HOST[:PATH]; PATH defaults to /usr/bin/<base name>
  std::vector<std::string> files;     // HOST:PATH[:MODE]; MODE octal, default from the host file
  std::vector<std::string> dirs;      // PATH[:MODE]; MODE default 0755
  std::vector<std::string> symlinks;  // PATH:TARGET
  std::vector<std::string> entrypoint, cmd;
  std::vector<std::string> env;  // KEY=VALUE
  std::string user, workdir, stopSignal;
  std::vector<std::string> labels;       // KEY=VALUE, in the image config
  std::vector<std::string> annotations;  // KEY=VALUE, on the manifest
  std::string created;                   // RFC 3339 UTC ("2025-01-02T03:04:05Z"); empty: none
  std::string platform;                  // "linux/amd64"; default: this host's
  std::string outputLayout;              // DIR[:TAG]
  LibrarySearch search;                  // where the libraries of binaries are found
};

// What one flag puts in the image, after parsing.
struct AssembleEntry {
  enum class Kind { kBinary, kFile, kLibrary, kLoader, kDirectory, kSymlink };
  Kind kind = Kind::kFile;
  std::string path;    // in the image, normalised
  std::string source;  // the host file (binary, file, library, loader); the target (symlink)
  unsigned mode = 0644;
  std::int64_t size = 0;  // regular files
  oci::Digest digest;     // regular files
  std::string neededBy;   // libraries and the loader: the first binary that needs it
};
std::string_view toString(AssembleEntry::Kind k);

// The flags alone, before any file is read: a failure here is a usage error (exit 2).
struct AssembleFlags {
  std::string layout, tag;
  oci::Platform platform;
  std::vector<AssembleEntry> entries;  // binaries, files, dirs, symlinks as given (no libraries)
  std::map<std::string, std::string> labels, annotations;
};
Result<AssembleFlags> checkAssembleFlags(const AssembleOptions& o);

struct AssembleResult {
  std::string layout, tag;
  std::string reference;  // oci:DIR:TAG
  oci::Digest digest;     // the image manifest the tag names
  std::string mediaType;
  oci::Platform platform;
  oci::Descriptor config;
  oci::Descriptor layer;
  oci::Digest diffId;
  std::int64_t tarSize = 0;       // the uncompressed layer
  std::int64_t unpackedSize = 0;  // the regular files' bytes
  std::vector<std::string> entrypoint, cmd, env;
  std::string user, workdir, stopSignal, created;
  std::map<std::string, std::string> labels, annotations;
  std::vector<AssembleEntry> entries;  // everything in the layer but implied parents, by path
  // What a registry stores and a node downloads: the config and the layer, compressed.
  std::int64_t size() const { return config.size + layer.size; }
};

// Reads every input (a binary must be an executable ELF program whose loader and libraries are
// all found), writes the image, unpacks it again with the agent's unpacker and checks that each
// binary, its libraries at every path the loader opens them by, and the entrypoint (searched in
// the image's PATH when relative) are there. Same inputs → same digest: nothing from the clock.
Result<AssembleResult> assembleImage(const AssembleOptions& o);

// The subcommand, registered under `image`; its flags fill `o`.
CLI::App* addAssembleCommand(CLI::App* image, AssembleOptions& o);

// Renderings for `schedkitctl image assemble` (JSON fields documented in docs/schedkitctl.md).
nlohmann::ordered_json toJson(const AssembleResult& r);
std::string toText(const AssembleResult& r);

}  // namespace schedkit::cli
