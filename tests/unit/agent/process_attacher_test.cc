#include "attach/process_attacher.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

namespace schedkit::agent {
namespace {

using nlohmann::json;
using policy::SchedulerMode;

// crun as a script: containers live in a map, every call is recorded, failures are injected.
class FakeCrun final : public CommandRunner {
 public:
  struct Call {
    std::vector<std::string> argv;
    CommandIo io;
  };

  Result<CommandOutput> run(const std::vector<std::string>& argv, const CommandIo& io) override {
    calls.push_back({argv, io});
    if (missing) return notFound("run crun: No such file or directory (ENOENT)");
    // crun --root R [--log=...] <command> ...
    std::size_t i = 3;
    std::string logFile;
    if (i < argv.size() && argv[i].rfind("--log=file:", 0) == 0) logFile = argv[i++].substr(11);
    const std::string& cmd = argv.at(i);
    const std::string& id = argv.back();
    CommandOutput out;
    if (cmd == "state") {
      if (stateOutput) {
        out.out = *stateOutput;
        return out;
      }
      auto it = containers.find(id);
      if (it == containers.end()) {
        out.exitCode = 1;
        out.err = "error opening file `/run/crun/" + id + "/status`: No such file or directory\n";
        return out;
      }
      out.out = json{{"ociVersion", "1.0.0"}, {"id", id}, {"pid", it->second.pid},
                     {"status", it->second.status}, {"bundle", "/b"}}.dump(2);
      return out;
    }
    if (cmd == "run") {
      std::string msg = "scheduler says hello\n";
      if (io.stdoutFd >= 0) {
        EXPECT_EQ(::write(io.stdoutFd, msg.data(), msg.size()), ssize_t(msg.size()));
      }
      if (runExit != 0) {
        std::ofstream(logFile) << runError << "\n";
        std::string e = runError + "\n";
        if (io.stderrFd >= 0) {
          EXPECT_EQ(::write(io.stderrFd, e.data(), e.size()), ssize_t(e.size()));
        }
        out.exitCode = runExit;
        return out;
      }
      containers[id] = {id, statusAfterRun, statusAfterRun == "running" ? pidAfterRun : 0};
      return out;
    }
    if (cmd == "kill") {
      auto it = containers.find(id == "TERM" || id == "KILL" ? argv.at(i + 1) : id);
      if (it == containers.end() || it->second.status != "running") {
        out.exitCode = 1;
        out.err = "container not running\n";
      } else if (killExit != 0) {
        out.exitCode = killExit;
        out.err = "kill failed\n";
      } else {
        it->second.status = "stopped";
        it->second.pid = 0;
      }
      return out;
    }
    if (cmd == "delete") {
      if (containers.erase(id) == 0) {
        out.exitCode = 1;
        out.err = "error opening file `/run/crun/" + id + "/status`: No such file or directory\n";
      }
      return out;
    }
    out.exitCode = 2;
    out.err = "unknown command " + cmd;
    return out;
  }

  // The subcommands in call order: "state", "run", ...
  std::vector<std::string> commands() const {
    std::vector<std::string> out;
    for (const auto& c : calls) {
      std::size_t i = 3;
      if (c.argv.size() > i && c.argv[i].rfind("--log=", 0) == 0) ++i;
      out.push_back(c.argv.at(i));
    }
    return out;
  }
  const Call* find(const std::string& cmd) const {
    for (const auto& c : calls) {
      if (std::find(c.argv.begin(), c.argv.end(), cmd) != c.argv.end()) return &c;
    }
    return nullptr;
  }

  std::map<std::string, CrunState> containers;
  std::vector<Call> calls;
  bool missing = false;
  int runExit = 0;
  std::string runError;
  int killExit = 0;
  std::string statusAfterRun = "running";
  std::int64_t pidAfterRun = 4242;
  std::optional<std::string> stateOutput;
};

Attachment att(std::string id, std::int64_t pid = 0, std::string logPath = "") {
  Attachment a;
  a.id = std::move(id);
  a.pid = pid;
  a.logPath = std::move(logPath);
  return a;
}

constexpr const char* kOverlayMountinfo =
    "22 1 0:21 / / rw,relatime - overlay overlay rw,lowerdir=/l\n"
    "23 22 0:22 / /proc rw,nosuid - proc proc rw\n";
constexpr const char* kInitramfsMountinfo =
    "1 1 0:2 / / rw - rootfs rootfs rw,size=493036k\n"
    "12 1 0:5 / /dev rw,relatime - devtmpfs devtmpfs rw\n";

class ProcessAttacherTest : public ::testing::Test {
 protected:
  ProcessAttacherTest()
      : log_(clock_, [this](std::string_view l) { logLines_.emplace_back(l); }, LogFormat::kText,
             LogLevel::kDebug) {}

  void SetUp() override {
    char tmpl[] = "/tmp/schedkit-pa-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    fs_ = std::make_unique<HostFilesystem>(root_);
    // A merged-/usr host with bpffs, cgroup2 and debugfs mount points.
    for (const char* d : {"/usr/bin", "/usr/lib", "/usr/sbin", "/etc", "/dev", "/sys/fs/bpf",
                          "/sys/fs/cgroup", "/sys/kernel/debug", "/proc/self"}) {
      ASSERT_TRUE(fs_->makeDirs(d).isOk());
    }
    ASSERT_EQ(::symlink("usr/bin", (root_ + "/bin").c_str()), 0);
    ASSERT_EQ(::symlink("usr/lib", (root_ + "/lib").c_str()), 0);
    setMountinfo(kOverlayMountinfo);
  }
  void TearDown() override {
    if (HasFailure()) {
      for (const auto& l : logLines_) std::fprintf(stderr, "  log: %s", l.c_str());
    }
    attacher_.reset();
    std::system(("rm -rf " + root_).c_str());
  }

  void setMountinfo(const std::string& text) {
    ASSERT_TRUE(fs_->writeFileAtomic("/proc/self/mountinfo", text).isOk());
  }

  ProcessAttacher& attacher(ProcessAttacherOptions o = {}, EventLoop* loop = nullptr) {
    attacher_ = std::make_unique<ProcessAttacher>(*fs_, loop, log_, clock_, crun_, o);
    return *attacher_;
  }

  static LaunchSpec hostPathSpec(const std::string& policy = "lavd") {
    LaunchSpec s;
    s.policy = policy;
    s.revision = "rev1";
    s.path = "/usr/bin/scx_lavd";
    s.args = {"--performance", "-v"};
    s.env = {{"RUST_LOG", "info"}};
    return s;
  }

  json config(const std::string& id = "schedkit-lavd") {
    auto text = fs_->readFile("/var/lib/schedkit/bundles/" + id + "/config.json");
    EXPECT_TRUE(text.isOk()) << text.status().toString();
    return text.isOk() ? json::parse(*text) : json();
  }
  static const json* mountAt(const json& cfg, const std::string& dest) {
    for (const auto& m : cfg["mounts"]) {
      if (m["destination"] == dest) return &m;
    }
    return nullptr;
  }
  static std::vector<std::string> strings(const json& j) { return j.get<std::vector<std::string>>(); }
  std::string host(const std::string& p) const { return root_ + p; }
  static std::string release() {
    struct utsname u {};
    return ::uname(&u) == 0 ? u.release : "";
  }

  SimClock clock_;
  std::vector<std::string> logLines_;
  Logger log_;
  std::string root_;
  std::unique_ptr<HostFilesystem> fs_;
  FakeCrun crun_;
  std::unique_ptr<ProcessAttacher> attacher_;
};

// ---- ids ----

struct IdCase {
  std::string policy;
  std::string id;
};
class ContainerIdTest : public ::testing::TestWithParam<IdCase> {};

TEST_P(ContainerIdTest, IsSanitized) { EXPECT_EQ(containerIdFor(GetParam().policy), GetParam().id); }

INSTANTIATE_TEST_SUITE_P(
    Names, ContainerIdTest,
    ::testing::Values(IdCase{"lavd", "schedkit-lavd"},
                      IdCase{"lavd-prod.v2", "schedkit-lavd-prod.v2"},
                      IdCase{"Mixed_Case", "schedkit-mixed_case"},
                      IdCase{"a/b c;$(x)", "schedkit-a-b-c---x-"},
                      IdCase{"..", "schedkit-unnamed"}, IdCase{"../etc", "schedkit--etc"},
                      IdCase{"", "schedkit-unnamed"}));

TEST(ContainerIdLongTest, IsCappedAndStaysDistinct) {
  std::string a(200, 'a'), b = std::string(199, 'a') + "b";
  std::string ida = containerIdFor(a), idb = containerIdFor(b);
  EXPECT_EQ(ida.size(), 64u);
  EXPECT_EQ(idb.size(), 64u);
  EXPECT_NE(ida, idb);
  EXPECT_EQ(ida.rfind("schedkit-aaaa", 0), 0u);
  EXPECT_EQ(containerIdFor(a), ida) << "stable across calls and agent restarts";
}

// ---- config.json ----

TEST_F(ProcessAttacherTest, HostPathConfigRunsTheBinaryWithHostNamespacesAndCaps) {
  auto a = attacher().start(hostPathSpec());
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  json cfg = config();
  const json& p = cfg["process"];
  EXPECT_EQ(strings(p["args"]), (std::vector<std::string>{"/usr/bin/scx_lavd", "--performance", "-v"}));
  EXPECT_EQ(strings(p["env"]),
            (std::vector<std::string>{"RUST_LOG=info",
                                      "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}));
  EXPECT_EQ(p["terminal"], false);
  EXPECT_EQ(p["cwd"], "/");
  EXPECT_EQ(p["noNewPrivileges"], false);
  EXPECT_EQ(p["user"]["uid"], 0);
  std::vector<std::string> caps{"CAP_SYS_ADMIN", "CAP_BPF", "CAP_PERFMON", "CAP_SYS_RESOURCE"};
  for (const char* set : {"bounding", "effective", "permitted"}) {
    EXPECT_EQ(strings(p["capabilities"][set]), caps) << set;
  }
  EXPECT_EQ(cfg["linux"]["namespaces"], json::parse(R"([{"type":"mount"}])"));
  EXPECT_EQ(cfg["linux"]["cgroupsPath"], "/schedkit/schedkit-lavd");
  EXPECT_FALSE(cfg.contains("hostname"));
  EXPECT_FALSE(cfg["linux"].contains("seccomp"));
  EXPECT_EQ(cfg["root"]["path"], host("/var/lib/schedkit/bundles/schedkit-lavd/rootfs"));
  EXPECT_EQ(cfg["root"]["readonly"], true);
  EXPECT_EQ(cfg["annotations"]["io.schedkit.policy"], "lavd");
}

TEST_F(ProcessAttacherTest, HostPathConfigMountsKernelFilesystemsAndHostDirsReadOnly) {
  ASSERT_TRUE(attacher().start(hostPathSpec()).isOk());
  json cfg = config();
  std::vector<std::string> dests;
  for (const auto& m : cfg["mounts"]) dests.push_back(m["destination"]);
  EXPECT_EQ(dests, (std::vector<std::string>{"/proc", "/dev", "/sys", "/sys/fs/cgroup",
                                             "/sys/fs/bpf", "/sys/kernel/debug", "/run",
                                             "/run/scx", "/var/run/scx", "/tmp", "/usr",
                                             "/etc"}));
  EXPECT_EQ((*mountAt(cfg, "/var/run/scx"))["source"], host("/run/scx"))
      << "scx_stats' default /var/run/scx is the same host directory";
  EXPECT_EQ(mountAt(cfg, "/boot/config-" + release()), nullptr) << "this host has no config";
  EXPECT_EQ((*mountAt(cfg, "/proc"))["type"], "proc");
  EXPECT_EQ((*mountAt(cfg, "/dev"))["source"], host("/dev"));
  EXPECT_EQ(strings((*mountAt(cfg, "/dev"))["options"])[0], "rbind");
  EXPECT_EQ(strings((*mountAt(cfg, "/sys"))["options"]), (std::vector<std::string>{"bind", "rw"}));
  EXPECT_EQ((*mountAt(cfg, "/sys/fs/bpf"))["source"], host("/sys/fs/bpf"));
  EXPECT_EQ((*mountAt(cfg, "/run/scx"))["source"], host("/run/scx"));
  EXPECT_EQ(strings((*mountAt(cfg, "/run/scx"))["options"]), (std::vector<std::string>{"bind", "rw"}));
  EXPECT_TRUE(fs_->isDirectory("/run/scx")) << "the scx_stats socket dir is made on the host";
  for (const char* d : {"/usr", "/etc"}) {
    EXPECT_EQ((*mountAt(cfg, d))["source"], host(d));
    EXPECT_EQ(strings((*mountAt(cfg, d))["options"]), (std::vector<std::string>{"bind", "ro"})) << d;
  }
  // Merged /usr: the links are recreated in the bundle instead of bound twice; no tracefs here.
  EXPECT_EQ(mountAt(cfg, "/bin"), nullptr);
  EXPECT_EQ(mountAt(cfg, "/sys/kernel/tracing"), nullptr);
  char target[64] = {};
  ASSERT_GT(::readlink(host("/var/lib/schedkit/bundles/schedkit-lavd/rootfs/bin").c_str(), target,
                       sizeof target - 1), 0);
  EXPECT_STREQ(target, "usr/bin");
}

TEST_F(ProcessAttacherTest, BinaryOutsideTheHostDirsIsBoundOnItsOwn) {
  LaunchSpec s = hostPathSpec();
  s.path = "/opt/scx/scx_lavd";
  ASSERT_TRUE(attacher().start(s).isOk());
  json cfg = config();
  const json* m = mountAt(cfg, "/opt/scx/scx_lavd");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ((*m)["source"], host("/opt/scx/scx_lavd"));
  EXPECT_EQ(strings((*m)["options"]), (std::vector<std::string>{"bind", "ro"}));
}

TEST_F(ProcessAttacherTest, PartialModeAppendsThePartialFlag) {
  LaunchSpec s = hostPathSpec();
  s.mode = SchedulerMode::kPartial;
  ASSERT_TRUE(attacher().start(s).isOk());
  EXPECT_EQ(strings(config()["process"]["args"]),
            (std::vector<std::string>{"/usr/bin/scx_lavd", "--performance", "-v", "--partial"}));
}

TEST_F(ProcessAttacherTest, ImageSchedulerUsesTheUnpackedImageAsReadOnlyRoot) {
  ASSERT_TRUE(fs_->makeDirs("/var/lib/schedkit/images/sha256-abc/rootfs").isOk());
  LaunchSpec s = hostPathSpec();
  s.rootfs = "/var/lib/schedkit/images/sha256-abc/rootfs";
  s.path = "/usr/bin/scx_lavd";
  s.image = "registry.example/scx@sha256:abc";
  s.env = {{"PATH", "/opt/bin"}};
  ASSERT_TRUE(attacher().start(s).isOk());
  json cfg = config();
  EXPECT_EQ(cfg["root"]["path"], host("/var/lib/schedkit/images/sha256-abc/rootfs"));
  EXPECT_EQ(cfg["root"]["readonly"], true);
  EXPECT_EQ(mountAt(cfg, "/usr"), nullptr) << "an image brings its own /usr";
  EXPECT_EQ(mountAt(cfg, "/etc"), nullptr);
  EXPECT_NE(mountAt(cfg, "/sys/fs/bpf"), nullptr);
  EXPECT_EQ(strings(cfg["process"]["env"]), (std::vector<std::string>{"PATH=/opt/bin"}));
  EXPECT_EQ(cfg["annotations"]["io.schedkit.image"], "registry.example/scx@sha256:abc");
  EXPECT_FALSE(fs_->exists("/var/lib/schedkit/bundles/schedkit-lavd/rootfs"));
}

TEST_F(ProcessAttacherTest, TheHostKernelConfigIsBoundReadOnlyForHostPathAndImageSchedulers) {
  // libbpf reads __kconfig externs from /boot/config-$(uname -r); an image has no /boot.
  const std::string kconfig = "/boot/config-" + release();
  ASSERT_TRUE(fs_->makeDirs("/boot").isOk());
  ASSERT_TRUE(fs_->writeFileAtomic(kconfig, "CONFIG_NR_CPUS=64\n").isOk());
  ASSERT_TRUE(fs_->makeDirs("/var/lib/schedkit/images/sha256-abc/rootfs").isOk());
  LaunchSpec image = hostPathSpec("img");
  image.rootfs = "/var/lib/schedkit/images/sha256-abc/rootfs";
  for (const LaunchSpec& s : {hostPathSpec(), image}) {
    ASSERT_TRUE(attacher().start(s).isOk());
    json cfg = config(containerIdFor(s.policy));
    const json* m = mountAt(cfg, kconfig);
    ASSERT_NE(m, nullptr) << s.policy;
    EXPECT_EQ((*m)["source"], host(kconfig));
    EXPECT_EQ(strings((*m)["options"]), (std::vector<std::string>{"bind", "ro"}));
  }
}

TEST_F(ProcessAttacherTest, MissingImageRootIsAnError) {
  LaunchSpec s = hostPathSpec();
  s.rootfs = "/var/lib/schedkit/images/gone/rootfs";
  auto a = attacher().start(s);
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("/var/lib/schedkit/images/gone/rootfs is not a directory"),
            std::string::npos) << a.status().toString();
  EXPECT_EQ(crun_.find("run"), nullptr);
}

// ---- crun command lines ----

TEST_F(ProcessAttacherTest, StartRunsCrunDetachedAndReadsThePidFromState) {
  auto a = attacher().start(hostPathSpec());
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->id, "schedkit-lavd");
  EXPECT_EQ(a->type, policy::SchedulerType::kBinary);
  EXPECT_EQ(a->pid, 4242);
  EXPECT_EQ(a->logPath, "/var/lib/schedkit/run/schedkit-lavd.log");
  EXPECT_EQ(a->spec, hostPathSpec());
  EXPECT_EQ(crun_.commands(), (std::vector<std::string>{"state", "run", "state"}));
  std::string bundle = host("/var/lib/schedkit/bundles/schedkit-lavd");
  EXPECT_EQ(crun_.calls[0].argv, (std::vector<std::string>{"crun", "--root", host("/run/schedkit/crun"),
                                                            "state", "schedkit-lavd"}));
  EXPECT_EQ(crun_.calls[1].argv,
            (std::vector<std::string>{"crun", "--root", host("/run/schedkit/crun"),
                                      "--log=file:" + bundle + "/crun.log", "run", "--detach",
                                      "--bundle", bundle, "schedkit-lavd"}));
  // The container's stdout and stderr are the log file, which it keeps after crun returns.
  EXPECT_GE(crun_.calls[1].io.stdoutFd, 0);
  EXPECT_EQ(crun_.calls[1].io.stdoutFd, crun_.calls[1].io.stderrFd);
  EXPECT_EQ(*fs_->readFile("/var/lib/schedkit/run/schedkit-lavd.log"), "scheduler says hello\n");
  EXPECT_EQ(attacher_->tail(*a, 5), "scheduler says hello");
}

TEST_F(ProcessAttacherTest, NoPivotFollowsTheOptionOrTheRootFilesystem) {
  auto runHasNoPivot = [&](ProcessAttacherOptions::NoPivot mode) {
    crun_.calls.clear();
    crun_.containers.clear();
    ProcessAttacherOptions o;
    o.noPivot = mode;
    EXPECT_TRUE(attacher(o).start(hostPathSpec()).isOk());
    const auto* run = crun_.find("run");
    return run != nullptr &&
           std::find(run->argv.begin(), run->argv.end(), "--no-pivot") != run->argv.end();
  };
  using NP = ProcessAttacherOptions::NoPivot;
  EXPECT_FALSE(runHasNoPivot(NP::kAuto)) << "overlay root";
  EXPECT_TRUE(runHasNoPivot(NP::kOn));
  setMountinfo(kInitramfsMountinfo);
  EXPECT_TRUE(runHasNoPivot(NP::kAuto)) << "initramfs root";
  EXPECT_FALSE(runHasNoPivot(NP::kOff));
}

TEST_F(ProcessAttacherTest, OptionsPlaceEverything) {
  ProcessAttacherOptions o = ProcessAttacherOptions::forStateDir("/srv/sk");
  o.crunPath = "/opt/crun/bin/crun";
  o.runtimeRoot = "/run/sk-crun";
  o.cgroupParent = "/system.slice/schedkit";
  auto a = attacher(o).start(hostPathSpec());
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(a->logPath, "/srv/sk/run/schedkit-lavd.log");
  EXPECT_EQ(crun_.calls[0].argv[0], "/opt/crun/bin/crun");
  EXPECT_EQ(crun_.calls[0].argv[2], host("/run/sk-crun"));
  EXPECT_TRUE(fs_->exists("/srv/sk/bundles/schedkit-lavd/config.json"));
  EXPECT_FALSE(fs_->exists("/var/lib/schedkit")) << "nothing under the default state dir";
  auto cfg = json::parse(*fs_->readFile("/srv/sk/bundles/schedkit-lavd/config.json"));
  EXPECT_EQ(cfg["linux"]["cgroupsPath"], "/system.slice/schedkit/schedkit-lavd");
}

TEST_F(ProcessAttacherTest, StaleContainerWithTheSameIdIsDeletedFirst) {
  crun_.containers["schedkit-lavd"] = {"schedkit-lavd", "stopped", 0};
  ASSERT_TRUE(fs_->makeDirs("/var/lib/schedkit/bundles/schedkit-lavd/rootfs/usr").isOk());
  ASSERT_TRUE(fs_->writeFileAtomic("/var/lib/schedkit/bundles/schedkit-lavd/old", "x").isOk());
  auto a = attacher().start(hostPathSpec());
  ASSERT_TRUE(a.isOk()) << a.status().toString();
  EXPECT_EQ(crun_.commands(), (std::vector<std::string>{"state", "delete", "run", "state"}));
  EXPECT_EQ(crun_.calls[1].argv, (std::vector<std::string>{"crun", "--root", host("/run/schedkit/crun"),
                                                            "delete", "--force", "schedkit-lavd"}));
  EXPECT_FALSE(fs_->exists("/var/lib/schedkit/bundles/schedkit-lavd/old")) << "old bundle replaced";
}

// ---- errors ----

TEST_F(ProcessAttacherTest, MissingCrunIsAClearError) {
  crun_.missing = true;
  auto a = attacher().start(hostPathSpec());
  ASSERT_FALSE(a.isOk());
  EXPECT_EQ(a.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(a.status().message().find("the OCI runtime 'crun' was not found (install crun or set "
                                      "the crun path)"),
            std::string::npos)
      << a.status().toString();
  EXPECT_EQ(crun_.calls.size(), 1u) << "gives up before writing a bundle";
  EXPECT_FALSE(fs_->exists("/var/lib/schedkit/bundles/schedkit-lavd"));
}

TEST_F(ProcessAttacherTest, FailedRunReportsCrunsError) {
  crun_.runExit = 1;
  crun_.runError = "executable file `/usr/bin/scx_lavd` not found";
  auto a = attacher().start(hostPathSpec());
  ASSERT_FALSE(a.isOk());
  EXPECT_EQ(a.status().message(),
            "crun run schedkit-lavd: exit 1: executable file `/usr/bin/scx_lavd` not found");
  EXPECT_FALSE(fs_->exists("/var/lib/schedkit/bundles/schedkit-lavd")) << "bundle removed";
  EXPECT_EQ(crun_.commands().back(), "delete") << "no half-created container is left";
}

TEST_F(ProcessAttacherTest, GarbageFromCrunStateIsAnError) {
  auto& pa = attacher();
  crun_.stateOutput = "not json at all";
  // The stale check sees garbage too; it is not "no such container" and not fatal.
  auto a = pa.start(hostPathSpec());
  ASSERT_FALSE(a.isOk());
  EXPECT_NE(a.status().message().find("crun state schedkit-lavd: crun state printed no JSON object: "
                                      "'not json at all'"),
            std::string::npos)
      << a.status().toString();
}

TEST_F(ProcessAttacherTest, SchedulerThatExitsAtOnceIsAnErrorWithItsOutput) {
  crun_.statusAfterRun = "stopped";
  auto a = attacher().start(hostPathSpec());
  ASSERT_FALSE(a.isOk());
  EXPECT_EQ(a.status().message(),
            "scheduler container schedkit-lavd is stopped right after start; it printed: scheduler "
            "says hello");
  EXPECT_TRUE(crun_.containers.empty());
}

TEST_F(ProcessAttacherTest, EmptyPathIsRejected) {
  LaunchSpec s = hostPathSpec();
  s.path.clear();
  EXPECT_EQ(attacher().start(s).status().code(), StatusCode::kInvalidArgument);
}

// ---- running / stop / cleanup ----

TEST_F(ProcessAttacherTest, RunningNeedsCrunToAgreeOnThePid) {
  auto& pa = attacher();
  auto a = pa.start(hostPathSpec());
  ASSERT_TRUE(a.isOk());
  EXPECT_TRUE(pa.running(*a));
  Attachment reused = *a;
  reused.pid = 999;
  EXPECT_FALSE(pa.running(reused)) << "same container, other pid: not ours";
  crun_.containers["schedkit-lavd"].status = "stopped";
  EXPECT_FALSE(pa.running(*a));
  crun_.containers.clear();
  EXPECT_FALSE(pa.running(*a));
  EXPECT_FALSE(pa.running(Attachment{}));
}

TEST_F(ProcessAttacherTest, RunningFallsBackToTheProcessWhenCrunIsUnusable) {
  auto& pa = attacher();
  crun_.missing = true;
  EXPECT_TRUE(pa.running(att("schedkit-lavd", ::getpid())));
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  EXPECT_FALSE(pa.running(att("schedkit-lavd", child)));
}

TEST_F(ProcessAttacherTest, StopSendsTermOrKillThroughCrun) {
  auto& pa = attacher();
  auto a = pa.start(hostPathSpec());
  ASSERT_TRUE(a.isOk());
  crun_.calls.clear();
  ASSERT_TRUE(pa.stop(*a, false).isOk());
  EXPECT_EQ(crun_.calls[0].argv, (std::vector<std::string>{"crun", "--root", host("/run/schedkit/crun"),
                                                            "kill", "schedkit-lavd", "TERM"}));
  crun_.containers["schedkit-lavd"] = {"schedkit-lavd", "running", 4242};
  crun_.calls.clear();
  ASSERT_TRUE(pa.stop(*a, true).isOk());
  EXPECT_EQ(crun_.calls[0].argv.back(), "KILL");
  // Already stopped: crun kill fails, but the goal is reached.
  EXPECT_TRUE(pa.stop(*a, false).isOk());
  EXPECT_TRUE(pa.stop(Attachment{}, false).isOk());
}

TEST_F(ProcessAttacherTest, StopFailureOnARunningSchedulerIsReported) {
  auto& pa = attacher();
  auto a = pa.start(hostPathSpec());
  ASSERT_TRUE(a.isOk());
  crun_.killExit = 1;
  Status s = pa.stop(*a, false);
  EXPECT_EQ(s.message(), "crun kill schedkit-lavd TERM: exit 1: kill failed");
}

TEST_F(ProcessAttacherTest, CleanupDeletesTheContainerAndBundleKeepsTheLogAndIsIdempotent) {
  auto& pa = attacher();
  auto a = pa.start(hostPathSpec());
  ASSERT_TRUE(a.isOk());
  ASSERT_TRUE(fs_->exists("/var/lib/schedkit/bundles/schedkit-lavd/rootfs/bin"));
  crun_.calls.clear();
  pa.cleanup(*a);
  EXPECT_EQ(crun_.commands(), (std::vector<std::string>{"delete"}));
  EXPECT_TRUE(crun_.containers.empty());
  EXPECT_FALSE(fs_->exists("/var/lib/schedkit/bundles/schedkit-lavd"));
  EXPECT_TRUE(fs_->exists("/var/lib/schedkit/bundles")) << "only this scheduler's bundle goes";
  EXPECT_TRUE(fs_->exists("/usr/bin")) << "the host's link targets are untouched";
  EXPECT_EQ(pa.tail(*a, 1), "scheduler says hello") << "the log outlives the container";
  pa.cleanup(*a);  // twice: "no such container" is fine
  pa.cleanup(Attachment{});
  pa.cleanup(att("schedkit-unknown"));
  for (const auto& l : logLines_) EXPECT_EQ(l.find("WARN"), std::string::npos) << l;
}

TEST_F(ProcessAttacherTest, BundleWithAMountInsideIsNotRemoved) {
  auto& pa = attacher();
  auto a = pa.start(hostPathSpec());
  ASSERT_TRUE(a.isOk());
  setMountinfo(std::string(kOverlayMountinfo) + "40 22 0:30 / " +
               host("/var/lib/schedkit/bundles/schedkit-lavd/rootfs/usr") + " ro - ext4 /dev/sda1 ro\n");
  pa.cleanup(*a);
  EXPECT_TRUE(fs_->exists("/var/lib/schedkit/bundles/schedkit-lavd/config.json"));
}

TEST_F(ProcessAttacherTest, EachStartKeepsThePreviousLogAndCleanupCapsTheLog) {
  ProcessAttacherOptions o;
  o.maxLogBytes = 64;
  auto& pa = attacher(o);
  auto a = pa.start(hostPathSpec());
  ASSERT_TRUE(a.isOk());
  std::ofstream(host(a->logPath), std::ios::app) << "first run's last words\n";
  pa.cleanup(*a);
  a = pa.start(hostPathSpec());
  ASSERT_TRUE(a.isOk());
  EXPECT_EQ(*fs_->readFile(a->logPath + ".prev"), "scheduler says hello\nfirst run's last words\n");
  EXPECT_EQ(*fs_->readFile(a->logPath), "scheduler says hello\n");
  {
    std::ofstream out(host(a->logPath), std::ios::app);
    for (int i = 0; i < 100; ++i) out << "line " << i << "\n";
  }
  pa.cleanup(*a);
  std::string kept = *fs_->readFile(a->logPath);
  EXPECT_LE(kept.size(), 64u);
  EXPECT_EQ(kept.substr(kept.size() - 8), "line 99\n");
  EXPECT_EQ(kept.rfind("line ", 0), 0u) << "cut at a line boundary: " << kept;
}

// ---- tail ----

TEST_F(ProcessAttacherTest, TailReturnsTheLastNonEmptyLinesFromABoundedRead) {
  auto& pa = attacher();
  Attachment a = att("schedkit-lavd", 0, "/var/lib/schedkit/run/schedkit-lavd.log");
  EXPECT_EQ(pa.tail(a, 5), "") << "no log yet";
  ASSERT_TRUE(fs_->makeDirs("/var/lib/schedkit/run").isOk());
  std::string big(200 * 1024, 'x');
  ASSERT_TRUE(fs_->writeFileAtomic(a.logPath, big + "\nfirst\n\n  \nsecond\r\nthird\n\n\n").isOk());
  EXPECT_EQ(pa.tail(a, 2), "second\nthird");
  EXPECT_EQ(pa.tail(a, 3), "first\nsecond\nthird");
  EXPECT_EQ(pa.tail(a, 10), "first\nsecond\nthird") << "the cut 200 KiB line is not returned";
  EXPECT_EQ(pa.tail(a, 0), "");
  ASSERT_TRUE(fs_->writeFileAtomic(a.logPath, "no newline at the end").isOk());
  EXPECT_EQ(pa.tail(a, 2), "no newline at the end");
  EXPECT_EQ(pa.tail(att("schedkit-lavd"), 1), "no newline at the end")
      << "the log path follows from the id";
}

// ---- watch ----

TEST_F(ProcessAttacherTest, WatchWithoutAnEventLoopFails) {
  EXPECT_EQ(attacher().watch(att("x", 1), [](const std::string&) {}).code(),
            StatusCode::kFailedPrecondition);
}

class ProcessAttacherWatchTest : public ProcessAttacherTest {
 protected:
  RealClock realClock_;
  EventLoop loop_{realClock_};

  // Runs the loop until `done` or 10 s pass; returns as soon as an event arrives.
  void runUntil(const bool& done) {
    MonoTime give_up = realClock_.now() + std::chrono::seconds(10);
    while (!done && realClock_.now() < give_up) {
      ASSERT_TRUE(loop_.runOnce(std::chrono::seconds(1)).isOk());
    }
  }
};

TEST_F(ProcessAttacherWatchTest, ReportsTheExitOfTheProcessAndReapsItIfItIsOurs) {
  int gate[2];
  ASSERT_EQ(::pipe(gate), 0);
  pid_t child = ::fork();
  if (child == 0) {
    char c;
    ::close(gate[1]);
    [[maybe_unused]] auto n = ::read(gate[0], &c, 1);  // until the test closes its end
    ::_exit(0);
  }
  ::close(gate[0]);
  crun_.containers["schedkit-lavd"] = {"schedkit-lavd", "running", child};
  auto& pa = attacher({}, &loop_);
  std::vector<std::string> exited;
  bool done = false;
  Attachment a = att("schedkit-lavd", child);
  ASSERT_TRUE(pa.watch(a, [&](const std::string& id) {
                  exited.push_back(id);
                  done = true;
                }).isOk());
  ASSERT_TRUE(loop_.runOnce(std::chrono::milliseconds(0)).isOk());
  EXPECT_TRUE(exited.empty());
  ::close(gate[1]);
  runUntil(done);
  EXPECT_EQ(exited, (std::vector<std::string>{"schedkit-lavd"}));
  int st = 0;
  EXPECT_EQ(::waitpid(child, &st, WNOHANG), -1) << "already reaped: no zombie left";
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(ProcessAttacherWatchTest, AProcessAlreadyGoneIsReportedFromTheLoop) {
  pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  int st = 0;
  ASSERT_EQ(::waitpid(child, &st, 0), child);
  auto& pa = attacher({}, &loop_);
  bool done = false;
  ASSERT_TRUE(pa.watch(att("schedkit-lavd", child),
                       [&](const std::string&) { done = true; }).isOk());
  EXPECT_FALSE(done) << "never from inside watch()";
  runUntil(done);
  EXPECT_TRUE(done);
}

TEST_F(ProcessAttacherWatchTest, APidThatCrunDoesNotOwnIsReportedGone) {
  // Alive, but crun says the container's pid is another: the pid was reused.
  crun_.containers["schedkit-lavd"] = {"schedkit-lavd", "running", 1};
  auto& pa = attacher({}, &loop_);
  bool done = false;
  ASSERT_TRUE(pa.watch(att("schedkit-lavd", ::getpid()),
                       [&](const std::string&) { done = true; }).isOk());
  runUntil(done);
  EXPECT_TRUE(done);
}

// ---- mountinfo ----

struct MountinfoCase {
  std::string name;
  std::string text;
  bool initramfs;
};
class RootIsInitramfsTest : public ::testing::TestWithParam<MountinfoCase> {};

TEST_P(RootIsInitramfsTest, Detects) { EXPECT_EQ(rootIsInitramfs(GetParam().text), GetParam().initramfs); }

INSTANTIATE_TEST_SUITE_P(
    Roots, RootIsInitramfsTest,
    ::testing::Values(
        MountinfoCase{"rootfs", kInitramfsMountinfo, true},
        MountinfoCase{"ramfs", "1 0 0:2 / / rw - ramfs none rw\n", true},
        MountinfoCase{"tmpfs_without_parent", "5 3 0:30 / / rw - tmpfs tmpfs rw\n", true},
        MountinfoCase{"tmpfs_on_a_parent",
                      "1 1 0:2 / / rw - ext4 /dev/vda rw\n7 1 0:30 / / rw - tmpfs tmpfs rw\n"
                      "2 7 0:3 / /proc rw - proc proc rw\n",
                      false},
        MountinfoCase{"overlay", kOverlayMountinfo, false},
        MountinfoCase{"ext4_with_optional_fields",
                      "29 1 8:1 / / rw,relatime shared:1 master:2 - ext4 /dev/sda1 rw\n", false},
        MountinfoCase{"garbage", "nonsense\n\n", false}),
    [](const auto& p) { return p.param.name; });

TEST(MountsUnderTest, FindsMountsBelowADirectoryWithEscapedNames) {
  std::string mi =
      "1 0 0:1 / / rw - ext4 /dev/sda1 rw\n"
      "2 1 0:2 / /var/lib/b/rootfs/usr ro - ext4 /dev/sda1 ro\n"
      "3 1 0:3 / /var/lib/bb ro - tmpfs t rw\n"
      "4 1 0:4 / /var/lib/b\\040x rw - tmpfs t rw\n";
  EXPECT_EQ(mountsUnder(mi, "/var/lib/b"), (std::vector<std::string>{"/var/lib/b/rootfs/usr"}));
  EXPECT_EQ(mountsUnder(mi, "/var/lib/b x"), (std::vector<std::string>{"/var/lib/b x"}));
}

TEST(ParseCrunStateTest, ReadsStatusAndPid) {
  auto s = parseCrunState(R"({"ociVersion":"1.0.0","id":"x","pid":77,"status":"running",
                              "bundle":"/b","rootfs":"/r","created":"2026-01-01T00:00:00Z"})");
  ASSERT_TRUE(s.isOk());
  EXPECT_EQ(s->id, "x");
  EXPECT_EQ(s->status, "running");
  EXPECT_EQ(s->pid, 77);
  EXPECT_EQ(parseCrunState(R"({"id":"x","status":"stopped"})")->pid, 0);
  EXPECT_FALSE(parseCrunState("[1,2]").isOk());
  EXPECT_FALSE(parseCrunState(R"({"status":7})").isOk());
}

// ---- the real command runner ----

TEST(SpawnCommandRunnerTest, CapturesOutputAndExitStatus) {
  RealClock clock;
  SpawnCommandRunner r(clock);
  auto ok = r.run({"sh", "-c", "echo out; echo err >&2; exit 3"});
  ASSERT_TRUE(ok.isOk()) << ok.status().toString();
  EXPECT_EQ(ok->out, "out\n");
  EXPECT_EQ(ok->err, "err\n");
  EXPECT_EQ(ok->exitCode, 3);
  EXPECT_EQ(ok->describe(), "exit 3");
  auto killed = r.run({"sh", "-c", "kill -9 $$"});
  ASSERT_TRUE(killed.isOk());
  EXPECT_EQ(killed->termSignal, 9);
  EXPECT_FALSE(killed->succeeded());
}

TEST(SpawnCommandRunnerTest, MissingProgramIsNotFound) {
  RealClock clock;
  SpawnCommandRunner r(clock);
  auto res = r.run({"/nonexistent/schedkit-crun"});
  ASSERT_FALSE(res.isOk());
  EXPECT_EQ(res.status().code(), StatusCode::kNotFound);
}

TEST(SpawnCommandRunnerTest, ChildrenGetAnEmptySignalMaskAndDefaultHandlers) {
  // The agent blocks SIGTERM for its signalfd; a scheduler must not inherit that.
  sigset_t term, old;
  sigemptyset(&term);
  sigaddset(&term, SIGTERM);
  ASSERT_EQ(::pthread_sigmask(SIG_BLOCK, &term, &old), 0);
  RealClock clock;
  SpawnCommandRunner r(clock);
  auto res = r.run({"grep", "-E", "^(SigBlk|SigIgn)", "/proc/self/status"});
  ::pthread_sigmask(SIG_SETMASK, &old, nullptr);
  ASSERT_TRUE(res.isOk());
  // glibc keeps its two internal real-time signals (32, 33) to itself; the rest must be clean.
  std::string out = res->out;
  ASSERT_EQ(out.rfind("SigBlk:\t", 0), 0u) << out;
  std::uint64_t blocked = std::stoull(out.substr(8, 16), nullptr, 16);
  std::uint64_t ignored = std::stoull(out.substr(out.find("SigIgn:\t") + 8, 16), nullptr, 16);
  EXPECT_EQ(blocked & 0x7fffffffu, 0u) << out;
  EXPECT_EQ(ignored & 0x7fffffffu, 0u) << out;
}

TEST(SpawnCommandRunnerTest, RedirectedOutputGoesToTheGivenFd) {
  char path[] = "/tmp/schedkit-pa-log-XXXXXX";
  int fd = ::mkstemp(path);
  ASSERT_GE(fd, 0);
  RealClock clock;
  SpawnCommandRunner r(clock);
  auto res = r.run({"sh", "-c", "echo to-log; echo err-to-log >&2"}, CommandIo{fd, fd});
  ::close(fd);
  ASSERT_TRUE(res.isOk());
  EXPECT_EQ(res->out, "");
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(all, "to-log\nerr-to-log\n");
  ::unlink(path);
}

TEST(SpawnCommandRunnerTest, ReturnsWhenTheChildExitsEvenIfADetachedGrandchildHoldsItsPipes) {
  RealClock clock;
  SpawnCommandRunner r(clock, std::chrono::seconds(20));
  auto res = r.run({"sh", "-c", "sleep 30 & echo $!"});
  ASSERT_TRUE(res.isOk());
  pid_t grandchild = std::atoi(res->out.c_str());
  ASSERT_GT(grandchild, 0);
  EXPECT_EQ(::kill(grandchild, 0), 0) << "still running: we did not wait for it";
  ::kill(grandchild, SIGKILL);
}

TEST(SpawnCommandRunnerTest, TimesOutAndKillsAHungProgram) {
  SimClock clock;  // time stands still: a zero timeout is already over
  SpawnCommandRunner r(clock, Duration(0));
  auto res = r.run({"sleep", "30"});
  ASSERT_FALSE(res.isOk());
  EXPECT_EQ(res.status().code(), StatusCode::kDeadlineExceeded);
}

}  // namespace
}  // namespace schedkit::agent
