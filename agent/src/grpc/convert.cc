#include "grpc/convert.h"

namespace schedkit::agent::grpcapi {

pb::NodePhase toProto(policy::NodePhase p) {
  using P = policy::NodePhase;
  switch (p) {
    case P::kIdle:
      return pb::NODE_PHASE_IDLE;
    case P::kPulling:
      return pb::NODE_PHASE_PULLING;
    case P::kAttaching:
      return pb::NODE_PHASE_ATTACHING;
    case P::kRunning:
      return pb::NODE_PHASE_RUNNING;
    case P::kRestarting:
      return pb::NODE_PHASE_RESTARTING;
    case P::kFallenBack:
      return pb::NODE_PHASE_FALLEN_BACK;
    case P::kIncompatible:
      return pb::NODE_PHASE_INCOMPATIBLE;
    case P::kFailed:
      return pb::NODE_PHASE_FAILED;
  }
  return pb::NODE_PHASE_UNSPECIFIED;
}

policy::NodePhase fromProto(pb::NodePhase p) {
  using P = policy::NodePhase;
  switch (p) {
    case pb::NODE_PHASE_PULLING:
      return P::kPulling;
    case pb::NODE_PHASE_ATTACHING:
      return P::kAttaching;
    case pb::NODE_PHASE_RUNNING:
      return P::kRunning;
    case pb::NODE_PHASE_RESTARTING:
      return P::kRestarting;
    case pb::NODE_PHASE_FALLEN_BACK:
      return P::kFallenBack;
    case pb::NODE_PHASE_INCOMPATIBLE:
      return P::kIncompatible;
    case pb::NODE_PHASE_FAILED:
      return P::kFailed;
    default:
      return P::kIdle;
  }
}

std::string phaseName(pb::NodePhase p) {
  if (p == pb::NODE_PHASE_UNSPECIFIED || !pb::NodePhase_IsValid(p)) return "Unknown";
  return policy::toString(fromProto(p));
}

pb::NodeEvent toProto(const policy::NodeEvent& e) {
  pb::NodeEvent out;
  out.set_kind(pb::NodeEvent::KIND_EVENT);
  out.set_time(e.time);
  out.set_type(e.type);
  out.set_reason(e.reason);
  out.set_message(e.message);
  return out;
}

pb::NodeStatus toProto(const policy::SchedulerNodeStateStatus& st) {
  pb::NodeStatus out;
  for (const auto& o : st.observedPolicies) {
    auto* p = out.add_observed_policies();
    p->set_name(o.name);
    p->set_generation(o.generation);
  }
  auto* k = out.mutable_kernel();
  k->set_release(st.kernel.release);
  k->set_sched_ext(st.kernel.schedExt);
  k->set_btf(st.kernel.btf);
  for (const auto& f : st.kernel.features) k->add_features(f);
  out.set_policy(st.policy);
  out.set_revision(st.revision);
  out.set_phase(toProto(st.phase));
  if (st.active) {
    auto* a = out.mutable_active();
    a->set_ops_name(st.active->opsName);
    a->set_image(st.active->image);
    a->set_pid(st.active->pid);
    a->set_enable_seq(st.active->enableSeq);
    a->set_since(st.active->since);
  }
  out.set_restarts(st.restarts);
  if (st.lastExit) {
    auto* x = out.mutable_last_exit();
    x->set_time(st.lastExit->time);
    x->set_kind(st.lastExit->kind);
    x->set_kind_name(st.lastExit->kindName);
    x->set_reason(st.lastExit->reason);
    x->set_message(st.lastExit->message);
  }
  for (const auto& c : st.conditions) {
    auto* p = out.add_conditions();
    p->set_type(c.type);
    p->set_status(c.status);
    p->set_observed_generation(c.observedGeneration);
    p->set_last_transition_time(c.lastTransitionTime);
    p->set_reason(c.reason);
    p->set_message(c.message);
  }
  for (const auto& e : st.recentEvents) *out.add_recent_events() = toProto(e);
  return out;
}

policy::SchedulerNodeStateStatus fromProto(const pb::NodeStatus& st) {
  policy::SchedulerNodeStateStatus out;
  for (const auto& o : st.observed_policies())
    out.observedPolicies.push_back({o.name(), o.generation()});
  out.kernel.release = st.kernel().release();
  out.kernel.schedExt = st.kernel().sched_ext();
  out.kernel.btf = st.kernel().btf();
  out.kernel.features.assign(st.kernel().features().begin(), st.kernel().features().end());
  out.policy = st.policy();
  out.revision = st.revision();
  out.phase = fromProto(st.phase());
  if (st.has_active()) {
    const auto& a = st.active();
    out.active =
        policy::ActiveScheduler{a.ops_name(), a.image(), a.pid(), a.enable_seq(), a.since()};
  }
  out.restarts = st.restarts();
  if (st.has_last_exit()) {
    const auto& x = st.last_exit();
    out.lastExit = policy::ExitRecord{x.time(), x.kind(), x.kind_name(), x.reason(), x.message()};
  }
  for (const auto& c : st.conditions()) {
    out.conditions.push_back({c.type(), c.status(), c.observed_generation(),
                              c.last_transition_time(), c.reason(), c.message()});
  }
  for (const auto& e : st.recent_events()) {
    out.recentEvents.push_back({e.time(), e.type(), e.reason(), e.message()});
  }
  return out;
}

// status.h promises gRPC's numbering; keep the promise checked.
static_assert(static_cast<int>(StatusCode::kInvalidArgument) == grpc::StatusCode::INVALID_ARGUMENT);
static_assert(static_cast<int>(StatusCode::kFailedPrecondition) ==
              grpc::StatusCode::FAILED_PRECONDITION);
static_assert(static_cast<int>(StatusCode::kUnavailable) == grpc::StatusCode::UNAVAILABLE);
static_assert(static_cast<int>(StatusCode::kDataLoss) == grpc::StatusCode::DATA_LOSS);

grpc::StatusCode toGrpc(StatusCode c) {
  int v = static_cast<int>(c);
  if (v < 0 || v > static_cast<int>(StatusCode::kDataLoss)) return grpc::StatusCode::UNKNOWN;
  return static_cast<grpc::StatusCode>(v);
}

StatusCode fromGrpc(grpc::StatusCode c) {
  int v = static_cast<int>(c);
  if (v < 0 || v > static_cast<int>(StatusCode::kDataLoss)) return StatusCode::kUnknown;
  return static_cast<StatusCode>(v);
}

grpc::Status toGrpc(const Status& s) {
  if (s.isOk()) return grpc::Status::OK;
  return {toGrpc(s.code()), s.message()};
}

Status fromGrpc(const grpc::Status& s) {
  if (s.ok()) return Status::ok();
  StatusCode c = fromGrpc(s.error_code());
  if (c == StatusCode::kOk) c = StatusCode::kUnknown;
  return {c, s.error_message()};
}

}  // namespace schedkit::agent::grpcapi
