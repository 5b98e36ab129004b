#pragma once

#include <memory>
#include <string>
#include <vector>

#include "schedkit/common/clock.h"
#include "schedkit/common/status.h"

namespace schedkit::agent {

// How a program ended and what it printed.
struct CommandOutput {
  int exitCode = 0;    // valid when termSignal == 0
  int termSignal = 0;  // the signal that killed it, 0 if it exited
  std::string out;     // captured stdout (empty when redirected)
  std::string err;     // captured stderr (empty when redirected)

  bool succeeded() const { return termSignal == 0 && exitCode == 0; }
  // "exit 1" or "killed by signal 9", for error messages.
  std::string describe() const;
};

// Where the child's stdout/stderr go: -1 captures them, any other fd is handed to the child as
// is (e.g. a log file that a detached container must keep writing to after the command ends).
struct CommandIo {
  int stdoutFd = -1;
  int stderrFd = -1;
};

// Runs a program with arguments (no shell) and waits for it. The seam that lets unit tests
// script an OCI runtime's behaviour without root.
class CommandRunner {
 public:
  virtual ~CommandRunner() = default;
  // An error Status only when the program could not be run or waited for (not found: kNotFound;
  // timed out: kDeadlineExceeded); a non-zero exit is a CommandOutput.
  virtual Result<CommandOutput> run(const std::vector<std::string>& argv,
                                    const CommandIo& io = {}) = 0;
};
using CommandRunnerPtr = std::unique_ptr<CommandRunner>;

// posix_spawn with a clean signal state: the agent blocks SIGTERM & co. for its signalfd, and a
// spawned runtime (and the container it starts) must not inherit that mask. Each child gets its
// own session so that a terminal's ^C aimed at the agent never reaches a scheduler. stdin is
// /dev/null. Searches PATH when argv[0] has no slash.
class SpawnCommandRunner final : public CommandRunner {
 public:
  SpawnCommandRunner(const Clock& clock, Duration timeout = std::chrono::seconds(30))
      : clock_(clock), timeout_(timeout) {}

  Result<CommandOutput> run(const std::vector<std::string>& argv,
                            const CommandIo& io = {}) override;

  // Captured output beyond this is dropped (the rest is still drained so the child never blocks).
  static constexpr std::size_t kMaxCapture = 1u << 20;

 private:
  const Clock& clock_;
  Duration timeout_;
};

}  // namespace schedkit::agent
