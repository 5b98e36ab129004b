#include "image/assemble.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <deque>
#include <sstream>

#include "image/layer.h"
#include "schedkit/oci/layout.h"
#include "schedkit/oci/media_types.h"
#include "schedkit/oci/reference.h"
#include "schedkit/oci/store.h"
#include "schedkit/oci/unpack.h"
#include "schedkit/os/filesystem.h"

namespace schedkit::cli {

namespace {

using Kind = AssembleEntry::Kind;

// What runtimes (runc, crun, containerd) use when the image sets no PATH.
constexpr std::string_view kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
constexpr std::size_t kMaxInputBytes = std::size_t{1} << 30;

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos <= s.size()) {
    std::size_t next = s.find(sep, pos);
    if (next == std::string_view::npos) next = s.size();
    out.emplace_back(s.substr(pos, next - pos));
    pos = next + 1;
  }
  return out;
}

std::string baseName(const std::string& p) {
  auto s = p.find_last_of('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

// "/usr//bin/x" → "/usr/bin/x"; refuses relative paths, "/", "." and "..".
Result<std::string> imagePath(std::string_view flag, const std::string& p) {
  if (p.empty() || p.front() != '/') {
    return invalidArgument(std::string(flag) + ": \"" + p +
                           "\" must be an absolute path in the image");
  }
  std::string out;
  for (const auto& c : split(p, '/')) {
    if (c == "." || c == "..") {
      return invalidArgument(std::string(flag) + ": \"" + p + "\" may not contain \".\" or \"..\"");
    }
    if (!c.empty()) out += "/" + c;
  }
  if (out.empty()) return invalidArgument(std::string(flag) + ": \"" + p + "\" names the root");
  return out;
}

// Octal permission bits; set-id bits are refused (nothing in these images needs them), the
// sticky bit is kept (/tmp).
Result<unsigned> parseMode(std::string_view flag, const std::string& s) {
  if (s.empty() || s.size() > 5 || s.find_first_not_of("01234567") != std::string::npos) {
    return invalidArgument(std::string(flag) + ": mode \"" + s + "\" is not octal (e.g. 0755)");
  }
  unsigned m = static_cast<unsigned>(std::stoul(s, nullptr, 8));
  if (m > 07777) return invalidArgument(std::string(flag) + ": mode " + s + " is over 07777");
  if (m & 06000) {
    return invalidArgument(std::string(flag) + ": mode " + s +
                           " sets set-user-ID or set-group-ID bits, which these images never need");
  }
  return m;
}

Result<std::pair<std::string, std::string>> keyValue(std::string_view flag, const std::string& kv) {
  auto eq = kv.find('=');
  if (eq == std::string::npos || eq == 0) {
    return invalidArgument(std::string(flag) + " wants KEY=VALUE, not \"" + kv + "\"");
  }
  return std::make_pair(kv.substr(0, eq), kv.substr(eq + 1));
}

// "2025-01-02T03:04:05Z" (fractional seconds allowed): what OCI's "created" holds, in UTC so
// the same instant is always the same bytes.
bool validCreated(std::string_view s) {
  const std::string_view shape = "dddd-dd-ddTdd:dd:dd";
  if (s.size() < shape.size() + 1 || s.back() != 'Z') return false;
  for (std::size_t i = 0; i < shape.size(); ++i) {
    bool digit = s[i] >= '0' && s[i] <= '9';
    if (shape[i] == 'd' ? !digit : s[i] != shape[i]) return false;
  }
  std::string_view rest = s.substr(shape.size(), s.size() - shape.size() - 1);
  if (rest.empty()) return true;
  if (rest.front() != '.' || rest.size() < 2) return false;
  return rest.substr(1).find_first_not_of("0123456789") == std::string_view::npos;
}

std::string joinArgs(const std::vector<std::string>& v) {
  return v.empty() ? "(none)" : nlohmann::json(v).dump();
}

std::string megabytes(std::int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// Everything the layer holds, with the bytes it owns and where each path came from.
class LayerPlan {
 public:
  // Adds a regular file; the same bytes at the same path again (a library two binaries need) is
  // one entry, different bytes a conflict naming both.
  Status file(AssembleEntry e, std::string content, const std::string& what) {
    e.size = static_cast<std::int64_t>(content.size());
    e.digest = oci::Digest::of(content);
    if (auto it = byPath_.find(e.path); it != byPath_.end()) {
      const Owned& o = owned_[it->second];
      if (o.entry.kind != Kind::kDirectory && o.entry.kind != Kind::kSymlink &&
          o.entry.digest == e.digest && o.entry.mode == e.mode) {
        return Status::ok();
      }
      return conflict(e.path, o.what, what);
    }
    add(std::move(e), std::move(content), what);
    return Status::ok();
  }
  Status symlink(AssembleEntry e, const std::string& what) {
    if (auto it = byPath_.find(e.path); it != byPath_.end()) {
      const Owned& o = owned_[it->second];
      if (o.entry.kind == Kind::kSymlink && o.entry.source == e.source) return Status::ok();
      return conflict(e.path, o.what, what);
    }
    add(std::move(e), {}, what);
    return Status::ok();
  }
  Status directory(AssembleEntry e, const std::string& what) {
    if (auto it = byPath_.find(e.path); it != byPath_.end()) {
      return conflict(e.path, owned_[it->second].what, what);
    }
    add(std::move(e), {}, what);
    return Status::ok();
  }

  std::vector<LayerEntry> layerEntries() const {
    std::vector<LayerEntry> out;
    for (const auto& o : owned_) {
      LayerEntry l;
      l.path = o.entry.path;
      l.mode = o.entry.mode;
      switch (o.entry.kind) {
        case Kind::kDirectory:
          l.directory = true;
          break;
        case Kind::kSymlink:
          l.symlinkTarget = o.entry.source;
          break;
        default:
          l.content = o.content;
          break;
      }
      out.push_back(std::move(l));
    }
    return out;
  }
  std::vector<AssembleEntry> entries() const {
    std::vector<AssembleEntry> out;
    for (const auto& [path, i] : byPath_) out.push_back(owned_[i].entry);
    return out;
  }
  std::int64_t fileBytes() const {
    std::int64_t n = 0;
    for (const auto& o : owned_) n += static_cast<std::int64_t>(o.content.size());
    return n;
  }

 private:
  struct Owned {
    AssembleEntry entry;
    std::string content;
    std::string what;
  };
  void add(AssembleEntry e, std::string content, const std::string& what) {
    byPath_[e.path] = owned_.size();
    owned_.push_back({std::move(e), std::move(content), what});
  }
  static Status conflict(const std::string& path, const std::string& a, const std::string& b) {
    return invalidArgument(a + " and " + b + " both put something at " + path);
  }

  std::deque<Owned> owned_;  // stable addresses: layer entries view the contents
  std::map<std::string, std::size_t> byPath_;
};

Result<std::string> readHostFile(const std::string& flag, const std::string& path,
                                 struct stat& st) {
  if (::stat(path.c_str(), &st) != 0) return fromErrno(errno, flag + " " + path);
  if (!S_ISREG(st.st_mode)) return invalidArgument(flag + " " + path + " is not a regular file");
  HostFilesystem fs("");
  auto r = fs.readFile(path, kMaxInputBytes);
  if (!r.isOk() && r.status().code() == StatusCode::kResourceExhausted) {
    return invalidArgument(flag + " " + path + " is over 1 GiB");
  }
  return r;
}

std::string imageConfigJson(const AssembleOptions& o, const AssembleFlags& f,
                            const oci::Digest& diffId) {
  // nlohmann::json keeps keys sorted, so the same options serialise the same way; "created" only
  // when given, and no history: nothing that changes from one build to the next.
  nlohmann::json j;
  j["architecture"] = f.platform.architecture;
  j["os"] = f.platform.os;
  if (!f.platform.variant.empty()) j["variant"] = f.platform.variant;
  if (!o.created.empty()) j["created"] = o.created;
  nlohmann::json c = nlohmann::json::object();
  if (!o.entrypoint.empty()) c["Entrypoint"] = o.entrypoint;
  if (!o.cmd.empty()) c["Cmd"] = o.cmd;
  if (!o.env.empty()) c["Env"] = o.env;
  if (!o.user.empty()) c["User"] = o.user;
  if (!o.workdir.empty()) c["WorkingDir"] = o.workdir;
  if (!o.stopSignal.empty()) c["StopSignal"] = o.stopSignal;
  if (!f.labels.empty()) c["Labels"] = f.labels;
  j["config"] = c;
  j["rootfs"] = {{"type", "layers"}, {"diff_ids", {diffId.toString()}}};
  return j.dump();
}

// The program the runtime will exec, found in `root` as runc and crun find it: an absolute
// path as is, a bare name in the image's PATH, anything else relative to the working directory.
Status checkProgramInRoot(const std::string& root, const std::string& program,
                          const std::vector<std::string>& env, const std::string& workdir) {
  std::vector<std::string> candidates;
  if (program.find('/') == std::string::npos) {
    std::string path(kDefaultPath);
    for (const auto& kv : env) {
      if (kv.rfind("PATH=", 0) == 0) path = kv.substr(5);
    }
    for (const auto& d : split(path, ':')) {
      if (!d.empty()) candidates.push_back(d + "/" + program);
    }
  } else {
    candidates.push_back(
        program.front() == '/' ? program : (workdir.empty() ? "/" : workdir) + "/" + program);
  }
  for (const auto& c : candidates) {
    auto host = oci::resolveInRoot(root, c);
    if (!host.isOk()) continue;
    struct stat st {};
    if (::stat(host->c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111) != 0) {
      return Status::ok();
    }
  }
  return invalidArgument("the entrypoint " + program + " is not an executable file in the image" +
                         (program.find('/') == std::string::npos ? " (searched its PATH)" : ""));
}

// Unpacks the layer with the agent's unpacker and checks every regular file and every link to a
// library the plan holds (so each library is where the loader will open it) and the program to
// exec.
Status selfCheck(const BuiltLayer& layer, const std::vector<AssembleEntry>& entries,
                 const AssembleOptions& o) {
  const char* tmpRoot = std::getenv("TMPDIR");
  std::string root = std::string(tmpRoot && *tmpRoot ? tmpRoot : "/tmp") + "/schedkitctl-XXXXXX";
  if (::mkdtemp(root.data()) == nullptr) return fromErrno(errno, "mkdtemp " + root);
  Status out = oci::unpackLayerBytes(layer.blob, root, oci::UnpackLimits{}).status();
  for (const auto& e : entries) {
    if (!out.isOk()) break;
    // Symlinks of the user's may point anywhere (a mount, a directory, nothing yet); a
    // library's must reach it.
    if (e.kind == Kind::kDirectory || (e.kind == Kind::kSymlink && e.neededBy.empty())) continue;
    auto host = oci::resolveInRoot(root, e.path);
    if (!host.isOk()) {
      out = host.status().withContext(e.path);
      break;
    }
    struct stat st {};
    if (::stat(host->c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        (e.kind != Kind::kSymlink && st.st_size != e.size)) {
      out = internalError(e.path + " in the unpacked layer is not the " +
                          (e.kind == Kind::kSymlink ? "file " + e.source + " points to"
                                                    : std::to_string(e.size) + "-byte file"));
    }
  }
  const std::vector<std::string>& run = o.entrypoint.empty() ? o.cmd : o.entrypoint;
  if (out.isOk() && !run.empty()) out = checkProgramInRoot(root, run[0], o.env, o.workdir);
  (void)oci::removeTree(root);
  return out.isOk() ? out : out.withContext("checking the assembled image");
}

}  // namespace

std::string_view toString(AssembleEntry::Kind k) {
  switch (k) {
    case Kind::kBinary:
      return "binary";
    case Kind::kFile:
      return "file";
    case Kind::kLibrary:
      return "library";
    case Kind::kLoader:
      return "loader";
    case Kind::kDirectory:
      return "directory";
    case Kind::kSymlink:
      return "symlink";
  }
  return "?";
}

Result<AssembleFlags> checkAssembleFlags(const AssembleOptions& o) {
  AssembleFlags f;
  if (o.outputLayout.empty()) return invalidArgument("--output-layout DIR[:TAG] is required");
  auto outRef = oci::parseReference(o.outputLayout.rfind("oci:", 0) == 0 ? o.outputLayout
                                                                         : "oci:" + o.outputLayout);
  if (!outRef.isOk()) return outRef.status().withContext("--output-layout");
  if (outRef->pinned()) return invalidArgument("--output-layout takes DIR[:TAG], not a digest");
  f.layout = outRef->layoutPath;
  f.tag = outRef->tag.empty() ? "latest" : outRef->tag;
  if (o.platform.empty()) {
    f.platform = oci::hostPlatform();
  } else {
    auto p = oci::parsePlatform(o.platform);
    if (!p.isOk()) return p.status().withContext("--platform");
    f.platform = *p;
  }
  if (o.binaries.empty() && o.files.empty() && o.dirs.empty() && o.symlinks.empty()) {
    return invalidArgument(
        "nothing to put in the image: give --binary, --file, --dir or --symlink");
  }

  for (const auto& b : o.binaries) {
    auto parts = split(b, ':');
    if (parts.size() > 2 || parts[0].empty()) {
      return invalidArgument("--binary wants HOST[:PATH], not \"" + b + "\"");
    }
    AssembleEntry e;
    e.kind = Kind::kBinary;
    e.source = parts[0];
    e.mode = 0755;
    SK_ASSIGN_OR_RETURN(e.path,
                        imagePath("--binary " + b,
                                  parts.size() == 2 ? parts[1] : "/usr/bin/" + baseName(parts[0])));
    f.entries.push_back(std::move(e));
  }
  for (const auto& s : o.files) {
    auto parts = split(s, ':');
    if (parts.size() < 2 || parts.size() > 3 || parts[0].empty()) {
      return invalidArgument("--file wants HOST:PATH[:MODE], not \"" + s + "\"");
    }
    AssembleEntry e;
    e.kind = Kind::kFile;
    e.source = parts[0];
    e.mode = 0;  // from the host file, unless given
    SK_ASSIGN_OR_RETURN(e.path, imagePath("--file " + s, parts[1]));
    if (parts.size() == 3) {
      SK_ASSIGN_OR_RETURN(e.mode, parseMode("--file " + s, parts[2]));
    }
    f.entries.push_back(std::move(e));
  }
  for (const auto& d : o.dirs) {
    auto parts = split(d, ':');
    if (parts.size() > 2) return invalidArgument("--dir wants PATH[:MODE], not \"" + d + "\"");
    AssembleEntry e;
    e.kind = Kind::kDirectory;
    e.mode = 0755;
    SK_ASSIGN_OR_RETURN(e.path, imagePath("--dir " + d, parts[0]));
    if (parts.size() == 2) {
      SK_ASSIGN_OR_RETURN(e.mode, parseMode("--dir " + d, parts[1]));
    }
    f.entries.push_back(std::move(e));
  }
  for (const auto& l : o.symlinks) {
    auto colon = l.find(':');
    if (colon == std::string::npos || colon + 1 == l.size()) {
      return invalidArgument("--symlink wants PATH:TARGET, not \"" + l + "\"");
    }
    AssembleEntry e;
    e.kind = Kind::kSymlink;
    e.mode = 0777;
    e.source = l.substr(colon + 1);
    SK_ASSIGN_OR_RETURN(e.path, imagePath("--symlink " + l, l.substr(0, colon)));
    f.entries.push_back(std::move(e));
  }

  for (const auto& kv : o.env) SK_RETURN_IF_ERROR(keyValue("--env", kv).status());
  for (const auto& kv : o.labels) {
    SK_ASSIGN_OR_RETURN(auto p, keyValue("--label", kv));
    f.labels[p.first] = p.second;
  }
  for (const auto& kv : o.annotations) {
    SK_ASSIGN_OR_RETURN(auto p, keyValue("--annotation", kv));
    f.annotations[p.first] = p.second;
  }
  if (!o.created.empty() && !validCreated(o.created)) {
    return invalidArgument("--created must be RFC 3339 in UTC, e.g. 2025-01-02T03:04:05Z, not \"" +
                           o.created + "\"");
  }
  if (!o.workdir.empty() && o.workdir != "/") {
    SK_RETURN_IF_ERROR(imagePath("--workdir", o.workdir).status());
  }
  if ((!o.entrypoint.empty() && o.entrypoint[0].empty()) || (!o.cmd.empty() && o.cmd[0].empty())) {
    return invalidArgument("the program to run (--entrypoint, else --cmd) is empty");
  }
  return f;
}

Result<AssembleResult> assembleImage(const AssembleOptions& o) {
  SK_ASSIGN_OR_RETURN(AssembleFlags flags, checkAssembleFlags(o));
  LayerPlan plan;
  for (auto& e : flags.entries) {
    std::string what = "--" + std::string(e.kind == Kind::kDirectory ? "dir" : toString(e.kind)) +
                       " " +
                       (e.kind == Kind::kSymlink || e.kind == Kind::kDirectory ? e.path : e.source);
    switch (e.kind) {
      case Kind::kDirectory:
        SK_RETURN_IF_ERROR(plan.directory(e, what));
        break;
      case Kind::kSymlink:
        SK_RETURN_IF_ERROR(plan.symlink(e, what));
        break;
      case Kind::kFile: {
        struct stat st {};
        SK_ASSIGN_OR_RETURN(std::string content, readHostFile("--file", e.source, st));
        if (e.mode == 0) e.mode = (st.st_mode & 0111) ? 0755 : 0644;
        SK_RETURN_IF_ERROR(plan.file(e, std::move(content), what));
        break;
      }
      case Kind::kBinary: {
        struct stat st {};
        SK_ASSIGN_OR_RETURN(std::string content, readHostFile("--binary", e.source, st));
        if ((st.st_mode & 0111) == 0) {
          return invalidArgument("--binary " + e.source + " is not executable (chmod +x it)");
        }
        auto libs = findSharedLibraries(e.source, e.path, o.search);
        if (!libs.isOk()) return libs.status().withContext("--binary " + e.source);
        SK_RETURN_IF_ERROR(plan.file(e, std::move(content), what));
        for (auto& l : libs->libraries) {
          AssembleEntry le;
          le.kind = l.interpreter ? Kind::kLoader : Kind::kLibrary;
          le.path = l.path;
          le.source = l.path;
          le.mode = l.mode;
          le.neededBy = e.path;
          std::string lwhat =
              std::string(l.interpreter ? "the loader " : "the library ") + l.name + " of " + what;
          for (const auto& link : l.links) {
            AssembleEntry s;
            s.kind = Kind::kSymlink;
            s.path = link;
            s.source = relativeLinkTarget(link, l.path);
            s.mode = 0777;
            s.neededBy = e.path;
            SK_RETURN_IF_ERROR(plan.symlink(std::move(s), lwhat));
          }
          SK_RETURN_IF_ERROR(plan.file(std::move(le), std::move(l.content), lwhat));
        }
        break;
      }
      default:
        return internalError("unexpected entry kind");
    }
  }

  SK_ASSIGN_OR_RETURN(BuiltLayer layer, buildLayer(plan.layerEntries()));
  AssembleResult r;
  r.entries = plan.entries();
  SK_RETURN_IF_ERROR(selfCheck(layer, r.entries, o));
  r.layout = flags.layout;
  r.tag = flags.tag;
  r.reference = "oci:" + r.layout + ":" + r.tag;
  r.platform = flags.platform;
  r.diffId = layer.diffId;
  r.tarSize = layer.tarSize;
  r.unpackedSize = plan.fileBytes();
  r.entrypoint = o.entrypoint;
  r.cmd = o.cmd;
  r.env = o.env;
  r.user = o.user;
  r.workdir = o.workdir;
  r.stopSignal = o.stopSignal;
  r.created = o.created;
  r.labels = flags.labels;
  r.annotations = flags.annotations;
  r.layer = {std::string(oci::media::kOciLayerGzip),
             layer.digest,
             static_cast<std::int64_t>(layer.blob.size()),
             {},
             {},
             {}};

  std::string config = imageConfigJson(o, flags, layer.diffId);
  oci::ImageManifest m;
  m.mediaType = std::string(oci::media::kOciManifest);
  m.config = {std::string(oci::media::kOciConfig),
              oci::Digest::of(config),
              static_cast<std::int64_t>(config.size()),
              {},
              {},
              {}};
  m.layers = {r.layer};
  m.annotations = flags.annotations;
  r.config = m.config;
  std::string manifest = oci::imageManifestJson(m);
  r.digest = oci::Digest::of(manifest);
  r.mediaType = m.mediaType;

  oci::OciLayout l(r.layout);
  SK_RETURN_IF_ERROR(l.init().withContext("--output-layout " + r.layout));
  SK_RETURN_IF_ERROR(l.putBlob(layer.blob));
  SK_RETURN_IF_ERROR(l.putBlob(config));
  SK_RETURN_IF_ERROR(l.putBlob(manifest));
  oci::Descriptor md{m.mediaType, r.digest,   static_cast<std::int64_t>(manifest.size()),
                     {},          r.platform, {}};
  SK_RETURN_IF_ERROR(l.tag(md, r.tag));
  return r;
}

CLI::App* addAssembleCommand(CLI::App* image, AssembleOptions& o) {
  CLI::App* c = image->add_subcommand(
      "assemble",
      "Make a one-layer container image (not a scheduler image) in an OCI layout from programs,\n"
      "with their loader and shared libraries, and files on this machine, without a container\n"
      "engine. Deterministic: the same inputs give the same digest.");
  auto repeat = [&](const std::string& name, std::vector<std::string>& into,
                    const std::string& help) {
    c->add_option(name, into, help)->allow_extra_args(false);
  };
  repeat("--binary", o.binaries,
         "HOST[:PATH]: an ELF program, with the loader and every shared library it needs as "
         "found on this machine (default PATH /usr/bin/<name>; repeatable)");
  repeat("--file", o.files,
         "HOST:PATH[:MODE]: a file (mode default: 0755 when executable here, else 0644; "
         "repeatable)");
  repeat("--dir", o.dirs, "PATH[:MODE]: a directory, e.g. /tmp:1777 (default 0755; repeatable)");
  repeat("--symlink", o.symlinks, "PATH:TARGET: a symbolic link (repeatable)");
  repeat("--entrypoint", o.entrypoint,
         "One word of the entrypoint (repeatable, in order; write --entrypoint=-x for words "
         "starting with '-')");
  repeat("--cmd", o.cmd, "One word of the default arguments (repeatable, in order)");
  repeat("--env", o.env, "KEY=VALUE in the environment (repeatable), e.g. PATH=/usr/bin:/bin");
  c->add_option("--user", o.user, "USER[:GROUP] to run as, by name or number");
  c->add_option("--workdir", o.workdir, "Working directory (absolute)");
  c->add_option("--stop-signal", o.stopSignal, "Signal that stops it, e.g. SIGTERM");
  repeat("--label", o.labels, "KEY=VALUE in the image config's labels (repeatable)");
  repeat("--annotation", o.annotations, "KEY=VALUE in the manifest's annotations (repeatable)");
  c->add_option("--created", o.created,
                "Creation time, RFC 3339 UTC (e.g. the commit's; default: none, so that rebuilds "
                "are identical)");
  c->add_option("--platform", o.platform,
                "OS/ARCH[/VARIANT] of the image (default: this machine's)");
  c->add_option("--output-layout", o.outputLayout,
                "OCI layout directory to write, DIR[:TAG] (tag default: latest); created if "
                "missing, other tags kept")
      ->required();
  return c;
}

nlohmann::ordered_json toJson(const AssembleResult& r) {
  using Json = nlohmann::ordered_json;
  auto desc = [](const oci::Descriptor& d) {
    return Json{{"mediaType", d.mediaType}, {"digest", d.digest.toString()}, {"size", d.size}};
  };
  Json j;
  j["reference"] = r.reference;
  j["layout"] = r.layout;
  j["tag"] = r.tag;
  j["digest"] = r.digest.toString();
  j["mediaType"] = r.mediaType;
  j["platform"] = {{"os", r.platform.os}, {"architecture", r.platform.architecture}};
  if (!r.platform.variant.empty()) j["platform"]["variant"] = r.platform.variant;
  j["config"] = desc(r.config);
  j["layers"] = Json::array({desc(r.layer)});
  j["diffIds"] = Json::array({r.diffId.toString()});
  j["size"] = r.size();
  j["unpackedSize"] = r.unpackedSize;
  j["entrypoint"] = r.entrypoint;
  j["cmd"] = r.cmd;
  j["env"] = r.env;
  j["user"] = r.user;
  j["workingDir"] = r.workdir;
  if (!r.stopSignal.empty()) j["stopSignal"] = r.stopSignal;
  if (!r.created.empty()) j["created"] = r.created;
  j["labels"] = r.labels;
  j["annotations"] = r.annotations;
  j["entries"] = Json::array();
  for (const auto& e : r.entries) {
    Json x;
    x["path"] = e.path;
    x["type"] = std::string(toString(e.kind));
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", e.mode);
    x["mode"] = mode;
    if (e.kind == Kind::kSymlink) {
      x["target"] = e.source;
    } else if (e.kind != Kind::kDirectory) {
      x["source"] = e.source;
      x["size"] = e.size;
      x["digest"] = e.digest.toString();
    }
    if (!e.neededBy.empty()) x["neededBy"] = e.neededBy;
    j["entries"].push_back(std::move(x));
  }
  return j;
}

std::string toText(const AssembleResult& r) {
  std::map<Kind, int> count;
  for (const auto& e : r.entries) count[e.kind]++;
  std::ostringstream s;
  auto line = [&](std::string key, const std::string& value) {
    key += ":";
    key.resize(std::max<std::size_t>(key.size() + 1, 16), ' ');
    s << key << value << "\n";
  };
  line("Assembled", r.reference);
  line("Digest", r.digest.toString() + " (" + r.platform.toString() + ")");
  line("Layer", r.layer.digest.toString());
  line("Size", megabytes(r.size()) + " compressed (config + layer), " + megabytes(r.unpackedSize) +
                   " of files");
  std::string contents;
  for (const auto& [k, n] : count) {
    std::string word(toString(k));
    if (n != 1) word = word.back() == 'y' ? word.substr(0, word.size() - 1) + "ies" : word + "s";
    contents += (contents.empty() ? "" : ", ") + std::to_string(n) + " " + word;
  }
  line("Contents", contents);
  line("Entrypoint", joinArgs(r.entrypoint));
  line("Cmd", joinArgs(r.cmd));
  if (!r.env.empty()) line("Env", joinArgs(r.env));
  if (!r.user.empty()) line("User", r.user);
  if (!r.workdir.empty()) line("Working dir", r.workdir);
  for (const auto& [title, m] : {std::pair{"Labels", &r.labels}, {"Annotations", &r.annotations}}) {
    if (m->empty()) continue;
    s << title << ":\n";
    for (const auto& [k, v] : *m) s << "  " << k << "=" << v << "\n";
  }
  return s.str();
}

}  // namespace schedkit::cli
