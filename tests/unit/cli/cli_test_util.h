#pragma once

// Shared helpers for schedkitctl unit tests: a scratch directory, input files, and a fake
// sched_ext object reader (no real BPF object is needed: the ELF header is enough for the checks
// the CLI does itself, and the ops name comes from the reader).

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "image/build.h"
#include "schedkit/oci/store.h"

namespace schedkit::cli::testing {

class ScratchDir {
 public:
  ScratchDir() {
    const char* t = std::getenv("TMPDIR");
    path_ = std::string(t && *t ? t : "/tmp") + "/schedkitctl-test-XXXXXX";
    if (::mkdtemp(path_.data()) == nullptr) path_.clear();
  }
  ~ScratchDir() {
    if (!path_.empty()) (void)oci::removeTree(path_);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void writeFile(const std::string& path, const std::string& data, mode_t mode = 0644) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
  ::chmod(path.c_str(), mode);
}

inline std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The first 64 bytes of an ELF64 little-endian relocatable object for `machine` (247 = BPF),
// followed by `body`.
inline std::string elfObject(unsigned machine = 247, const std::string& body = "body",
                             unsigned type = 1) {
  std::string h(64, '\0');
  h[0] = 0x7f;
  h[1] = 'E';
  h[2] = 'L';
  h[3] = 'F';
  h[4] = 2;  // ELFCLASS64
  h[5] = 1;  // little endian
  h[6] = 1;  // EV_CURRENT
  h[16] = static_cast<char>(type & 0xff);
  h[18] = static_cast<char>(machine & 0xff);
  h[19] = static_cast<char>((machine >> 8) & 0xff);
  return h + body;
}

// Reads "ops name" from the object as the agent would: here, a fixed answer per path.
inline OpsNameReader fakeOpsReader(std::string name = "fifo_test") {
  return [name](const std::string& path) -> Result<std::string> {
    if (path.find("noops") != std::string::npos) {
      return invalidArgument("the object defines no struct_ops map (no sched_ext_ops)");
    }
    return name;
  };
}

}  // namespace schedkit::cli::testing
