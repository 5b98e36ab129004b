#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "schedkit/common/status.h"
#include "schedkit/oci/digest.h"

namespace schedkit::cli {

// What the dynamic loader reads from an ELF file's program headers and dynamic section.
struct ElfDynamicInfo {
  unsigned elfClass = 0;                    // ELFCLASS32 | ELFCLASS64
  unsigned byteOrder = 0;                   // ELFDATA2LSB | ELFDATA2MSB
  unsigned machine = 0;                     // e_machine
  unsigned type = 0;                        // e_type
  std::string interpreter;                  // PT_INTERP, empty when there is none
  bool hasDynamic = false;                  // PT_DYNAMIC present
  std::string soname;                       // DT_SONAME
  std::vector<std::string> needed;          // DT_NEEDED, in order
  std::vector<std::string> rpath, runpath;  // DT_RPATH, DT_RUNPATH, split at ':'
};

// Reads the ELF file at `path` as the loader does, from the program headers (section headers may
// be stripped). Not an ELF file, or a malformed one, is kInvalidArgument naming `what`.
Result<ElfDynamicInfo> readElfDynamicInfo(const std::string& path, const std::string& what);

// One shared object the executable needs, as it goes into the image.
struct SharedLibrary {
  std::string name;                // as needed: the DT_NEEDED name, or the PT_INTERP path
  std::string path;                // the regular file in the image: where it resolves on the host
  std::vector<std::string> links;  // other paths the loader opens it by: symlinks to `path`
  std::string content;
  unsigned mode = 0644;  // 0755 when the host file has an execute bit
  oci::Digest digest;
  bool interpreter = false;
};

struct LibraryClosure {
  bool dynamic = false;                  // false: statically linked (no PT_INTERP, nothing needed)
  std::vector<SharedLibrary> libraries;  // the loader first, then in the order the loader maps them
};

struct LibrarySearch {
  std::string root = "/";  // where the build machine's "/" is (tests use a canned tree)
};

// The loader (PT_INTERP) and every shared library the executable at `hostFile` (to be stored at
// `imagePath`) needs, recursively, found as the loader inside the image will look for them: by
// name, first in the needing object's DT_RPATH chain (when it has no DT_RUNPATH), its DT_RUNPATH
// ($ORIGIN expanded), then /lib/<triplet>, /usr/lib/<triplet>, /lib64, /usr/lib64, /lib, /usr/lib
// (no ld.so.cache, no LD_LIBRARY_PATH: the image has neither). Candidates of another ELF class or
// machine are skipped, as the loader skips them. Symlinks are followed: each object is a regular
// file at its resolved path, and the path it is looked up by (PT_INTERP, dir/DT_NEEDED) a link.
// A library found nowhere is kNotFound naming it and what needs it.
Result<LibraryClosure> findSharedLibraries(const std::string& hostFile,
                                           const std::string& imagePath,
                                           const LibrarySearch& search = {});

// The relative symlink target that makes `link` point at `target` (both absolute, normalised),
// with no directory symlinks on the way: "/lib64/ld.so", "/usr/lib/ld.so" → "../usr/lib/ld.so".
std::string relativeLinkTarget(std::string_view link, std::string_view target);

// "/a/./b/../c" → "/a/c"; ".." at the root stays at the root, as the kernel resolves it.
std::string lexicallyNormal(std::string_view absolutePath);

}  // namespace schedkit::cli
