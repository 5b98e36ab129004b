// schedkit-process-attacher-check: drives the real ProcessAttacher (crun, pidfd, the kernel's
// sched_ext sysfs) through one scheduler's life, the way the agent would, and prints one "ok:"
// line per check. Run in the VM by guest.sh; exits 1 at the first failure.
//
//   schedkit-process-attacher-check --ops NAME [--rootfs DIR] [--partial] [--kill] [--leave]
//                                   [--stale-pid PID] [--state-dir DIR] -- PATH [ARGS...]
//
// --rootfs:    run from an unpacked image at DIR (PATH is inside it); default: hostPath.
// --kill:      stop with SIGKILL (force) instead of SIGTERM.
// --leave:     exit after the start checks, leaving the scheduler running (an agent crash).
// --stale-pid: a container with the same id, left by --leave, runs as PID: start() must remove
//              it (and its scheduler) and start the new one.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>

#include "attach/process_attacher.h"

using namespace schedkit;
using namespace schedkit::agent;

namespace {

constexpr const char* kScx = "/sys/kernel/sched_ext";

struct Args {
  std::string ops;
  std::string rootfs;
  std::string stateDir = "/var/lib/schedkit";
  bool partial = false;
  bool kill = false;
  bool leave = false;
  long stalePid = 0;
  std::vector<std::string> argv;
};

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: schedkit-process-attacher-check --ops NAME [--rootfs DIR] [--partial] "
               "[--kill] [--leave] [--stale-pid PID] [--state-dir DIR] -- PATH [ARGS...]\n");
  std::exit(2);
}

Args parseArgs(int argc, char** argv) {
  Args a;
  int i = 1;
  for (; i < argc; ++i) {
    std::string s = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (s == "--ops") a.ops = value();
    else if (s == "--rootfs") a.rootfs = value();
    else if (s == "--state-dir") a.stateDir = value();
    else if (s == "--partial") a.partial = true;
    else if (s == "--kill") a.kill = true;
    else if (s == "--leave") a.leave = true;
    else if (s == "--stale-pid") a.stalePid = std::atol(value().c_str());
    else if (s == "--") { ++i; break; }
    else usage();
  }
  for (; i < argc; ++i) a.argv.emplace_back(argv[i]);
  if (a.ops.empty() || a.argv.empty()) usage();
  return a;
}

class Check {
 public:
  Check(Filesystem& fs, EventLoop& loop, RealClock& clock) : fs_(fs), loop_(loop), clock_(clock) {}

  std::string read(const std::string& path) {
    auto r = fs_.readFile(path);
    if (!r.isOk()) return "";
    std::string s = *r;
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }
  std::string scxState() { return read(std::string(kScx) + "/state"); }
  std::string scxOps() { return read(std::string(kScx) + "/root/ops"); }

  // Runs the event loop until pred() holds or `seconds` pass (so pidfd callbacks are delivered
  // while we wait). Returns the time it took, or -1.
  double waitFor(double seconds, const std::function<bool()>& pred) {
    MonoTime t0 = clock_.now();
    MonoTime until = t0 + std::chrono::milliseconds(static_cast<long>(seconds * 1000));
    while (!pred()) {
      if (clock_.now() >= until) return -1;
      Status s = loop_.runOnce(std::chrono::milliseconds(50));
      if (!s.isOk()) fail("event loop: " + s.toString());
    }
    return std::chrono::duration<double>(clock_.now() - t0).count();
  }

  [[noreturn]] void fail(const std::string& what) {
    std::printf("FAIL: %s\n", what.c_str());
    if (!logPath.empty()) {
      std::printf("--- scheduler log (%s):\n%s\n", logPath.c_str(), read(logPath).c_str());
    }
    std::fflush(stdout);
    std::exit(1);
  }
  void ok(const std::string& what) {
    std::printf("ok: %s\n", what.c_str());
    std::fflush(stdout);
  }
  void expectEq(const std::string& got, const std::string& want, const std::string& what) {
    if (got != want) fail(what + ": expected '" + want + "', got '" + got + "'");
    ok(what + " = " + want);
  }

  std::string logPath;

 private:
  Filesystem& fs_;
  EventLoop& loop_;
  RealClock& clock_;
};

double since(RealClock& clock, MonoTime t0) {
  return std::chrono::duration<double>(clock.now() - t0).count();
}

std::string fmt(double secs) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fs", secs);
  return buf;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = parseArgs(argc, argv);
  RealClock clock;
  EventLoop loop(clock);
  Logger log = Logger::stderrLogger(clock, LogFormat::kText, LogLevel::kInfo);
  HostFilesystem fs("/");
  SpawnCommandRunner runner(clock);
  Check c(fs, loop, clock);

  // Like the agent: SIGTERM & co. are blocked and arrive on a signalfd. The scheduler must still
  // get a default SIGTERM (SpawnCommandRunner resets the mask for crun and so the container).
  Status sig = loop.handleSignals({SIGTERM, SIGINT, SIGHUP}, [&](int s) {
    c.fail("the check itself got signal " + std::to_string(s));
  });
  if (!sig.isOk()) c.fail("handleSignals: " + sig.toString());

  LaunchSpec spec;
  spec.policy = "process-attacher-check";
  spec.revision = "r1";
  spec.type = policy::SchedulerType::kBinary;
  spec.path = args.argv[0];
  spec.args.assign(args.argv.begin() + 1, args.argv.end());
  spec.rootfs = args.rootfs;
  spec.mode = args.partial ? policy::SchedulerMode::kPartial : policy::SchedulerMode::kFull;
  spec.env = {{"SCHEDKIT_CHECK", "1"}};
  ProcessAttacherOptions opts = ProcessAttacherOptions::forStateDir(args.stateDir);

  if (args.stalePid > 0) {
    c.expectEq(c.scxState(), "enabled", "state before start (the stale container's scheduler)");
  } else {
    c.expectEq(c.scxState(), "disabled", "state before start");
  }
  std::string seq0 = c.read(std::string(kScx) + "/enable_seq");

  auto first = std::make_unique<ProcessAttacher>(fs, &loop, log, clock, runner, opts);
  if (first->usesNoPivot()) c.ok("the root is an initramfs: crun runs with --no-pivot");

  MonoTime t0 = clock.now();
  auto started = first->start(spec);
  if (!started.isOk()) c.fail("start: " + started.status().toString());
  Attachment a = *started;
  c.logPath = a.logPath;
  c.ok("start() returned after " + fmt(since(clock, t0)) + ": id " + a.id + ", pid " +
       std::to_string(a.pid));
  if (args.stalePid > 0) {
    if (::kill(static_cast<pid_t>(args.stalePid), 0) == 0) c.fail("the stale scheduler still runs");
    c.ok("the stale container's scheduler (pid " + std::to_string(args.stalePid) + ") is gone");
  }

  double took = c.waitFor(20, [&] { return c.scxState() == "enabled" && c.scxOps() == args.ops; });
  if (took < 0) c.fail("sched_ext did not become enabled with " + args.ops);
  c.ok("state enabled, root/ops " + args.ops + " " + fmt(since(clock, t0)) + " after start()");
  // The kernel bumps enable_seq last, after state and root/ops show the new scheduler.
  std::string wantSeq = std::to_string(std::atoll(seq0.c_str()) + 1);
  c.waitFor(5, [&] { return c.read(std::string(kScx) + "/enable_seq") == wantSeq; });
  c.expectEq(c.read(std::string(kScx) + "/enable_seq"), wantSeq, "enable_seq");
  c.expectEq(c.read(std::string(kScx) + "/switch_all"), args.partial ? "0" : "1", "switch_all");

  // The container's init is the scheduler, in the host PID namespace, not our child.
  pid_t pid = static_cast<pid_t>(a.pid);
  if (::kill(pid, 0) != 0) c.fail("pid " + std::to_string(pid) + " is not alive");
  std::string status = c.read("/proc/" + std::to_string(pid) + "/status");
  std::string ppid;
  if (auto p = status.find("PPid:\t"); p != std::string::npos) {
    ppid = status.substr(p + 6, status.find('\n', p) - p - 6);
  }
  if (ppid == std::to_string(::getpid())) c.fail("the scheduler is our child");
  int wst = 0;
  if (::waitpid(pid, &wst, WNOHANG) != -1 || errno != ECHILD) c.fail("waitpid found our child");
  c.ok("pid " + std::to_string(pid) + " alive, parent " + ppid + " (not us: " +
       std::to_string(::getpid()) + ")");
  std::string comm = c.read("/proc/" + std::to_string(pid) + "/comm");
  c.ok("the container's process is " + comm);
  std::string cgroup = c.read("/proc/" + std::to_string(pid) + "/cgroup");
  c.expectEq(cgroup, "0::/schedkit/" + a.id, "its cgroup");
  std::string envBlock = fs.readFile("/proc/" + std::to_string(pid) + "/environ").valueOr("");
  if (envBlock.find(std::string("SCHEDKIT_CHECK=1") + '\0') == std::string::npos) {
    c.fail("SCHEDKIT_CHECK=1 is not in the scheduler's environment");
  }
  c.ok("the scheduler's environment has SCHEDKIT_CHECK=1");
  if (c.waitFor(5, [&] { return first->tail(a, 5).find("attached " + args.ops) != std::string::npos; }) < 0) {
    c.fail("the log has no 'attached " + args.ops + "': " + first->tail(a, 5));
  }
  c.ok("the log file got the scheduler's stdout: '" + first->tail(a, 1) + "'");
  if (!first->running(a)) c.fail("running() is false for the fresh attachment");
  c.ok("running()");
  if (args.leave) {
    std::printf("left running: pid %d\n", pid);
    return 0;
  }

  // An agent restart: the attacher goes away without stopping anything; the next one starts
  // from the persisted record and re-adopts the container.
  std::string record = encodeAttachment(a).dump();
  first.reset();
  if (::kill(pid, 0) != 0) c.fail("the scheduler died with the first attacher");
  c.expectEq(c.scxOps(), args.ops, "root/ops after the first attacher is gone");
  auto decoded = decodeAttachment(nlohmann::json::parse(record));
  if (!decoded.isOk()) c.fail("decode: " + decoded.status().toString());
  Attachment adopted = *decoded;
  ProcessAttacher second(fs, &loop, log, clock, runner, opts);
  if (!second.running(adopted)) c.fail("the second attacher does not see the scheduler running");
  c.ok("a second attacher re-adopts it: running() on the persisted attachment");
  Attachment reused = adopted;
  reused.pid = ::getpid();
  if (second.running(reused)) c.fail("running() accepted a pid crun does not report");
  c.ok("running() refuses a pid that is not the container's");

  bool exited = false;
  std::string exitedId;
  Status w = second.watch(adopted, [&](const std::string& id) {
    exited = true;
    exitedId = id;
  });
  if (!w.isOk()) c.fail("watch: " + w.toString());
  if (Status r = loop.runOnce(std::chrono::milliseconds(0)); !r.isOk()) c.fail(r.toString());
  if (exited) c.fail("watch reported an exit of a live scheduler");
  c.ok("watching the adopted scheduler through a pidfd");

  MonoTime t1 = clock.now();
  Status st = second.stop(adopted, args.kill);
  if (!st.isOk()) c.fail("stop: " + st.toString());
  took = c.waitFor(15, [&] { return exited; });
  if (took < 0) c.fail("no exit reported within 15 s of stop()");
  c.expectEq(exitedId, adopted.id, "onExit id");
  c.ok(std::string("stop(") + (args.kill ? "force" : "TERM") + ") → onExit after " + fmt(took));
  if (c.waitFor(5, [&] { return c.scxState() == "disabled"; }) < 0) {
    c.fail("state is " + c.scxState() + " after the scheduler exited");
  }
  c.ok("state disabled " + fmt(since(clock, t1)) + " after stop()");
  if (!args.kill) {
    if (second.tail(adopted, 3).find("detached " + args.ops) == std::string::npos) {
      c.fail("no 'detached " + args.ops + "' in the log: " + second.tail(adopted, 3));
    }
    c.ok("the scheduler detached cleanly: '" + second.tail(adopted, 1) + "'");
  }
  if (second.running(adopted)) c.fail("running() is still true after the exit");
  c.ok("running() false after the exit");
  // No zombie anywhere: the pid is gone (someone reaped it), or at least it is not ours.
  bool gone = c.waitFor(5, [&] { return ::kill(pid, 0) != 0; }) >= 0;
  c.ok(gone ? "pid " + std::to_string(pid) + " reaped by its parent (no zombie left)"
            : "pid " + std::to_string(pid) + " still a zombie of " + ppid + " (not ours)");

  second.cleanup(adopted);
  std::string bundle = second.bundlePath(adopted.id);
  if (fs.exists(bundle)) c.fail("bundle " + bundle + " still exists after cleanup");
  if (fs.exists(opts.runtimeRoot + "/" + adopted.id)) c.fail("crun still has state for " + adopted.id);
  if (!fs.exists(adopted.logPath)) c.fail("the log was removed by cleanup");
  second.cleanup(adopted);
  c.ok("cleanup removed the container and the bundle, kept the log; a second cleanup is harmless");
  std::printf("done in %s\n", fmt(since(clock, t0)).c_str());
  return 0;
}
