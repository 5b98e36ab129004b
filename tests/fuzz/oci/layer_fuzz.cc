// Layer extraction on arbitrary bytes (tar, gzip, zstd). Each input unpacks into a fresh root
// inside a fresh parent; afterwards the parent must hold nothing but the root — anything else
// means an entry escaped.
#include <dirent.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "schedkit/oci/store.h"
#include "schedkit/oci/unpack.h"

using namespace schedkit::oci;  // NOLINT

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  char tmpl[] = "/tmp/schedkit-layer-fuzz-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return 0;
  std::string parent = tmpl, root = parent + "/root";
  if (::mkdir(root.c_str(), 0755) != 0) return 0;
  UnpackLimits limits;
  limits.maxBytes = 16 << 20;
  limits.maxEntries = 2000;
  (void)unpackLayerBytes(std::string_view(reinterpret_cast<const char*>(data), size), root, limits);
  int others = 0;
  if (DIR* d = ::opendir(parent.c_str())) {
    while (dirent* e = ::readdir(d)) {
      std::string n = e->d_name;
      if (n != "." && n != ".." && n != "root") ++others;
    }
    ::closedir(d);
  }
  (void)removeTree(parent);
  if (others != 0) __builtin_trap();
  return 0;
}
