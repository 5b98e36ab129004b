#pragma once

#include <functional>
#include <memory>
#include <string>

#include "schedkit/agent/v1/agent.grpc.pb.h"
#include "schedkit/common/clock.h"
#include "schedkit/common/status.h"

namespace schedkit::cli {

namespace pb = ::schedkit::agent::v1;

inline constexpr const char* kDefaultAgentSocket = "/run/schedkit/agent.sock";

// Looks at the agent's socket before gRPC does, for errors a person can act on: absent,
// permission denied (root-only), not a socket, nobody listening.
Status probeAgentSocket(const std::string& path);

// Turns a failed call into the CLI's wording (deadline, unreachable agent), with the code kept.
Status callError(const grpc::Status& s, const std::string& socket, Duration timeout);

// schedkitctl's side of schedkit.agent.v1.AgentService over the agent's unix socket.
class NodeClient {
 public:
  NodeClient(std::string socket, Duration timeout);

  Result<pb::NodeStatus> status();
  // `wait` is the call's deadline; zero: do not wait for the node (no_wait), deadline --timeout.
  Result<pb::AttachResponse> attach(pb::AttachRequest req, Duration wait);
  Result<pb::DetachResponse> detach(pb::DetachRequest req, Duration wait);
  // Streams until onEvent returns false (then OK) or the stream ends (its status).
  Status watch(bool includeRecent, const std::function<bool(const pb::NodeEvent&)>& onEvent);

 private:
  Status ready();
  std::string socket_;
  Duration timeout_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<pb::AgentService::Stub> stub_;
};

}  // namespace schedkit::cli
