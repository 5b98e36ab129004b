#include "app/agent_app.h"

#include <csignal>

#include "app/dir_secret_source.h"
#include "app/image_resolver.h"
#include "app/policy_source.h"
#include "attach/bpf_object_attacher.h"
#include "attach/command_runner.h"
#include "attach/process_attacher.h"
#include "host/sysfs_sched_ext_host.h"
#include "node/desired.h"
#include "node/node_engine.h"
#include "schedkit/common/random.h"
#include "schedkit/os/event_loop.h"
#include "schedkit/policy/encode.h"
#include "schedkit/policy/selector.h"
#include "schedkit/net/http.h"
#include "schedkit/oci/image_store.h"

namespace schedkit::agent {

namespace {

// The standalone agent's report: the SchedulerNodeState it would write to the API server.
class StateFileWriter {
 public:
  StateFileWriter(Filesystem& fs, std::string dir, std::string node, const Logger& log)
      : fs_(fs), dir_(std::move(dir)), node_(std::move(node)), log_(log) {}

  void write(const policy::SchedulerNodeStateStatus& st) {
    policy::SchedulerNodeState s;
    s.metadata.name = node_;
    s.nodeName = node_;
    s.status = st;
    Status w = fs_.writeFileAtomic(joinPath(dir_, "node-state.json"),
                                   policy::encodeNodeState(s).dump(2) + "\n");
    if (!w.isOk()) log_.error("cannot write the node state", {{"error", w}});
    log_.info("node state", {{"phase", policy::toString(st.phase)},
                             {"policy", st.policy},
                             {"ops", st.active ? st.active->opsName : ""},
                             {"restarts", st.restarts}});
  }

 private:
  Filesystem& fs_;
  std::string dir_;
  std::string node_;
  const Logger& log_;
};

}  // namespace

int runAgent(const AgentOptions& o) {
  RealClock clock;
  RealRandom random;
  Logger log = Logger::stderrLogger(clock, o.logFormat, o.logLevel).with({{"node", o.nodeName}});
  EventLoop loop(clock);
  // Signals first: a SIGTERM that arrives while the agent is still starting must shut it down in
  // order, not kill it with the default action.
  std::function<void(int)> onSignal = [&](int) { loop.stop(); };
  if (Status sig = loop.handleSignals({SIGTERM, SIGINT, SIGHUP}, [&](int s) { onSignal(s); });
      !sig.isOk()) {
    log.error("cannot handle signals", {{"error", sig}});
    return 1;
  }
  HostFilesystem hostFs(o.hostRoot);
  HostFilesystem localFs("/");  // the agent's own state dir and policy files

  auto labels = policy::parseLabels(o.nodeLabels);
  if (!labels.isOk()) {
    log.error("invalid --node-labels", {{"error", labels.status()}});
    return 2;
  }
  policy::Labels nodeLabels = *labels;
  nodeLabels.emplace("kubernetes.io/hostname", o.nodeName);

  if (Status s = localFs.makeDirs(o.stateDir, 0700); !s.isOk()) {
    log.error("cannot create the state directory", {{"error", s}});
    return 1;
  }

  SysfsSchedExtHost host(hostFs, loop, log);
  BpfObjectAttacher bpf(hostFs, log, {});
  SpawnCommandRunner runner(clock);
  ProcessAttacherOptions po = ProcessAttacherOptions::forStateDir(o.stateDir);
  po.crunPath = o.crunPath;
  ProcessAttacher proc(hostFs, &loop, log, clock, runner, po);
  StateFileWriter writer(localFs, o.stateDir, o.nodeName, log);

  NodeEngineOptions eo;
  eo.stateDir = o.stateDir;
  eo.exitReasonGrace = std::chrono::milliseconds(o.exitReasonGraceMs);
  NodeEngine engine(
      NodeEngineDeps{clock, random, localFs, log, host, &bpf, &proc,
                     [&](const policy::SchedulerNodeStateStatus& st) { writer.write(st); },
                     nullptr},
      eo);

  Status started = engine.start();
  if (!started.isOk()) {
    log.error("cannot start", {{"error", started}});
    return 1;
  }

  // Images are pulled on a worker thread; results come back on the loop.
  oci::ImageStoreOptions io;
  io.cacheDir = o.imageCache;
  for (const auto& h : o.insecureRegistries) io.registry.hosts[h].plainHttp = true;
  for (const auto& rc : o.registryCas) {
    auto eq = rc.find('=');
    io.registry.hosts[rc.substr(0, eq)].tls.caFile = rc.substr(eq + 1);
  }
  auto store = oci::OciImageStore::create(
      oci::ImageStoreDeps{net::makeCpprestTransport, clock, random, log, nullptr}, io);
  if (!store.isOk()) {
    log.error("cannot open the image cache", {{"error", store.status()}});
    return 1;
  }
  oci::ImagePuller puller(**store, [&loop](std::function<void()> fn) { loop.post(std::move(fn)); });
  DirSecretSource dirSecrets(localFs, o.secretsDir);

  PolicyFileSource policies(o.policyFile, &loop, log);
  std::vector<policy::SchedulerPolicy> current;
  bool haveCurrent = false;
  std::function<void()> recompute;
  ImageResolver images({puller, clock, random, log, o.secretsDir.empty() ? nullptr : &dirSecrets,
                        [&] { if (recompute) recompute(); }});
  recompute = [&] {
    if (!haveCurrent) return;
    DesiredResult r = computeDesired(current, nodeLabels, o.nodeName, /*standalone=*/true);
    if (!r.note.empty()) log.debug(r.note);
    if (r.desired) r.desired = images.resolve(*r.desired, r.scheduler);
    engine.setDesired(r.desired, r.observed);
  };
  auto apply = [&](const std::vector<policy::SchedulerPolicy>& ps) {
    current = ps;
    haveCurrent = true;
    recompute();
  };
  Status ps = policies.start(apply, [](const Status&) {});
  if (!ps.isOk()) {
    log.error("cannot watch the policy files", {{"error", ps}});
    return 1;
  }

  bool stopping = false;
  onSignal = [&](int signo) {
    if (signo == SIGHUP) {
      log.info("SIGHUP: re-reading policies");
      policies.reload();
      return;
    }
    if (stopping) return;
    stopping = true;
    log.info("shutting down", {{"signal", signo}, {"detach", o.detachOnExit}});
    engine.shutdown(o.detachOnExit, [&] { loop.stop(); });
    // Never hang on a scheduler that will not go.
    clock.callAfter(std::chrono::seconds(30), [&] {
      log.warn("shutdown timed out");
      loop.stop();
    });
  };
  log.info("agent running", {{"policy_file", o.policyFile}, {"state_dir", o.stateDir},
                             {"host_root", o.hostRoot}});
  Status run = loop.run();
  if (!run.isOk()) {
    log.error("event loop failed", {{"error", run}});
    return 1;
  }
  log.info("agent stopped");
  return 0;
}

}  // namespace schedkit::agent
