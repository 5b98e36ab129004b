// schedkit-agent's cluster mode end to end against a real kube-apiserver + etcd: policies in,
// SchedulerNodeState and Events out, through restarts and compactions of the control plane. The
// kernel is the simulated one from the unit tests (FakeKernel); the vm tier covers the real one.
#include <gtest/gtest.h>
#include <unistd.h>

#include <functional>
#include <memory>

#include "../kube/kube_helpers.h"
#include "app/agent.h"
#include "fakes/fake_kernel.h"
#include "schedkit/kube/errors.h"
#include "schedkit/policy/decode.h"

namespace schedkit::agent {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testenv::KubeTestenv;
using testenv::RealKube;
namespace res = kube::resources;

class AgentClusterIT : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    suffix_ = std::to_string(::getpid()) + "-" + std::to_string(++counter);
    node_ = "agent-it-" + suffix_;
    admin_ = real_.admin();
    ASSERT_NE(admin_, nullptr);
    auto n = admin_->create(res::kNodes, "",
                            {{"apiVersion", "v1"},
                             {"kind", "Node"},
                             {"metadata", {{"name", node_}, {"labels", {{"pool", "it-" + suffix_}}}}}});
    ASSERT_TRUE(n.isOk()) << n.status().toString();
    char tmpl[] = "/tmp/schedkit-agent-it-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    stateDir_ = tmpl;
  }

  void TearDown() override {
    if (agent_) {
      agent_->stopBackground();
      agent_.reset();
    }
    for (const auto& p : created_) (void)admin_->remove(res::kSchedulerPolicies, "", p);
    (void)admin_->remove(res::kNodes, "", node_);
    (void)admin_->remove(res::kSchedulerNodeStates, "", node_);
    std::system(("rm -rf " + stateDir_).c_str());
  }

  void startAgent() {
    agentClient_ = real_.fromKubeconfig(KubeTestenv::get().var("KUBECONFIG"));
    ASSERT_NE(agentClient_, nullptr);
    AgentOptions o;
    o.nodeName = node_;
    o.stateDir = stateDir_;
    agent_ = std::make_unique<Agent>(AgentDeps{clock_, random_, loop_, localFs_, log_, host_, &bpf_,
                                               &proc_, nullptr, nullptr, agentClient_.get()},
                                     o);
    ASSERT_TRUE(agent_->start().isOk());
  }

  json policyObject(const std::string& name, int priority, std::vector<std::string> args = {}) {
    return {{"apiVersion", "schedkit.io/v1alpha1"},
            {"kind", "SchedulerPolicy"},
            {"metadata", {{"name", name}}},
            {"spec",
             {{"scheduler", {{"hostPath", "/usr/lib/schedkit/fifo.bpf.o"}, {"args", args}}},
              {"nodeSelector", {{"matchLabels", {{"pool", "it-" + suffix_}}}}},
              {"priority", priority}}}};
  }
  void createPolicy(const std::string& name, int priority, std::vector<std::string> args = {}) {
    auto r = admin_->create(res::kSchedulerPolicies, "", policyObject(name, priority, args));
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    created_.push_back(name);
  }

  // Runs the agent's loop until pred() holds (real time; this is an integration test).
  bool runUntil(const std::function<bool()>& pred, Duration timeout = 30s) {
    MonoTime end = clock_.now() + timeout;
    while (clock_.now() < end) {
      if (pred()) return true;
      EXPECT_TRUE(loop_.runOnce(100ms).isOk());
    }
    return pred();
  }
  void runFor(Duration d) {
    MonoTime end = clock_.now() + d;
    while (clock_.now() < end) EXPECT_TRUE(loop_.runOnce(100ms).isOk());
  }

  json state() {
    auto s = admin_->get(res::kSchedulerNodeStates, "", node_);
    return s.isOk() ? *s : json();
  }
  std::string phase() {
    json s = state();
    return s.is_object() ? s.value("/status/phase"_json_pointer, std::string()) : "";
  }
  bool phaseIs(const std::string& p) { return phase() == p; }
  int countEvents(const std::string& reason, const std::string& kind, const std::string& name) {
    auto l = admin_->list(res::kEvents, "default");
    int n = 0;
    if (!l.isOk()) return -1;
    for (const auto& e : l->items) {
      if (e.value("reason", "") == reason && e["regarding"].value("kind", "") == kind &&
          e["regarding"].value("name", "") == name) {
        ++n;
      }
    }
    return n;
  }

  RealKube real_;
  RealClock clock_;
  RealRandom random_;
  EventLoop loop_{clock_};
  HostFilesystem localFs_{"/"};
  Logger log_{Logger::stderrLogger(clock_, LogFormat::kText, LogLevel::kWarn)};
  FakeKernel kernel_{clock_};
  FakeSchedExtHost host_{kernel_};
  FakeAttacher bpf_{kernel_, clock_, policy::SchedulerType::kBpfObject};
  FakeAttacher proc_{kernel_, clock_, policy::SchedulerType::kBinary};
  std::unique_ptr<kube::Client> admin_, agentClient_;
  std::unique_ptr<Agent> agent_;
  std::string suffix_, node_, stateDir_;
  std::vector<std::string> created_;
};

TEST_F(AgentClusterIT, ApplyEditDeleteDriveTheNode) {
  startAgent();
  ASSERT_TRUE(runUntil([&] { return phaseIs("Idle"); })) << state().dump(2);

  createPolicy("it-fifo-" + suffix_, 10);
  ASSERT_TRUE(runUntil([&] { return phaseIs("Running"); })) << state().dump(2);
  json s = state();
  EXPECT_EQ(s["status"]["active"]["opsName"], "fifo_test");
  EXPECT_EQ(s["status"]["policy"], "it-fifo-" + suffix_);
  EXPECT_EQ(s["metadata"]["ownerReferences"][0]["kind"], "Node");
  EXPECT_EQ(s["metadata"]["ownerReferences"][0]["name"], node_);
  EXPECT_EQ(bpf_.starts, 1);
  std::string rev1 = s["status"]["revision"];

  // An edit that changes what runs re-attaches once.
  auto edited = admin_->patch(res::kSchedulerPolicies, "", "it-fifo-" + suffix_,
                              kube::PatchType::kMerge,
                              json::parse(R"({"spec":{"scheduler":{"args":["--slice-us","5000"]}}})"));
  ASSERT_TRUE(edited.isOk()) << edited.status().toString();
  ASSERT_TRUE(runUntil([&] {
    json st = state();
    return st.is_object() && st["status"].value("revision", "") != rev1 && phaseIs("Running");
  })) << state().dump(2);
  EXPECT_EQ(bpf_.starts, 2);
  EXPECT_EQ(bpf_.stops, 1);
  EXPECT_EQ(bpf_.launched.back().args, (std::vector<std::string>{"--slice-us", "5000"}));
  EXPECT_EQ(state()["status"]["observedPolicies"][0]["generation"], 2);

  // An edit that does not change what runs (priority) does not re-attach.
  ASSERT_TRUE(admin_->patch(res::kSchedulerPolicies, "", "it-fifo-" + suffix_,
                            kube::PatchType::kMerge, json::parse(R"({"spec":{"priority":11}})")).isOk());
  runFor(2s);
  EXPECT_EQ(bpf_.starts, 2);

  ASSERT_TRUE(admin_->remove(res::kSchedulerPolicies, "", "it-fifo-" + suffix_).isOk());
  ASSERT_TRUE(runUntil([&] { return phaseIs("Idle"); })) << state().dump(2);
  EXPECT_EQ(kernel_.state.state, EnableState::kDisabled);
  EXPECT_GE(countEvents("Attached", "Node", node_), 1);
}

TEST_F(AgentClusterIT, TiedPoliciesPickTheFirstNameAndReportAConflict) {
  createPolicy("it-b-" + suffix_, 50);
  createPolicy("it-a-" + suffix_, 50);
  createPolicy("it-low-" + suffix_, 1);
  startAgent();
  ASSERT_TRUE(runUntil([&] { return phaseIs("Running"); })) << state().dump(2);
  EXPECT_EQ(state()["status"]["policy"], "it-a-" + suffix_);
  agent_->eventRecorder()->drain();
  EXPECT_TRUE(runUntil([&] { return countEvents("Conflict", "Node", node_) == 1; }));
  EXPECT_EQ(countEvents("Conflict", "SchedulerPolicy", "it-a-" + suffix_), 1);
}

TEST_F(AgentClusterIT, SteadyStateWritesNothing) {
  createPolicy("it-steady-" + suffix_, 1);
  startAgent();
  ASSERT_TRUE(runUntil([&] { return phaseIs("Running"); }));
  runFor(1s);
  agent_->eventRecorder()->drain();
  auto writes = agent_->kubeWriter()->writes();
  auto requests = agentClient_->stats().requests;
  runFor(5s);
  EXPECT_EQ(agent_->kubeWriter()->writes(), writes);
  // Open watches are single long requests: a quiet cluster costs no requests at all.
  EXPECT_EQ(agentClient_->stats().requests, requests);
}

TEST_F(AgentClusterIT, SurvivesApiserverRestartAndCompactionWithoutLosingAnUpdate) {
  createPolicy("it-r-" + suffix_, 1);
  startAgent();
  ASSERT_TRUE(runUntil([&] { return phaseIs("Running"); }));
  ASSERT_EQ(bpf_.starts, 1);

  // A change made across a restart (and a compaction, so the watch's version is gone: 410).
  std::thread disturb([&] {
    KubeTestenv::get().compactEtcd();
    KubeTestenv::get().restartApiserver();
  });
  runFor(1s);
  disturb.join();
  // The API server is back; an update made now must reach the agent exactly once.
  auto other = real_.admin();
  ASSERT_TRUE(other->patch(res::kSchedulerPolicies, "", "it-r-" + suffix_, kube::PatchType::kMerge,
                           json::parse(R"({"spec":{"scheduler":{"args":["--after-restart"]}}})")).isOk());
  ASSERT_TRUE(runUntil([&] { return bpf_.starts == 2 && phaseIs("Running"); }, 90s))
      << "starts=" << bpf_.starts << " " << state().dump(2);
  runFor(3s);
  EXPECT_EQ(bpf_.starts, 2) << "no duplicate attach after the re-list";
  EXPECT_EQ(bpf_.launched.back().args, std::vector<std::string>{"--after-restart"});
  auto stats = agent_->clusterSource()->policyStats();
  EXPECT_GE(stats.lists, 2u) << "the 410 forced a re-list";
}

TEST_F(AgentClusterIT, StatusWrittenWhileTheApiServerWasAwayArrivesLater) {
  createPolicy("it-away-" + suffix_, 1);
  startAgent();
  ASSERT_TRUE(runUntil([&] { return phaseIs("Running"); }));
  // The kernel ejects the scheduler while the API server restarts: the status update must not
  // be lost.
  std::thread restart([&] { KubeTestenv::get().restartApiserver(); });
  runFor(500ms);
  kernel_.disable(ExitKind::kSysrq, "disabled by sysrq-S");
  runFor(1s);
  restart.join();
  ASSERT_TRUE(runUntil([&] { return phaseIs("FallenBack"); }, 90s)) << state().dump(2);
  EXPECT_EQ(state()["status"]["lastExit"]["kindName"], "SYSRQ");
}

}  // namespace
}  // namespace schedkit::agent
