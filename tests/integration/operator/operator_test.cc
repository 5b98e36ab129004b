// schedkit-operator, the real binary, against the real kube-apiserver + etcd of hack/testenv (and
// Debian's docker-registry for digest pins). Agents are simulated by the test: they write
// SchedulerNodeStates exactly as the agent does (server-side apply of /status, field manager
// schedkit-agent) and follow the policy's rollout with the agent's own function
// (policy::desiredRevision), so what the operator reads and writes is real end to end.

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include "../kube/kube_helpers.h"
#include "schedkit/oci/credentials.h"
#include "schedkit/policy/decode.h"
#include "schedkit/policy/encode.h"
#include "schedkit/policy/resolve.h"

namespace schedkit {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testenv::eventually;
using testenv::KubeTestenv;
using testenv::RealKube;
using testenv::report;
using testenv::uniqueName;
namespace res = kube::resources;

const std::string kNs = "schedkit-op-it";

std::string run(const std::string& cmd, int* rc = nullptr) {
  std::string out;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int status = ::pclose(p);
  if (rc) *rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string kubectl(const std::string& args, int* rc = nullptr) {
  return run("KUBECONFIG=" + KubeTestenv::get().var("KUBECONFIG") + " kubectl " + args, rc);
}

// kstatus' verdict on a policy, from the real library (hack/kstatus.sh).
std::string kstatus(const std::string& policy) {
  std::string out = kubectl("get sp " + policy + " -o json | " + std::string(SCHEDKIT_SOURCE_DIR) +
                            "/hack/kstatus.sh");
  std::istringstream in(out);
  std::string name, verdict;
  in >> name >> verdict;
  return verdict;
}

// One schedkit-operator process.
class OperatorProcess {
 public:
  OperatorProcess(std::string identity, std::string lease, std::vector<std::string> extra = {})
      : identity_(std::move(identity)), lease_(std::move(lease)), extra_(std::move(extra)) {}
  ~OperatorProcess() { kill(SIGKILL); }

  void start() {
    log_ = "/tmp/schedkit-operator-it-" + identity_ + ".log";
    std::vector<std::string> args = {SCHEDKIT_OPERATOR_BIN,
                                     "--kubeconfig=" + KubeTestenv::get().var("KUBECONFIG"),
                                     "--namespace=" + kNs,
                                     "--identity=" + identity_,
                                     "--lease-name=" + lease_,
                                     "--lease-duration=4s",
                                     "--renew-deadline=3s",
                                     "--retry-period=500ms",
                                     "--metrics-address=127.0.0.1:" + std::to_string(port()),
                                     "--log-level=debug"};
    args.insert(args.end(), extra_.begin(), extra_.end());
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      ::dup2(fd, 2);
      ::dup2(fd, 1);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
  }
  void kill(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int st = 0;
    ::waitpid(pid_, &st, 0);
    pid_ = -1;
  }
  bool running() const { return pid_ > 0; }
  const std::string& identity() const { return identity_; }
  int port() const { return port_; }
  std::string metrics() const { return run("curl -fsS -m 3 http://127.0.0.1:" + std::to_string(port()) + "/metrics"); }
  double metric(const std::string& line) const {
    std::istringstream in(metrics());
    std::string l;
    while (std::getline(in, l)) {
      if (l.rfind(line + " ", 0) == 0) return std::stod(l.substr(line.size() + 1));
    }
    return -1;
  }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  std::string identity_, lease_;
  std::vector<std::string> extra_;
  std::string log_;
  pid_t pid_ = -1;
  // Distinct per process of this run; the pid keeps parallel runs apart.
  int port_ = [] {
    static std::atomic<int> next{0};
    return 20000 + static_cast<int>(::getpid() % 400) * 25 + next++ % 25;
  }();
};

// Agents of a few nodes: follow the policy's rollout and report, like schedkit-agent does.
class SimAgents {
 public:
  SimAgents(kube::Client& c, std::vector<std::string> nodes) : c_(c), nodes_(std::move(nodes)) {}
  ~SimAgents() { stop(); }

  void fallBackOn(const std::string& revision) {
    std::lock_guard lk(mu_);
    badRevision_ = revision;
  }
  void start() {
    thread_ = std::thread([this] {
      while (!stop_) {
        step();
        std::this_thread::sleep_for(150ms);
      }
    });
  }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  // What each node runs now (revision, empty when idle).
  std::map<std::string, std::string> running() {
    std::lock_guard lk(mu_);
    std::map<std::string, std::string> out;
    for (const auto& [n, s] : states_) out[n] = s.phase == policy::NodePhase::kRunning ? s.revision : "";
    return out;
  }
  int maxRunningAtOnce(const std::string& rev) {
    std::lock_guard lk(mu_);
    return maxRunning_[rev];
  }

 private:
  void step() {
    auto list = c_.list(res::kSchedulerPolicies, "");
    if (!list.isOk()) return;
    std::vector<policy::SchedulerPolicy> ps;
    for (const auto& o : list->items) {
      auto p = policy::decodePolicy(o, {.rejectUnknownFields = false});
      if (p.isOk()) ps.push_back(std::move(p).value());
    }
    std::sort(ps.begin(), ps.end(), [](auto& a, auto& b) { return a.metadata.name < b.metadata.name; });
    std::lock_guard lk(mu_);
    std::map<std::string, int> runningNow;
    for (const auto& n : nodes_) {
      auto nodeObj = c_.get(res::kNodes, "", n);
      if (!nodeObj.isOk()) continue;
      policy::Labels labels;
      const json nodeLabels = (*nodeObj)["metadata"].value("labels", json::object());
      for (const auto& [k, v] : nodeLabels.items()) labels[k] = v;
      auto r = policy::resolve(ps, labels);
      policy::SchedulerNodeStateStatus st;
      st.kernel = {"6.18.15", true, true, {}};
      for (const auto& p : ps) st.observedPolicies.push_back({p.metadata.name, p.metadata.generation});
      if (r.winner) {
        const auto& p = ps[*r.winner];
        if (auto d = policy::desiredRevision(p, n)) {
          st.policy = p.metadata.name;
          st.revision = d->spec.revision;
          auto& prev = states_[n];
          if (d->spec.revision == badRevision_) {
            st.phase = policy::NodePhase::kFallenBack;
            st.restarts = 3;
            st.lastExit = policy::ExitRecord{prev.revision == st.revision && prev.lastExit ? prev.lastExit->time : formatRfc3339(std::chrono::system_clock::now()),
                                             1026, "ERROR_STALL", "runnable task stall",
                                             "simfifo: kworker/0:1[11] failed to run for 2.6s"};
          } else {
            st.phase = policy::NodePhase::kRunning;
            std::string since = prev.revision == st.revision && prev.active ? prev.active->since
                                                                           : formatRfc3339(std::chrono::system_clock::now());
            st.active = policy::ActiveScheduler{"fifo_test", policy::imageToRun(p, *d), 4242, 7, since};
            runningNow[st.revision]++;
          }
        }
      }
      if (!(states_.count(n) && states_[n] == st)) {
        json body = {{"apiVersion", policy::kApiVersion},
                     {"kind", policy::kNodeStateKind},
                     {"metadata", {{"name", n}}},
                     {"status", policy::encodeNodeStateStatus(st)}};
        auto w = c_.applyStatus(res::kSchedulerNodeStates, body, {.fieldManager = "schedkit-agent", .force = true});
        if (w.isOk()) states_[n] = st;
      }
    }
    for (const auto& [rev, n] : runningNow) maxRunning_[rev] = std::max(maxRunning_[rev], n);
  }

  kube::Client& c_;
  std::vector<std::string> nodes_;
  std::mutex mu_;
  std::map<std::string, policy::SchedulerNodeStateStatus> states_;
  std::map<std::string, int> maxRunning_;
  std::string badRevision_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class OperatorIT : public ::testing::Test {
 protected:
  void SetUp() override {
    admin_ = real_.admin();
    ASSERT_NE(admin_, nullptr);
    auto ns = admin_->create(res::kNamespaces, "", {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", kNs}}}});
    ASSERT_TRUE(ns.isOk() || ns.status().code() == StatusCode::kAlreadyExists) << ns.status().toString();
    pool_ = uniqueName("pool");
    lease_ = uniqueName("lease");
  }
  void TearDown() override {
    if (HasFailure()) {
      for (auto* op : ops_) std::cerr << "---- operator " << op->identity() << " log (tail):\n" << tail(op->log()) << "\n";
    }
    for (const auto& p : policies_) (void)admin_->remove(res::kSchedulerPolicies, "", p);
    for (const auto& n : nodes_) {
      (void)admin_->remove(res::kNodes, "", n);
      (void)admin_->remove(res::kSchedulerNodeStates, "", n);
    }
  }
  static std::string tail(const std::string& s) { return s.size() > 6000 ? s.substr(s.size() - 6000) : s; }

  std::vector<std::string> makeNodes(int n) {
    std::vector<std::string> out;
    for (int i = 0; i < n; ++i) {
      std::string name = pool_ + "-n" + std::to_string(i);
      auto r = admin_->create(res::kNodes, "", {{"apiVersion", "v1"}, {"kind", "Node"},
                                                 {"metadata", {{"name", name}, {"labels", {{"schedkit.io/pool", pool_}}}}}});
      EXPECT_TRUE(r.isOk()) << r.status().toString();
      auto s = admin_->create(res::kSchedulerNodeStates, "", {{"apiVersion", policy::kApiVersion}, {"kind", policy::kNodeStateKind},
                                                               {"metadata", {{"name", name}}}, {"spec", {{"nodeName", name}}}});
      EXPECT_TRUE(s.isOk()) << s.status().toString();
      nodes_.push_back(name);
      out.push_back(name);
    }
    return out;
  }
  json policyObject(const std::string& name, json rollout, json scheduler = {}) {
    if (scheduler.is_null()) scheduler = {{"hostPath", "/usr/lib/schedkit/fifo.bpf.o"}};
    return {{"apiVersion", policy::kApiVersion}, {"kind", policy::kPolicyKind}, {"metadata", {{"name", name}}},
            {"spec", {{"scheduler", scheduler}, {"nodeSelector", {{"matchLabels", {{"schedkit.io/pool", pool_}}}}},
                      {"rollout", rollout}}}};
  }
  void createPolicy(const json& obj) {
    auto r = admin_->create(res::kSchedulerPolicies, "", obj);
    ASSERT_TRUE(r.isOk()) << r.status().toString();
    policies_.push_back(obj["metadata"]["name"]);
  }
  policy::SchedulerPolicy getPolicy(const std::string& name) {
    auto r = admin_->get(res::kSchedulerPolicies, "", name);
    EXPECT_TRUE(r.isOk()) << r.status().toString();
    if (!r.isOk()) return {};
    auto p = policy::decodePolicy(*r, {.rejectUnknownFields = false});
    EXPECT_TRUE(p.isOk()) << p.status().toString();
    return p.isOk() ? *p : policy::SchedulerPolicy{};
  }
  void patchSpec(const std::string& name, const json& spec) {
    auto r = admin_->patch(res::kSchedulerPolicies, "", name, kube::PatchType::kMerge, {{"spec", spec}});
    ASSERT_TRUE(r.isOk()) << r.status().toString();
  }
  std::string condition(const policy::SchedulerPolicy& p, const std::string& type, bool reason = false) {
    for (const auto& c : p.status.conditions) {
      if (c.type == type) return reason ? c.reason : c.status;
    }
    return "";
  }
  int events(const std::string& policyName, const std::string& reason) {
    auto l = admin_->list(res::kEvents, "default");
    int n = 0;
    if (!l.isOk()) return -1;
    for (const auto& e : l->items) {
      if (e.value("reason", "") == reason && e["regarding"].value("name", "") == policyName) ++n;
    }
    return n;
  }
  OperatorProcess& startOperator(const std::string& id, std::vector<std::string> extra = {}) {
    procs_.push_back(std::make_unique<OperatorProcess>(id + "-" + lease_, lease_, std::move(extra)));
    procs_.back()->start();
    ops_.push_back(procs_.back().get());
    return *procs_.back();
  }
  std::string leaseHolder() {
    auto l = admin_->get(res::kLeases, kNs, lease_);
    return l.isOk() ? (*l)["spec"].value("holderIdentity", "") : "";
  }

  RealKube real_;
  std::unique_ptr<kube::Client> admin_;
  std::string pool_, lease_;
  std::vector<std::string> policies_, nodes_;
  std::vector<std::unique_ptr<OperatorProcess>> procs_;
  std::vector<OperatorProcess*> ops_;
};

TEST_F(OperatorIT, RollsNodeStatesUpLabelsNodesAndFillsThePrinterColumns) {
  auto nodes = makeNodes(3);
  SimAgents agents(*admin_, nodes);
  agents.start();
  auto& op = startOperator("rollup");
  const std::string name = uniqueName("rollup");
  auto t0 = std::chrono::steady_clock::now();
  createPolicy(policyObject(name, {{"strategy", "Immediate"}}));
  ASSERT_TRUE(eventually([&] {
    auto p = getPolicy(name);
    return p.status.nodes.attached == 3 && condition(p, "Ready") == "True";
  }, 30s)) << kubectl("get sp " + name + " -o yaml");
  report("policy created -> Ready with 3 simulated nodes",
         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), "s");
  auto p = getPolicy(name);
  EXPECT_EQ(p.status.observedGeneration, p.metadata.generation);
  EXPECT_EQ(p.status.nodes.matched, 3);
  EXPECT_EQ(p.status.rollout->phase, policy::RolloutPhase::kComplete);
  EXPECT_EQ(condition(p, "Reconciling"), "False");
  EXPECT_EQ(condition(p, "Stalled"), "False");
  // kubectl get sp: MATCHED 3, ATTACHED 3, FALLEN-BACK 0, READY True.
  std::string row = kubectl("get sp " + name + " --no-headers");
  std::istringstream in(row);
  std::vector<std::string> cols{std::istream_iterator<std::string>(in), {}};
  // From the end: an empty SCHEDULER column (a hostPath policy) prints nothing at all.
  ASSERT_GE(cols.size(), 6u) << row;
  const std::size_t nc = cols.size();
  EXPECT_EQ(cols[nc - 5], "3") << row;  // MATCHED
  EXPECT_EQ(cols[nc - 4], "3") << row;  // ATTACHED
  EXPECT_EQ(cols[nc - 3], "0") << row;  // FALLEN-BACK
  EXPECT_EQ(cols[nc - 2], "True") << row;  // READY
  EXPECT_EQ(kstatus(name), "Current");
  // Every node carries the placement labels, written by the operator's field manager only.
  ASSERT_TRUE(eventually([&] {
    for (const auto& n : nodes) {
      auto o = admin_->get(res::kNodes, "", n);
      if (!o.isOk()) return false;
      auto l = (*o)["metadata"].value("labels", json::object());
      if (l.value("schedkit.io/scheduler", "") != "fifo" || l.value("schedkit.io/scheduler-ready", "") != "true") return false;
    }
    return true;
  }, 20s));
  std::string workload = kubectl("get nodes -l schedkit.io/scheduler=fifo,schedkit.io/scheduler-ready=true,schedkit.io/pool=" + pool_ + " -o name");
  EXPECT_EQ(std::count(workload.begin(), workload.end(), '\n'), 3) << workload;
  // Steady state: nothing more is written.
  std::this_thread::sleep_for(2s);
  double writes = op.metric("schedkit_operator_status_writes_total{result=\"ok\"}");
  double labels = op.metric("schedkit_operator_node_label_writes_total{result=\"ok\"}");
  ASSERT_GE(writes, 1);
  std::this_thread::sleep_for(5s);
  EXPECT_EQ(op.metric("schedkit_operator_status_writes_total{result=\"ok\"}"), writes);
  EXPECT_EQ(op.metric("schedkit_operator_node_label_writes_total{result=\"ok\"}"), labels);
  EXPECT_EQ(op.metric("schedkit_operator_leader"), 1);

  // One node falls back: counts, recentFallbacks, Degraded, the ready label.
  agents.fallBackOn(p.status.rollout->revision);
  ASSERT_TRUE(eventually([&] {
    auto q = getPolicy(name);
    return q.status.nodes.fallenBack == 3 && condition(q, "Degraded") == "True";
  }, 30s));
  auto q = getPolicy(name);
  ASSERT_FALSE(q.status.recentFallbacks.empty());
  EXPECT_EQ(q.status.recentFallbacks[0].exitKind, 1026);
  EXPECT_EQ(q.status.recentFallbacks[0].reason, "runnable task stall");
  EXPECT_EQ(condition(q, "Ready"), "False");
  ASSERT_TRUE(eventually([&] {
    auto o = admin_->get(res::kNodes, "", nodes[0]);
    return o.isOk() && (*o)["metadata"]["labels"].value("schedkit.io/scheduler-ready", "") == "false";
  }, 20s));
  // Deleting the policy removes the operator's labels (and nobody else's).
  (void)admin_->remove(res::kSchedulerPolicies, "", name);
  ASSERT_TRUE(eventually([&] {
    auto o = admin_->get(res::kNodes, "", nodes[0]);
    if (!o.isOk()) return false;
    auto l = (*o)["metadata"].value("labels", json::object());
    return !l.contains("schedkit.io/scheduler-ready") && l.value("schedkit.io/pool", "") == pool_;
  }, 20s));
}

TEST_F(OperatorIT, CanaryByExactCountThenHaltAndRollBackOnAFallback) {
  auto nodes = makeNodes(5);
  SimAgents agents(*admin_, nodes);
  agents.start();
  startOperator("canary");
  const std::string name = uniqueName("canary");
  createPolicy(policyObject(name, {{"strategy", "Canary"}, {"canary", {{"nodes", 2}, {"bakeTime", "4s"}}},
                                   {"maxUnavailable", "100%"}}));
  // The canary: exactly 2 nodes, baking.
  ASSERT_TRUE(eventually([&] {
    auto p = getPolicy(name);
    return condition(p, "Progressing", true) == "Baking";
  }, 30s)) << kubectl("get sp " + name + " -o yaml");
  int running = 0;
  for (const auto& [n, rev] : agents.running()) running += !rev.empty();
  EXPECT_EQ(running, 2);
  EXPECT_EQ(kstatus(name), "InProgress");
  ASSERT_TRUE(eventually([&] { return getPolicy(name).status.rollout->phase == policy::RolloutPhase::kComplete; }, 40s));
  auto p = getPolicy(name);
  EXPECT_EQ(p.status.nodes.attached, 5);
  EXPECT_EQ(agents.maxRunningAtOnce(p.status.rollout->revision), 5);
  EXPECT_EQ(kstatus(name), "Current");
  const std::string stable = p.status.rollout->revision;

  // A new revision that falls back: halted at the canary and rolled back to stable.
  patchSpec(name, {{"scheduler", {{"hostPath", "/usr/lib/schedkit/stall.bpf.o"}}}});
  const std::string bad = policy::revisionOf(getPolicy(name).spec);
  agents.fallBackOn(bad);
  ASSERT_TRUE(eventually([&] { return getPolicy(name).status.rollout->phase == policy::RolloutPhase::kRolledBack; }, 40s))
      << kubectl("get sp " + name + " -o yaml");
  p = getPolicy(name);
  EXPECT_EQ(p.status.rollout->admittedBelow, 0);
  EXPECT_EQ(p.status.rollout->stable->revision, stable);
  EXPECT_EQ(condition(p, "Stalled"), "True");
  EXPECT_EQ(kstatus(name), "Failed");
  ASSERT_TRUE(eventually([&] {
    for (const auto& [n, rev] : agents.running()) {
      if (rev != stable) return false;
    }
    return true;
  }, 20s)) << "every node returns to the stable revision";
  EXPECT_TRUE(eventually([&] { return events(name, "RolledBack") == 1; }, 30s));
  EXPECT_LE(agents.maxRunningAtOnce(bad), 2) << "the bad revision never went past the canary";
}

TEST_F(OperatorIT, ARestartMidRolloutLosesAndRepeatsNoStep) {
  auto nodes = makeNodes(4);
  SimAgents agents(*admin_, nodes);
  agents.start();
  auto* first = &startOperator("restart-a");
  const std::string name = uniqueName("restart");
  createPolicy(policyObject(name, {{"strategy", "Canary"}, {"canary", {{"nodes", 1}, {"bakeTime", "6s"}}},
                                   {"maxUnavailable", 1}}));
  ASSERT_TRUE(eventually([&] { return condition(getPolicy(name), "Progressing", true) == "Baking"; }, 30s));
  auto baking = getPolicy(name).status.rollout;
  first->kill(SIGKILL);  // no release: the next one waits out the lease
  std::this_thread::sleep_for(1s);
  EXPECT_EQ(getPolicy(name).status.rollout, baking) << "nothing moves while no operator runs";
  startOperator("restart-b");
  ASSERT_TRUE(eventually([&] { return getPolicy(name).status.rollout->phase == policy::RolloutPhase::kComplete; }, 60s))
      << kubectl("get sp " + name + " -o yaml");
  EXPECT_EQ(getPolicy(name).status.nodes.attached, 4);
  EXPECT_TRUE(eventually([&] { return events(name, "RolloutComplete") == 1; }, 30s));
  EXPECT_EQ(events(name, "RolloutStarted"), 1) << "the new leader did not start the rollout again";
  EXPECT_EQ(events(name, "CanaryBaked"), 1);
}

// The API server restarts and etcd is compacted under a rollout: the informers re-list (410),
// writes in between fail and are retried by later passes, and no step is lost or taken twice.
TEST_F(OperatorIT, AnApiServerRestartAndCompactionMidRolloutLoseNoStep) {
  auto nodes = makeNodes(4);
  SimAgents agents(*admin_, nodes);
  agents.start();
  startOperator("apirestart");
  const std::string name = uniqueName("apirestart");
  createPolicy(policyObject(name, {{"strategy", "Canary"}, {"canary", {{"nodes", 1}, {"bakeTime", "5s"}}},
                                   {"maxUnavailable", 1}}));
  ASSERT_TRUE(eventually([&] { return condition(getPolicy(name), "Progressing", true) == "Baking"; }, 30s));
  KubeTestenv::get().compactEtcd();
  KubeTestenv::get().restartApiserver();  // the clients (and the agents') reconnect by themselves
  ASSERT_TRUE(eventually([&] {
    auto r = admin_->get(res::kSchedulerPolicies, "", name);
    return r.isOk() && r->contains("status") && (*r)["status"]["rollout"].value("phase", "") == "Complete";
  }, 90s)) << kubectl("get sp " + name + " -o yaml");
  EXPECT_EQ(getPolicy(name).status.nodes.attached, 4);
  EXPECT_TRUE(eventually([&] { return events(name, "RolloutComplete") == 1; }, 30s));
  EXPECT_EQ(events(name, "RolloutStarted"), 1);
  EXPECT_EQ(events(name, "CanaryBaked"), 1);
}

TEST_F(OperatorIT, TwoReplicasOneActsAndTheOtherTakesOverWhenTheLeaderDies) {
  auto nodes = makeNodes(2);
  SimAgents agents(*admin_, nodes);
  agents.start();
  auto& a = startOperator("ha-a");
  auto& b = startOperator("ha-b");
  ASSERT_TRUE(eventually([&] { return !leaseHolder().empty(); }, 20s));
  std::string holder = leaseHolder();
  OperatorProcess& leader = holder == a.identity() ? a : b;
  OperatorProcess& standby = holder == a.identity() ? b : a;
  ASSERT_TRUE(eventually([&] { return leader.metric("schedkit_operator_leader") == 1; }, 10s));
  EXPECT_EQ(standby.metric("schedkit_operator_leader"), 0);
  const std::string name = uniqueName("ha");
  createPolicy(policyObject(name, {{"strategy", "Immediate"}}));
  ASSERT_TRUE(eventually([&] { return condition(getPolicy(name), "Ready") == "True"; }, 30s));
  EXPECT_EQ(standby.metric("schedkit_operator_status_writes_total{result=\"ok\"}"), 0) << "the standby never writes";

  auto killed = std::chrono::steady_clock::now();
  leader.kill(SIGKILL);
  ASSERT_TRUE(eventually([&] { return leaseHolder() == standby.identity(); }, 15s));
  double takeover = std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  report("operator failover after kill -9 (leaseDuration 4s)", takeover, "s");
  EXPECT_LT(takeover, 4.0 + 0.5 + 2.0);
  // The new leader acts: a spec change is observed and rolled out.
  patchSpec(name, {{"scheduler", {{"args", json::array({"--slice-us=5000"})}}}});
  ASSERT_TRUE(eventually([&] {
    auto p = getPolicy(name);
    return p.status.observedGeneration == p.metadata.generation && condition(p, "Ready") == "True" &&
           p.status.rollout->revision == policy::revisionOf(p.spec);
  }, 30s));

  // A graceful stop releases the Lease: a third replica takes over at once.
  auto& c = startOperator("ha-c");
  std::this_thread::sleep_for(1s);
  auto stopped = std::chrono::steady_clock::now();
  standby.kill(SIGTERM);
  ASSERT_TRUE(eventually([&] { return leaseHolder() == c.identity(); }, 10s));
  double handover = std::chrono::duration<double>(std::chrono::steady_clock::now() - stopped).count();
  report("operator hand-over after SIGTERM (lease released)", handover, "s");
  EXPECT_LT(handover, 3.0);
}

// Tag → digest against Debian's docker-registry with htpasswd auth over TLS, the credentials in a
// pull Secret; then the registry goes away and comes back.
TEST_F(OperatorIT, PinsATagToItsDigestWithPullSecretsAndSurvivesARegistryOutage) {
  // The operator_registry fixture's directory (one ENVIRONMENT list cannot carry two variables
  // through gtest_discover_tests); the variable overrides it for runs by hand.
  const char* regDir = std::getenv("SCHEDKIT_OPERATOR_REGISTRY_DIR");
  if (regDir == nullptr) regDir = SCHEDKIT_OPERATOR_REGISTRY_DIR;
  std::map<std::string, std::string> env;
  {
    std::ifstream in(std::string(regDir) + "/env");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("export ", 0) != 0) continue;
      auto eq = line.find('=');
      std::string v = line.substr(eq + 1);
      if (v.size() >= 2 && v.front() == '\'') v = v.substr(1, v.size() - 2);
      env[line.substr(7, eq - 7)] = v;
    }
  }
  const std::string host = env["REGISTRY_HOST"];
  ASSERT_FALSE(host.empty());
  const std::string work = "/tmp/" + uniqueName("op-img");
  const std::string repo = host + "/schedkit/op-" + pool_;
  int rc = 0;
  std::string out = run(std::string(SCHEDKIT_SOURCE_DIR) + "/hack/testenv/make-oci-image.sh " + work + " v1 'op it " + pool_ + "'", &rc);
  ASSERT_EQ(rc, 0) << out;
  out = run("skopeo copy --authfile " + env["REGISTRY_AUTHFILE"] + " --dest-cert-dir " + env["REGISTRY_CERT_DIR"] +
                " oci:" + work + ":v1 docker://" + repo + ":v1", &rc);
  ASSERT_EQ(rc, 0) << out;
  std::string digest = run("skopeo inspect --raw --authfile " + env["REGISTRY_AUTHFILE"] + " --cert-dir " +
                           env["REGISTRY_CERT_DIR"] + " docker://" + repo + ":v1 | sha256sum | cut -d' ' -f1");
  digest = "sha256:" + digest.substr(0, 64);

  std::ifstream af(env["REGISTRY_AUTHFILE"]);
  std::stringstream auth;
  auth << af.rdbuf();
  const std::string secret = uniqueName("regcred");
  auto s = admin_->create(res::kSecrets, kNs, {{"apiVersion", "v1"}, {"kind", "Secret"},
                                               {"metadata", {{"name", secret}, {"namespace", kNs}}},
                                               {"type", "kubernetes.io/dockerconfigjson"},
                                               {"data", {{".dockerconfigjson", oci::base64Encode(auth.str())}}}});
  ASSERT_TRUE(s.isOk()) << s.status().toString();

  auto nodes = makeNodes(2);
  SimAgents agents(*admin_, nodes);
  agents.start();
  startOperator("pin", {"--registry-ca=" + host + "=" + env["REGISTRY_CA"]});
  const std::string name = uniqueName("pin");
  createPolicy(policyObject(name, {{"strategy", "Canary"}, {"canary", {{"nodes", 1}, {"bakeTime", "1s"}}}},
                            {{"image", repo + ":v1"}, {"imagePullSecrets", json::array({{{"name", secret}}})}}));
  ASSERT_TRUE(eventually([&] { return !getPolicy(name).status.resolvedImage.empty(); }, 30s))
      << kubectl("get sp " + name + " -o yaml");
  EXPECT_EQ(getPolicy(name).status.resolvedImage, repo + "@" + digest);
  ASSERT_TRUE(eventually([&] { return getPolicy(name).status.rollout->phase == policy::RolloutPhase::kComplete; }, 30s));
  EXPECT_EQ(getPolicy(name).status.rollout->stable->image, repo + "@" + digest);
  // Agents run the pinned digest, not the tag.
  auto sns = admin_->get(res::kSchedulerNodeStates, "", nodes[0]);
  ASSERT_TRUE(sns.isOk());
  EXPECT_EQ((*sns)["status"]["active"].value("image", ""), repo + "@" + digest);

  // The registry goes away; a new tag cannot be pinned: a clear condition and Event, no rollout.
  out = run(std::string(SCHEDKIT_SOURCE_DIR) + "/hack/testenv/registry-down.sh --dir " + regDir, &rc);
  ASSERT_EQ(rc, 0) << out;
  patchSpec(name, {{"scheduler", {{"image", repo + ":v2"}}}});
  ASSERT_TRUE(eventually([&] { return condition(getPolicy(name), "Ready", true) == "ImageResolveFailed"; }, 60s))
      << kubectl("get sp " + name + " -o yaml");
  auto p = getPolicy(name);
  EXPECT_EQ(p.status.rollout->phase, policy::RolloutPhase::kPending);
  EXPECT_EQ(p.status.rollout->admittedBelow, 0);
  for (const auto& [n, rev] : agents.running()) EXPECT_EQ(rev, p.status.rollout->stable->revision) << n;
  // Back up, with the v2 tag pushed: the rollout goes on by itself.
  out = run(std::string(SCHEDKIT_SOURCE_DIR) + "/hack/testenv/registry-up.sh --dir " + regDir + " --htpasswd alice:wonderland", &rc);
  ASSERT_EQ(rc, 0) << out;
  out = run("skopeo copy --authfile " + env["REGISTRY_AUTHFILE"] + " --dest-cert-dir " + env["REGISTRY_CERT_DIR"] +
                " oci:" + work + ":v1 docker://" + repo + ":v2", &rc);
  ASSERT_EQ(rc, 0) << out;
  ASSERT_TRUE(eventually([&] { return getPolicy(name).status.rollout->phase == policy::RolloutPhase::kComplete; }, 120s))
      << kubectl("get sp " + name + " -o yaml");
  EXPECT_EQ(getPolicy(name).status.resolvedImage, repo + "@" + digest);
  run("rm -rf " + work);
  (void)admin_->remove(res::kSecrets, kNs, secret);
}

}  // namespace
}  // namespace schedkit
