#pragma once

#include <ostream>
#include <string>
#include <vector>

namespace CLI {
class App;
}

namespace schedkit::cli {

// Flags of `schedkitctl node ...`, filled by CLI11.
struct NodeFlags {
  std::string socket = "/run/schedkit/agent.sock";
  std::string timeout = "5s";
  bool follow = false;  // events
  // attach
  std::string image, hostPath, type, mode, file, wait = "60s";
  std::vector<std::string> args;
  std::string name;  // attach and detach
};

struct NodeCommands {
  CLI::App* group = nullptr;
  CLI::App* status = nullptr;
  CLI::App* events = nullptr;
  CLI::App* attach = nullptr;
  CLI::App* detach = nullptr;
};

// Registers `node status|events|attach|detach` on app.
NodeCommands addNodeCommands(CLI::App& app, NodeFlags& f);

// Runs the node command that was parsed; -1 when none was. Results go to `out` (text, or JSON:
// one document, or one object per line for `events --follow`), errors to `err` (text) or `out`
// (JSON). Returns the exit code.
int runNodeCommand(const NodeCommands& c, const NodeFlags& f, bool json, std::ostream& out,
                   std::ostream& err);

}  // namespace schedkit::cli
