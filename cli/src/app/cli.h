#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "image/build.h"
#include "image/registry_flags.h"
#include "schedkit/common/clock.h"
#include "schedkit/common/random.h"
#include "schedkit/oci/registry.h"

namespace schedkit::cli {

// Exit codes.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

// What schedkitctl touches outside itself; main() passes the real ones, tests fakes.
struct CliDeps {
  oci::TransportFactory transports;  // net::makeCpprestTransport
  OpsNameReader readOpsName;         // agent::readObjectOpsName
  CliEnv env;
  Clock& clock;
  Random& random;
};

// Runs one schedkitctl command line (args[0] is the program name). Results go to `out` (text, or
// one JSON document with --output json, errors included); diagnostics and progress to `err`.
// Returns kExitOk, kExitFailure or kExitUsage.
int runCli(const std::vector<std::string>& args, std::ostream& out, std::ostream& err,
           const CliDeps& deps);

}  // namespace schedkit::cli
