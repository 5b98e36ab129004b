// schedkit-fleet-sim: one process that plays N schedkit agents against a real kube-apiserver, for
// the `scale` test tier and the scale benchmark. It creates N Nodes and their
// SchedulerNodeStates, then, for every node, resolves the SchedulerPolicies exactly as the agent
// does and writes the agent's status (server-side apply, field manager schedkit-agent) when it
// changes. No kernel: attaching takes --attach-delay and always works; failures are injected by
// commands (see --help).

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "fleet.h"
#include "schedkit/common/duration.h"
#include "schedkit/common/logger.h"
#include "schedkit/common/random.h"
#include "schedkit/kube/client.h"
#include "schedkit/kube/config.h"
#include "schedkit/kube/informer.h"
#include "schedkit/kube/sleeper.h"
#include "schedkit/os/event_loop.h"
#include "schedkit/os/filesystem.h"
#include "schedkit/policy/decode.h"
#include "schedkit/policy/selector.h"
#include "status_writer.h"

namespace schedkit::scale {
namespace {

using nlohmann::json;
using policy::NodePhase;

// On every Node the simulator creates, so --cleanup deletes only its own (labels are left to
// --labels: they decide which policies select the nodes).
constexpr const char* kSimAnnotation = "schedkit.io/fleet-sim";

constexpr const char* kCommandHelp =
    R"(Commands (one per line, on stdin or written to the --control named pipe):
  fallback NODE...   the node's scheduler is ejected (ERROR_STALL) until its failure budget is
                     spent: phase FallenBack, lastExit, restarts = maxRestarts, no active. It
                     stays fallen back until what it should run changes (policy, revision or
                     generation, like the agent) or `recover`.
  recover NODE...    clear the failure history and attach again (the agent's reset)
  status             print a progress line now
  help               this text
NODE is a name (sim-00042), an index (42) or an index range (0-99).

Examples:
  schedkit-fleet-sim --testenv build/testenv --nodes 5000 --labels schedkit.io/pool=sim
  schedkit-fleet-sim --testenv build/testenv --once            # setup only, timed
  mkfifo /tmp/sim.ctl; schedkit-fleet-sim --testenv build/testenv --control /tmp/sim.ctl &
  echo 'fallback sim-00042' > /tmp/sim.ctl
  schedkit-fleet-sim --testenv build/testenv --cleanup)";

struct SimOptions {
  std::string kubeconfig;
  std::string testenv;
  std::size_t nodes = 5000;
  std::string prefix = "sim";
  std::string labels = "schedkit.io/pool=sim";
  std::string kernel = "6.18.15";
  std::string attachDelay = "200ms";
  double writeQps = 200;
  int writeBurst = 0;  // 0: a tenth of --write-qps
  int writers = 16;
  int setupWorkers = 8;
  double qps = 500;
  int burst = 1000;
  std::string control;
  std::string progress = "5s";
  std::string logLevel = "warn";
  bool once = false;
  bool cleanup = false;
};

// Progress lines go to stdout, one write each (benchmarks parse them); logs go to stderr.
void say(const std::string& line) {
  static std::mutex mu;
  std::lock_guard lk(mu);
  std::cout << "[fleet-sim] " << line << std::endl;
}

std::string seconds(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", std::chrono::duration<double>(d).count());
  return buf;
}

// hack/testenv/up.sh writes DIR/env as `export KEY=VALUE` lines, values quoted by printf %q.
std::string unquote(const std::string& v) {
  if (v == "''") return "";
  std::string out;
  bool inSingle = false;
  for (std::size_t i = 0; i < v.size(); ++i) {
    char c = v[i];
    if (inSingle) {
      if (c == '\'') {
        inSingle = false;
      } else {
        out += c;
      }
    } else if (c == '\'') {
      inSingle = true;
    } else if (c == '\\' && i + 1 < v.size()) {
      out += v[++i];
    } else {
      out += c;
    }
  }
  return out;
}

Result<kube::Config> testenvConfig(const std::string& dir) {
  std::ifstream in(dir + "/env");
  if (!in) return notFound("no " + dir + "/env; did hack/testenv/up.sh --dir " + dir + " run?");
  std::map<std::string, std::string> vars;
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("export ", 0) != 0) continue;
    line = line.substr(7);
    auto eq = line.find('=');
    if (eq != std::string::npos) vars[line.substr(0, eq)] = unquote(line.substr(eq + 1));
  }
  kube::Config c;
  c.server = vars["APISERVER_URL"];
  if (c.server.empty()) return invalidArgument(dir + "/env has no APISERVER_URL");
  c.tls.caFile = vars["TESTENV_CA"];
  c.tls.clientCertFile = vars["ADMIN_CERT"];
  c.tls.clientKeyFile = vars["ADMIN_KEY"];
  c.userAgent = "schedkit-fleet-sim";
  c.source = "testenv " + dir + " admin";
  return c;
}

bool isSimName(const std::string& prefix, const std::string& name) {
  if (name.size() <= prefix.size() + 1 || name.compare(0, prefix.size(), prefix) != 0 ||
      name[prefix.size()] != '-') {
    return false;
  }
  return std::all_of(name.begin() + static_cast<std::ptrdiff_t>(prefix.size()) + 1, name.end(),
                     [](char c) { return c >= '0' && c <= '9'; });
}

std::vector<std::string> nodeNames(const std::string& prefix, std::size_t n) {
  std::size_t width = std::max<std::size_t>(5, std::to_string(n == 0 ? 0 : n - 1).size());
  std::vector<std::string> out;
  out.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string num = std::to_string(i);
    out.push_back(prefix + "-" + std::string(width - num.size(), '0') + num);
  }
  return out;
}

policy::Labels labelsOf(const json& obj) {
  policy::Labels out;
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return out;
  auto l = m->find("labels");
  if (l == m->end() || !l->is_object()) return out;
  for (const auto& [k, v] : l->items()) {
    if (v.is_string()) out[k] = v.get<std::string>();
  }
  return out;
}

std::string uidOf(const json& obj) {
  return obj.value("/metadata/uid"_json_pointer, std::string());
}

// Lists a collection a page at a time, handing each item to fn, so a 5000-object list is never
// held in memory at once (the caller keeps only what it needs). fn must tolerate seeing items
// again: an expired continue token restarts from the first page.
template <typename F>
Status forEachItem(kube::Client& client, const kube::Resource& r, F fn) {
  for (int restart = 0;; ++restart) {
    kube::ListOptions o;
    o.limit = 500;
    Status failed;
    for (;;) {
      auto page = client.list(r, "", o);
      if (!page.isOk()) {
        failed = page.status();
        break;
      }
      for (const auto& item : page->items) fn(item);
      if (page->continueToken.empty()) return Status::ok();
      o.continueToken = page->continueToken;
    }
    if (failed.code() != StatusCode::kOutOfRange || restart >= 3) {
      return failed.withContext("listing " + r.plural);
    }
  }
}

// Runs fn(i) for i in [0, n) on `workers` threads; stops early when `stop` is set. Returns the
// first error and how many failed.
struct ParallelResult {
  Status first;
  std::size_t failed = 0;
};
template <typename F>
ParallelResult parallelFor(std::size_t n, int workers, const std::atomic<bool>& stop, F fn) {
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  ParallelResult res;
  std::vector<std::thread> threads;
  for (int t = 0; t < std::max(1, workers); ++t) {
    threads.emplace_back([&] {
      for (;;) {
        std::size_t i = next.fetch_add(1);
        if (i >= n || stop.load()) return;
        Status s = fn(i);
        if (!s.isOk()) {
          std::lock_guard lk(mu);
          if (res.failed++ == 0) res.first = s;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  return res;
}

std::string phaseSummary(const std::map<NodePhase, std::size_t>& m) {
  static const NodePhase kShown[] = {NodePhase::kIdle, NodePhase::kPulling, NodePhase::kAttaching,
                                     NodePhase::kRunning, NodePhase::kFallenBack};
  std::string out;
  for (NodePhase p : kShown) {
    auto it = m.find(p);
    std::string name = policy::toString(p);
    name[0] = static_cast<char>(std::tolower(static_cast<unsigned char>(name[0])));
    out += (out.empty() ? "" : " ") + name + "=" + std::to_string(it == m.end() ? 0 : it->second);
  }
  return out;
}

class FleetSim {
 public:
  FleetSim(SimOptions o, kube::Client& client, RealClock& clock, EventLoop& loop, FleetOptions fo,
           policy::Labels labels, Duration progressEvery)
      : o_(std::move(o)),
        client_(client),
        clock_(clock),
        loop_(loop),
        names_(nodeNames(o_.prefix, o_.nodes)),
        labels_(std::move(labels)),
        progressEvery_(progressEvery),
        writer_(client, names_,
                {.qps = o_.writeQps,
                 .burst = o_.writeBurst > 0 ? o_.writeBurst
                                            : std::max(1, static_cast<int>(o_.writeQps / 10)),
                 .threads = o_.writers}),
        model_(clock, std::move(fo), names_, labels_,
               [this](std::size_t i, const policy::SchedulerNodeStateStatus& st) {
                 ++published_;
                 writer_.submit(i, st);
               }) {}

  ~FleetSim() { shutdown(); }

  void requestStop() {
    stop_ = true;
    loop_.stop();
  }

  // --cleanup: deletes the SchedulerNodeStates and Nodes a previous run created.
  void startCleanup() {
    worker_ = std::thread([this] {
      rc_ = cleanup();
      loop_.post([this] { loop_.stop(); });
    });
  }

  // Setup on a thread of its own, then (unless --once) the agents' behaviour on the loop.
  void start() {
    writer_.start();
    worker_ = std::thread([this] {
      Status s = setup();
      if (!s.isOk()) {
        if (!stop_) say("setup failed: " + s.toString());
        rc_ = 1;
        loop_.post([this] { loop_.stop(); });
        return;
      }
      loop_.post([this] {
        if (o_.once) {
          loop_.stop();
        } else {
          run();
        }
      });
    });
  }

  void shutdown() {
    stop_ = true;
    if (policies_) policies_->stop();
    if (nodes_) nodes_->stop();
    writer_.stop();
    if (worker_.joinable()) worker_.join();
    if (controlFd_ >= 0) {
      loop_.removeFd(controlFd_);
      if (controlFd_ != STDIN_FILENO) ::close(controlFd_);
      controlFd_ = -1;
    }
  }

  void printSummary() {
    auto ws = writer_.stats();
    auto cs = client_.stats();
    say("summary: status writes=" + std::to_string(ws.writes) +
        " failed=" + std::to_string(ws.failures) + " coalesced=" + std::to_string(ws.coalesced) +
        " recreated=" + std::to_string(ws.recreated) + " write-throttle=" + seconds(ws.throttled) +
        " | requests=" + std::to_string(cs.requests) + " retries=" + std::to_string(cs.retries) +
        " client-throttle=" + seconds(cs.throttledTime));
  }

  int rc() const { return rc_; }

 private:
  // ---- setup (worker thread) ----

  Status setup() {
    const MonoTime t0 = clock_.now();
    const auto& nodesRes = kube::resources::kNodes;
    const auto& snsRes = kube::resources::kSchedulerNodeStates;
    say("setup: " + std::to_string(names_.size()) + " nodes " + names_.front() + ".." +
        names_.back() + " labels {" + o_.labels + "} against " + client_.config().server);

    struct Existing {
      std::string uid;
      policy::Labels labels;
    };
    std::map<std::string, Existing> byName;
    SK_RETURN_IF_ERROR(forEachItem(client_, nodesRes, [&](const json& n) {
      byName[n.value("/metadata/name"_json_pointer, std::string())] = {uidOf(n), labelsOf(n)};
    }));
    json wantLabels = json::object();
    for (const auto& [k, v] : labels_) wantLabels[k] = v;
    std::vector<std::string> uids(names_.size());
    std::atomic<std::size_t> created{0}, relabelled{0};
    auto nodesDone = parallelFor(names_.size(), o_.setupWorkers, stop_, [&](std::size_t i) {
      const std::string& name = names_[i];
      json meta = {{"labels", wantLabels}, {"annotations", {{kSimAnnotation, o_.prefix}}}};
      if (auto it = byName.find(name); it != byName.end()) {
        uids[i] = it->second.uid;
        const policy::Labels& have = it->second.labels;
        bool ok = std::all_of(labels_.begin(), labels_.end(), [&](const auto& kv) {
          auto h = have.find(kv.first);
          return h != have.end() && h->second == kv.second;
        });
        if (ok) return Status::ok();
        auto p = client_.patch(nodesRes, "", name, kube::PatchType::kMerge, {{"metadata", meta}});
        if (!p.isOk()) return p.status().withContext("labelling Node " + name);
        ++relabelled;
        return Status::ok();
      }
      json obj = {{"apiVersion", "v1"}, {"kind", "Node"}, {"metadata", meta}};
      obj["metadata"]["name"] = name;
      auto c = client_.create(nodesRes, "", obj);
      if (c.isOk()) {
        uids[i] = uidOf(*c);
        ++created;
        return Status::ok();
      }
      if (c.status().code() != StatusCode::kAlreadyExists) {
        return c.status().withContext("creating Node " + name);
      }
      auto g = client_.get(nodesRes, "", name);
      if (!g.isOk()) return g.status().withContext("reading Node " + name);
      uids[i] = uidOf(*g);
      return Status::ok();
    });
    if (stop_) return cancelled("stopped");
    if (nodesDone.failed > 0) {
      return nodesDone.first.withContext(std::to_string(nodesDone.failed) + " Nodes failed");
    }
    const MonoTime t1 = clock_.now();
    say("setup: Nodes ready in " + seconds(t1 - t0) + " (created " + std::to_string(created) +
        ", existing " + std::to_string(names_.size() - created) + ", relabelled " +
        std::to_string(relabelled) + ")");

    std::set<std::string> haveSns;
    SK_RETURN_IF_ERROR(forEachItem(client_, snsRes, [&](const json& s) {
      haveSns.insert(s.value("/metadata/name"_json_pointer, std::string()));
    }));
    std::atomic<std::size_t> snsCreated{0};
    auto snsDone = parallelFor(names_.size(), o_.setupWorkers, stop_, [&](std::size_t i) {
      if (haveSns.count(names_[i]) != 0) return Status::ok();
      auto c = client_.create(snsRes, "", newNodeState(names_[i], uids[i]),
                              {.fieldManager = kAgentFieldManager});
      if (c.isOk()) {
        ++snsCreated;
        return Status::ok();
      }
      if (c.status().code() == StatusCode::kAlreadyExists) return Status::ok();
      return c.status().withContext("creating SchedulerNodeState " + names_[i]);
    });
    if (stop_) return cancelled("stopped");
    if (snsDone.failed > 0) {
      return snsDone.first.withContext(std::to_string(snsDone.failed) +
                                       " SchedulerNodeStates failed");
    }
    const MonoTime t2 = clock_.now();
    say("setup: SchedulerNodeStates ready in " + seconds(t2 - t1) + " (created " +
        std::to_string(snsCreated) + ", existing " + std::to_string(names_.size() - snsCreated) +
        ")");

    writer_.setNodeUids(std::move(uids));
    auto published = std::make_shared<std::promise<void>>();
    std::future<void> done = published->get_future();
    loop_.post([this, published] {
      model_.publishIdle();
      published->set_value();
    });
    while (done.wait_for(std::chrono::milliseconds(100)) != std::future_status::ready) {
      if (stop_) return cancelled("stopped");
    }
    if (!writer_.waitIdle(stop_)) return cancelled("stopped");
    const MonoTime t3 = clock_.now();
    // The setup's lists and request bodies are gone; give their pages back, so the peak RSS
    // of a long run reflects the fleet, not the setup.
    ::malloc_trim(0);
    say("setup: Idle status written in " + seconds(t3 - t2) + " (write-qps " +
        std::to_string(static_cast<int>(o_.writeQps)) + ")");
    say("setup: done in " + seconds(t3 - t0) + " for " + std::to_string(names_.size()) +
        " Nodes + " + std::to_string(names_.size()) + " SchedulerNodeStates");
    std::printf("[measure] setup_seconds: %.3f\n", std::chrono::duration<double>(t3 - t0).count());
    std::fflush(stdout);
    return Status::ok();
  }

  int cleanup() {
    const MonoTime t0 = clock_.now();
    const auto& nodesRes = kube::resources::kNodes;
    const auto& snsRes = kube::resources::kSchedulerNodeStates;
    std::set<std::string> simNodes, otherNodes;
    Status listed = forEachItem(client_, nodesRes, [&](const json& n) {
      std::string name = n.value("/metadata/name"_json_pointer, std::string());
      bool ours = isSimName(o_.prefix, name) &&
                  n.value("/metadata/annotations"_json_pointer, json::object())
                          .value(kSimAnnotation, std::string()) == o_.prefix;
      (ours ? simNodes : otherNodes).insert(name);
    });
    std::set<std::string> snsSet;
    if (listed.isOk()) {
      listed = forEachItem(client_, snsRes, [&](const json& s) {
        std::string name = s.value("/metadata/name"_json_pointer, std::string());
        // A state whose Node is gone is ours too (an earlier cleanup was interrupted).
        if (isSimName(o_.prefix, name) && otherNodes.count(name) == 0) snsSet.insert(name);
      });
    }
    if (!listed.isOk()) {
      say("cleanup: " + listed.toString());
      return 1;
    }
    std::vector<std::string> snsNames(snsSet.begin(), snsSet.end());
    std::vector<std::string> nodeNamesToDelete(simNodes.begin(), simNodes.end());
    auto del = [&](const kube::Resource& r, const std::vector<std::string>& names) {
      return parallelFor(names.size(), o_.setupWorkers, stop_, [&](std::size_t i) {
        Status s = client_.remove(r, "", names[i]);
        return s.code() == StatusCode::kNotFound ? Status::ok() : s;
      });
    };
    // States first: there is no garbage collector in the test control plane to follow owners.
    auto a = del(snsRes, snsNames);
    auto b = del(nodesRes, nodeNamesToDelete);
    say("cleanup: deleted " + std::to_string(snsNames.size() - a.failed) +
        " SchedulerNodeStates and " + std::to_string(nodeNamesToDelete.size() - b.failed) +
        " Nodes in " + seconds(clock_.now() - t0));
    if (a.failed + b.failed > 0) {
      say("cleanup: " + std::to_string(a.failed + b.failed) +
          " deletions failed, first: " + (a.failed > 0 ? a.first : b.first).toString());
      return 1;
    }
    return stop_ ? 1 : 0;
  }

  // ---- the agents (loop thread) ----

  void run() {
    startedAt_ = clock_.now();
    kube::Informer::Handlers onPolicy{
        [this](const json&) { scheduleRecompute(); },
        [this](const json&, const json&) { scheduleRecompute(); },
        [this](const json&) { scheduleRecompute(); },
        [this](bool) { scheduleRecompute(); },
    };
    kube::Informer::Handlers onNode{
        [this](const json& n) { nodeChanged(n); },
        [this](const json&, const json& n) { nodeChanged(n); },
        {},
        [this](bool) { scheduleRecompute(); },
    };
    policies_ = std::make_unique<kube::Informer>(client_, kube::resources::kSchedulerPolicies,
                                                 kube::ReflectorOptions{},
                                                 kube::Informer::dispatchTo(loop_));
    nodes_ =
        std::make_unique<kube::Informer>(client_, kube::resources::kNodes, kube::ReflectorOptions{},
                                         kube::Informer::dispatchTo(loop_));
    policies_->addHandlers(onPolicy);
    nodes_->addHandlers(onNode);
    policies_->start();
    nodes_->start();
    openControl();
    if (progressEvery_ > Duration::zero()) {
      clock_.callAfter(progressEvery_, [this] { progressTick(); });
    }
    clock_.callAfter(std::chrono::milliseconds(100), [this] { convergenceTick(); });
    say("running: " + std::to_string(names_.size()) +
        " agents watching SchedulerPolicies; commands on " +
        (o_.control.empty() ? std::string("stdin") : o_.control) + " (help for a list)");
  }

  bool synced() const {
    return policies_ && nodes_ && policies_->hasSynced() && nodes_->hasSynced();
  }

  void scheduleRecompute() {
    // Informer events come in bursts (an operator writing status, a re-list): resolve once.
    if (recomputeTimer_ != 0) return;
    recomputeTimer_ = clock_.callAfter(std::chrono::milliseconds(20), [this] {
      recomputeTimer_ = 0;
      recompute();
    });
  }

  void recompute() {
    // Until both caches hold a full list, "no policy" would mean "not known yet".
    if (!synced()) return;
    std::vector<policy::SchedulerPolicy> ps;
    for (const auto& obj : policies_->list()) {
      auto p = policy::decodePolicy(*obj, {.rejectUnknownFields = false});
      std::string name = obj->value("/metadata/name"_json_pointer, std::string());
      if (!p.isOk()) {
        if (unreadable_.insert(name + "@" + kube::resourceVersionOf(*obj)).second) {
          client_.log().error("ignoring a SchedulerPolicy the agent cannot read",
                              {{"name", name}, {"error", p.status()}});
        }
        continue;
      }
      ps.push_back(std::move(p).value());
    }
    std::string summary;
    for (const auto& p : ps) {
      summary += (summary.empty() ? "" : ", ") + p.metadata.name + "@" +
                 std::to_string(p.metadata.generation);
    }
    const MonoTime t = clock_.now();
    const std::uint64_t before = published_;
    std::size_t changed = model_.setPolicies(std::move(ps));
    const std::uint64_t statuses = published_ - before;
    // A new policy or generation changes every matching node's observedPolicies even when what
    // it runs stays the same: those writes count towards convergence too.
    if (changed > 0 || statuses > 0) {
      markChanged();
      say("policies [" + summary + "]: " + std::to_string(changed) +
          " nodes have a new desired state, " + std::to_string(statuses) +
          " statuses to write (resolved in " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - t).count()) +
          "ms)");
    }
  }

  void nodeChanged(const json& n) {
    auto i = model_.indexOf(n.value("/metadata/name"_json_pointer, std::string()));
    if (!i) return;
    policy::Labels l = labelsOf(n);
    if (l == model_.labels(*i)) return;
    model_.setLabels(*i, std::move(l));
    if (synced()) markChanged();
  }

  void markChanged() {
    if (!changeAt_) changeAt_ = clock_.now();
  }

  void convergenceTick() {
    if (stop_) return;
    if (changeAt_ && model_.settled() && writer_.idle()) {
      Duration took = clock_.now() - *changeAt_;
      changeAt_.reset();
      say("converged " + seconds(took) +
          " after the change: " + phaseSummary(writer_.writtenPhases()) + " (as written)");
      std::printf("[measure] converge_seconds: %.3f\n",
                  std::chrono::duration<double>(took).count());
      std::fflush(stdout);
    }
    clock_.callAfter(std::chrono::milliseconds(100), [this] { convergenceTick(); });
  }

  void progressTick() {
    if (stop_) return;
    printProgress();
    clock_.callAfter(progressEvery_, [this] { progressTick(); });
  }

  void printProgress() {
    auto ws = writer_.stats();
    say("t=" + seconds(clock_.now() - startedAt_) +
        " model: " + phaseSummary(model_.counts().byPhase) + " | written: " +
        phaseSummary(writer_.writtenPhases()) + " | writes=" + std::to_string(ws.writes) +
        " failed=" + std::to_string(ws.failures) + " coalesced=" + std::to_string(ws.coalesced) +
        " queued=" + std::to_string(writer_.queued()) +
        " inflight=" + std::to_string(writer_.inflight()));
  }

  // ---- fault injection ----

  void openControl() {
    int fd = STDIN_FILENO;
    if (!o_.control.empty()) {
      struct stat st {};
      if (::stat(o_.control.c_str(), &st) != 0 && ::mkfifo(o_.control.c_str(), 0600) != 0) {
        say("cannot create the control pipe " + o_.control + ": " + std::strerror(errno));
        return;
      }
      if (::stat(o_.control.c_str(), &st) != 0 || !S_ISFIFO(st.st_mode)) {
        say(o_.control + " is not a named pipe; commands disabled");
        return;
      }
      // Read-write: the pipe never reports EOF when a writer (echo ... > PIPE) goes away.
      fd = ::open(o_.control.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (fd < 0) {
        say("cannot open " + o_.control + ": " + std::strerror(errno));
        return;
      }
    }
    Status s = loop_.addFd(fd, EPOLLIN, [this](std::uint32_t) { readControl(); });
    if (!s.isOk()) {
      // epoll refuses regular files and /dev/null: no commands then.
      if (fd != STDIN_FILENO) ::close(fd);
      return;
    }
    controlFd_ = fd;
  }

  void readControl() {
    char buf[4096];
    ssize_t n = ::read(controlFd_, buf, sizeof buf);
    if (n <= 0) {
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
      loop_.removeFd(controlFd_);  // stdin closed
      controlFd_ = -1;
      return;
    }
    controlBuf_.append(buf, static_cast<std::size_t>(n));
    for (std::size_t nl; (nl = controlBuf_.find('\n')) != std::string::npos;) {
      std::string line = controlBuf_.substr(0, nl);
      controlBuf_.erase(0, nl + 1);
      command(line);
    }
  }

  // "42", "0-99" or a name → node indices.
  std::vector<std::size_t> nodesOf(const std::string& tok, std::string& err) const {
    auto num = [](const std::string& s, std::size_t& out) {
      if (s.empty() ||
          !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return false;
      out = std::stoul(s);
      return true;
    };
    std::size_t a = 0, b = 0;
    if (auto i = model_.indexOf(tok)) return {*i};
    if (num(tok, a)) {
      if (a < model_.size()) return {a};
    } else if (auto dash = tok.find('-');
               dash != std::string::npos && num(tok.substr(0, dash), a) &&
               num(tok.substr(dash + 1), b) && a <= b && b < model_.size()) {
      std::vector<std::size_t> out;
      for (std::size_t i = a; i <= b; ++i) out.push_back(i);
      return out;
    }
    err = "no such node: " + tok;
    return {};
  }

  void command(const std::string& line) {
    std::istringstream in(line);
    std::string verb;
    if (!(in >> verb)) return;
    if (verb == "help") {
      say(kCommandHelp);
      return;
    }
    if (verb == "status") {
      printProgress();
      return;
    }
    if (verb != "fallback" && verb != "recover") {
      say("unknown command '" + verb + "' (help for a list)");
      return;
    }
    std::size_t ok = 0, failed = 0;
    std::string firstError;
    for (std::string tok; in >> tok;) {
      std::string err;
      for (std::size_t i : nodesOf(tok, err)) {
        Status s = verb == "fallback" ? model_.fallback(i) : model_.recover(i);
        if (s.isOk()) {
          ++ok;
        } else if (failed++ == 0) {
          firstError = s.message();
        }
      }
      if (!err.empty() && failed++ == 0) firstError = err;
    }
    if (ok > 0) markChanged();
    say(verb + ": " + std::to_string(ok) + " nodes" +
        (failed > 0 ? ", " + std::to_string(failed) + " refused (" + firstError + ")" : ""));
  }

  SimOptions o_;
  kube::Client& client_;
  RealClock& clock_;
  EventLoop& loop_;
  const std::vector<std::string> names_;
  const policy::Labels labels_;
  const Duration progressEvery_;
  StatusWriter writer_;
  FleetModel model_;
  std::unique_ptr<kube::Informer> policies_;
  std::unique_ptr<kube::Informer> nodes_;
  std::thread worker_;
  std::atomic<bool> stop_{false};
  std::atomic<int> rc_{0};
  TimerId recomputeTimer_ = 0;
  std::uint64_t published_ = 0;  // statuses the model handed to the writer (loop thread)
  std::optional<MonoTime> changeAt_;
  MonoTime startedAt_{};
  std::set<std::string> unreadable_;
  int controlFd_ = -1;
  std::string controlBuf_;
};

int realMain(int argc, char** argv) {
  SimOptions o;
  CLI::App app{
      "schedkit-fleet-sim: plays N schedkit agents against a real kube-apiserver (scale tests)."};
  app.footer(kCommandHelp);
  app.add_option("--kubeconfig", o.kubeconfig, "Kubeconfig to use (default: as kubectl)");
  app.add_option("--testenv", o.testenv,
                 "A hack/testenv/up.sh directory: its admin credentials from DIR/env")
      ->excludes("--kubeconfig");
  app.add_option("--nodes", o.nodes, "How many nodes (agents) to simulate")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
  app.add_option("--prefix", o.prefix, "Node names: PREFIX-00000, PREFIX-00001, ...")
      ->capture_default_str();
  app.add_option("--labels", o.labels, "Labels k=v,... on every node (\"\" for none)")
      ->capture_default_str();
  app.add_option("--kernel", o.kernel, "Kernel release the nodes report")->capture_default_str();
  app.add_option("--attach-delay", o.attachDelay,
                 "Per node, from \"should run X\" to X enabled (pull + load), e.g. 200ms, 2s")
      ->capture_default_str();
  app.add_option("--write-qps", o.writeQps,
                 "Status writes per second, all nodes together (token bucket; 0 = unlimited)")
      ->capture_default_str();
  app.add_option("--write-burst", o.writeBurst, "Token bucket size (default: write-qps / 10)");
  app.add_option("--writers", o.writers, "Status writes in flight at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--setup-workers", o.setupWorkers, "Threads creating and deleting objects")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  app.add_option("--qps", o.qps, "Client-side limit over every request")->capture_default_str();
  app.add_option("--burst", o.burst, "Client-side burst")->capture_default_str();
  app.add_option("--control", o.control,
                 "Read commands from this named pipe (created if missing) instead of stdin");
  app.add_option("--progress", o.progress, "Print a progress line this often (0 = never)")
      ->capture_default_str();
  app.add_option("--log-level", o.logLevel, "Client log level on stderr: debug|info|warn|error")
      ->capture_default_str();
  app.add_flag("--once", o.once,
               "Only set up (Nodes, SchedulerNodeStates, Idle status), then exit");
  app.add_flag(
         "--cleanup", o.cleanup,
         "Delete the Nodes and SchedulerNodeStates a run with this --prefix created, then exit")
      ->excludes("--once");
  CLI11_PARSE(app, argc, argv);

  auto attachDelay = parseDuration(o.attachDelay);
  auto progress = parseDuration(o.progress);
  auto labels = policy::parseLabels(o.labels);
  auto level = parseLogLevel(o.logLevel);
  for (const Status* s :
       {&attachDelay.status(), &progress.status(), &labels.status(), &level.status()}) {
    if (!s->isOk()) {
      std::cerr << "schedkit-fleet-sim: " << s->toString() << "\n";
      return 2;
    }
  }

  RealClock clock;
  RealRandom random;
  kube::RealSleeper sleeper;
  HostFilesystem fs{"/"};
  Logger log = Logger::stderrLogger(clock, LogFormat::kText, *level);
  // Signals go to the loop's signalfd: block them before any thread (cpprest's pool) starts.
  EventLoop loop(clock);
  FleetSim* sim = nullptr;
  Status sig = loop.handleSignals({SIGINT, SIGTERM}, [&](int signo) {
    say(std::string("got ") + (signo == SIGINT ? "SIGINT" : "SIGTERM") + ", stopping");
    if (sim != nullptr) sim->requestStop();
    loop.stop();
  });
  if (!sig.isOk()) {
    std::cerr << "schedkit-fleet-sim: " << sig.toString() << "\n";
    return 1;
  }

  Result<kube::Config> config = o.testenv.empty()
                                    ? kube::loadConfig(fs, kube::processEnv(), o.kubeconfig)
                                    : testenvConfig(o.testenv);
  if (!config.isOk()) {
    std::cerr << "schedkit-fleet-sim: " << config.status().toString() << "\n";
    return 1;
  }
  config->userAgent = "schedkit-fleet-sim";
  kube::ClientOptions co;
  co.qps = o.qps;
  co.burst = o.burst;
  auto client =
      kube::Client::create(std::move(config).value(), {clock, random, sleeper, fs, log}, co);
  if (!client.isOk()) {
    std::cerr << "schedkit-fleet-sim: " << client.status().toString() << "\n";
    return 1;
  }

  FleetOptions fo;
  fo.attachDelay = *attachDelay;
  fo.kernelRelease = o.kernel;
  bool cleanupMode = o.cleanup;
  FleetSim fleet(o, **client, clock, loop, fo, *labels, *progress);
  sim = &fleet;
  if (cleanupMode) {
    fleet.startCleanup();
  } else {
    fleet.start();
  }
  Status ran = loop.run();
  fleet.shutdown();
  if (!cleanupMode) fleet.printSummary();
  if (!ran.isOk()) {
    std::cerr << "schedkit-fleet-sim: " << ran.toString() << "\n";
    return 1;
  }
  return fleet.rc();
}

}  // namespace
}  // namespace schedkit::scale

int main(int argc, char** argv) { return schedkit::scale::realMain(argc, argv); }
