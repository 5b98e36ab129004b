#pragma once

#include "app/options.h"
#include "schedkit/common/status.h"

namespace schedkit::agent {

// Wires the real dependencies (kernel, attachers, policy source, state file) and runs the event
// loop until SIGTERM/SIGINT. Returns the process exit code.
int runAgent(const AgentOptions& opts);

}  // namespace schedkit::agent
