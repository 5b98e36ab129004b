#pragma once

#include <grpcpp/support/status.h>

#include "schedkit/agent/v1/agent.pb.h"
#include "schedkit/common/status.h"
#include "schedkit/policy/types.h"

// Between the agent's value types and the gRPC API's messages (proto/schedkit/agent/v1).
namespace schedkit::agent::grpcapi {

namespace pb = ::schedkit::agent::v1;

pb::NodePhase toProto(policy::NodePhase p);
// NODE_PHASE_UNSPECIFIED (or an unknown value from a newer agent) reads as Idle.
policy::NodePhase fromProto(pb::NodePhase p);
// "Running" for NODE_PHASE_RUNNING, as the CRD spells phases; "Unknown" for unspecified.
std::string phaseName(pb::NodePhase p);

pb::NodeStatus toProto(const policy::SchedulerNodeStateStatus& st);
policy::SchedulerNodeStateStatus fromProto(const pb::NodeStatus& st);
pb::NodeEvent toProto(const policy::NodeEvent& e);

// The project's codes are gRPC's (status.h), so the mapping is 1:1 both ways.
grpc::Status toGrpc(const Status& s);
Status fromGrpc(const grpc::Status& s);
grpc::StatusCode toGrpc(StatusCode c);
StatusCode fromGrpc(grpc::StatusCode c);

}  // namespace schedkit::agent::grpcapi
