#include "schedkit/oci/artifact.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <nlohmann/json.hpp>

#include "schedkit/oci/unpack.h"

namespace schedkit::oci {

std::string_view toString(ArtifactType t) {
  return t == ArtifactType::kBpfObject ? "bpf-object" : "binary";
}

namespace {

constexpr std::uint16_t kEmBpf = 247;  // EM_BPF

Result<std::string> pick(const std::map<std::string, std::string>& cfg,
                         const std::map<std::string, std::string>& ann, std::string_view key,
                         bool* found) {
  auto c = cfg.find(std::string(key));
  auto a = ann.find(std::string(key));
  *found = c != cfg.end() || a != ann.end();
  if (c != cfg.end() && a != ann.end() && c->second != a->second) {
    return invalidArgument(std::string(key) + ": the config label says \"" + c->second +
                           "\" but the manifest annotation says \"" + a->second + "\"");
  }
  if (c != cfg.end()) return c->second;
  if (a != ann.end()) return a->second;
  return std::string();
}

bool validKernel(const std::string& v) {
  // 6.12 or 6.12.3
  int parts = 0;
  std::size_t i = 0;
  while (i < v.size()) {
    std::size_t start = i;
    while (i < v.size() && std::isdigit(static_cast<unsigned char>(v[i]))) ++i;
    if (i == start || i - start > 4) return false;
    ++parts;
    if (i == v.size()) break;
    if (v[i] != '.') return false;
    ++i;
    if (i == v.size()) return false;
  }
  return parts >= 2 && parts <= 3;
}

bool validOpsName(const std::string& n) {
  if (n.size() > 128) return false;
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-'))
      return false;
  }
  return true;
}

}  // namespace

Result<SchedulerArtifact> parseSchedulerArtifact(const std::map<std::string, std::string>& cfg,
                                                 const std::map<std::string, std::string>& ann) {
  SchedulerArtifact a;
  bool found = false;
  SK_ASSIGN_OR_RETURN(std::string type, pick(cfg, ann, labels::kType, &found));
  if (!found) {
    return invalidArgument("not a schedkit scheduler image: label " + std::string(labels::kType) +
                           " is missing (want binary or bpf-object)");
  }
  if (type == "binary") {
    a.type = ArtifactType::kBinary;
  } else if (type == "bpf-object") {
    a.type = ArtifactType::kBpfObject;
  } else {
    return invalidArgument(std::string(labels::kType) + ": unknown type \"" + type +
                           "\" (want binary or bpf-object)");
  }
  SK_ASSIGN_OR_RETURN(a.path, pick(cfg, ann, labels::kPath, &found));
  if (!found || a.path.empty()) {
    return invalidArgument("label " + std::string(labels::kPath) +
                           " is missing: it names the scheduler file in the image");
  }
  if (a.path.front() != '/') {
    return invalidArgument(std::string(labels::kPath) + ": \"" + a.path +
                           "\" is not an absolute path");
  }
  if (a.path.find("/../") != std::string::npos ||
      (a.path.size() >= 3 && a.path.compare(a.path.size() - 3, 3, "/..") == 0)) {
    return invalidArgument(std::string(labels::kPath) + ": \"" + a.path + "\" contains \"..\"");
  }
  SK_ASSIGN_OR_RETURN(a.opsName, pick(cfg, ann, labels::kName, &found));
  if (!validOpsName(a.opsName)) {
    return invalidArgument(std::string(labels::kName) + ": \"" + a.opsName +
                           "\" is not an ops-name prefix (letters, digits, _ . -)");
  }
  SK_ASSIGN_OR_RETURN(a.version, pick(cfg, ann, labels::kVersion, &found));
  SK_ASSIGN_OR_RETURN(a.kernelMin, pick(cfg, ann, labels::kKernelMin, &found));
  if (!a.kernelMin.empty() && !validKernel(a.kernelMin)) {
    return invalidArgument(std::string(labels::kKernelMin) + ": \"" + a.kernelMin +
                           "\" is not a kernel version like 6.12");
  }
  SK_ASSIGN_OR_RETURN(std::string args, pick(cfg, ann, labels::kArgs, &found));
  if (found && !args.empty()) {
    auto j = nlohmann::json::parse(args, nullptr, false);
    if (j.is_discarded() || !j.is_array()) {
      return invalidArgument(std::string(labels::kArgs) + ": \"" + args +
                             "\" is not a JSON array of strings");
    }
    for (const auto& v : j) {
      if (!v.is_string()) {
        return invalidArgument(std::string(labels::kArgs) + ": \"" + args +
                               "\" has a non-string element");
      }
      a.args.push_back(v.get<std::string>());
    }
  }
  return a;
}

Status checkArtifactInRoot(SchedulerArtifact& a, const std::string& rootfs) {
  auto host = resolveInRoot(rootfs, a.path);
  if (!host.isOk()) {
    if (host.status().code() == StatusCode::kNotFound) {
      return failedPrecondition(std::string(labels::kPath) + ": \"" + a.path +
                                "\" is not in the image filesystem");
    }
    return host.status().withContext(std::string(labels::kPath));
  }
  struct stat st {};
  if (::stat(host->c_str(), &st) != 0) return fromErrno(errno, "stat " + *host);
  if (!S_ISREG(st.st_mode)) {
    return failedPrecondition(std::string(labels::kPath) + ": \"" + a.path +
                              "\" is not a regular file");
  }
  unsigned char hdr[20] = {};
  int fd = ::open(host->c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fromErrno(errno, "open " + *host);
  ssize_t n = ::read(fd, hdr, sizeof hdr);
  ::close(fd);
  bool elf = n >= 20 && hdr[0] == 0x7f && hdr[1] == 'E' && hdr[2] == 'L' && hdr[3] == 'F';
  if (a.type == ArtifactType::kBpfObject) {
    // e_machine at offset 18, in the file's byte order (EI_DATA at 5: 1 = little endian).
    std::uint16_t machine =
        elf ? (hdr[5] == 1 ? static_cast<std::uint16_t>(hdr[18] | (hdr[19] << 8))
                           : static_cast<std::uint16_t>((hdr[18] << 8) | hdr[19]))
            : 0;
    if (!elf || machine != kEmBpf) {
      return failedPrecondition(std::string(labels::kPath) + ": \"" + a.path +
                                "\" is not a BPF ELF object (type bpf-object)");
    }
  } else {
    if ((st.st_mode & 0111) == 0) {
      return failedPrecondition(std::string(labels::kPath) + ": \"" + a.path +
                                "\" is not executable (type binary)");
    }
  }
  a.hostPath = *host;
  return Status::ok();
}

}  // namespace schedkit::oci
