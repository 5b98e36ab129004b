#pragma once

// The real gRPC server (GrpcServer + AgentServiceImpl) on a unix socket in a scratch directory,
// with a simple node in place of the engine: the policy directory's files decide what "runs",
// as the real node loop would settle (a file NAME.yaml → Running NAME; none → Idle).

#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "grpc/agent_service.h"
#include "grpc/server.h"
#include "schedkit/common/clock.h"
#include "schedkit/common/logger.h"
#include "schedkit/os/filesystem.h"

namespace schedkit::agent::grpcapi::testing {

class TempDir {
 public:
  TempDir() {
    path_ = "/tmp/sk-grpc-XXXXXX";  // short: a unix socket path has 107 bytes
    if (::mkdtemp(path_.data()) == nullptr) path_.clear();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& n) const { return path_ + "/" + n; }

 private:
  std::string path_;
};

// Stands in for the node engine on its loop: a status under a mutex. With a policy directory,
// each call first derives the status from the files there.
class FakeNode final : public NodeAccess {
 public:
  Status run(const std::function<void(const policy::SchedulerNodeStateStatus&)>& fn,
             Duration) override {
    std::lock_guard l(mu_);
    calls_++;
    if (!policyDir_.empty()) derive();
    fn(st_);
    return Status::ok();
  }
  void set(policy::SchedulerNodeStateStatus st) {
    std::lock_guard l(mu_);
    st_ = std::move(st);
  }
  void followDir(std::string dir) {
    std::lock_guard l(mu_);
    policyDir_ = std::move(dir);
  }
  int calls() const {
    std::lock_guard l(mu_);
    return calls_;
  }

 private:
  void derive() {
    st_.observedPolicies.clear();
    st_.policy.clear();
    st_.active.reset();
    st_.phase = policy::NodePhase::kIdle;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(policyDir_, ec)) {
      auto n = e.path().filename().string();
      if (n.size() < 6 || n.substr(n.size() - 5) != ".yaml") continue;
      std::string name = n.substr(0, n.size() - 5);
      st_.observedPolicies.push_back({name, 1});
      st_.policy = name;
      st_.phase = policy::NodePhase::kRunning;
      st_.active = policy::ActiveScheduler{"fifo_test", "", 0, 3, "2026-12-03T10:00:00Z"};
    }
  }
  mutable std::mutex mu_;
  policy::SchedulerNodeStateStatus st_;
  std::string policyDir_;
  int calls_ = 0;
};

// A running server; tear down in the destructor.
class TestServer {
 public:
  explicit TestServer(bool standalone = true, std::string policyPath = "")
      : log_(
            clock_, [](std::string_view) {}, LogFormat::kText, LogLevel::kError),
        fs_("/"),
        hub_(clock_, 4),
        opts_{.nodeName = "node-a", .standalone = standalone, .policyPath = policyPath} {
    if (standalone && policyPath.empty()) {
      std::filesystem::create_directories(dir_ / "policies");
      opts_.policyPath = dir_ / "policies";
      node_.followDir(opts_.policyPath);
    }
    service_ =
        std::make_unique<AgentServiceImpl>(AgentServiceDeps{node_, hub_, fs_, clock_, log_}, opts_);
    auto s = GrpcServer::start({.socketPath = socket()}, service_.get(), log_);
    if (s.isOk()) server_ = std::move(s).value();
    startStatus_ = s.status();
  }
  ~TestServer() {
    hub_.close();
    if (server_) server_->shutdown(std::chrono::seconds(1));
  }
  std::string socket() const { return dir_ / "agent.sock"; }
  const std::string& policyDir() const { return opts_.policyPath; }
  const Status& startStatus() const { return startStatus_; }
  FakeNode& node() { return node_; }
  EventHub& hub() { return hub_; }
  const TempDir& dir() const { return dir_; }

 private:
  TempDir dir_;
  RealClock clock_;
  Logger log_;
  HostFilesystem fs_;
  EventHub hub_;
  FakeNode node_;
  AgentServiceOptions opts_;
  std::unique_ptr<AgentServiceImpl> service_;
  std::unique_ptr<GrpcServer> server_;
  Status startStatus_;
};

}  // namespace schedkit::agent::grpcapi::testing
