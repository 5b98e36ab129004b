#include "runtime/operator_app.h"

#include <csignal>

#include "schedkit/common/random.h"
#include "schedkit/kube/config.h"
#include "schedkit/kube/sleeper.h"
#include "schedkit/net/http.h"
#include "schedkit/oci/registry.h"
#include "schedkit/os/filesystem.h"

namespace schedkit::op {

namespace {
// An event starts a pass this soon: long enough to fold a burst of agent writes into one pass,
// short against the roll-up target (seconds).
constexpr Duration kCoalesce = std::chrono::milliseconds(200);
// Level-triggered safety net: a pass at least this often even when nothing is heard.
constexpr Duration kResync = std::chrono::minutes(5);
}  // namespace

Operator::Operator(OperatorDeps deps, OperatorOptions opts) : d_(deps), o_(std::move(opts)) {
  auto dispatch = kube::Informer::dispatchTo(d_.loop);
  kube::ReflectorOptions ro;
  policies_ = std::make_unique<kube::Informer>(d_.watchClient, kube::resources::kSchedulerPolicies, ro, dispatch);
  states_ = std::make_unique<kube::Informer>(d_.watchClient, kube::resources::kSchedulerNodeStates, ro, dispatch);
  nodes_ = std::make_unique<kube::Informer>(d_.watchClient, kube::resources::kNodes, ro, dispatch);

  kube::EventRecorderOptions eo;
  eo.reportingController = "schedkit.io/operator";
  eo.reportingInstance = o_.identity;
  events_ = std::make_unique<kube::EventRecorder>(d_.writeClient, eo);
  // Labels have a client (and rate limit) of their own: a fleet relabelling itself must not
  // hold up status roll-ups behind it.
  if (o_.manageNodeLabels) {
    labels_ = std::make_unique<NodeLabelWriter>(d_.labelClient ? *d_.labelClient : d_.writeClient,
                                                d_.random, d_.log);
  }
  if (d_.pinner) pins_ = std::make_unique<PinCache>(*d_.pinner, d_.clock, d_.random, d_.log);
  fleet_ = std::make_unique<FleetReconciler>(
      FleetDeps{d_.writeClient, d_.clock, d_.log, pins_.get(), events_.get(), labels_.get()});
  if (o_.leaderElect) {
    LeaderElectionConfig lc;
    lc.ns = o_.ns;
    lc.name = o_.leaseName;
    lc.identity = o_.identity;
    lc.leaseDuration = o_.leaseDuration;
    lc.renewDeadline = o_.renewDeadline;
    lc.retryPeriod = o_.retryPeriod;
    LeaderElector::Callbacks cb;
    cb.onStartedLeading = [this] {
      d_.loop.post([this] {
        if (stopped_) return;
        d_.log.info("leading: reconciling", {{"identity", o_.identity}});
        leader_ = true;
        kick(Duration::zero());
      });
    };
    cb.onStoppedLeading = [this] {
      d_.loop.post([this] {
        if (!leader_) return;
        d_.log.warn("lost the lease: standing by", {{"identity", o_.identity}});
        leader_ = false;
        publishMetrics();
      });
    };
    cb.onNewLeader = [this](const std::string& holder) {
      d_.log.info("leader observed", {{"leader", holder}});
    };
    elector_ = std::make_unique<LeaderElector>(d_.leaseClient ? *d_.leaseClient : d_.watchClient,
                                               d_.clock, d_.log, lc, cb);
  }
}

Operator::~Operator() { stop(); }

Status Operator::start() {
  kube::Informer::Handlers h{
      [this](const nlohmann::json&) { kick(kCoalesce); },
      [this](const nlohmann::json&, const nlohmann::json&) { kick(kCoalesce); },
      [this](const nlohmann::json&) { kick(kCoalesce); },
      [this](bool) { kick(kCoalesce); },
  };
  for (auto* inf : {policies_.get(), states_.get(), nodes_.get()}) {
    inf->addHandlers(h);
    inf->start();
  }
  events_->start();
  if (labels_) labels_->start();
  if (elector_) {
    elector_->start();
  } else {
    leader_ = true;
  }
  kick(kResync);
  return Status::ok();
}

void Operator::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (timer_) d_.clock.cancel(timer_);
  if (elector_) elector_->stop();
  leader_ = false;
  for (auto* inf : {policies_.get(), states_.get(), nodes_.get()}) inf->stop();
  if (labels_) labels_->stop();
  events_->stop();
}

void Operator::kick(Duration delay) {
  if (stopped_) return;
  MonoTime at = d_.clock.now() + delay;
  if (timerAt_ && *timerAt_ <= at) return;  // a pass comes sooner already
  if (timer_) d_.clock.cancel(timer_);
  timerAt_ = at;
  timer_ = d_.clock.callAfter(delay, [this] {
    timer_ = 0;
    timerAt_.reset();
    pass();
  });
}

void Operator::pass() {
  if (stopped_) return;
  // isLeader() turns false once renewing has failed for renewDeadline, even before the callback
  // reaches the loop: never act on a lease that may have passed to a standby.
  if (!leader_ || (elector_ && !elector_->isLeader())) {
    publishMetrics();
    return;  // the leader's informer events wake us again once we lead
  }
  if (!policies_->hasSynced() || !states_->hasSynced() || !nodes_->hasSynced()) {
    kick(kCoalesce);
    return;
  }
  FleetSnapshot snap{policies_->list(), nodes_->list(), states_->list()};
  std::optional<Duration> next = fleet_->reconcile(snap);
  publishMetrics();
  Duration d = next ? std::max<Duration>(*next, std::chrono::milliseconds(50)) : kResync;
  kick(std::min<Duration>(d, kResync));
}

void Operator::publishMetrics() {
  if (!d_.metrics) return;
  OperatorSnapshot s;
  s.leader = leader_;
  FleetStats f = fleet_->stats();
  s.passes = f.passes;
  s.lastPassSeconds = std::chrono::duration<double>(f.lastPass).count();
  s.statusWrites = f.statusWrites;
  s.statusConflicts = f.statusConflicts;
  s.statusFailures = f.statusFailures;
  if (labels_) {
    s.labelWrites = labels_->writes();
    s.labelFailures = labels_->failures();
    s.labelPending = labels_->pending();
  }
  s.apiRequests = d_.watchClient.stats().requests + d_.writeClient.stats().requests +
                  (d_.leaseClient ? d_.leaseClient->stats().requests : 0) +
                  (d_.labelClient ? d_.labelClient->stats().requests : 0);
  if (leader_) s.policies = fleet_->statuses();
  d_.metrics->publish(std::move(s));
}

int runOperator(const OperatorOptions& o) {
  RealClock clock;
  RealRandom random;
  // Not tagged with the identity: the elector's lines carry it already (JSON keys must not repeat).
  Logger log = Logger::stderrLogger(clock, o.logFormat, o.logLevel);
  EventLoop loop(clock);
  std::function<void(int)> onSignal = [&](int) { loop.stop(); };
  if (Status sig = loop.handleSignals({SIGTERM, SIGINT}, [&](int s) { onSignal(s); }); !sig.isOk()) {
    log.error("cannot handle signals", {{"error", sig}});
    return 1;
  }
  HostFilesystem fs("/");
  auto cfg = kube::loadConfig(fs, kube::processEnv(), o.kubeconfig, o.kubeContext);
  if (!cfg.isOk()) {
    log.error("no Kubernetes configuration", {{"error", cfg.status()}});
    return 2;
  }
  OperatorOptions opts = o;
  // In a pod: the service account's namespace. Elsewhere a kubeconfig's "default" means nothing
  // to us: use the namespace deploy/ creates (schedkit-system).
  if (opts.ns.empty()) {
    bool inCluster = cfg->source.rfind("in-cluster", 0) == 0;
    opts.ns = inCluster || cfg->defaultNamespace != "default" ? cfg->defaultNamespace : "schedkit-system";
  }
  cfg->userAgent = "schedkit-operator/0.1 (" + opts.identity + ")";
  kube::RealSleeper sleeper;
  kube::ClientOptions watchOpts;
  watchOpts.qps = opts.qps;
  watchOpts.burst = opts.burst;
  kube::ClientOptions writeOpts = watchOpts;
  // A pass waits for its writes: fail fast and let the next pass retry rather than stall.
  writeOpts.maxRetries = 2;
  writeOpts.requestTimeout = std::chrono::seconds(10);
  auto watchClient = kube::Client::create(*cfg, kube::ClientDeps{clock, random, sleeper, fs, log}, watchOpts);
  auto writeClient = kube::Client::create(*cfg, kube::ClientDeps{clock, random, sleeper, fs, log}, writeOpts);
  // A renewal must end well inside renewDeadline, or a hung request outlives the lease.
  kube::ClientOptions leaseOpts = watchOpts;
  leaseOpts.maxRetries = 0;
  leaseOpts.requestTimeout = std::max<Duration>(opts.renewDeadline / 2, std::chrono::seconds(1));
  auto leaseClient = kube::Client::create(*cfg, kube::ClientDeps{clock, random, sleeper, fs, log}, leaseOpts);
  auto labelClient = kube::Client::create(*cfg, kube::ClientDeps{clock, random, sleeper, fs, log}, writeOpts);
  if (!leaseClient.isOk() || !labelClient.isOk()) {
    log.error("cannot create the Kubernetes client", {{"error", leaseClient.isOk() ? labelClient.status() : leaseClient.status()}});
    return 1;
  }
  if (!watchClient.isOk() || !writeClient.isOk()) {
    log.error("cannot create the Kubernetes client",
              {{"error", watchClient.isOk() ? writeClient.status() : watchClient.status()}});
    return 1;
  }

  oci::RegistryClientOptions ro;
  ro.addFlags(opts.insecureRegistries, opts.registryCas);
  ro.maxAttempts = 2;  // a registry that is down is retried by the next pass, with backoff
  ro.requestTimeout = std::chrono::seconds(15);
  ro.userAgent = "schedkit-operator/0.1";
  auto cancel = std::make_shared<oci::CancelToken>();
  oci::RegistryClient registry(
      oci::RegistryClientDeps{net::makeCpprestTransport, clock, random, log,
                              [cancel](Duration d) { return cancel->waitFor(d); }, cancel, nullptr},
      ro);
  RegistryImagePinner pinner(**writeClient, opts.ns, registry);

  OperatorMetrics metrics;
  if (!opts.metricsAddress.empty()) {
    if (Status m = metrics.serve(opts.metricsAddress); !m.isOk()) {
      log.error("cannot serve metrics", {{"error", m}});
      return 1;
    }
  }
  Operator op(OperatorDeps{clock, random, loop, log, **watchClient, **writeClient, leaseClient->get(),
                           labelClient->get(),
                           opts.pinImages ? &pinner : nullptr, &metrics},
              opts);
  if (Status st = op.start(); !st.isOk()) {
    log.error("cannot start", {{"error", st}});
    return 1;
  }
  log.info("operator running", {{"identity", opts.identity},
                                {"api_server", cfg->server},
                                {"namespace", opts.ns},
                                {"leader_election", opts.leaderElect},
                                {"node_labels", opts.manageNodeLabels}});
  Status run = loop.run();
  cancel->cancel();
  op.stop();
  if (!run.isOk()) {
    log.error("event loop failed", {{"error", run}});
    return 1;
  }
  log.info("operator stopped");
  return 0;
}

}  // namespace schedkit::op
