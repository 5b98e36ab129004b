#include "schedkit/policy/types.h"

namespace schedkit::policy {

SchedulerType SchedulerSpec::effectiveType() const {
  if (type != SchedulerType::kUnspecified) return type;
  if (hostPath.empty()) return SchedulerType::kUnspecified;
  return hostPath.ends_with(".bpf.o") ? SchedulerType::kBpfObject : SchedulerType::kBinary;
}

std::string IntOrPercent::toString() const {
  return isPercent ? std::to_string(value) + "%" : std::to_string(value);
}

int IntOrPercent::resolve(int total) const {
  if (total <= 0) return 0;
  int n = isPercent ? (total * value + 99) / 100 : value;
  if (n < 1) n = 1;
  return n > total ? total : n;
}

const char* toString(PullPolicy v) {
  switch (v) {
    case PullPolicy::kIfNotPresent: return "IfNotPresent";
    case PullPolicy::kAlways: return "Always";
    case PullPolicy::kNever: return "Never";
  }
  return "";
}
const char* toString(SchedulerMode v) { return v == SchedulerMode::kFull ? "Full" : "Partial"; }
const char* toString(SchedulerType v) {
  switch (v) {
    case SchedulerType::kUnspecified: return "";
    case SchedulerType::kBinary: return "binary";
    case SchedulerType::kBpfObject: return "bpf-object";
  }
  return "";
}
const char* toString(RolloutStrategy v) {
  return v == RolloutStrategy::kImmediate ? "Immediate" : "Canary";
}
const char* toString(SelectorOperator v) {
  switch (v) {
    case SelectorOperator::kIn: return "In";
    case SelectorOperator::kNotIn: return "NotIn";
    case SelectorOperator::kExists: return "Exists";
    case SelectorOperator::kDoesNotExist: return "DoesNotExist";
  }
  return "";
}
const char* toString(RolloutPhase v) {
  switch (v) {
    case RolloutPhase::kPending: return "Pending";
    case RolloutPhase::kProgressing: return "Progressing";
    case RolloutPhase::kHalted: return "Halted";
    case RolloutPhase::kRolledBack: return "RolledBack";
    case RolloutPhase::kComplete: return "Complete";
  }
  return "";
}
const char* toString(NodePhase v) {
  switch (v) {
    case NodePhase::kIdle: return "Idle";
    case NodePhase::kPulling: return "Pulling";
    case NodePhase::kAttaching: return "Attaching";
    case NodePhase::kRunning: return "Running";
    case NodePhase::kRestarting: return "Restarting";
    case NodePhase::kFallenBack: return "FallenBack";
    case NodePhase::kIncompatible: return "Incompatible";
    case NodePhase::kFailed: return "Failed";
  }
  return "";
}

}  // namespace schedkit::policy
