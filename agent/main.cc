// schedkit-agent: parses options and hands over to the agent library.
#include <cstdio>

#include "app/agent_app.h"
#include "app/options.h"

int main(int argc, char** argv) {
  auto opts = schedkit::agent::parseAgentOptions(argc, argv);
  if (!opts.isOk()) {
    bool info = opts.status().code() == schedkit::StatusCode::kCancelled;
    std::fputs(opts.status().message().c_str(), info ? stdout : stderr);
    return info ? 0 : 2;
  }
  return schedkit::agent::runAgent(*opts);
}
