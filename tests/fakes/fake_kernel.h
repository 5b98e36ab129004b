#pragma once

// A simulated sched_ext kernel for node-engine unit tests: one scheduler slot, enable_seq,
// and the kmsg/uevent announcements the real kernel makes, delivered asynchronously through the
// simulated clock. FakeSchedExtHost reads it; FakeAttacher loads "schedulers" into it.

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "attach/attacher.h"
#include "host/sched_ext_host.h"
#include "schedkit/common/clock.h"

namespace schedkit::agent {

class FakeKernel {
 public:
  explicit FakeKernel(Clock& clock) : clock_(clock) {}

  SchedExtState state;
  KernelCaps caps{"6.18.15+deb13-amd64", true, true, true, {"events", "enable_seq"}, ""};
  std::uint64_t kmsgUsec = 1'000'000;
  bool sendKmsg = true;     // real kernels always log; tests turn it off to check the fallback
  bool sendUevents = true;
  // How long after "enabled" (kmsg, uevent, state) enable_seq goes up; on a slow or preempted
  // CPU the kernel's increment can land after a reader has seen all of those.
  Duration enableSeqLag = Duration::zero();

  void subscribe(std::function<void(const HostEvent&)> cb) { subscribers_.push_back(std::move(cb)); }
  // A restarted agent: the old process's subscriptions die with it.
  void clearSubscribers() { subscribers_.clear(); }

  // Returns false (EBUSY) when the slot is taken.
  bool enable(const std::string& ops, bool partial, bool initFails = false) {
    if (state.state != EnableState::kDisabled) return false;
    if (initFails) {
      state.enableSeq++;
      emitKmsg(KmsgDisabled{ops, "runtime error", ExitKind::kError});
      emitKmsg(KmsgDetail{ops, "ops.init() failed (-12)"});
      return true;
    }
    state.state = EnableState::kEnabled;
    state.ops = ops;
    state.switchAll = !partial;
    // As in the kernel's enable path: the printk and the uevent come first, enable_seq last.
    emitKmsg(KmsgEnabled{ops, partial});
    emitUevent(SchedExtUevent{true, ops});
    if (enableSeqLag == Duration::zero()) {
      state.enableSeq++;
    } else {
      clock_.callAfter(enableSeqLag, [this] { state.enableSeq++; });
    }
    return true;
  }

  // The kernel ejects (or unregisters) the running scheduler.
  void disable(ExitKind kind, const std::string& reason, const std::string& detail = "") {
    if (state.state == EnableState::kDisabled) return;
    std::string ops = state.ops.value_or("");
    state.state = EnableState::kDisabled;
    state.ops.reset();
    state.switchAll = false;
    emitKmsg(KmsgDisabled{ops, reason, kind});
    if (!detail.empty()) emitKmsg(KmsgDetail{ops, detail});
    emitUevent(SchedExtUevent{false, ""});
    for (auto& cb : onDisable_) cb(ops, kind);
  }

  void onDisable(std::function<void(const std::string&, ExitKind)> cb) { onDisable_.push_back(std::move(cb)); }

 private:
  template <typename T>
  void emitKmsg(T ev) {
    if (!sendKmsg) return;
    // Like the kernel's: µs on the monotonic clock, at the moment of the printk.
    kmsgUsec = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                              clock_.now().time_since_epoch()).count());
    HostEvent e{std::move(ev), kmsgUsec};
    deliver(std::move(e));
  }
  void emitUevent(SchedExtUevent ev) {
    if (!sendUevents) return;
    deliver(HostEvent{ev, 0});
  }
  void deliver(HostEvent e) {
    clock_.callAfter(Duration::zero(), [this, e] {
      for (auto& cb : subscribers_) cb(e);
    });
  }

  Clock& clock_;
  std::vector<std::function<void(const HostEvent&)>> subscribers_;
  std::vector<std::function<void(const std::string&, ExitKind)>> onDisable_;
};

class FakeSchedExtHost final : public SchedExtHost {
 public:
  explicit FakeSchedExtHost(FakeKernel& k) : k_(k) {}
  Result<SchedExtState> readState() override {
    ++reads;
    return k_.state;
  }
  KernelCaps probe() override { return k_.caps; }
  Status start(std::function<void(const HostEvent&)> onEvent) override {
    k_.subscribe(std::move(onEvent));
    return Status::ok();
  }
  int reads = 0;

 private:
  FakeKernel& k_;
};

// Starts "schedulers" in the fake kernel. Object schedulers enable synchronously (as
// bpf_map__attach_struct_ops does); process schedulers enable after `processStartDelay` and their
// process exits when the kernel ejects them (as scx binaries do).
class FakeAttacher final : public Attacher {
 public:
  FakeAttacher(FakeKernel& k, Clock& clock, policy::SchedulerType type)
      : k_(k), clock_(clock), type_(type) {
    k_.onDisable([this](const std::string&, ExitKind) {
      for (auto& [id, p] : procs_) {
        if (p.alive && p.enabled) {
          p.enabled = false;
          if (!restartInProcess) exitLater(id);
        }
      }
    });
  }

  // Knobs.
  std::string opsName = "fifo_test";
  bool initFails = false;
  bool failStart = false;              // start() returns an error (e.g. verifier rejection)
  bool neverEnables = false;           // process starts but never attaches
  bool exitsBeforeEnable = false;      // process dies before attaching
  bool restartInProcess = false;       // UNREG_KERN: the binary re-enables itself
  Duration processStartDelay = std::chrono::milliseconds(200);

  int starts = 0, stops = 0, kills = 0, cleanups = 0;
  std::vector<LaunchSpec> launched;

  Result<Attachment> start(const LaunchSpec& spec) override {
    ++starts;
    launched.push_back(spec);
    if (failStart) return invalidArgument("loading object: verifier rejected program enqueue");
    Attachment a;
    a.id = "schedkit-" + spec.policy;
    a.type = type_;
    a.spec = spec;
    bool partial = spec.mode == policy::SchedulerMode::kPartial;
    if (type_ == policy::SchedulerType::kBpfObject) {
      a.pinPath = "/sys/fs/bpf/schedkit/" + a.id;
      a.opsName = opsName;
      if (!k_.enable(opsName, partial, initFails)) return unavailable("attach: Device or resource busy (EBUSY)");
      pins_[a.id] = !initFails;
      return a;
    }
    a.pid = nextPid_++;
    a.logPath = "/var/lib/schedkit/run/" + a.id + ".log";
    procs_[a.id] = Proc{true, false, {}};
    std::string id = a.id;
    clock_.callAfter(processStartDelay, [this, id, partial] {
      auto& p = procs_[id];
      if (!p.alive) return;
      if (exitsBeforeEnable) {
        p.tail = "Error: Failed to load BPF program";
        exitNow(id);
        return;
      }
      if (neverEnables) return;
      if (k_.enable(opsName, partial, initFails)) p.enabled = !initFails;
      if (initFails) exitLater(id);
    });
    return a;
  }

  Status stop(const Attachment& a, bool force) override {
    force ? ++kills : ++stops;
    if (type_ == policy::SchedulerType::kBpfObject) {
      if (pins_[a.id] && k_.state.ops == a.opsName) k_.disable(ExitKind::kUnreg, "unregistered from user space");
      pins_[a.id] = false;
      return Status::ok();
    }
    auto it = procs_.find(a.id);
    if (it == procs_.end() || !it->second.alive) return Status::ok();
    if (it->second.enabled) {
      it->second.enabled = false;
      k_.disable(ExitKind::kUnreg, "unregistered from user space");
    }
    exitLater(a.id);
    return Status::ok();
  }

  bool running(const Attachment& a) override {
    if (type_ == policy::SchedulerType::kBpfObject) return pins_[a.id] && k_.state.ops == a.opsName;
    auto it = procs_.find(a.id);
    return it != procs_.end() && it->second.alive;
  }
  void cleanup(const Attachment& a) override {
    ++cleanups;
    pins_.erase(a.id);
  }
  Status watch(const Attachment& a, std::function<void(const std::string&)> onExit) override {
    watchers_[a.id] = std::move(onExit);
    return Status::ok();
  }
  std::string tail(const Attachment& a, std::size_t) override {
    auto it = procs_.find(a.id);
    return it == procs_.end() ? "" : it->second.tail;
  }

  // Simulates a scheduler left running by a previous agent.
  void preload(const Attachment& a, bool alive) {
    if (type_ == policy::SchedulerType::kBpfObject) {
      pins_[a.id] = alive;
    } else {
      procs_[a.id] = Proc{alive, alive, {}};
    }
  }
  void killProcess(const std::string& id) { exitNow(id); }

 private:
  struct Proc {
    bool alive = false;
    bool enabled = false;
    std::string tail;
  };
  void exitLater(const std::string& id) {
    clock_.callAfter(std::chrono::milliseconds(10), [this, id] { exitNow(id); });
  }
  void exitNow(const std::string& id) {
    auto& p = procs_[id];
    if (!p.alive) return;
    p.alive = false;
    if (p.enabled) {
      p.enabled = false;
      k_.disable(ExitKind::kUnreg, "unregistered from user space");
    }
    if (watchers_.count(id)) watchers_[id](id);
  }

  FakeKernel& k_;
  Clock& clock_;
  policy::SchedulerType type_;
  std::int64_t nextPid_ = 4242;
  std::map<std::string, bool> pins_;
  std::map<std::string, Proc> procs_;
  std::map<std::string, std::function<void(const std::string&)>> watchers_;
};

}  // namespace schedkit::agent
