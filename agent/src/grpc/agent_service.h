#pragma once

#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "grpc/event_hub.h"
#include "schedkit/agent/v1/agent.grpc.pb.h"
#include "schedkit/common/logger.h"
#include "schedkit/os/event_loop.h"
#include "schedkit/os/filesystem.h"

namespace schedkit::agent::grpcapi {

// The service's only way to the node engine, which lives on the agent's event loop: `fn` runs
// there, with the engine's status, and the caller waits at most `timeout`. fn never runs after
// run() has returned (a late loop skips it), so it may capture the caller's locals.
class NodeAccess {
 public:
  virtual ~NodeAccess() = default;
  // Also subscribe the hub there, so a watcher sees each event exactly once (see EventHub).
  virtual Status run(const std::function<void(const policy::SchedulerNodeStateStatus&)>& fn,
                     Duration timeout) = 0;
};

// The real one: posts to the EventLoop that owns the engine.
class LoopNodeAccess final : public NodeAccess {
 public:
  using StatusFn = std::function<const policy::SchedulerNodeStateStatus&()>;
  LoopNodeAccess(EventLoop& loop, Clock& clock, StatusFn status)
      : loop_(loop), clock_(clock), status_(std::move(status)) {}
  Status run(const std::function<void(const policy::SchedulerNodeStateStatus&)>& fn,
             Duration timeout) override;
  // Shutting down: pending and later calls fail with UNAVAILABLE at once.
  void close();

 private:
  struct Call {
    bool done = false;
    bool abandoned = false;
  };
  EventLoop& loop_;
  Clock& clock_;
  StatusFn status_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool closed_ = false;
};

struct AgentServiceOptions {
  std::string nodeName;
  bool standalone = true;
  // Standalone: --policy-file. Attach/Detach need it to be a directory.
  std::string policyPath;
  std::size_t maxWatchers = 8;
  // Attach/Detach wait at most this long when the client sets no deadline.
  Duration maxWait = std::chrono::minutes(5);
  // Answer this much before the client's deadline, so the reply (settled or not) arrives.
  Duration replyMargin = std::chrono::milliseconds(250);
  // How long a call waits for the node loop.
  Duration loopTimeout = std::chrono::seconds(5);
};

struct AgentServiceDeps {
  NodeAccess& node;
  EventHub& hub;
  Filesystem& fs;  // the agent's own files (the policy directory)
  Clock& clock;
  const Logger& log;
};

// What a standalone Attach writes, validated with the agent's own policy decoder: the file's
// content, the policy's name. INVALID_ARGUMENT names the problem.
struct PolicyFile {
  std::string name;
  std::string content;
  policy::SchedulerPolicySpec spec;
};
Result<PolicyFile> policyFileFor(const pb::AttachRequest& req);

// schedkit.agent.v1.AgentService on gRPC's sync threads. Nothing here touches the engine but
// through NodeAccess.
class AgentServiceImpl final : public pb::AgentService::Service {
 public:
  AgentServiceImpl(AgentServiceDeps deps, AgentServiceOptions opts);

  grpc::Status GetNodeStatus(grpc::ServerContext* ctx, const pb::GetNodeStatusRequest* req,
                             pb::NodeStatus* out) override;
  grpc::Status WatchEvents(grpc::ServerContext* ctx, const pb::WatchEventsRequest* req,
                           grpc::ServerWriter<pb::NodeEvent>* w) override;
  grpc::Status Attach(grpc::ServerContext* ctx, const pb::AttachRequest* req,
                      pb::AttachResponse* out) override;
  grpc::Status Detach(grpc::ServerContext* ctx, const pb::DetachRequest* req,
                      pb::DetachResponse* out) override;

 private:
  Result<policy::SchedulerNodeStateStatus> snapshot(grpc::ServerContext* ctx);
  pb::NodeStatus decorate(const policy::SchedulerNodeStateStatus& st) const;
  Result<std::string> policyDir() const;
  MonoTime waitDeadline(grpc::ServerContext* ctx) const;
  // Waits until `settled(status)` or the deadline; returns the last status and whether it settled.
  Result<std::pair<policy::SchedulerNodeStateStatus, bool>> waitFor(
      grpc::ServerContext* ctx,
      const std::function<bool(const policy::SchedulerNodeStateStatus&)>& settled);

  AgentServiceDeps d_;
  AgentServiceOptions o_;
  std::mutex filesMu_;  // one Attach/Detach file change at a time
};

}  // namespace schedkit::agent::grpcapi
