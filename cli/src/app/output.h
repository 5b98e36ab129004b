#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "image/build.h"
#include "image/fetch.h"
#include "image/push.h"
#include "schedkit/common/status.h"

namespace schedkit::cli {

// Renderings of each command's result: one JSON object (--output json; field names are the API
// and documented in docs/schedkitctl.md) or aligned text for people.
using Json = nlohmann::ordered_json;

Json artifactJson(const oci::SchedulerArtifact& a);
Json toJson(const BuildResult& r);
Json toJson(const PushResult& r);
Json toJson(const InspectResult& r);
Json toJson(const oci::PulledImage& r);
Json errorJson(const Status& s);

std::string toText(const BuildResult& r);
std::string toText(const PushResult& r);
std::string toText(const InspectResult& r);
std::string toText(const oci::PulledImage& r);

}  // namespace schedkit::cli
