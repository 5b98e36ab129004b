#include "image/build.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <nlohmann/json.hpp>

#include "image/layer.h"
#include "image/libraries.h"
#include "schedkit/oci/layout.h"
#include "schedkit/oci/media_types.h"
#include "schedkit/oci/reference.h"
#include "schedkit/oci/store.h"
#include "schedkit/oci/unpack.h"
#include "schedkit/os/filesystem.h"

namespace schedkit::cli {

namespace {

constexpr unsigned kEmBpf = 247;
constexpr std::int64_t kMaxInputBytes = std::int64_t{1} << 30;

Result<std::string> readWholeFile(const std::string& path) {
  HostFilesystem fs("");
  auto r = fs.readFile(path, static_cast<std::size_t>(kMaxInputBytes));
  if (!r.isOk() && r.status().code() == StatusCode::kResourceExhausted) {
    return invalidArgument(path + " is over 1 GiB; a scheduler should be far smaller");
  }
  return r;
}

bool validOpsName(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

// "/usr//bin/x" → "/usr/bin/x"; refuses relative paths, "." and "..".
Result<std::string> normaliseImagePath(const std::string& p) {
  if (p.empty() || p.front() != '/') {
    return invalidArgument("--path must be absolute (a path in the image), not \"" + p + "\"");
  }
  std::string out;
  std::size_t pos = 1;
  while (pos <= p.size()) {
    std::size_t next = p.find('/', pos);
    if (next == std::string::npos) next = p.size();
    std::string c = p.substr(pos, next - pos);
    if (c == "." || c == "..") {
      return invalidArgument("--path may not contain \".\" or \"..\": \"" + p + "\"");
    }
    if (!c.empty()) out += "/" + c;
    pos = next + 1;
  }
  if (out.empty()) return invalidArgument("--path names no file: \"" + p + "\"");
  if (p.back() == '/') return invalidArgument("--path names a directory: \"" + p + "\"");
  return out;
}

std::string baseName(const std::string& p) {
  auto s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

std::string imageConfigJson(const oci::Platform& p,
                            const std::map<std::string, std::string>& labels,
                            const oci::Digest& diffId) {
  // nlohmann::json keeps keys sorted: the same labels always serialise the same way. No
  // "created" and no history: nothing that changes from one build to the next.
  nlohmann::json j;
  j["architecture"] = p.architecture;
  j["os"] = p.os;
  if (!p.variant.empty()) j["variant"] = p.variant;
  j["config"] = nlohmann::json::object();
  if (!labels.empty()) j["config"]["Labels"] = labels;
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", {diffId.toString()}}};
  return j.dump();
}

// The platform of an existing index.json entry: its descriptor's, else its config's.
Result<oci::Platform> platformOf(const oci::OciLayout& l, const oci::Descriptor& d) {
  if (d.platform) return *d.platform;
  SK_ASSIGN_OR_RETURN(oci::FetchedManifest fm, l.manifest(d));
  SK_ASSIGN_OR_RETURN(oci::ImageManifest m, oci::parseImageManifest(fm.body, fm.mediaType));
  if (!oci::media::isConfig(m.config.mediaType)) {
    return failedPrecondition(
        "the image already tagged has no platform (artifact-style, not in "
        "an index); cannot add another platform to it");
  }
  std::string cfg;
  struct Sink final : oci::BlobSink {
    std::string* out;
    Status write(std::string_view c) override {
      out->append(c);
      return Status::ok();
    }
    Status reset() override {
      out->clear();
      return Status::ok();
    }
  } sink;
  sink.out = &cfg;
  SK_RETURN_IF_ERROR(l.blob(m.config, sink));
  SK_ASSIGN_OR_RETURN(oci::ImageConfig c, oci::parseImageConfig(cfg));
  return c.platform;
}

// Each library at its path and at every link, inside `root` as the container will see it.
Status checkLibrariesInRoot(const std::vector<SharedLibrary>& libs, const std::string& root) {
  for (const auto& l : libs) {
    std::vector<std::string> paths = l.links;
    paths.insert(paths.begin(), l.path);
    for (const auto& p : paths) {
      auto host = oci::resolveInRoot(root, p);
      if (!host.isOk())
        return host.status().withContext((l.interpreter ? "the loader " : "") + l.name);
      struct stat st {};
      if (::stat(host->c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
          st.st_size != static_cast<off_t>(l.content.size())) {
        return internalError(l.name + ": " + p + " in the unpacked layer is not the " +
                             std::to_string(l.content.size()) + "-byte file " + l.path);
      }
    }
  }
  return Status::ok();
}

// Unpacks the layer the way the agent will and checks the scheduler file (and the libraries
// --with-libs added) in it.
Status selfCheck(const BuiltLayer& layer, oci::SchedulerArtifact a,
                 const std::vector<SharedLibrary>& libs) {
  const char* tmpRoot = std::getenv("TMPDIR");
  std::string tmpl = std::string(tmpRoot && *tmpRoot ? tmpRoot : "/tmp") + "/schedkitctl-XXXXXX";
  if (::mkdtemp(tmpl.data()) == nullptr) return fromErrno(errno, "mkdtemp " + tmpl);
  auto st = oci::unpackLayerBytes(layer.blob, tmpl, oci::UnpackLimits{});
  Status out = st.isOk() ? oci::checkArtifactInRoot(a, tmpl) : st.status();
  if (out.isOk()) out = checkLibrariesInRoot(libs, tmpl);
  (void)oci::removeTree(tmpl);
  return out.isOk() ? out : out.withContext("checking the built image as the agent would");
}

}  // namespace

bool validKernelVersion(std::string_view v) {
  int parts = 0;
  std::size_t pos = 0;
  while (pos <= v.size()) {
    std::size_t next = v.find('.', pos);
    if (next == std::string_view::npos) next = v.size();
    std::string_view c = v.substr(pos, next - pos);
    if (c.empty() || c.size() > 6) return false;
    for (char ch : c) {
      if (ch < '0' || ch > '9') return false;
    }
    ++parts;
    pos = next + 1;
  }
  return parts == 2 || parts == 3;
}

Status checkBpfElf(std::string_view h, const std::string& what) {
  if (h.size() < 20 || h.substr(0, 4) !=
                           "\x7f"
                           "ELF") {
    return invalidArgument(what +
                           " is not an ELF file (a bpf-object must be a BPF ELF object, "
                           "as clang -target bpf writes)");
  }
  bool little = h[5] == 1;
  auto u16 = [&](std::size_t off) {
    auto b0 = static_cast<unsigned char>(h[off]), b1 = static_cast<unsigned char>(h[off + 1]);
    return little ? (b0 | (b1 << 8)) : ((b0 << 8) | b1);
  };
  unsigned machine = static_cast<unsigned>(u16(18));
  if (machine != kEmBpf) {
    return invalidArgument(what + " is an ELF file for machine " + std::to_string(machine) +
                           ", not BPF (" + std::to_string(kEmBpf) +
                           "): a bpf-object must be compiled with clang -target bpf; package a "
                           "loader program with --type binary");
  }
  if (u16(16) != 1)
    return invalidArgument(what + " is a BPF ELF file but not a relocatable object");
  return Status::ok();
}

Result<BuildFlags> checkBuildFlags(const BuildOptions& o) {
  BuildFlags f;
  if (o.type != "bpf-object" && o.type != "binary") {
    return invalidArgument("--type must be binary or bpf-object, not \"" + o.type + "\"");
  }
  if (o.file.empty()) return invalidArgument("--file is required");
  if (o.outputLayout.empty()) return invalidArgument("--output-layout DIR[:TAG] is required");
  auto outRef = oci::parseReference(o.outputLayout.rfind("oci:", 0) == 0 ? o.outputLayout
                                                                         : "oci:" + o.outputLayout);
  if (!outRef.isOk()) return outRef.status().withContext("--output-layout");
  if (outRef->pinned()) return invalidArgument("--output-layout takes DIR[:TAG], not a digest");
  f.layout = outRef->layoutPath;
  f.tag = outRef->tag.empty() ? "latest" : outRef->tag;
  if (!o.kernelMin.empty() && !validKernelVersion(o.kernelMin)) {
    return invalidArgument("--kernel-min must be X.Y or X.Y.Z (e.g. 6.12), not \"" + o.kernelMin +
                           "\"");
  }
  if (!o.name.empty() && !validOpsName(o.name)) {
    return invalidArgument("--name must be letters, digits, '_', '.' or '-', not \"" + o.name +
                           "\"");
  }
  if (o.platform.empty()) {
    f.platform = oci::hostPlatform();
  } else {
    auto p = oci::parsePlatform(o.platform);
    if (!p.isOk()) return p.status().withContext("--platform");
    f.platform = *p;
  }
  for (const auto& kv : o.labels) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) {
      return invalidArgument("--label wants KEY=VALUE, not \"" + kv + "\"");
    }
    std::string k = kv.substr(0, eq);
    if (k.rfind("io.schedkit.", 0) == 0) {
      return invalidArgument("--label " + k +
                             ": io.schedkit.* labels come from --type, --path, --name, "
                             "--version, --kernel-min and --arg");
    }
    f.labels[k] = kv.substr(eq + 1);
  }
  if (!o.path.empty()) SK_RETURN_IF_ERROR(normaliseImagePath(o.path).status());
  if (o.withLibs && o.type != "binary") {
    return invalidArgument(
        "--with-libs is for --type binary: a bpf-object is loaded by the agent and needs no "
        "shared libraries");
  }
  return f;
}

Result<BuildResult> buildSchedulerImage(const BuildOptions& o, const OpsNameReader& readOpsName) {
  SK_ASSIGN_OR_RETURN(BuildFlags flags, checkBuildFlags(o));
  BuildResult r;
  bool bpf = o.type == "bpf-object";
  r.layout = flags.layout;
  r.tag = flags.tag;
  r.reference = "oci:" + r.layout + ":" + r.tag;
  r.platform = flags.platform;
  const std::map<std::string, std::string>& extra = flags.labels;

  // The file.
  struct stat st {};
  if (::stat(o.file.c_str(), &st) != 0) return fromErrno(errno, "--file " + o.file);
  if (!S_ISREG(st.st_mode)) return invalidArgument("--file " + o.file + " is not a regular file");
  std::string name = o.name;
  unsigned mode = 0644;
  SK_ASSIGN_OR_RETURN(std::string content, readWholeFile(o.file));
  if (bpf) {
    SK_RETURN_IF_ERROR(checkBpfElf(std::string_view(content).substr(0, 64), o.file));
    if (!readOpsName) return internalError("no BPF object reader");
    auto ops = readOpsName(o.file);
    if (!ops.isOk()) {
      return invalidArgument(o.file +
                             " is not a sched_ext scheduler object: " + ops.status().message());
    }
    r.opsName = *ops;
    if (name.empty()) name = r.opsName;
    if (r.opsName.rfind(name, 0) != 0) {
      return invalidArgument("--name " + name + " is not a prefix of the ops name \"" + r.opsName +
                             "\" that " + o.file + " declares");
    }
  } else {
    if ((st.st_mode & 0111) == 0) {
      return invalidArgument("--file " + o.file +
                             " is not executable (chmod +x it): a binary scheduler is run as a "
                             "program");
    }
    if (name.empty()) {
      return invalidArgument(
          "--name OPS_PREFIX is required for a binary (the ops name the kernel "
          "will report, e.g. lavd for scx_lavd)");
    }
    mode = 0755;
  }
  std::string path = o.path.empty() ? (bpf ? "/" : "/usr/bin/") + baseName(o.file) : o.path;
  SK_ASSIGN_OR_RETURN(path, normaliseImagePath(path));

  // The convention's keys, then the extra ones.
  std::map<std::string, std::string> keys = extra;
  keys[std::string(oci::labels::kType)] = o.type;
  keys[std::string(oci::labels::kPath)] = path;
  keys[std::string(oci::labels::kName)] = name;
  if (!o.version.empty()) keys[std::string(oci::labels::kVersion)] = o.version;
  if (!o.kernelMin.empty()) keys[std::string(oci::labels::kKernelMin)] = o.kernelMin;
  if (!o.args.empty()) keys[std::string(oci::labels::kArgs)] = nlohmann::json(o.args).dump();
  auto art =
      o.annotations ? oci::parseSchedulerArtifact({}, keys) : oci::parseSchedulerArtifact(keys, {});
  if (!art.isOk()) return art.status();
  r.artifact = *art;
  r.labels = keys;
  r.annotations = o.annotations;

  std::vector<LayerEntry> entries = {{path, content, mode, {}}};
  LibraryClosure libs;
  if (o.withLibs) {
    auto found = findSharedLibraries(o.file, path);
    if (!found.isOk()) return found.status().withContext("--with-libs " + o.file);
    libs = std::move(*found);
    r.withLibs = true;
    if (!libs.dynamic) {
      r.notes.push_back(o.file + " is statically linked: --with-libs added nothing");
    }
    for (const auto& l : libs.libraries) {
      entries.push_back({l.path, l.content, l.mode, {}});
      for (const auto& link : l.links)
        entries.push_back({link, {}, 0, relativeLinkTarget(link, l.path)});
      r.libraries.push_back({l.name, l.path, l.links, static_cast<std::int64_t>(l.content.size()),
                             l.digest, l.interpreter});
    }
  }
  auto built = buildLayer(entries);
  if (!built.isOk()) {
    return o.withLibs ? built.status().withContext("--with-libs " + o.file) : built.status();
  }
  BuiltLayer layer = std::move(*built);
  SK_RETURN_IF_ERROR(selfCheck(layer, r.artifact, libs.libraries));
  r.diffId = layer.diffId;
  r.layer = {std::string(oci::media::kOciLayerGzip),
             layer.digest,
             static_cast<std::int64_t>(layer.blob.size()),
             {},
             {},
             {}};

  std::string config;
  oci::ImageManifest m;
  m.mediaType = std::string(oci::media::kOciManifest);
  if (o.annotations) {
    config = "{}";
    m.config = {std::string(oci::media::kOciEmpty), oci::Digest::of(config), 2, {}, {}, {}};
    m.artifactType = std::string(kSchedulerArtifactType);
    m.annotations = keys;
  } else {
    config = imageConfigJson(r.platform, keys, layer.diffId);
    m.config = {std::string(oci::media::kOciConfig),
                oci::Digest::of(config),
                static_cast<std::int64_t>(config.size()),
                {},
                {},
                {}};
  }
  m.layers = {r.layer};
  r.config = m.config;
  std::string manifest = oci::imageManifestJson(m);
  r.manifestDigest = oci::Digest::of(manifest);

  oci::OciLayout l(r.layout);
  SK_RETURN_IF_ERROR(l.init().withContext("--output-layout " + r.layout));
  SK_RETURN_IF_ERROR(l.putBlob(layer.blob));
  SK_RETURN_IF_ERROR(l.putBlob(config));
  SK_RETURN_IF_ERROR(l.putBlob(manifest));
  oci::Descriptor md{std::string(oci::media::kOciManifest),
                     r.manifestDigest,
                     static_cast<std::int64_t>(manifest.size()),
                     {},
                     r.platform,
                     {}};

  if (!o.addToIndex) {
    SK_RETURN_IF_ERROR(l.tag(md, r.tag));
    r.digest = r.manifestDigest;
    r.mediaType = md.mediaType;
    return r;
  }
  // Multi-arch: the tag becomes (or stays) an index with one manifest per platform; an entry
  // for the same platform is replaced.
  oci::ImageIndex idx;
  idx.mediaType = std::string(oci::media::kOciIndex);
  auto existing = l.resolve(r.tag);
  if (existing.isOk()) {
    if (oci::media::isIndex(existing->mediaType)) {
      SK_ASSIGN_OR_RETURN(oci::FetchedManifest fm, l.manifest(*existing));
      SK_ASSIGN_OR_RETURN(oci::ImageIndex old, oci::parseImageIndex(fm.body, fm.mediaType));
      for (auto& d : old.manifests) {
        if (d.platform && *d.platform == r.platform) continue;
        idx.manifests.push_back(d);
      }
    } else {
      SK_ASSIGN_OR_RETURN(oci::Platform p, platformOf(l, *existing));
      if (p != r.platform) {
        oci::Descriptor d = *existing;
        d.annotations.erase(std::string(oci::kRefNameAnnotation));
        d.platform = p;
        idx.manifests.push_back(d);
      }
    }
  }
  idx.manifests.push_back(md);
  std::string index = oci::imageIndexJson(idx);
  SK_RETURN_IF_ERROR(l.putBlob(index));
  oci::Descriptor id{std::string(oci::media::kOciIndex),
                     oci::Digest::of(index),
                     static_cast<std::int64_t>(index.size()),
                     {},
                     {},
                     {}};
  SK_RETURN_IF_ERROR(l.tag(id, r.tag));
  r.digest = id.digest;
  r.mediaType = id.mediaType;
  for (const auto& d : idx.manifests) {
    if (d.platform) r.indexPlatforms.push_back(*d.platform);
  }
  return r;
}

}  // namespace schedkit::cli
