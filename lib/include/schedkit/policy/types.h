#pragma once

// C++ mirror of the schedkit.io/v1alpha1 CRDs (crds/ is the source of truth; docs/api.md
// explains every field). Value types only: parsing lives in decode.h, matching in selector.h,
// winner selection in resolve.h.

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "schedkit/common/clock.h"

namespace schedkit::policy {

inline constexpr const char* kGroup = "schedkit.io";
inline constexpr const char* kVersion = "v1alpha1";
inline constexpr const char* kApiVersion = "schedkit.io/v1alpha1";
inline constexpr const char* kPolicyKind = "SchedulerPolicy";
inline constexpr const char* kNodeStateKind = "SchedulerNodeState";

enum class PullPolicy { kIfNotPresent, kAlways, kNever };
enum class SchedulerMode { kFull, kPartial };
enum class SchedulerType { kUnspecified, kBinary, kBpfObject };
enum class RolloutStrategy { kImmediate, kCanary };
enum class SelectorOperator { kIn, kNotIn, kExists, kDoesNotExist };

struct EnvVar {
  std::string name;
  std::string value;
  friend bool operator==(const EnvVar&, const EnvVar&) = default;
};

struct SecretKeyRef {
  std::string name;
  std::string key = "cosign.pub";
  friend bool operator==(const SecretKeyRef&, const SecretKeyRef&) = default;
};

struct VerifySpec {
  SecretKeyRef publicKey;
  friend bool operator==(const VerifySpec&, const VerifySpec&) = default;
};

struct SchedulerSpec {
  std::string image;     // OCI reference or "oci:<path>[:tag]"; exactly one of image/hostPath
  std::string hostPath;  // scheduler already on the node
  SchedulerType type = SchedulerType::kUnspecified;  // only with hostPath
  std::string opsName;   // expected root/ops prefix
  PullPolicy imagePullPolicy = PullPolicy::kIfNotPresent;
  std::vector<std::string> imagePullSecrets;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  std::optional<VerifySpec> verify;
  friend bool operator==(const SchedulerSpec&, const SchedulerSpec&) = default;

  // The type to run: explicit, else inferred from a hostPath suffix (".bpf.o" → bpf-object).
  // Images carry theirs in labels, so this is kUnspecified for them.
  SchedulerType effectiveType() const;
};

struct LabelSelectorRequirement {
  std::string key;
  SelectorOperator op = SelectorOperator::kIn;
  std::vector<std::string> values;
  friend bool operator==(const LabelSelectorRequirement&,
                         const LabelSelectorRequirement&) = default;
};

struct LabelSelector {
  std::map<std::string, std::string> matchLabels;
  std::vector<LabelSelectorRequirement> matchExpressions;
  friend bool operator==(const LabelSelector&, const LabelSelector&) = default;
};

struct BackoffSpec {
  Duration initial = std::chrono::seconds(5);
  Duration max = std::chrono::minutes(5);
  friend bool operator==(const BackoffSpec&, const BackoffSpec&) = default;
};

struct FailurePolicy {
  int maxRestarts = 3;
  Duration window = std::chrono::minutes(10);
  BackoffSpec backoff;
  friend bool operator==(const FailurePolicy&, const FailurePolicy&) = default;
};

struct RunqueueLatencyGuard {
  Duration p99{};
  Duration window = std::chrono::seconds(60);
  friend bool operator==(const RunqueueLatencyGuard&, const RunqueueLatencyGuard&) = default;
};

struct HealthSpec {
  Duration startupTimeout = std::chrono::seconds(30);
  std::optional<RunqueueLatencyGuard> runqueueLatency;
  friend bool operator==(const HealthSpec&, const HealthSpec&) = default;
};

// An integer node count or a percentage of matched nodes ("10%").
struct IntOrPercent {
  bool isPercent = true;
  int value = 10;
  friend bool operator==(const IntOrPercent&, const IntOrPercent&) = default;
  std::string toString() const;
  // Resolves against a total, rounding a percentage up, and never below 1 when total > 0.
  int resolve(int total) const;
};

struct CanarySpec {
  int nodes = 1;
  Duration bakeTime = std::chrono::minutes(10);
  friend bool operator==(const CanarySpec&, const CanarySpec&) = default;
};

struct RolloutSpec {
  RolloutStrategy strategy = RolloutStrategy::kImmediate;
  std::optional<CanarySpec> canary;
  IntOrPercent maxUnavailable;
  int haltOnFallbacks = 1;
  bool autoRollback = true;
  friend bool operator==(const RolloutSpec&, const RolloutSpec&) = default;
};

struct SchedulerPolicySpec {
  SchedulerSpec scheduler;
  LabelSelector nodeSelector;
  int priority = 0;
  SchedulerMode mode = SchedulerMode::kFull;
  FailurePolicy failurePolicy;
  HealthSpec health;
  RolloutSpec rollout;
  bool paused = false;
  friend bool operator==(const SchedulerPolicySpec&, const SchedulerPolicySpec&) = default;
};

struct ObjectMeta {
  std::string name;
  std::string uid;
  std::string resourceVersion;
  std::int64_t generation = 0;
  std::map<std::string, std::string> labels;
  std::map<std::string, std::string> annotations;
  std::string creationTimestamp;
  std::string deletionTimestamp;
  friend bool operator==(const ObjectMeta&, const ObjectMeta&) = default;
};

struct Condition {
  std::string type;
  std::string status;  // True | False | Unknown
  std::int64_t observedGeneration = 0;
  std::string lastTransitionTime;  // RFC 3339
  std::string reason;
  std::string message;
  friend bool operator==(const Condition&, const Condition&) = default;
};

struct NodeCounts {
  int matched = 0, attached = 0, pending = 0, fallenBack = 0, incompatible = 0, conflicted = 0;
  int failed = 0;
  friend bool operator==(const NodeCounts&, const NodeCounts&) = default;
};

// What a node runs: the parts of the spec the revision hash covers.
struct RevisionSpec {
  std::string revision;
  std::string image;  // for image policies: the digest reference once resolved
  std::string hostPath;
  std::vector<std::string> args;
  std::vector<EnvVar> env;
  SchedulerMode mode = SchedulerMode::kFull;
  friend bool operator==(const RevisionSpec&, const RevisionSpec&) = default;
};

enum class RolloutPhase { kPending, kProgressing, kHalted, kRolledBack, kComplete };

struct RolloutStatus {
  std::string revision;
  RolloutPhase phase = RolloutPhase::kPending;
  int admittedBelow = 0;  // node buckets [0, admittedBelow) run `revision`
  std::optional<RevisionSpec> stable;
  friend bool operator==(const RolloutStatus&, const RolloutStatus&) = default;
};

struct FallbackRecord {
  std::string node;
  std::string time;
  int exitKind = 0;
  std::string exitKindName;
  std::string reason;
  std::string message;
  friend bool operator==(const FallbackRecord&, const FallbackRecord&) = default;
};

struct SchedulerPolicyStatus {
  std::int64_t observedGeneration = 0;
  std::string resolvedImage;
  NodeCounts nodes;
  std::optional<RolloutStatus> rollout;
  std::vector<Condition> conditions;
  std::vector<FallbackRecord> recentFallbacks;
  friend bool operator==(const SchedulerPolicyStatus&, const SchedulerPolicyStatus&) = default;
};

struct SchedulerPolicy {
  ObjectMeta metadata;
  SchedulerPolicySpec spec;
  SchedulerPolicyStatus status;
  friend bool operator==(const SchedulerPolicy&, const SchedulerPolicy&) = default;
};

// ---- SchedulerNodeState ----

enum class NodePhase {
  kIdle, kPulling, kAttaching, kRunning, kRestarting, kFallenBack, kIncompatible, kFailed
};

struct ObservedPolicy {
  std::string name;
  std::int64_t generation = 0;
  friend bool operator==(const ObservedPolicy&, const ObservedPolicy&) = default;
};

struct KernelInfo {
  std::string release;
  bool schedExt = false;
  bool btf = false;
  std::vector<std::string> features;
  friend bool operator==(const KernelInfo&, const KernelInfo&) = default;
};

struct ActiveScheduler {
  std::string opsName;
  std::string image;
  std::int64_t pid = 0;
  std::int64_t enableSeq = 0;
  std::string since;
  friend bool operator==(const ActiveScheduler&, const ActiveScheduler&) = default;
};

struct ExitRecord {
  std::string time;
  int kind = 0;
  std::string kindName;
  std::string reason;
  std::string message;
  friend bool operator==(const ExitRecord&, const ExitRecord&) = default;
};

struct NodeEvent {
  std::string time;
  std::string type;  // Normal | Warning
  std::string reason;
  std::string message;
  friend bool operator==(const NodeEvent&, const NodeEvent&) = default;
};

struct SchedulerNodeStateStatus {
  std::vector<ObservedPolicy> observedPolicies;
  KernelInfo kernel;
  std::string policy;
  std::string revision;
  NodePhase phase = NodePhase::kIdle;
  std::optional<ActiveScheduler> active;
  int restarts = 0;
  std::optional<ExitRecord> lastExit;
  std::vector<Condition> conditions;
  std::vector<NodeEvent> recentEvents;
  friend bool operator==(const SchedulerNodeStateStatus&, const SchedulerNodeStateStatus&) = default;
};

struct SchedulerNodeState {
  ObjectMeta metadata;
  std::string nodeName;
  SchedulerNodeStateStatus status;
  friend bool operator==(const SchedulerNodeState&, const SchedulerNodeState&) = default;
};

inline constexpr std::size_t kMaxRecentEvents = 10;
inline constexpr std::size_t kMaxRecentFallbacks = 10;

// Enum spellings as they appear in the API.
const char* toString(PullPolicy v);
const char* toString(SchedulerMode v);
const char* toString(SchedulerType v);
const char* toString(RolloutStrategy v);
const char* toString(SelectorOperator v);
const char* toString(RolloutPhase v);
const char* toString(NodePhase v);

}  // namespace schedkit::policy
