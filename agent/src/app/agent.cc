#include "app/agent.h"

#include "grpc/event_hub.h"
#include "node/desired.h"
#include "schedkit/policy/encode.h"

namespace schedkit::agent {

Agent::Agent(AgentDeps deps, AgentOptions opts)
    : d_(deps), o_(std::move(opts)), standalone_(d_.kubeClient == nullptr) {
  if (!standalone_) {
    kubeWriter_ = std::make_unique<NodeStateWriter>(*d_.kubeClient, d_.clock, d_.random, d_.log,
                                                    o_.nodeName);
    kube::EventRecorderOptions eo;
    eo.reportingController = "schedkit.io/agent";
    eo.reportingInstance = "schedkit-agent-" + o_.nodeName;
    recorder_ = std::make_unique<kube::EventRecorder>(*d_.kubeClient, eo);
    eventSink_ = std::make_unique<KubeEventSink>(*recorder_, o_.nodeName);
  }
  NodeEngineOptions eo;
  eo.stateDir = o_.stateDir;
  eo.exitReasonGrace = std::chrono::milliseconds(o_.exitReasonGraceMs);
  engine_ = std::make_unique<NodeEngine>(
      NodeEngineDeps{d_.clock, d_.random, d_.localFs, d_.log, d_.host, d_.bpfAttacher,
                     d_.processAttacher,
                     [this](const policy::SchedulerNodeStateStatus& st) {
                       writeStateFile(st);
                       if (kubeWriter_) kubeWriter_->update(st);
                       if (d_.metrics) d_.metrics->onStatus(st);
                       if (d_.events) d_.events->onStatus(st);
                     },
                     [this](const NodeEventRecord& e) {
                       if (eventSink_) eventSink_->record(e);
                       if (d_.metrics) d_.metrics->onEvent(e);
                       if (d_.events) d_.events->onEvent(e);
                     },
                     [this](const policy::ExitRecord& e) {
                       if (d_.metrics) d_.metrics->onExit(e);
                     },
                     [this](Duration d) {
                       if (d_.metrics) d_.metrics->onDetectLatency(d);
                     },
                     d_.runqProbe,
                     [this](const RunqLatencyReport& r) {
                       if (d_.metrics) d_.metrics->onRunqLatency(r);
                     }},
      eo);
  if (d_.puller != nullptr) {
    images_ = std::make_unique<ImageResolver>(ImageResolver::Deps{
        *d_.puller, d_.clock, d_.random, d_.log, d_.secrets, [this] { recompute(); }});
  }
}

Agent::~Agent() { stopBackground(); }

void Agent::writeStateFile(const policy::SchedulerNodeStateStatus& st) {
  policy::SchedulerNodeState s;
  s.metadata.name = o_.nodeName;
  s.nodeName = o_.nodeName;
  s.status = st;
  Status w = d_.localFs.writeFileAtomic(joinPath(o_.stateDir, "node-state.json"),
                                        policy::encodeNodeState(s).dump(2) + "\n");
  if (!w.isOk()) d_.log.error("cannot write the node state", {{"error", w}});
  d_.log.info("node state", {{"phase", policy::toString(st.phase)},
                             {"policy", st.policy},
                             {"ops", st.active ? st.active->opsName : ""},
                             {"restarts", st.restarts}});
}

void Agent::recompute() {
  if (!known_) return;
  DesiredResult r = computeDesired(policies_, nodeLabels_, o_.nodeName, standalone_);
  if (!r.note.empty()) d_.log.debug(r.note);
  if (r.desired && !r.desired->launch.image.empty()) {
    if (images_) {
      r.desired = images_->resolve(*r.desired, r.scheduler);
    } else {
      r.desired->blockedReason = "ImageUnsupported";
      r.desired->blockedMessage = "this agent has no image store";
      r.desired->blockedPhase = policy::NodePhase::kFailed;
    }
  }
  engine_->setDesired(r.desired, r.observed);
}

Status Agent::start() {
  if (Status s = d_.localFs.makeDirs(o_.stateDir, 0700); !s.isOk()) {
    return s.withContext("creating the state directory");
  }
  if (kubeWriter_) kubeWriter_->start();
  if (recorder_) recorder_->start();
  SK_RETURN_IF_ERROR(engine_->start());
  if (standalone_) {
    SK_ASSIGN_OR_RETURN(nodeLabels_, policy::parseLabels(o_.nodeLabels));
    nodeLabels_.emplace("kubernetes.io/hostname", o_.nodeName);
    files_ = std::make_unique<PolicyFileSource>(o_.policyFile, &d_.loop, d_.log);
    return files_->start(
        [this](const std::vector<policy::SchedulerPolicy>& ps) {
          policies_ = ps;
          known_ = true;
          if (d_.health) d_.health->setPoliciesKnown(true);
          recompute();
        },
        [](const Status&) {});
  }
  if (!o_.nodeLabels.empty()) {
    d_.log.warn("--node-labels is ignored in cluster mode: the Node's labels are used");
  }
  cluster_ = std::make_unique<ClusterPolicySource>(*d_.kubeClient, d_.loop, d_.log, o_.nodeName);
  cluster_->start([this](const ClusterPolicySource::Snapshot& s) {
    policies_ = s.policies;
    nodeLabels_ = s.nodeLabels;
    known_ = true;
    if (d_.health) d_.health->setPoliciesKnown(true);
    kubeWriter_->setNodeUid(s.nodeUid);
    eventSink_->setNodeUid(s.nodeUid);
    std::map<std::string, std::string> uids;
    for (const auto& p : s.policies) uids[p.metadata.name] = p.metadata.uid;
    eventSink_->setPolicyUids(std::move(uids));
    recompute();
  });
  return Status::ok();
}

void Agent::reloadPolicies() {
  if (files_) files_->reload();
}

void Agent::shutdown(bool detach, std::function<void()> done) {
  engine_->shutdown(detach, std::move(done));
}

void Agent::stopBackground() {
  if (cluster_) cluster_->stop();
  if (kubeWriter_) kubeWriter_->stop(std::chrono::seconds(5));
  if (recorder_) recorder_->stop();
}

}  // namespace schedkit::agent
