#include "attach/crun_bundle.h"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cstdio>
#include <map>
#include <set>

namespace schedkit::agent {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxIdLength = 64;
constexpr const char* kDefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
// What a sched_ext binary needs and no more: load BPF and struct_ops (BPF, SYS_ADMIN for
// struct_ops and older kernels), perf events for stats (PERFMON), raise rlimits (SYS_RESOURCE).
constexpr const char* kCapabilities[] = {"CAP_SYS_ADMIN", "CAP_BPF", "CAP_PERFMON",
                                         "CAP_SYS_RESOURCE"};

std::uint32_t fnv1a(std::string_view s) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : s) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

json mount(const std::string& dest, const std::string& type, const std::string& source,
           std::vector<std::string> options) {
  return {{"destination", dest}, {"type", type}, {"source", source}, {"options", options}};
}

bool under(std::string_view path, std::string_view dir) {
  return path.size() > dir.size() && path.substr(0, dir.size()) == dir && path[dir.size()] == '/';
}

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescapeMountinfo(std::string_view s) {
  auto oct = [](char c) { return c >= '0' && c <= '7'; };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && oct(s[i + 1]) && oct(s[i + 2]) && oct(s[i + 3])) {
      out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
      i += 3;
      continue;
    }
    out += s[i];
  }
  return out;
}

struct MountLine {
  std::string id, parent, mountPoint, fsType;
};

std::vector<MountLine> parseMountinfo(std::string_view text) {
  std::vector<MountLine> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    std::vector<std::string_view> f;
    std::size_t p = 0;
    while (p < line.size()) {
      std::size_t sp = line.find(' ', p);
      if (sp == std::string_view::npos) sp = line.size();
      if (sp > p) f.push_back(line.substr(p, sp - p));
      p = sp + 1;
    }
    // id parent major:minor root mountpoint options [optional...] - fstype source superoptions
    std::size_t dash = 0;
    for (std::size_t i = 6; i < f.size(); ++i) {
      if (f[i] == "-") {
        dash = i;
        break;
      }
    }
    if (f.size() < 7 || dash == 0 || dash + 1 >= f.size()) continue;
    out.push_back({std::string(f[0]), std::string(f[1]), unescapeMountinfo(f[4]),
                   std::string(f[dash + 1])});
  }
  return out;
}

}  // namespace

std::string containerIdFor(std::string_view policy) {
  std::string name;
  for (char c : policy) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool okChar = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.';
    name += okChar ? c : '-';
  }
  // "." and ".." must never become path components, even after the prefix (schedkit-..).
  while (!name.empty() && name.front() == '.') name.erase(0, 1);
  if (name.empty()) name = "unnamed";
  std::string id = "schedkit-" + name;
  if (id.size() > kMaxIdLength) {
    char hash[9];
    std::snprintf(hash, sizeof hash, "%08x", fnv1a(policy));
    id = id.substr(0, kMaxIdLength - 9) + "-" + hash;
  }
  return id;
}

std::vector<std::string> schedulerArgv(const LaunchSpec& spec) {
  std::vector<std::string> argv{spec.path};
  argv.insert(argv.end(), spec.args.begin(), spec.args.end());
  if (spec.mode == policy::SchedulerMode::kPartial) argv.emplace_back("--partial");
  return argv;
}

HostLayout probeHostLayout(const Filesystem& fs) {
  HostLayout h;
  for (const char* dir : kHostSystemDirs) {
    std::string real = fs.resolve(dir);
    struct stat st {};
    if (::lstat(real.c_str(), &st) != 0) continue;
    if (S_ISLNK(st.st_mode)) {
      char target[4096];
      ssize_t n = ::readlink(real.c_str(), target, sizeof target - 1);
      if (n > 0) h.symlinks.emplace_back(dir, std::string(target, static_cast<std::size_t>(n)));
    } else if (S_ISDIR(st.st_mode)) {
      h.bindDirs.emplace_back(dir);
    }
  }
  struct utsname uts {};
  if (::uname(&uts) == 0) {
    std::string config = std::string("/boot/config-") + uts.release;
    if (fs.exists(config)) h.kernelConfig = config;
  }
  h.debugfs = fs.isDirectory("/sys/kernel/debug");
  h.tracefs = fs.isDirectory("/sys/kernel/tracing");
  return h;
}

json makeOciConfig(const Filesystem& fs, const LaunchSpec& spec, const HostLayout& host,
                   const BundleParams& params) {
  json env = json::array();
  bool havePath = false;
  for (const auto& e : spec.env) {
    env.push_back(e.name + "=" + e.value);
    havePath = havePath || e.name == "PATH";
  }
  if (!havePath) env.push_back(std::string("PATH=") + kDefaultPath);

  json caps = json::array();
  for (const char* c : kCapabilities) caps.push_back(c);

  json mounts = json::array();
  mounts.push_back(mount("/proc", "proc", "proc", {"nosuid", "noexec", "nodev"}));
  mounts.push_back(mount("/dev", "bind", fs.resolve("/dev"), {"rbind", "nosuid"}));
  // sysfs read-write: schedulers read and write sched_ext and cpufreq knobs.
  mounts.push_back(mount("/sys", "bind", fs.resolve("/sys"), {"bind", "rw"}));
  mounts.push_back(mount("/sys/fs/cgroup", "bind", fs.resolve("/sys/fs/cgroup"), {"bind", "rw"}));
  mounts.push_back(mount("/sys/fs/bpf", "bind", fs.resolve("/sys/fs/bpf"), {"bind", "rw"}));
  if (host.debugfs) {
    mounts.push_back(
        mount("/sys/kernel/debug", "bind", fs.resolve("/sys/kernel/debug"), {"rbind", "rw"}));
  }
  if (host.tracefs) {
    mounts.push_back(
        mount("/sys/kernel/tracing", "bind", fs.resolve("/sys/kernel/tracing"), {"bind", "rw"}));
  }
  // A private /run and /tmp keep the (read-only) root untouched; /run/scx is the host's, where
  // scx_stats clients find the schedulers' sockets.
  mounts.push_back(mount("/run", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=755"}));
  mounts.push_back(mount("/run/scx", "bind", fs.resolve("/run/scx"), {"bind", "rw"}));
  // scx_stats servers default to /var/run/scx/<sched>/stats: the same host directory, whether or
  // not the image has a /var/run -> /run link.
  mounts.push_back(mount("/var/run/scx", "bind", fs.resolve("/run/scx"), {"bind", "rw"}));
  mounts.push_back(mount("/tmp", "tmpfs", "tmpfs", {"nosuid", "nodev", "mode=1777"}));

  if (!host.kernelConfig.empty()) {
    mounts.push_back(mount(host.kernelConfig, "bind", fs.resolve(host.kernelConfig), {"bind", "ro"}));
  }

  if (spec.rootfs.empty()) {
    for (const auto& dir : host.bindDirs) {
      mounts.push_back(mount(dir, "bind", fs.resolve(dir), {"bind", "ro"}));
    }
    // A scheduler outside the mirrored directories (/opt/scx/scx_lavd) is bound on its own.
    bool covered = false;
    for (const auto& dir : host.bindDirs) covered = covered || under(spec.path, dir);
    for (const auto& [link, _] : host.symlinks) covered = covered || under(spec.path, link);
    if (!covered && !spec.path.empty() && spec.path.front() == '/') {
      mounts.push_back(mount(spec.path, "bind", fs.resolve(spec.path), {"bind", "ro"}));
    }
  }

  json annotations = {{"io.schedkit.policy", spec.policy}};
  if (!spec.revision.empty()) annotations["io.schedkit.revision"] = spec.revision;
  if (!spec.image.empty()) annotations["io.schedkit.image"] = spec.image;

  return {
      {"ociVersion", "1.0.2"},
      {"process",
       {{"terminal", false},
        {"user", {{"uid", 0}, {"gid", 0}}},
        {"args", schedulerArgv(spec)},
        {"env", env},
        {"cwd", "/"},
        {"capabilities", {{"bounding", caps}, {"effective", caps}, {"permitted", caps}}},
        {"noNewPrivileges", false}}},
      {"root", {{"path", params.rootPath}, {"readonly", true}}},
      {"mounts", mounts},
      {"annotations", annotations},
      // Only a mount namespace: the scheduler must see and serve the host's tasks, cgroups and
      // network (scx_stats), so PID, cgroup, network, IPC and UTS stay the host's. No seccomp,
      // no masked paths: BPF and sysfs writes are the whole point.
      {"linux",
       {{"namespaces", json::array({{{"type", "mount"}}})},
        {"cgroupsPath", params.cgroupsPath},
        {"maskedPaths", json::array()},
        {"readonlyPaths", json::array()}}},
  };
}

Result<CrunState> parseCrunState(std::string_view text) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    std::string shown(text.substr(0, 200));
    return invalidArgument("crun state printed no JSON object: '" + shown + "'");
  }
  CrunState s;
  try {
    s.id = j.value("id", std::string());
    s.status = j.at("status").get<std::string>();
    s.pid = j.value("pid", std::int64_t{0});
  } catch (const json::exception& e) {
    return invalidArgument(std::string("unexpected crun state JSON: ") + e.what());
  }
  return s;
}

bool rootIsInitramfs(std::string_view mountinfo) {
  std::vector<MountLine> lines = parseMountinfo(mountinfo);
  std::set<std::string> ids;
  for (const auto& l : lines) ids.insert(l.id);
  const MountLine* root = nullptr;
  for (const auto& l : lines) {
    if (l.mountPoint == "/") root = &l;  // the last one is on top
  }
  if (root == nullptr) return false;
  if (root->fsType == "rootfs" || root->fsType == "ramfs") return true;
  bool parentless = root->parent == root->id || ids.count(root->parent) == 0;
  return root->fsType == "tmpfs" && parentless;
}

std::vector<std::string> mountsUnder(std::string_view mountinfo, std::string_view dir) {
  std::vector<std::string> out;
  for (const auto& l : parseMountinfo(mountinfo)) {
    if (l.mountPoint == dir || under(l.mountPoint, dir)) out.push_back(l.mountPoint);
  }
  return out;
}

}  // namespace schedkit::agent
