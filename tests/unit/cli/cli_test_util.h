#pragma once

// Shared helpers for schedkitctl unit tests: a scratch directory, input files, and a fake
// sched_ext object reader (no real BPF object is needed: the ELF header is enough for the checks
// the CLI does itself, and the ops name comes from the reader).

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

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

// What a hand-made x86-64 ELF file declares (a program, or a shared library with a SONAME).
struct FakeElf {
  unsigned type = 3;        // ET_DYN (2: ET_EXEC)
  unsigned elfClass = 2;    // ELFCLASS64; 1 writes a bare ELFCLASS32 header (no segments)
  unsigned machine = 62;    // EM_X86_64
  std::string interpreter;  // PT_INTERP
  std::vector<std::string> needed;
  std::string soname, runpath, rpath;
};

// A minimal ELF file as the loader reads it: ELF header, program headers (one PT_LOAD covering
// the file at address 0, PT_INTERP, PT_DYNAMIC), the dynamic string table and section; no
// section headers. With nothing dynamic it is a statically linked program.
inline std::string fakeElf(const FakeElf& f) {
  auto put = [](std::string& s, std::size_t off, std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i)
      s[off + static_cast<std::size_t>(i)] = static_cast<char>(v >> (8 * i));
  };
  if (f.elfClass == 1) {
    std::string h(52, '\0');
    h.replace(0, 4, std::string("\x7f") + "ELF");
    h[4] = 1;
    h[5] = 1;
    h[6] = 1;
    put(h, 16, f.type, 2);
    put(h, 18, f.machine, 2);
    put(h, 20, 1, 4);
    put(h, 40, 52, 2);
    put(h, 42, 32, 2);
    return h;
  }
  bool dynamic = !f.needed.empty() || !f.soname.empty() || !f.runpath.empty() || !f.rpath.empty();
  std::size_t phnum = 1 + (f.interpreter.empty() ? 0 : 1) + (dynamic ? 1 : 0);
  std::size_t off = 64 + 56 * phnum;
  std::size_t interpOff = off;
  if (!f.interpreter.empty()) off += f.interpreter.size() + 1;
  // The string table, and the dynamic entries that point into it.
  std::string strtab(1, '\0');
  std::vector<std::pair<std::uint64_t, std::uint64_t>> dyn;
  auto str = [&](const std::string& v) {
    std::uint64_t at = strtab.size();
    strtab += v;
    strtab += '\0';
    return at;
  };
  for (const auto& n : f.needed) dyn.emplace_back(1, str(n));    // DT_NEEDED
  if (!f.soname.empty()) dyn.emplace_back(14, str(f.soname));    // DT_SONAME
  if (!f.rpath.empty()) dyn.emplace_back(15, str(f.rpath));      // DT_RPATH
  if (!f.runpath.empty()) dyn.emplace_back(29, str(f.runpath));  // DT_RUNPATH
  std::size_t strOff = off;
  off += strtab.size();
  off = (off + 7) & ~std::size_t{7};
  std::size_t dynOff = off;
  dyn.emplace_back(5, strOff);          // DT_STRTAB (address = offset: loaded at 0)
  dyn.emplace_back(10, strtab.size());  // DT_STRSZ
  dyn.emplace_back(0, 0);               // DT_NULL
  if (dynamic) off += 16 * dyn.size();
  std::string e(off, '\0');
  e.replace(0, 4, std::string("\x7f") + "ELF");
  e[4] = 2;  // ELFCLASS64
  e[5] = 1;  // little endian
  e[6] = 1;  // EV_CURRENT
  put(e, 16, f.type, 2);
  put(e, 18, f.machine, 2);
  put(e, 20, 1, 4);
  put(e, 32, 64, 8);  // e_phoff
  put(e, 52, 64, 2);  // e_ehsize
  put(e, 54, 56, 2);  // e_phentsize
  put(e, 56, phnum, 2);
  put(e, 58, 64, 2);  // e_shentsize
  std::size_t ph = 64;
  auto phdr = [&](std::uint32_t type, std::uint64_t o, std::uint64_t size) {
    put(e, ph, type, 4);
    put(e, ph + 4, 4, 4);  // PF_R
    put(e, ph + 8, o, 8);
    put(e, ph + 16, o, 8);
    put(e, ph + 24, o, 8);
    put(e, ph + 32, size, 8);
    put(e, ph + 40, size, 8);
    put(e, ph + 48, 8, 8);
    ph += 56;
  };
  phdr(1, 0, e.size());  // PT_LOAD
  if (!f.interpreter.empty()) {
    phdr(3, interpOff, f.interpreter.size() + 1);  // PT_INTERP
    e.replace(interpOff, f.interpreter.size(), f.interpreter);
  }
  if (dynamic) {
    phdr(2, dynOff, 16 * dyn.size());  // PT_DYNAMIC
    e.replace(strOff, strtab.size(), strtab);
    for (std::size_t i = 0; i < dyn.size(); ++i) {
      put(e, dynOff + 16 * i, dyn[i].first, 8);
      put(e, dynOff + 16 * i + 8, dyn[i].second, 8);
    }
  }
  return e;
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
