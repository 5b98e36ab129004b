// schedkitctl node status|events|attach|detach: flags and exit codes, the errors people see
// (absent socket, root-only socket, stale socket, a silent agent), and the output, against the
// real gRPC server in-process (tests/unit/agent/grpc_fixture.h).
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "app/cli.h"
#include "fakes/fixed_random.h"
#include "node/node_client.h"
#include "node/node_engine.h"
#include "node/node_output.h"
#include "unit/agent/grpc_fixture.h"

namespace schedkit::cli {
namespace {

using agent::grpcapi::testing::TempDir;
using agent::grpcapi::testing::TestServer;
using nlohmann::json;

struct CliRun {
  int rc;
  std::string out, err;
};

class NodeCliTest : public ::testing::Test {
 protected:
  CliRun run(std::vector<std::string> args) {
    args.insert(args.begin(), "schedkitctl");
    CliDeps deps{{},
                 {},
                 {[](const std::string&) { return std::string(); }, [] { return std::string(); }},
                 clock_,
                 random_};
    std::ostringstream out, err;
    int rc = runCli(args, out, err, deps);
    return {rc, out.str(), err.str()};
  }
  RealClock clock_;
  FixedRandom random_{7};
};

// A unix socket that listens but never accepts or answers.
int listenSilently(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 8) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST_F(NodeCliTest, UsageErrorsExitTwo) {
  TempDir d;
  std::string sock = d / "none.sock";
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"node"},
           {"node", "attach", "--socket", sock},
           {"node", "attach", "--image", "r/x:1", "--host-path", "/x.bpf.o", "--socket", sock},
           {"node", "attach", "--host-path", "/x.bpf.o", "--type", "elf", "--socket", sock},
           {"node", "attach", "--host-path", "/x.bpf.o", "--mode", "Half", "--socket", sock},
           {"node", "attach", "--host-path", "/x.bpf.o", "--wait", "soon", "--socket", sock},
           {"node", "attach", "--image", "r/x:1", "--type", "binary", "--socket", sock},
           {"node", "status", "--timeout", "forever", "--socket", sock},
           {"node", "status", "--bogus"},
       }) {
    CliRun r = run(args);
    EXPECT_EQ(r.rc, kExitUsage) << args.back() << "\n" << r.err << r.out;
  }
  CliRun j = run({"-o", "json", "node", "status", "--timeout", "x", "--socket", sock});
  EXPECT_EQ(j.rc, kExitUsage);
  EXPECT_EQ(json::parse(j.out)["error"]["code"], "INVALID_ARGUMENT");
}

TEST_F(NodeCliTest, AbsentSocketIsAClearError) {
  TempDir d;
  std::string sock = d / "agent.sock";
  CliRun r = run({"node", "status", "--socket", sock});
  EXPECT_EQ(r.rc, kExitFailure);
  EXPECT_EQ(r.err, "error: no schedkit agent socket at " + sock +
                       " (is the agent running with --grpc-socket?)\n");
  CliRun j = run({"--output", "json", "node", "events", "--socket", sock});
  EXPECT_EQ(j.rc, kExitFailure);
  json doc = json::parse(j.out);  // exactly one document
  EXPECT_EQ(doc["error"]["code"], "UNAVAILABLE");
}

TEST_F(NodeCliTest, StaleSocketAndNonSocket) {
  TempDir d;
  std::string stale = d / "stale.sock";
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", stale.c_str());
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ::close(fd);
  CliRun r = run({"node", "status", "--socket", stale});
  EXPECT_EQ(r.rc, kExitFailure);
  EXPECT_NE(r.err.find("nothing accepts connections on " + stale), std::string::npos) << r.err;
  CliRun n = run({"node", "status", "--socket", d.path()});
  EXPECT_EQ(n.rc, kExitFailure);
  EXPECT_NE(n.err.find("is not a socket"), std::string::npos) << n.err;
}

// Root passes any file mode, so as root the check runs in a child that becomes nobody (uid
// 65534); as another user, against a socket of mode 0000.
TEST_F(NodeCliTest, RootOnlySocketIsPermissionDenied) {
  TempDir d;
  ::chmod(d.path().c_str(), 0755);
  std::string sock = d / "agent.sock";
  int fd = listenSilently(sock);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::chmod(sock.c_str(), 0600), 0);
  const std::string want =
      "permission denied on " + sock + ": the agent socket is root-only; run as root";
  if (::geteuid() != 0) {
    // Not root: the socket is this user's own, so take the owner's write permission away too.
    ASSERT_EQ(::chmod(sock.c_str(), 0), 0);
    Status s = probeAgentSocket(sock);
    EXPECT_EQ(s.code(), StatusCode::kPermissionDenied);
    EXPECT_EQ(s.message(), want);
    ::close(fd);
    return;
  }
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
    Status s = probeAgentSocket(sock);
    std::string msg = s.message();
    (void)!::write(pipefd[1], msg.data(), msg.size());
    ::_exit(s.code() == StatusCode::kPermissionDenied ? 0 : 1);
  }
  ::close(pipefd[1]);
  std::string msg;
  char buf[512];
  ssize_t n;
  while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  ::close(pipefd[0]);
  int wst = 0;
  ::waitpid(pid, &wst, 0);
  ::close(fd);
  ASSERT_TRUE(WIFEXITED(wst));
  EXPECT_EQ(WEXITSTATUS(wst), 0) << msg;
  EXPECT_EQ(msg, want);
}

TEST_F(NodeCliTest, AnAgentThatDoesNotAnswerIsADeadline) {
  TempDir d;
  std::string sock = d / "agent.sock";
  int fd = listenSilently(sock);
  ASSERT_GE(fd, 0);
  CliRun r = run({"node", "status", "--socket", sock, "--timeout", "300ms"});
  ::close(fd);
  EXPECT_EQ(r.rc, kExitFailure);
  EXPECT_NE(r.err.find("the agent at " + sock + " did not answer within 300ms"), std::string::npos)
      << r.err;
}

TEST_F(NodeCliTest, StatusTextAndJson) {
  TestServer srv(true);
  ASSERT_TRUE(srv.startStatus().isOk());
  policy::SchedulerNodeStateStatus st;
  st.kernel = {"6.18.15", true, true, {}};
  st.phase = policy::NodePhase::kRunning;
  st.policy = "fifo";
  st.active = policy::ActiveScheduler{"fifo_test", "", 0, 5, "2026-12-03T10:00:00Z"};
  st.conditions = {{"Ready", "True", 1, "2026-12-03T10:00:00Z", "Running", ""}};
  st.recentEvents = {{"2026-12-03T10:00:00Z", "Normal", "Attached", "scheduler fifo_test enabled"}};
  srv.node().followDir("");
  srv.node().set(st);
  CliRun t = run({"node", "status", "--socket", srv.socket()});
  ASSERT_EQ(t.rc, kExitOk) << t.err;
  EXPECT_NE(t.out.find("Node:           node-a (standalone)\n"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("Phase:          Running\n"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("Scheduler:      fifo_test (enable_seq 5, since 2026-12-03T10:00:00Z)"),
            std::string::npos)
      << t.out;
  EXPECT_NE(t.out.find("Attached    scheduler fifo_test enabled"), std::string::npos) << t.out;

  CliRun j = run({"-o", "json", "node", "status", "--socket", srv.socket()});
  ASSERT_EQ(j.rc, kExitOk) << j.err;
  json doc = json::parse(j.out);
  EXPECT_EQ(doc["node"], "node-a");
  EXPECT_EQ(doc["mode"], "standalone");
  EXPECT_EQ(doc["status"]["phase"], "Running");
  EXPECT_EQ(doc["status"]["active"]["opsName"], "fifo_test");
  EXPECT_EQ(doc["status"]["active"]["enableSeq"], 5);
  EXPECT_EQ(doc["status"]["kernel"]["release"], "6.18.15");
}

TEST_F(NodeCliTest, AttachAndDetachInStandaloneMode) {
  TestServer srv(true);
  ASSERT_TRUE(srv.startStatus().isOk());
  CliRun a = run({"-o", "json", "node", "attach", "--host-path", "/opt/fifo.bpf.o", "--arg=--x",
                  "--name", "fifo", "--wait", "20s", "--socket", srv.socket()});
  ASSERT_EQ(a.rc, kExitOk) << a.err << a.out;
  json doc = json::parse(a.out);
  EXPECT_EQ(doc["policy"], "fifo");
  EXPECT_EQ(doc["phase"], "Running");
  EXPECT_EQ(doc["settled"], true);
  EXPECT_EQ(doc["node"]["status"]["active"]["opsName"], "fifo_test");
  EXPECT_TRUE(std::filesystem::exists(srv.policyDir() + "/fifo.yaml"));

  CliRun d = run({"node", "detach", "--name", "fifo", "--socket", srv.socket()});
  ASSERT_EQ(d.rc, kExitOk) << d.err;
  EXPECT_NE(d.out.find("Phase:          Idle"), std::string::npos) << d.out;
  EXPECT_FALSE(std::filesystem::exists(srv.policyDir() + "/fifo.yaml"));

  CliRun again = run({"node", "detach", "--name", "fifo", "--socket", srv.socket()});
  EXPECT_EQ(again.rc, kExitFailure);
  EXPECT_NE(again.err.find("no SchedulerPolicy \"fifo\""), std::string::npos) << again.err;
}

TEST_F(NodeCliTest, AttachThatDoesNotRunInTimeExitsOne) {
  TestServer srv(true);
  ASSERT_TRUE(srv.startStatus().isOk());
  srv.node().followDir("");
  CliRun a = run({"node", "attach", "--host-path", "/opt/fifo.bpf.o", "--wait", "1s", "--socket",
                  srv.socket()});
  EXPECT_EQ(a.rc, kExitFailure);
  EXPECT_NE(a.err.find("schedkitctl is not running within 1s"), std::string::npos) << a.err;
}

TEST_F(NodeCliTest, AttachInClusterModeSaysToUseKubectl) {
  TestServer srv(false);
  ASSERT_TRUE(srv.startStatus().isOk());
  CliRun a = run({"node", "attach", "--image", "reg/x:1", "--socket", srv.socket()});
  EXPECT_EQ(a.rc, kExitFailure);
  EXPECT_NE(a.err.find("in cluster mode, apply a SchedulerPolicy with kubectl"), std::string::npos)
      << a.err;
}

TEST_F(NodeCliTest, EventsFollowPrintsOneJsonObjectPerLine) {
  TestServer srv(false);
  ASSERT_TRUE(srv.startStatus().isOk());
  policy::SchedulerNodeStateStatus st;
  st.recentEvents = {{"2026-12-03T10:00:00Z", "Normal", "Attached", "old"}};
  srv.node().set(st);
  srv.hub().onStatus(st);
  CliRun r;
  std::thread t([&] {
    r = run({"-o", "json", "node", "events", "--follow", "--socket", srv.socket()});
  });
  // Once the stream is up, the watcher is subscribed.
  for (int i = 0; i < 2000 && srv.hub().watchers() == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_EQ(srv.hub().watchers(), 1u);
  srv.hub().onEvent(
      agent::NodeEventRecord{"Normal", "Detached", "scheduler fifo_test stopped", "fifo"});
  st.phase = policy::NodePhase::kRunning;
  srv.hub().onStatus(st);
  srv.hub().close();  // as a stopping agent does: what is queued still goes out, then the end
  t.join();
  EXPECT_EQ(r.rc, kExitFailure);
  std::vector<json> lines;
  std::istringstream in(r.out);
  for (std::string l; std::getline(in, l);) lines.push_back(json::parse(l));
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[0]["reason"], "Attached");
  EXPECT_EQ(lines[0]["recent"], true);
  EXPECT_EQ(lines[1]["reason"], "Detached");
  EXPECT_EQ(lines[1]["policy"], "fifo");
  EXPECT_EQ(lines[2]["kind"], "PhaseChange");
  EXPECT_EQ(lines[2]["phase"], "Running");
  EXPECT_EQ(lines[2]["previousPhase"], "Idle");
  EXPECT_EQ(lines[3]["error"]["code"], "UNAVAILABLE");
}

TEST_F(NodeCliTest, EventsWithoutFollowPrintsTheRecentOnesOldestFirst) {
  TestServer srv(false);
  ASSERT_TRUE(srv.startStatus().isOk());
  policy::SchedulerNodeStateStatus st;
  st.recentEvents = {{"t2", "Warning", "FallenBack", "second"},
                     {"t1", "Normal", "Attached", "first"}};
  srv.node().set(st);
  CliRun t = run({"node", "events", "--socket", srv.socket()});
  ASSERT_EQ(t.rc, kExitOk) << t.err;
  EXPECT_EQ(t.out, "t1  Normal  Attached    first\nt2  Warning FallenBack  second\n");
  CliRun j = run({"-o", "json", "node", "events", "--socket", srv.socket()});
  ASSERT_EQ(j.rc, kExitOk);
  json doc = json::parse(j.out);
  ASSERT_EQ(doc["events"].size(), 2u);
  EXPECT_EQ(doc["events"][0]["message"], "first");
}

TEST(NodeOutputTest, EventTextNotesDrops) {
  agent::v1::NodeEvent e;
  e.set_time("t");
  e.set_type("Normal");
  e.set_reason("Attached");
  e.set_message("m");
  e.set_dropped(3);
  EXPECT_EQ(nodeEventText(e),
            "(3 events dropped: this client read too slowly)\nt  Normal  Attached    m\n");
  json j = json::parse(nodeEventJson(e).dump());
  EXPECT_EQ(j["dropped"], 3);
  EXPECT_EQ(j["kind"], "Event");
  EXPECT_FALSE(j.contains("phase"));
}

TEST(NodeOutputTest, StatusTextShowsTheLastExit) {
  agent::v1::NodeStatus st;
  st.set_node_name("n");
  st.set_phase(agent::v1::NODE_PHASE_FALLEN_BACK);
  auto* x = st.mutable_last_exit();
  x->set_kind(1026);
  x->set_kind_name("ERROR_STALL");
  x->set_reason("runnable task stall");
  x->set_message("watchdog failed to check in for 2.004s");
  std::string t = nodeStatusText(st);
  EXPECT_NE(t.find("Phase:          FallenBack\n"), std::string::npos) << t;
  EXPECT_NE(t.find("Last exit:      ERROR_STALL (1026) runnable task stall: watchdog failed to "
                   "check in for 2.004s"),
            std::string::npos)
      << t;
  EXPECT_NE(t.find("Scheduler:      (none: the kernel's default scheduler)"), std::string::npos);
}

}  // namespace
}  // namespace schedkit::cli
