#include "reconcilers/node_labels.h"

#include <cctype>

namespace schedkit::op {

std::string toLabelValue(std::string_view s) {
  std::string out;
  for (char ch : s) {
    auto u = static_cast<unsigned char>(ch);
    if (std::isalnum(u) || ch == '_' || ch == '.' || ch == '-') out += ch;
    if (out.size() == 63) break;
  }
  auto alnum = [](char ch) { return std::isalnum(static_cast<unsigned char>(ch)) != 0; };
  while (!out.empty() && !alnum(out.back())) out.pop_back();
  std::size_t start = 0;
  while (start < out.size() && !alnum(out[start])) ++start;
  return out.substr(start);
}

std::map<std::string, std::string> desiredNodeLabels(const policy::SchedulerPolicy* winner,
                                                     const policy::SchedulerNodeStateStatus* state) {
  std::map<std::string, std::string> out;
  if (winner == nullptr) return out;
  const bool mine = state != nullptr && state->policy == winner->metadata.name;
  const bool running = mine && state->phase == policy::NodePhase::kRunning && state->active;
  std::string name = winner->spec.scheduler.opsName;
  if (name.empty() && running) {
    const std::string& ops = state->active->opsName;
    name = ops.substr(0, ops.find('_'));
  }
  name = toLabelValue(name);
  if (!name.empty()) out[kSchedulerLabel] = name;
  out[kSchedulerReadyLabel] = running ? "true" : "false";
  return out;
}

std::map<std::string, std::string> ownedNodeLabels(const std::map<std::string, std::string>& labels) {
  std::map<std::string, std::string> out;
  for (const char* k : {kSchedulerLabel, kSchedulerReadyLabel}) {
    if (auto it = labels.find(k); it != labels.end()) out[k] = it->second;
  }
  return out;
}

}  // namespace schedkit::op
