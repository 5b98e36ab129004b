#include "app/agent_app.h"

#include <csignal>
#include <filesystem>
#include <memory>

#include "app/agent.h"
#include "app/cluster_mode.h"
#include "app/dir_secret_source.h"
#include "app/image_resolver.h"
#include "app/policy_source.h"
#include "attach/bpf_object_attacher.h"
#include "attach/command_runner.h"
#include "attach/process_attacher.h"
#include "grpc/agent_service.h"
#include "grpc/server.h"
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
#include "telemetry/runqlat_probe.h"

namespace schedkit::agent {

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

  if (auto labels = policy::parseLabels(o.nodeLabels); !labels.isOk()) {
    log.error("invalid --node-labels", {{"error", labels.status()}});
    return 2;
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

  // ---- images ----
  oci::ImageStoreOptions io;
  io.cacheDir = o.imageCache;
  io.registry.addFlags(o.insecureRegistries, o.registryCas);
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

  std::optional<ScxStatsDeps> scxStats;
  if (!o.scxStatsSocket.empty()) {
    ScxStatsOptions so;
    so.socketPath = o.scxStatsSocket;
    so.timeout = o.scxStatsTimeout;
    scxStats.emplace(ScxStatsDeps{std::make_unique<UnixScxStatsTransport>(hostFs, clock, so),
                                  hostFs, clock, log.with({{"component", "scx_stats"}}),
                                  so.maxSamples});
  }
  AgentMetrics metrics(host, std::move(scxStats));
  if (!o.metricsAddress.empty()) {
    if (Status m = metrics.serve(o.metricsAddress); !m.isOk()) {
      log.error("cannot serve metrics", {{"error", m}});
      return 1;
    }
  }
  HealthState health;
  std::unique_ptr<HealthServer> healthServer;
  if (!o.healthAddress.empty()) {
    auto hs = HealthServer::start(o.healthAddress, health, clock, log);
    if (!hs.isOk()) {
      log.error("cannot serve the health endpoints", {{"error", hs.status()}});
      return 1;
    }
    healthServer = std::move(hs).value();
  }
  HealthBeat beat(clock, health);
  grpcapi::EventHub events(clock);
  // Loaded only while a policy sets spec.health.runqueueLatency.
  Logger runqLog = log.with({{"component", "runqlat"}});
  RunqLatencyProbePtr runqProbe = makeBpfRunqLatencyProbe(runqLog);
  Agent agent(AgentDeps{clock, random, loop, localFs, log, host, &bpf, &proc, &puller, secrets,
                        kubeClient.get(), &metrics, &events, runqProbe.get(), &health},
              o);
  if (Status st = agent.start(); !st.isOk()) {
    log.error("cannot start", {{"error", st}});
    return 1;
  }

  // ---- the gRPC API (schedkitctl node ...) ----
  grpcapi::LoopNodeAccess nodeAccess(loop, clock,
                                     [&agent]() -> const policy::SchedulerNodeStateStatus& {
                                       return agent.engine().status();
                                     });
  Logger grpcLog = log.with({{"component", "grpc"}});
  grpcapi::AgentServiceImpl service(
      grpcapi::AgentServiceDeps{nodeAccess, events, localFs, clock, grpcLog},
      grpcapi::AgentServiceOptions{
          .nodeName = o.nodeName,
          .standalone = standalone,
          // The files go through localFs (rooted at /): the directory the policy source reads.
          .policyPath = standalone ? std::filesystem::absolute(o.policyFile).string() : ""});
  std::unique_ptr<grpcapi::GrpcServer> grpcServer;
  if (!o.grpcSocket.empty()) {
    auto gs = grpcapi::GrpcServer::start({.socketPath = o.grpcSocket}, &service, grpcLog);
    if (!gs.isOk()) {
      log.error("cannot serve the gRPC API", {{"error", gs.status()}});
      return 1;
    }
    grpcServer = std::move(gs).value();
  }
  auto stopGrpc = [&] {
    events.close();
    nodeAccess.close();
    if (grpcServer) grpcServer->shutdown(std::chrono::seconds(1));
  };

  bool stopping = false;
  onSignal = [&](int signo) {
    if (signo == SIGHUP) {
      log.info("SIGHUP: re-reading policies");
      agent.reloadPolicies();
      return;
    }
    if (stopping) return;
    stopping = true;
    health.setShuttingDown();
    log.info("shutting down", {{"signal", signo}, {"detach", o.detachOnExit}});
    agent.shutdown(o.detachOnExit, [&] { loop.stop(); });
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
  stopGrpc();
  agent.stopBackground();
  if (!run.isOk()) {
    log.error("event loop failed", {{"error", run}});
    return 1;
  }
  log.info("agent stopped");
  return 0;
}

}  // namespace schedkit::agent
