#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "schedkit/agent/v1/agent.pb.h"

namespace schedkit::cli {

// Renderings of the node commands' results: JSON (field names documented in
// docs/schedkitctl.md; the status is node-state.json's `status`, byte for byte the agent's
// encoding) or text for people.
nlohmann::ordered_json nodeStatusJson(const agent::v1::NodeStatus& st);
nlohmann::ordered_json nodeEventJson(const agent::v1::NodeEvent& e);
nlohmann::ordered_json attachJson(const agent::v1::AttachResponse& r);
nlohmann::ordered_json detachJson(const agent::v1::DetachResponse& r);

std::string nodeStatusText(const agent::v1::NodeStatus& st);
// One line: TIME TYPE REASON MESSAGE (a phase change shows the phases; drops are noted).
std::string nodeEventText(const agent::v1::NodeEvent& e);
std::string attachText(const agent::v1::AttachResponse& r);
std::string detachText(const agent::v1::DetachResponse& r);

}  // namespace schedkit::cli
