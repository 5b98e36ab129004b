// The gRPC API's mappings: SchedulerNodeStateStatus <-> NodeStatus, phases, status codes, and the
// policy file a standalone Attach writes.
#include <gtest/gtest.h>

#include "grpc/agent_service.h"
#include "grpc/convert.h"
#include "node/node_engine.h"
#include "schedkit/policy/decode.h"

namespace schedkit::agent::grpcapi {
namespace {

policy::SchedulerNodeStateStatus fullStatus() {
  policy::SchedulerNodeStateStatus st;
  st.observedPolicies = {{"fifo", 3}, {"other", 1}};
  st.kernel = {"6.18.15+deb13-amd64", true, true, {"switch_all", "events"}};
  st.policy = "fifo";
  st.revision = "5d8c7f";
  st.phase = policy::NodePhase::kRestarting;
  st.active =
      policy::ActiveScheduler{"fifo_test", "reg/x@sha256:ab", 42, 7, "2026-12-03T10:00:00Z"};
  st.restarts = 2;
  st.lastExit = policy::ExitRecord{"2026-12-03T10:01:00Z", 1026, "ERROR_STALL",
                                   "runnable task stall", "kworker/0:1[11] failed to run for 2.6s"};
  st.conditions = {{"Ready", "False", 3, "2026-12-03T10:01:00Z", "Restarting", "backoff 5s"},
                   {"Degraded", "True", 3, "2026-12-03T10:01:00Z", "Restarting", ""}};
  st.recentEvents = {{"2026-12-03T10:01:00Z", "Warning", "Restarting", "in 5s"},
                     {"2026-12-03T10:00:00Z", "Normal", "Attached", "scheduler fifo_test enabled"}};
  return st;
}

TEST(GrpcConvertTest, StatusRoundTripsThroughProto) {
  auto st = fullStatus();
  pb::NodeStatus p = toProto(st);
  EXPECT_EQ(p.phase(), pb::NODE_PHASE_RESTARTING);
  EXPECT_EQ(p.active().ops_name(), "fifo_test");
  EXPECT_EQ(p.active().pid(), 42);
  EXPECT_EQ(p.last_exit().kind(), 1026);
  EXPECT_EQ(p.last_exit().kind_name(), "ERROR_STALL");
  EXPECT_EQ(p.kernel().features_size(), 2);
  ASSERT_EQ(p.recent_events_size(), 2);
  EXPECT_EQ(p.recent_events(0).reason(), "Restarting");
  EXPECT_EQ(p.recent_events(0).kind(), pb::NodeEvent::KIND_EVENT);
  EXPECT_EQ(fromProto(p), st);
}

TEST(GrpcConvertTest, AbsentActiveAndExitStayAbsent) {
  policy::SchedulerNodeStateStatus st;
  pb::NodeStatus p = toProto(st);
  EXPECT_FALSE(p.has_active());
  EXPECT_FALSE(p.has_last_exit());
  EXPECT_EQ(p.phase(), pb::NODE_PHASE_IDLE);
  EXPECT_EQ(fromProto(p), st);
}

class GrpcPhaseTest : public ::testing::TestWithParam<policy::NodePhase> {};

TEST_P(GrpcPhaseTest, MapsBothWaysWithTheApiSpelling) {
  pb::NodePhase p = toProto(GetParam());
  EXPECT_NE(p, pb::NODE_PHASE_UNSPECIFIED);
  EXPECT_EQ(fromProto(p), GetParam());
  EXPECT_EQ(phaseName(p), policy::toString(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(
    AllPhases, GrpcPhaseTest,
    ::testing::Values(policy::NodePhase::kIdle, policy::NodePhase::kPulling,
                      policy::NodePhase::kAttaching, policy::NodePhase::kRunning,
                      policy::NodePhase::kRestarting, policy::NodePhase::kFallenBack,
                      policy::NodePhase::kIncompatible, policy::NodePhase::kFailed));

TEST(GrpcConvertTest, UnspecifiedPhaseReadsAsUnknownText) {
  EXPECT_EQ(phaseName(pb::NODE_PHASE_UNSPECIFIED), "Unknown");
  EXPECT_EQ(phaseName(static_cast<pb::NodePhase>(99)), "Unknown");
  EXPECT_EQ(fromProto(static_cast<pb::NodePhase>(99)), policy::NodePhase::kIdle);
}

struct CodeCase {
  StatusCode ours;
  grpc::StatusCode theirs;
};
class GrpcCodeTest : public ::testing::TestWithParam<CodeCase> {};

TEST_P(GrpcCodeTest, MapsOneToOne) {
  EXPECT_EQ(toGrpc(GetParam().ours), GetParam().theirs);
  EXPECT_EQ(fromGrpc(GetParam().theirs), GetParam().ours);
  if (GetParam().ours != StatusCode::kOk) {
    grpc::Status g = toGrpc(Status(GetParam().ours, "why"));
    EXPECT_EQ(g.error_code(), GetParam().theirs);
    EXPECT_EQ(g.error_message(), "why");
    EXPECT_EQ(fromGrpc(g), Status(GetParam().ours, "why"));
  }
}

INSTANTIATE_TEST_SUITE_P(
    AllCodes, GrpcCodeTest,
    ::testing::Values(
        CodeCase{StatusCode::kOk, grpc::StatusCode::OK},
        CodeCase{StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
        CodeCase{StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
        CodeCase{StatusCode::kInvalidArgument, grpc::StatusCode::INVALID_ARGUMENT},
        CodeCase{StatusCode::kDeadlineExceeded, grpc::StatusCode::DEADLINE_EXCEEDED},
        CodeCase{StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
        CodeCase{StatusCode::kAlreadyExists, grpc::StatusCode::ALREADY_EXISTS},
        CodeCase{StatusCode::kPermissionDenied, grpc::StatusCode::PERMISSION_DENIED},
        CodeCase{StatusCode::kResourceExhausted, grpc::StatusCode::RESOURCE_EXHAUSTED},
        CodeCase{StatusCode::kFailedPrecondition, grpc::StatusCode::FAILED_PRECONDITION},
        CodeCase{StatusCode::kAborted, grpc::StatusCode::ABORTED},
        CodeCase{StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
        CodeCase{StatusCode::kUnimplemented, grpc::StatusCode::UNIMPLEMENTED},
        CodeCase{StatusCode::kInternal, grpc::StatusCode::INTERNAL},
        CodeCase{StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
        CodeCase{StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS}));

TEST(GrpcConvertTest, OutOfRangeGrpcCodeIsUnknown) {
  EXPECT_EQ(fromGrpc(static_cast<grpc::StatusCode>(77)), StatusCode::kUnknown);
  EXPECT_EQ(fromGrpc(grpc::Status(static_cast<grpc::StatusCode>(77), "x")).code(),
            StatusCode::kUnknown);
}

// ---- the file a standalone Attach writes ----

TEST(AttachPolicyFileTest, HostPathSpecBecomesAValidPolicy) {
  pb::AttachRequest req;
  auto* s = req.mutable_scheduler();
  s->set_host_path("/opt/schedkit/testsched/fifo.bpf.o");
  s->add_args("--slice-us=5000");
  s->set_mode("Partial");
  auto pf = policyFileFor(req);
  ASSERT_TRUE(pf.isOk()) << pf.status().toString();
  EXPECT_EQ(pf->name, "schedkitctl");
  auto ps = policy::parsePolicies(pf->content);
  ASSERT_TRUE(ps.isOk()) << ps.status().toString();
  ASSERT_EQ(ps->size(), 1u);
  EXPECT_EQ((*ps)[0].metadata.name, "schedkitctl");
  EXPECT_EQ((*ps)[0].spec.scheduler.hostPath, "/opt/schedkit/testsched/fifo.bpf.o");
  EXPECT_EQ((*ps)[0].spec.scheduler.args, std::vector<std::string>{"--slice-us=5000"});
  EXPECT_EQ((*ps)[0].spec.mode, policy::SchedulerMode::kPartial);
  EXPECT_EQ(pf->content.rfind("# Written by schedkit-agent", 0), 0u);
}

struct BadAttach {
  std::string label;
  std::function<void(pb::AttachRequest&)> fill;
  std::string mentions;
};
class AttachPolicyFileRefusedTest : public ::testing::TestWithParam<BadAttach> {};

TEST_P(AttachPolicyFileRefusedTest, IsInvalidArgumentNamingTheProblem) {
  pb::AttachRequest req;
  GetParam().fill(req);
  auto pf = policyFileFor(req);
  ASSERT_FALSE(pf.isOk());
  EXPECT_EQ(pf.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(pf.status().message().find(GetParam().mentions), std::string::npos)
      << pf.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, AttachPolicyFileRefusedTest,
    ::testing::Values(
        BadAttach{"nothing", [](pb::AttachRequest&) {}, "give a scheduler"},
        BadAttach{"both_image_and_hostpath",
                  [](pb::AttachRequest& r) {
                    r.mutable_scheduler()->set_image("reg/x:1");
                    r.mutable_scheduler()->set_host_path("/x.bpf.o");
                  },
                  "spec.scheduler"},
        BadAttach{"bad_mode",
                  [](pb::AttachRequest& r) {
                    r.mutable_scheduler()->set_host_path("/x.bpf.o");
                    r.mutable_scheduler()->set_mode("Half");
                  },
                  "spec.mode"},
        BadAttach{"bad_name",
                  [](pb::AttachRequest& r) {
                    r.set_name("Not_A_Name");
                    r.mutable_scheduler()->set_host_path("/x.bpf.o");
                  },
                  "Not_A_Name"},
        BadAttach{"yaml_garbage", [](pb::AttachRequest& r) { r.set_policy_yaml("{{{"); }, "line"},
        BadAttach{"yaml_two_policies",
                  [](pb::AttachRequest& r) {
                    r.set_policy_yaml(
                        "apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: "
                        "a}\nspec: {scheduler: {hostPath: /a.bpf.o}}\n---\napiVersion: "
                        "schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: b}\nspec: "
                        "{scheduler: {hostPath: /b.bpf.o}}\n");
                  },
                  "exactly one"},
        BadAttach{"yaml_name_mismatch",
                  [](pb::AttachRequest& r) {
                    r.set_name("other");
                    r.set_policy_yaml(
                        "apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: "
                        "a}\nspec: {scheduler: {hostPath: /a.bpf.o}}\n");
                  },
                  "does not match"},
        BadAttach{"yaml_unknown_field",
                  [](pb::AttachRequest& r) {
                    r.set_policy_yaml(
                        "apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: "
                        "a}\nspec: {scheduler: {hostPath: /a.bpf.o}, priorty: 3}\n");
                  },
                  "priorty"}),
    [](const ::testing::TestParamInfo<BadAttach>& i) { return i.param.label; });

}  // namespace
}  // namespace schedkit::agent::grpcapi
