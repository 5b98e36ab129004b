#pragma once

// One level-triggered pass over the informer caches: every policy against every node (the shared
// resolution function, lib/policy), each policy's status recomputed (policy_status.h) and written
// only when it changed, and each node's placement labels handed to the label writer. The caches
// are the only input and the API objects the only state, so a pass is idempotent and any replica
// that becomes leader continues where the last one stopped.

#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "reconcilers/image_pinner.h"
#include "reconcilers/policy_status.h"
#include "schedkit/kube/client.h"
#include "schedkit/kube/events.h"
#include "schedkit/kube/watch.h"
#include "schedkit/policy/selector.h"
#include "schedkit/policy/types.h"

namespace schedkit::op {

inline constexpr const char* kFieldManager = "schedkit-operator";

// What the informers hold at the start of a pass.
struct FleetSnapshot {
  std::vector<kube::ObjectPtr> policies;
  std::vector<kube::ObjectPtr> nodes;
  std::vector<kube::ObjectPtr> states;
};

struct FleetStats {
  std::uint64_t passes = 0;
  std::uint64_t statusWrites = 0;
  std::uint64_t statusConflicts = 0;  // 409: the cache was behind; the next pass retries
  std::uint64_t statusFailures = 0;
  std::uint64_t undecodable = 0;      // policies or node states the operator cannot read
  Duration lastPass{};
};

// Server-side-applies the operator's node labels on a thread of its own, the newest wish per node
// only, so a fleet relabelling itself never delays a status roll-up. A failed write is retried
// with backoff.
class NodeLabelWriter {
 public:
  NodeLabelWriter(kube::Client& client, Random& random, const Logger& log);
  ~NodeLabelWriter();
  // The operator's keys should be `labels`; `current` is what the node cache shows. Thread-safe.
  void want(const std::string& node, std::map<std::string, std::string> labels,
            const std::map<std::string, std::string>& current);
  void start();
  void stop();
  std::uint64_t writes() const;
  std::uint64_t failures() const;
  std::size_t pending() const;

 private:
  void run();
  kube::Client& client_;
  Random& random_;
  const Logger& log_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::string, std::map<std::string, std::string>> pending_;
  std::map<std::string, std::map<std::string, std::string>> written_;  // last applied per node
  bool stopping_ = false;
  std::uint64_t writes_ = 0, failures_ = 0;
  std::thread thread_;
};

struct FleetDeps {
  kube::Client& client;          // status writes
  const Clock& clock;
  const Logger& log;
  PinCache* pins = nullptr;       // null: tags are never pinned (agents resolve for themselves)
  kube::EventRecorder* events = nullptr;
  NodeLabelWriter* labels = nullptr;  // null: node labels are not managed
};

class FleetReconciler {
 public:
  explicit FleetReconciler(FleetDeps deps) : d_(deps) {}
  // One pass. Returns how soon to look again at the latest (a bake finishing, a pin retry).
  std::optional<Duration> reconcile(const FleetSnapshot& snap);
  FleetStats stats() const { return stats_; }
  // The last computed status per policy (metrics, tests).
  const std::map<std::string, policy::SchedulerPolicyStatus>& statuses() const { return last_; }

 private:
  template <typename T>
  struct Decoded {
    std::string resourceVersion;
    std::optional<T> value;  // nullopt: could not decode
  };
  const std::optional<policy::SchedulerPolicy>& decodePolicy(const nlohmann::json& obj);
  const std::optional<policy::SchedulerNodeStateStatus>& decodeState(const nlohmann::json& obj);
  const policy::Labels& nodeLabels(const nlohmann::json& obj);
  bool writeStatus(const nlohmann::json& obj, const policy::SchedulerPolicyStatus& status);

  FleetDeps d_;
  FleetStats stats_;
  std::map<std::string, Decoded<policy::SchedulerPolicy>> policies_;
  std::map<std::string, Decoded<policy::SchedulerNodeStateStatus>> states_;
  std::map<std::string, std::pair<std::string, policy::Labels>> labels_;
  std::map<std::string, policy::SchedulerPolicyStatus> last_;
};

}  // namespace schedkit::op
