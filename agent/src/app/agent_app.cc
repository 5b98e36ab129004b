#include "app/agent_app.h"

#include <csignal>
#include <memory>

#include "app/cluster_mode.h"
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
#include "schedkit/kube/config.h"
#include "schedkit/kube/sleeper.h"
#include "schedkit/net/http.h"
#include "schedkit/oci/image_store.h"
#include "schedkit/os/event_loop.h"
#include "schedkit/policy/encode.h"
#include "schedkit/policy/selector.h"

namespace schedkit::agent {

namespace {

// The node state as a file in the state dir, in both modes: what `schedkitctl status` and the
// VM tests read, and a record that survives the API server being away.
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
  // order, not kill it with the default action. The real handler is installed below.
  std::function<void(int)> onSignal = [&](int) { loop.stop(); };
  if (Status sig = loop.handleSignals({SIGTERM, SIGINT, SIGHUP}, [&](int s) { onSignal(s); });
      !sig.isOk()) {
    log.error("cannot handle signals", {{"error", sig}});
    return 1;
  }
  HostFilesystem hostFs(o.hostRoot);
  HostFilesystem localFs("/");  // the agent's own state dir, policy files and kubeconfig
  const bool standalone = !o.policyFile.empty();

  auto labels = policy::parseLabels(o.nodeLabels);
  if (!labels.isOk()) {
    log.error("invalid --node-labels", {{"error", labels.status()}});
    return 2;
  }
  if (Status s = localFs.makeDirs(o.stateDir, 0700); !s.isOk()) {
    log.error("cannot create the state directory", {{"error", s}});
    return 1;
  }

  // ---- Kubernetes (cluster mode) ----
  kube::RealSleeper sleeper;
  std::unique_ptr<kube::Client> kubeClient, secretClient;
  std::string secretNamespace = o.ns;
  if (!standalone) {
    auto cfg = kube::loadConfig(localFs, kube::processEnv(), o.kubeconfig, o.kubeContext);
    if (!cfg.isOk()) {
      log.error("no Kubernetes configuration (use --policy-file for standalone mode)",
                {{"error", cfg.status()}});
      return 2;
    }
    if (secretNamespace.empty()) secretNamespace = cfg->defaultNamespace;
    cfg->userAgent = "schedkit-agent/0.1 (" + o.nodeName + ")";
    auto c = kube::Client::create(*cfg, kube::ClientDeps{clock, random, sleeper, localFs, log});
    // Secret reads happen on the node loop: fail fast rather than retry for long.
    kube::ClientOptions fast;
    fast.maxRetries = 1;
    fast.requestTimeout = std::chrono::seconds(5);
    auto sc = kube::Client::create(*cfg, kube::ClientDeps{clock, random, sleeper, localFs, log}, fast);
    if (!c.isOk() || !sc.isOk()) {
      log.error("cannot create the Kubernetes client", {{"error", c.isOk() ? sc.status() : c.status()}});
      return 1;
    }
    kubeClient = std::move(c).value();
    secretClient = std::move(sc).value();
    log.info("cluster mode", {{"api_server", cfg->server}, {"config", cfg->source},
                              {"namespace", secretNamespace}});
  }

  // ---- the node ----
  SysfsSchedExtHost host(hostFs, loop, log);
  BpfObjectAttacher bpf(hostFs, log, {});
  SpawnCommandRunner runner(clock);
  ProcessAttacherOptions po = ProcessAttacherOptions::forStateDir(o.stateDir);
  po.crunPath = o.crunPath;
  ProcessAttacher proc(hostFs, &loop, log, clock, runner, po);
  StateFileWriter fileWriter(localFs, o.stateDir, o.nodeName, log);

  std::unique_ptr<NodeStateWriter> kubeWriter;
  std::unique_ptr<kube::EventRecorder> recorder;
  std::unique_ptr<KubeEventSink> eventSink;
  if (kubeClient) {
    kubeWriter = std::make_unique<NodeStateWriter>(*kubeClient, clock, random, log, o.nodeName);
    kube::EventRecorderOptions eo;
    eo.reportingController = "schedkit.io/agent";
    eo.reportingInstance = "schedkit-agent-" + o.nodeName;
    recorder = std::make_unique<kube::EventRecorder>(*kubeClient, eo);
    eventSink = std::make_unique<KubeEventSink>(*recorder, o.nodeName);
    kubeWriter->start();
    recorder->start();
  }

  NodeEngineOptions eo;
  eo.stateDir = o.stateDir;
  eo.exitReasonGrace = std::chrono::milliseconds(o.exitReasonGraceMs);
  NodeEngine engine(
      NodeEngineDeps{clock, random, localFs, log, host, &bpf, &proc,
                     [&](const policy::SchedulerNodeStateStatus& st) {
                       fileWriter.write(st);
                       if (kubeWriter) kubeWriter->update(st);
                     },
                     [&](const NodeEventRecord& e) {
                       if (eventSink) eventSink->record(e);
                     }},
      eo);
  if (Status started = engine.start(); !started.isOk()) {
    log.error("cannot start", {{"error", started}});
    return 1;
  }

  // ---- images ----
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
  std::unique_ptr<KubeSecretSource> kubeSecrets;
  if (secretClient) kubeSecrets = std::make_unique<KubeSecretSource>(*secretClient, secretNamespace);
  SecretSource* secrets = kubeSecrets ? static_cast<SecretSource*>(kubeSecrets.get())
                          : o.secretsDir.empty() ? nullptr
                                                 : &dirSecrets;

  // ---- policies → desired ----
  std::vector<policy::SchedulerPolicy> policies;
  policy::Labels nodeLabels;
  bool known = false;
  std::function<void()> recompute;
  ImageResolver images({puller, clock, random, log, secrets, [&] { if (recompute) recompute(); }});
  recompute = [&] {
    if (!known) return;
    DesiredResult r = computeDesired(policies, nodeLabels, o.nodeName, standalone);
    if (!r.note.empty()) log.debug(r.note);
    if (r.desired) r.desired = images.resolve(*r.desired, r.scheduler);
    engine.setDesired(r.desired, r.observed);
  };

  std::unique_ptr<PolicyFileSource> files;
  std::unique_ptr<ClusterPolicySource> cluster;
  if (standalone) {
    nodeLabels = *labels;
    nodeLabels.emplace("kubernetes.io/hostname", o.nodeName);
    files = std::make_unique<PolicyFileSource>(o.policyFile, &loop, log);
    Status ps = files->start(
        [&](const std::vector<policy::SchedulerPolicy>& ps2) {
          policies = ps2;
          known = true;
          recompute();
        },
        [](const Status&) {});
    if (!ps.isOk()) {
      log.error("cannot watch the policy files", {{"error", ps}});
      return 1;
    }
  } else {
    if (!labels->empty()) log.warn("--node-labels is ignored in cluster mode: the Node's labels are used");
    cluster = std::make_unique<ClusterPolicySource>(*kubeClient, loop, log, o.nodeName);
    cluster->start([&](const ClusterPolicySource::Snapshot& s) {
      policies = s.policies;
      nodeLabels = s.nodeLabels;
      known = true;
      kubeWriter->setNodeUid(s.nodeUid);
      eventSink->setNodeUid(s.nodeUid);
      std::map<std::string, std::string> uids;
      for (const auto& p : s.policies) uids[p.metadata.name] = p.metadata.uid;
      eventSink->setPolicyUids(std::move(uids));
      recompute();
    });
  }

  bool stopping = false;
  onSignal = [&](int signo) {
    if (signo == SIGHUP) {
      if (files) {
        log.info("SIGHUP: re-reading policies");
        files->reload();
      }
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
  log.info("agent running", {{"mode", standalone ? "standalone" : "cluster"},
                             {"state_dir", o.stateDir},
                             {"host_root", o.hostRoot}});
  Status run = loop.run();
  if (cluster) cluster->stop();
  if (kubeWriter) kubeWriter->stop(std::chrono::seconds(5));
  if (recorder) recorder->stop();
  if (!run.isOk()) {
    log.error("event loop failed", {{"error", run}});
    return 1;
  }
  log.info("agent stopped");
  return 0;
}

}  // namespace schedkit::agent
