#pragma once

#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "schedkit/common/status.h"
#include "schedkit/policy/types.h"

namespace schedkit::policy {

struct DecodeOptions {
  // Files written by people: unknown fields are errors (a typo must not silently change what
  // runs). Objects from the API server are already pruned to the schema, so be lenient there.
  bool rejectUnknownFields = true;
};

// Decodes and validates one SchedulerPolicy. Every problem is reported with its field path,
// e.g. `spec.rollout.maxUnavailable: must be an integer or a percentage like "10%"`; several
// problems are joined with "; ". The rules are the CRD's (crds/schedkit.io_schedulerpolicies.yaml),
// so a file that passes here is accepted by the API server and vice versa.
Result<SchedulerPolicy> decodePolicy(const nlohmann::json& obj, const DecodeOptions& opts = {});
Result<SchedulerNodeState> decodeNodeState(const nlohmann::json& obj,
                                           const DecodeOptions& opts = {});
// Decodes just a label selector (used by the agent's --node-labels checks and tests).
Result<LabelSelector> decodeLabelSelector(const nlohmann::json& obj,
                                          const DecodeOptions& opts = {});

// Converts YAML (one or more documents; empty documents skipped) into JSON values. Plain
// scalars become numbers, booleans or null where YAML 1.2's core schema says so; quoted
// scalars stay strings. Errors carry the YAML line and column.
Result<std::vector<nlohmann::json>> yamlToJson(std::string_view yaml);

// Parses a policy file: YAML or JSON, one or more documents, each a SchedulerPolicy (a
// `kind: List` / `SchedulerPolicyList` with `items` is unfolded). Errors name the document.
Result<std::vector<SchedulerPolicy>> parsePolicies(std::string_view content,
                                                   const DecodeOptions& opts = {});

// Validators shared with other parts of the agent (also used for --node-labels).
bool isQualifiedLabelKey(std::string_view key, std::string* why = nullptr);
bool isLabelValue(std::string_view value, std::string* why = nullptr);
bool isDnsSubdomain(std::string_view name, std::string* why = nullptr);

}  // namespace schedkit::policy
