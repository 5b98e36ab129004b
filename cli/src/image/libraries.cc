#include "image/libraries.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <map>
#include <memory>

#include "schedkit/oci/unpack.h"
#include "schedkit/os/filesystem.h"

namespace schedkit::cli {

namespace {

constexpr std::size_t kMaxObjectBytes = std::size_t{1} << 30;

std::vector<std::string> splitComponents(std::string_view p) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= p.size()) {
    std::size_t next = p.find('/', pos);
    if (next == std::string_view::npos) next = p.size();
    if (next > pos) out.emplace_back(p.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

std::string dirName(const std::string& p) {
  auto s = p.find_last_of('/');
  if (s == std::string::npos) return ".";
  return s == 0 ? "/" : p.substr(0, s);
}

std::vector<std::string> splitColons(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t next = s.find(':', pos);
    if (next == std::string::npos) next = s.size();
    out.push_back(s.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

struct ElfCloser {
  void operator()(Elf* e) const { elf_end(e); }
};

// The multiarch directory name Debian and Ubuntu use for a machine ("" when unknown).
std::string multiarchTriplet(const ElfDynamicInfo& i) {
  bool lsb = i.byteOrder == ELFDATA2LSB;
  bool is64 = i.elfClass == ELFCLASS64;
  switch (i.machine) {
    case EM_X86_64:
      return is64 ? "x86_64-linux-gnu" : "x86_64-linux-gnux32";
    case EM_386:
      return "i386-linux-gnu";
    case EM_AARCH64:
      return "aarch64-linux-gnu";
    case EM_ARM:
      return "arm-linux-gnueabihf";
    case EM_RISCV:
      return "riscv64-linux-gnu";
    case EM_S390:
      return "s390x-linux-gnu";
    case EM_PPC64:
      return lsb ? "powerpc64le-linux-gnu" : "powerpc64-linux-gnu";
    default:
      return "";
  }
}

// A directory to search, as the host sees it and as the loader in the image will.
struct SearchDir {
  std::string host, image;
};

// One object in the loader's list: the executable, the loader or a library.
struct Node {
  ElfDynamicInfo info;
  int loader = -1;                      // the object that first needed it (glibc's l_loader)
  std::string hostOrigin, imageOrigin;  // $ORIGIN; empty hostOrigin: not expandable
};

class Finder {
 public:
  explicit Finder(const LibrarySearch& s) : root_(s.root.empty() ? "/" : s.root) {
    char real[PATH_MAX];
    if (root_ != "/" && ::realpath(root_.c_str(), real) != nullptr) root_ = real;
    while (root_.size() > 1 && root_.back() == '/') root_.pop_back();
  }

  Result<LibraryClosure> run(const std::string& hostFile, const std::string& imagePath) {
    auto read = readElfDynamicInfo(hostFile, hostFile);
    if (!read.isOk() && read.status().code() == StatusCode::kInvalidArgument &&
        read.status().message() == hostFile + " is not an ELF file") {
      return invalidArgument(hostFile +
                             " is not an ELF file: --with-libs finds the libraries of ELF "
                             "programs (a script's interpreter is not added)");
    }
    SK_ASSIGN_OR_RETURN(ElfDynamicInfo exe, std::move(read));
    if (exe.type != ET_EXEC && exe.type != ET_DYN) {
      return invalidArgument(hostFile + " is an ELF file but not an executable (type " +
                             std::to_string(exe.type) + ")");
    }
    LibraryClosure out;
    if (exe.interpreter.empty()) {
      if (exe.needed.empty()) return out;  // static (or static-pie): nothing to add
      return invalidArgument(hostFile +
                             " needs shared libraries but names no loader (no PT_INTERP): a "
                             "shared library, not a program?");
    }
    out.dynamic = true;
    exe_ = exe;
    Node main;
    main.info = exe;
    main.imageOrigin = dirName(imagePath);
    char real[PATH_MAX];
    if (::realpath(hostFile.c_str(), real) != nullptr) {
      std::string r = real;
      if (root_ == "/") {
        main.hostOrigin = dirName(r);
      } else if (r.rfind(root_ + "/", 0) == 0) {
        main.hostOrigin = dirName(r.substr(root_.size()));
      }
    }
    nodes_.push_back(main);
    imagePath_ = imagePath;

    // The loader: mapped by the kernel, known by its PT_INTERP path and its SONAME.
    auto interp = resolve(exe.interpreter);
    if (!interp.isOk()) {
      std::string m = "the loader " + exe.interpreter + " that " + hostFile + " names (PT_INTERP)";
      if (interp.status().code() == StatusCode::kNotFound) return notFound(m + " is not here");
      return interp.status().withContext(m);
    }
    std::string why;
    auto li = readCompatible(*interp, why);
    if (!li.isOk()) return li.status();
    if (!why.empty()) {
      return invalidArgument("the loader " + exe.interpreter + " (" + *interp + ") " + why);
    }
    Node ld;
    ld.info = *li;
    ld.hostOrigin = dirName(exe.interpreter);
    ld.imageOrigin = ld.hostOrigin;
    SK_RETURN_IF_ERROR(add(exe.interpreter, exe.interpreter, *interp, ld, true));

    // Breadth first from the executable, as the loader maps its dependencies.
    for (std::size_t n = 0; n < nodes_.size(); ++n) {
      const std::vector<std::string> needed = nodes_[n].info.needed;  // add() grows nodes_
      for (const auto& name : needed) {
        if (byName_.count(name)) continue;
        SK_RETURN_IF_ERROR(find(name, static_cast<int>(n)));
      }
    }
    out.libraries = std::move(libs_);
    return out;
  }

 private:
  // The host path of an image-style absolute path.
  std::string onHost(const std::string& p) const { return root_ == "/" ? p : root_ + p; }

  // Resolves `path` (absolute, as on the build machine) through every symlink; the resolved
  // path as an absolute path from the root. kNotFound when missing, kFailedPrecondition when
  // not a regular file.
  Result<std::string> resolve(const std::string& path) const {
    SK_ASSIGN_OR_RETURN(std::string host, oci::resolveInRoot(root_, path));
    std::string prefix = root_ == "/" ? "/" : root_ + "/";
    if (host.rfind(prefix, 0) != 0) return internalError("resolved " + path + " outside the root");
    std::string rel = host.substr(prefix.size());
    while (!rel.empty() && rel.front() == '/') rel.erase(0, 1);
    struct stat st {};
    if (::stat(host.c_str(), &st) != 0) return fromErrno(errno, "stat " + host);
    if (!S_ISREG(st.st_mode)) return failedPrecondition(path + " is not a regular file");
    return "/" + rel;
  }

  // The ELF info of a candidate; `why` says why the loader would skip it (another class or
  // machine, not a shared object), empty when it fits.
  Result<ElfDynamicInfo> readCompatible(const std::string& resolved, std::string& why) const {
    why.clear();
    auto i = readElfDynamicInfo(onHost(resolved), resolved);
    if (!i.isOk()) {
      if (i.status().code() != StatusCode::kInvalidArgument) return i.status();
      why = "is not a usable ELF file (" + i.status().message() + ")";
      return ElfDynamicInfo{};
    }
    if (i->elfClass != exe_.elfClass || i->byteOrder != exe_.byteOrder ||
        i->machine != exe_.machine) {
      why = "is for another ELF class or machine (" +
            std::string(i->elfClass == ELFCLASS64 ? "64" : "32") + "-bit, machine " +
            std::to_string(i->machine) + ")";
    } else if (i->type != ET_DYN) {
      why = "is not a shared object";
    }
    return i;
  }

  // `dir` with $ORIGIN expanded for `n`; false when the loader would not use it from the image
  // (relative, or $LIB/$PLATFORM, which depend on the loader's build and the CPU).
  bool expand(const std::string& dir, const Node& n, SearchDir& out) const {
    std::string host, image;
    for (std::size_t i = 0; i < dir.size();) {
      if (dir[i] != '$') {
        host += dir[i];
        image += dir[i];
        ++i;
        continue;
      }
      std::size_t len = 0;
      if (dir.compare(i, 7, "$ORIGIN") == 0) {
        len = 7;
      } else if (dir.compare(i, 9, "${ORIGIN}") == 0) {
        len = 9;
      } else {
        return false;
      }
      if (n.hostOrigin.empty()) return false;
      host += n.hostOrigin;
      image += n.imageOrigin;
      i += len;
    }
    if (host.empty() || host.front() != '/' || image.front() != '/') return false;
    out = {host, lexicallyNormal(image)};
    return true;
  }

  std::vector<SearchDir> searchPath(int needer) const {
    std::vector<SearchDir> dirs;
    SearchDir d;
    const Node& x = nodes_[static_cast<std::size_t>(needer)];
    // DT_RPATH is ignored in an object that has DT_RUNPATH.
    auto rpath = [](const Node& n) {
      return n.info.runpath.empty() ? n.info.rpath : std::vector<std::string>{};
    };
    if (x.info.runpath.empty()) {
      bool sawMain = false;
      for (int l = needer; l >= 0; l = nodes_[static_cast<std::size_t>(l)].loader) {
        const Node& n = nodes_[static_cast<std::size_t>(l)];
        for (const auto& r : rpath(n)) {
          if (expand(r, n, d)) dirs.push_back(d);
        }
        sawMain |= l == 0;
      }
      if (!sawMain) {
        for (const auto& r : rpath(nodes_[0])) {
          if (expand(r, nodes_[0], d)) dirs.push_back(d);
        }
      }
    }
    for (const auto& r : x.info.runpath) {
      if (expand(r, x, d)) dirs.push_back(d);
    }
    std::string t = multiarchTriplet(exe_);
    std::vector<std::string> defaults;
    if (!t.empty()) defaults = {"/lib/" + t, "/usr/lib/" + t};
    for (const char* s : {"/lib64", "/usr/lib64", "/lib", "/usr/lib"}) defaults.emplace_back(s);
    for (const auto& s : defaults) dirs.push_back({s, s});
    return dirs;
  }

  Status find(const std::string& name, int needer) {
    const std::string neederName =
        needer == 0 ? imagePath_ : libs_[static_cast<std::size_t>(libOf_.at(needer))].path;
    std::vector<SearchDir> dirs;
    if (name.find('/') != std::string::npos) {
      if (name.front() != '/') {
        return invalidArgument(neederName + " needs " + name +
                               " by a relative path, which depends on the working directory");
      }
      dirs.push_back({dirName(name), dirName(name)});
    } else {
      dirs = searchPath(needer);
    }
    std::string tried;
    for (const auto& d : dirs) {
      std::string base = name.substr(name.find_last_of('/') + 1);
      std::string hostLookup = d.host + "/" + base;
      std::string imageLookup = lexicallyNormal(d.image + "/" + base);
      auto r = resolve(hostLookup);
      if (!r.isOk()) {
        if (r.status().code() == StatusCode::kNotFound) continue;
        tried += "; " + hostLookup + ": " + r.status().message();
        continue;
      }
      std::string why;
      SK_ASSIGN_OR_RETURN(ElfDynamicInfo info, readCompatible(*r, why));
      if (!why.empty()) {
        tried += "; skipped " + hostLookup + " (" + *r + ") : it " + why;
        continue;
      }
      Node n;
      n.info = std::move(info);
      n.loader = needer;
      n.hostOrigin = dirName(hostLookup);
      n.imageOrigin = dirName(imageLookup);
      return add(name, imageLookup, *r, n, false);
    }
    std::string where;
    for (const auto& d : dirs) where += (where.empty() ? "" : ", ") + d.host;
    return notFound("shared library " + name + " (needed by " + neederName + ") was not found in " +
                    where + tried);
  }

  // Records that `name`, opened at `imageLookup`, is the file at `resolved`.
  Status add(const std::string& name, const std::string& imageLookup, const std::string& resolved,
             Node n, bool interpreter) {
    if (auto it = byPath_.find(resolved); it != byPath_.end()) {
      // Another name for an object already mapped (the loader compares inodes): one more link.
      SharedLibrary& l = libs_[static_cast<std::size_t>(it->second)];
      if (imageLookup != l.path &&
          std::find(l.links.begin(), l.links.end(), imageLookup) == l.links.end()) {
        l.links.push_back(imageLookup);
      }
      byName_[name] = it->second;
      return Status::ok();
    }
    SharedLibrary l;
    l.name = name;
    l.path = resolved;
    if (imageLookup != resolved) l.links.push_back(imageLookup);
    l.interpreter = interpreter;
    HostFilesystem fs("");
    auto c = fs.readFile(onHost(resolved), kMaxObjectBytes);
    if (!c.isOk()) return c.status().withContext(resolved);
    l.content = std::move(*c);
    struct stat st {};
    if (::stat(onHost(resolved).c_str(), &st) != 0) return fromErrno(errno, "stat " + resolved);
    l.mode = (st.st_mode & 0111) ? 0755 : 0644;
    l.digest = oci::Digest::of(l.content);
    int idx = static_cast<int>(libs_.size());
    libs_.push_back(std::move(l));
    byPath_[resolved] = idx;
    byName_[name] = idx;
    if (!n.info.soname.empty()) byName_.emplace(n.info.soname, idx);
    libOf_[static_cast<int>(nodes_.size())] = idx;
    nodes_.push_back(std::move(n));
    return Status::ok();
  }

  std::string root_;
  std::string imagePath_;
  ElfDynamicInfo exe_;
  std::vector<Node> nodes_;  // [0] is the executable
  std::vector<SharedLibrary> libs_;
  std::map<std::string, int> byName_;  // every name an object is known by → libs_ index
  std::map<std::string, int> byPath_;  // resolved path → libs_ index
  std::map<int, int> libOf_;           // nodes_ index → libs_ index
};

}  // namespace

Result<ElfDynamicInfo> readElfDynamicInfo(const std::string& path, const std::string& what) {
  if (elf_version(EV_CURRENT) == EV_NONE) return internalError("libelf: elf_version failed");
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fromErrno(errno, "open " + path);
  struct FdCloser {
    int fd;
    ~FdCloser() { ::close(fd); }
  } closer{fd};
  std::unique_ptr<Elf, ElfCloser> e(elf_begin(fd, ELF_C_READ, nullptr));
  if (!e || elf_kind(e.get()) != ELF_K_ELF) return invalidArgument(what + " is not an ELF file");
  auto bad = [&](const std::string& why) {
    return invalidArgument(what + " is a malformed ELF file: " + why);
  };
  GElf_Ehdr eh;
  if (gelf_getehdr(e.get(), &eh) == nullptr) return bad(elf_errmsg(-1));
  ElfDynamicInfo info;
  info.elfClass = static_cast<unsigned>(gelf_getclass(e.get()));
  info.byteOrder = static_cast<unsigned char>(eh.e_ident[EI_DATA]);
  info.machine = eh.e_machine;
  info.type = eh.e_type;
  std::size_t phnum = 0;
  if (elf_getphdrnum(e.get(), &phnum) != 0) return bad(elf_errmsg(-1));
  std::vector<GElf_Phdr> loads;
  GElf_Phdr dyn{};
  for (std::size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(e.get(), static_cast<int>(i), &ph) == nullptr) return bad(elf_errmsg(-1));
    if (ph.p_type == PT_LOAD) {
      loads.push_back(ph);
    } else if (ph.p_type == PT_DYNAMIC) {
      dyn = ph;
      info.hasDynamic = true;
    } else if (ph.p_type == PT_INTERP) {
      Elf_Data* d =
          elf_getdata_rawchunk(e.get(), static_cast<int64_t>(ph.p_offset), ph.p_filesz, ELF_T_BYTE);
      if (d == nullptr || d->d_buf == nullptr) return bad("PT_INTERP outside the file");
      const char* s = static_cast<const char*>(d->d_buf);
      info.interpreter.assign(s, strnlen(s, d->d_size));
      if (info.interpreter.empty() || info.interpreter.front() != '/') {
        return bad("PT_INTERP is not an absolute path");
      }
    }
  }
  if (!info.hasDynamic || dyn.p_filesz == 0) return info;

  Elf_Data* dd =
      elf_getdata_rawchunk(e.get(), static_cast<int64_t>(dyn.p_offset), dyn.p_filesz, ELF_T_DYN);
  if (dd == nullptr || dd->d_buf == nullptr) return bad("PT_DYNAMIC outside the file");
  // elf_getdata_rawchunk converts to this host's Elf32_Dyn/Elf64_Dyn.
  std::vector<std::pair<std::int64_t, std::uint64_t>> tags;
  bool is64 = info.elfClass == ELFCLASS64;
  std::size_t entSize = is64 ? sizeof(Elf64_Dyn) : sizeof(Elf32_Dyn);
  for (std::size_t off = 0; off + entSize <= dd->d_size; off += entSize) {
    const char* p = static_cast<const char*>(dd->d_buf) + off;
    std::int64_t tag;
    std::uint64_t val;
    if (is64) {
      Elf64_Dyn x;
      std::memcpy(&x, p, sizeof x);
      tag = x.d_tag;
      val = x.d_un.d_val;
    } else {
      Elf32_Dyn x;
      std::memcpy(&x, p, sizeof x);
      tag = x.d_tag;
      val = x.d_un.d_val;
    }
    if (tag == DT_NULL) break;
    tags.emplace_back(tag, val);
  }
  std::uint64_t strtab = 0, strsz = 0;
  bool haveStrtab = false;
  for (const auto& [tag, val] : tags) {
    if (tag == DT_STRTAB) {
      strtab = val;
      haveStrtab = true;
    } else if (tag == DT_STRSZ) {
      strsz = val;
    }
  }
  bool wantStrings = false;
  for (const auto& t : tags) {
    wantStrings |= t.first == DT_NEEDED || t.first == DT_SONAME || t.first == DT_RPATH ||
                   t.first == DT_RUNPATH;
  }
  if (!wantStrings) return info;
  if (!haveStrtab || strsz == 0) return bad("a dynamic section without a string table");
  // DT_STRTAB is an address: map it to the file through the PT_LOAD segment that holds it.
  std::uint64_t strOff = 0;
  bool mapped = false;
  for (const auto& l : loads) {
    if (strtab >= l.p_vaddr && strtab - l.p_vaddr < l.p_filesz) {
      if (strsz > l.p_filesz - (strtab - l.p_vaddr)) return bad("DT_STRSZ beyond its segment");
      strOff = l.p_offset + (strtab - l.p_vaddr);
      mapped = true;
      break;
    }
  }
  if (!mapped) return bad("DT_STRTAB is in no PT_LOAD segment");
  Elf_Data* sd = elf_getdata_rawchunk(e.get(), static_cast<int64_t>(strOff), strsz, ELF_T_BYTE);
  if (sd == nullptr || sd->d_buf == nullptr)
    return bad("the dynamic string table is outside the file");
  std::string_view strings(static_cast<const char*>(sd->d_buf), sd->d_size);
  auto str = [&](std::uint64_t off) -> Result<std::string> {
    if (off >= strings.size()) return bad("a dynamic string beyond DT_STRSZ");
    std::string_view s = strings.substr(off);
    auto z = s.find('\0');
    if (z == std::string_view::npos) return bad("an unterminated dynamic string");
    return std::string(s.substr(0, z));
  };
  for (const auto& [tag, val] : tags) {
    if (tag == DT_NEEDED) {
      SK_ASSIGN_OR_RETURN(std::string s, str(val));
      if (s.empty()) return bad("an empty DT_NEEDED");
      info.needed.push_back(s);
    } else if (tag == DT_SONAME) {
      SK_ASSIGN_OR_RETURN(info.soname, str(val));
    } else if (tag == DT_RPATH || tag == DT_RUNPATH) {
      SK_ASSIGN_OR_RETURN(std::string s, str(val));
      auto& dst = tag == DT_RPATH ? info.rpath : info.runpath;
      for (auto& d : splitColons(s)) dst.push_back(d);
    }
  }
  return info;
}

Result<LibraryClosure> findSharedLibraries(const std::string& hostFile,
                                           const std::string& imagePath,
                                           const LibrarySearch& search) {
  return Finder(search).run(hostFile, imagePath);
}

std::string lexicallyNormal(std::string_view p) {
  std::vector<std::string> out;
  for (auto& c : splitComponents(p)) {
    if (c == ".") continue;
    if (c == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.push_back(std::move(c));
  }
  std::string s;
  for (const auto& c : out) s += "/" + c;
  return s.empty() ? "/" : s;
}

std::string relativeLinkTarget(std::string_view link, std::string_view target) {
  auto from = splitComponents(link);
  if (!from.empty()) from.pop_back();  // the link's directory
  auto to = splitComponents(target);
  std::size_t common = 0;
  while (common < from.size() && common + 1 < to.size() && from[common] == to[common]) ++common;
  std::string out;
  for (std::size_t i = common; i < from.size(); ++i) out += "../";
  for (std::size_t i = common; i < to.size(); ++i) out += (i == common ? "" : "/") + to[i];
  return out;
}

}  // namespace schedkit::cli
