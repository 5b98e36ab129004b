#include "attach/command_runner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

extern char** environ;

namespace schedkit::agent {

std::string CommandOutput::describe() const {
  if (termSignal != 0) {
    return "killed by signal " + std::to_string(termSignal) + " (" + ::strsignal(termSignal) + ")";
  }
  return "exit " + std::to_string(exitCode);
}

namespace {

// Closes what it holds on every return path.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

struct SpawnAttrs {
  posix_spawnattr_t attr;
  posix_spawn_file_actions_t actions;
  SpawnAttrs() {
    posix_spawnattr_init(&attr);
    posix_spawn_file_actions_init(&actions);
  }
  ~SpawnAttrs() {
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
  }
};

int waitChild(pid_t pid, int* status) {
  for (;;) {
    pid_t r = ::waitpid(pid, status, 0);
    if (r == pid) return 0;
    if (r < 0 && errno != EINTR) return errno;
  }
}

}  // namespace

Result<CommandOutput> SpawnCommandRunner::run(const std::vector<std::string>& argv,
                                              const CommandIo& io) {
  if (argv.empty() || argv[0].empty()) return invalidArgument("no program to run");
  const std::string& prog = argv[0];

  Fd outR, outW, errR, errW;
  auto makePipe = [](Fd& r, Fd& w) -> Status {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return fromErrno(errno, "pipe");
    // Only our end is non-blocking; the child's end stays blocking as programs expect.
    ::fcntl(p[0], F_SETFL, O_NONBLOCK);
    r.fd = p[0];
    w.fd = p[1];
    return Status::ok();
  };
  if (io.stdoutFd < 0) SK_RETURN_IF_ERROR(makePipe(outR, outW));
  if (io.stderrFd < 0) SK_RETURN_IF_ERROR(makePipe(errR, errW));

  SpawnAttrs sa;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&sa.attr, &none);
  posix_spawnattr_setsigdefault(&sa.attr, &all);
  posix_spawnattr_setflags(&sa.attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                         POSIX_SPAWN_SETSID);
  posix_spawn_file_actions_addopen(&sa.actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&sa.actions, io.stdoutFd >= 0 ? io.stdoutFd : outW.fd, 1);
  posix_spawn_file_actions_adddup2(&sa.actions, io.stderrFd >= 0 ? io.stderrFd : errW.fd, 2);

  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (const auto& a : argv) cargv.push_back(const_cast<char*>(a.c_str()));
  cargv.push_back(nullptr);

  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, prog.c_str(), &sa.actions, &sa.attr, cargv.data(), environ);
  if (rc != 0) {
    Status s = fromErrno(rc, "run " + prog);
    if (rc == ENOENT) return notFound(s.message());
    return s;
  }
  outW.reset();
  errW.reset();

  // Wait for the child itself, not for EOF on its pipes: a detached grandchild (a container)
  // may hold them open long after the command returned.
  Fd child(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (child.fd < 0) {
    int e = errno;
    ::kill(pid, SIGKILL);
    int ignored = 0;
    waitChild(pid, &ignored);
    return fromErrno(e, "pidfd_open for " + prog);
  }

  CommandOutput res;
  char buf[8192];
  auto drain = [&](Fd& fd, std::string& dst) {
    for (;;) {
      ssize_t got = ::read(fd.fd, buf, sizeof buf);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) {
        if (got == 0 || errno != EAGAIN) fd.reset();
        return;
      }
      std::size_t room = dst.size() < kMaxCapture ? kMaxCapture - dst.size() : 0;
      dst.append(buf, std::min(room, static_cast<std::size_t>(got)));
    }
  };
  MonoTime deadline = clock_.now() + timeout_;
  bool timedOut = false;
  for (;;) {
    pollfd pfds[3];
    nfds_t n = 0;
    pfds[n++] = {child.fd, POLLIN, 0};
    if (outR.fd >= 0) pfds[n++] = {outR.fd, POLLIN, 0};
    if (errR.fd >= 0) pfds[n++] = {errR.fd, POLLIN, 0};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - clock_.now());
    if (left.count() <= 0) {
      timedOut = true;
      break;
    }
    int pr = ::poll(pfds, n, static_cast<int>(left.count()) + 1);
    if (pr < 0) {
      if (errno == EINTR) continue;
      timedOut = true;  // cannot wait any more: treat it like a timeout and kill the child
      break;
    }
    if (outR.fd >= 0) drain(outR, res.out);
    if (errR.fd >= 0) drain(errR, res.err);
    if (pfds[0].revents != 0) break;  // exited: what it wrote is in the pipes, drained above
  }
  if (timedOut) ::kill(pid, SIGKILL);

  int status = 0;
  if (int e = waitChild(pid, &status); e != 0) return fromErrno(e, "waitpid " + prog);
  if (timedOut) {
    return deadlineExceeded(prog + " did not finish within " +
                            std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout_).count()) +
                            "s; killed it");
  }
  if (WIFSIGNALED(status)) {
    res.termSignal = WTERMSIG(status);
  } else {
    res.exitCode = WEXITSTATUS(status);
  }
  return res;
}

}  // namespace schedkit::agent
