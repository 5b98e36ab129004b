// The real gRPC server on a unix socket in a scratch directory, called with the real generated
// client: status, the event stream, standalone attach/detach through policy files, cluster mode,
// garbage on the socket, the socket's mode, stale and foreign files at the socket path.
#include <fcntl.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "node/node_engine.h"
#include "schedkit/policy/decode.h"
#include "unit/agent/grpc_fixture.h"

namespace schedkit::agent::grpcapi {
namespace {

using testing::TempDir;
using testing::TestServer;

std::unique_ptr<pb::AgentService::Stub> stubFor(const std::string& socket) {
  return pb::AgentService::NewStub(
      grpc::CreateChannel("unix:" + socket, grpc::InsecureChannelCredentials()));
}

void deadline(grpc::ClientContext& ctx, Duration d) {
  ctx.set_deadline(std::chrono::system_clock::now() +
                   std::chrono::duration_cast<std::chrono::system_clock::duration>(d));
}

std::string slurp(const std::string& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int connectUnix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  std::snprintf(a.sun_path, sizeof a.sun_path, "%s", path.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

TEST(GrpcServerTest, GetNodeStatusGoesThroughTheNodeAccess) {
  TestServer srv(false);
  ASSERT_TRUE(srv.startStatus().isOk()) << srv.startStatus().toString();
  policy::SchedulerNodeStateStatus st;
  st.phase = policy::NodePhase::kRunning;
  st.policy = "fifo";
  st.active = policy::ActiveScheduler{"fifo_test", "", 0, 4, "2026-12-03T10:00:00Z"};
  srv.node().set(st);
  grpc::ClientContext ctx;
  deadline(ctx, std::chrono::seconds(10));
  pb::NodeStatus out;
  grpc::Status s = stubFor(srv.socket())->GetNodeStatus(&ctx, {}, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.node_name(), "node-a");
  EXPECT_EQ(out.mode(), "cluster");
  EXPECT_EQ(out.phase(), pb::NODE_PHASE_RUNNING);
  EXPECT_EQ(out.active().ops_name(), "fifo_test");
  EXPECT_EQ(srv.node().calls(), 1);
}

TEST(GrpcServerTest, SocketIsMode0600OwnedByTheAgent) {
  TestServer srv(false);
  ASSERT_TRUE(srv.startStatus().isOk()) << srv.startStatus().toString();
  struct stat sb {};
  ASSERT_EQ(::lstat(srv.socket().c_str(), &sb), 0);
  EXPECT_TRUE(S_ISSOCK(sb.st_mode));
  EXPECT_EQ(sb.st_mode & 07777, 0600u);
  EXPECT_EQ(sb.st_uid, ::geteuid());
}

TEST(GrpcServerTest, WatchEventsSendsRecentThenLiveEventsAndPhaseChanges) {
  TestServer srv(false);
  ASSERT_TRUE(srv.startStatus().isOk());
  policy::SchedulerNodeStateStatus st;
  st.recentEvents = {{"t2", "Normal", "Attached", "newer"}, {"t1", "Normal", "Detached", "older"}};
  srv.node().set(st);
  srv.hub().onStatus(st);
  grpc::ClientContext ctx;
  deadline(ctx, std::chrono::seconds(20));
  pb::WatchEventsRequest req;
  req.set_include_recent(true);
  auto stub = stubFor(srv.socket());
  auto reader = stub->WatchEvents(&ctx, req);
  pb::NodeEvent e;
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.message(), "older");
  EXPECT_TRUE(e.recent());
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.message(), "newer");
  // Subscribed by now (before the recent events were sent): live events reach the stream.
  EXPECT_EQ(srv.hub().watchers(), 1u);
  srv.hub().onEvent(NodeEventRecord{"Warning", "FallenBack", "circuit breaker open", "fifo"});
  st.phase = policy::NodePhase::kFallenBack;
  srv.hub().onStatus(st);
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.reason(), "FallenBack");
  EXPECT_FALSE(e.recent());
  EXPECT_EQ(e.policy(), "fifo");
  ASSERT_TRUE(reader->Read(&e));
  EXPECT_EQ(e.kind(), pb::NodeEvent::KIND_PHASE_CHANGE);
  EXPECT_EQ(e.phase(), pb::NODE_PHASE_FALLEN_BACK);
  ctx.TryCancel();
  (void)reader->Finish();
}

TEST(GrpcServerTest, AStalledWatcherLosesTheOldestAndIsToldHowMany) {
  TestServer srv(false);  // queue capacity 4
  ASSERT_TRUE(srv.startStatus().isOk());
  grpc::ClientContext ctx;
  deadline(ctx, std::chrono::seconds(20));
  auto stub = stubFor(srv.socket());
  auto reader = stub->WatchEvents(&ctx, pb::WatchEventsRequest{});
  reader->WaitForInitialMetadata();  // the server sends it once subscribed
  // The server thread may pop one event and block in Write only if the transport is full, which
  // small events never make it: so queue the events while the server thread is between pops by
  // sending many; the total received + dropped must equal what was sent, in order.
  const int n = 200;
  for (int i = 0; i < n; ++i) {
    srv.hub().onEvent(NodeEventRecord{"Normal", "E" + std::to_string(i), "", ""});
  }
  std::uint64_t got = 0, dropped = 0;
  int last = -1;
  pb::NodeEvent e;
  while (last < n - 1 && reader->Read(&e)) {
    int idx = std::stoi(e.reason().substr(1));
    EXPECT_GT(idx, last);
    EXPECT_EQ(static_cast<std::uint64_t>(idx - last - 1), e.dropped()) << e.reason();
    last = idx;
    got++;
    dropped += e.dropped();
  }
  EXPECT_EQ(last, n - 1);
  EXPECT_EQ(got + dropped, static_cast<std::uint64_t>(n));
  ctx.TryCancel();
  (void)reader->Finish();
}

TEST(GrpcServerTest, StandaloneAttachWritesAPolicyFileAndDetachRemovesIt) {
  TestServer srv(true);
  ASSERT_TRUE(srv.startStatus().isOk()) << srv.startStatus().toString();
  auto stub = stubFor(srv.socket());
  pb::AttachRequest req;
  req.mutable_scheduler()->set_host_path("/opt/schedkit/testsched/fifo.bpf.o");
  pb::AttachResponse out;
  {
    grpc::ClientContext ctx;
    deadline(ctx, std::chrono::seconds(20));
    grpc::Status s = stub->Attach(&ctx, req, &out);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  const std::string file = srv.policyDir() + "/schedkitctl.yaml";
  EXPECT_EQ(out.path(), file);
  EXPECT_EQ(out.policy(), "schedkitctl");
  EXPECT_TRUE(out.settled());
  EXPECT_EQ(out.status().phase(), pb::NODE_PHASE_RUNNING);
  struct stat sb {};
  ASSERT_EQ(::stat(file.c_str(), &sb), 0);
  EXPECT_EQ(sb.st_mode & 0777, 0600u);
  auto ps = policy::parsePolicies(slurp(file));
  ASSERT_TRUE(ps.isOk()) << ps.status().toString();
  EXPECT_EQ((*ps)[0].spec.scheduler.hostPath, "/opt/schedkit/testsched/fifo.bpf.o");

  // The same again: nothing to change, settled at once.
  {
    grpc::ClientContext ctx;
    deadline(ctx, std::chrono::seconds(20));
    ASSERT_TRUE(stub->Attach(&ctx, req, &out).ok());
    EXPECT_TRUE(out.settled());
  }

  pb::DetachResponse dout;
  {
    grpc::ClientContext ctx;
    deadline(ctx, std::chrono::seconds(20));
    grpc::Status s = stub->Detach(&ctx, pb::DetachRequest{}, &dout);
    ASSERT_TRUE(s.ok()) << s.error_message();
  }
  EXPECT_FALSE(std::filesystem::exists(file));
  EXPECT_EQ(dout.path(), file);
  EXPECT_TRUE(dout.settled());
  EXPECT_EQ(dout.status().phase(), pb::NODE_PHASE_IDLE);

  grpc::ClientContext ctx;
  deadline(ctx, std::chrono::seconds(20));
  grpc::Status s = stub->Detach(&ctx, pb::DetachRequest{}, &dout);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(s.error_message().find("schedkitctl"), std::string::npos);
}

TEST(GrpcServerTest, AttachThatDoesNotSettleAnswersBeforeTheClientsDeadline) {
  TestServer srv(true);
  ASSERT_TRUE(srv.startStatus().isOk());
  srv.node().followDir("");  // the node never picks the file up
  auto stub = stubFor(srv.socket());
  pb::AttachRequest req;
  req.set_name("slow");
  req.mutable_scheduler()->set_host_path("/x.bpf.o");
  grpc::ClientContext ctx;
  deadline(ctx, std::chrono::milliseconds(1500));
  pb::AttachResponse out;
  grpc::Status s = stub->Attach(&ctx, req, &out);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_FALSE(out.settled());
  EXPECT_TRUE(std::filesystem::exists(srv.policyDir() + "/slow.yaml"));
}

TEST(GrpcServerTest, AttachRefusesInvalidPoliciesAndNameClashes) {
  TestServer srv(true);
  ASSERT_TRUE(srv.startStatus().isOk());
  auto stub = stubFor(srv.socket());
  {
    pb::AttachRequest req;
    req.mutable_scheduler()->set_host_path("/x.bpf.o");
    req.mutable_scheduler()->set_mode("Sometimes");
    grpc::ClientContext ctx;
    deadline(ctx, std::chrono::seconds(10));
    pb::AttachResponse out;
    grpc::Status s = stub->Attach(&ctx, req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(s.error_message().find("spec.mode"), std::string::npos) << s.error_message();
  }
  // A policy "mine" defined by hand in another file.
  std::ofstream(srv.policyDir() + "/hand.yml")
      << "apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: mine}\n"
         "spec: {scheduler: {hostPath: /a.bpf.o}}\n";
  {
    pb::AttachRequest req;
    req.set_name("mine");
    req.mutable_scheduler()->set_host_path("/x.bpf.o");
    grpc::ClientContext ctx;
    deadline(ctx, std::chrono::seconds(10));
    pb::AttachResponse out;
    grpc::Status s = stub->Attach(&ctx, req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::ALREADY_EXISTS);
    EXPECT_NE(s.error_message().find("hand.yml"), std::string::npos) << s.error_message();
  }
  EXPECT_FALSE(std::filesystem::exists(srv.policyDir() + "/mine.yaml"));
  // A person's file at the very path, holding other policies, is never overwritten.
  const std::string two =
      "apiVersion: schedkit.io/v1alpha1\nkind: SchedulerPolicy\nmetadata: {name: p1}\n"
      "spec: {scheduler: {hostPath: /a.bpf.o}}\n---\napiVersion: schedkit.io/v1alpha1\n"
      "kind: SchedulerPolicy\nmetadata: {name: p2}\nspec: {scheduler: {hostPath: /b.bpf.o}}\n";
  std::ofstream(srv.policyDir() + "/both.yaml") << two;
  {
    pb::AttachRequest req;
    req.set_name("both");
    req.mutable_scheduler()->set_host_path("/x.bpf.o");
    grpc::ClientContext ctx;
    deadline(ctx, std::chrono::seconds(10));
    pb::AttachResponse out;
    grpc::Status s = stub->Attach(&ctx, req, &out);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    EXPECT_EQ(slurp(srv.policyDir() + "/both.yaml"), two);
  }
  {
    grpc::ClientContext ctx;
    deadline(ctx, std::chrono::seconds(10));
    pb::DetachRequest dreq;
    dreq.set_name("p1");
    pb::DetachResponse dout;
    grpc::Status s = stub->Detach(&ctx, dreq, &dout);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << s.error_message();
    EXPECT_NE(s.error_message().find("together with other policies"), std::string::npos);
  }
  std::filesystem::remove(srv.policyDir() + "/both.yaml");
  // Detach by name removes the hand-made file when it holds only that policy.
  grpc::ClientContext ctx;
  deadline(ctx, std::chrono::seconds(10));
  pb::DetachRequest dreq;
  dreq.set_name("mine");
  dreq.set_no_wait(true);
  pb::DetachResponse dout;
  ASSERT_TRUE(stub->Detach(&ctx, dreq, &dout).ok());
  EXPECT_FALSE(std::filesystem::exists(srv.policyDir() + "/hand.yml"));
}

TEST(GrpcServerTest, ClusterModeRefusesAttachAndDetach) {
  TestServer srv(false);
  ASSERT_TRUE(srv.startStatus().isOk());
  auto stub = stubFor(srv.socket());
  pb::AttachRequest req;
  req.mutable_scheduler()->set_host_path("/x.bpf.o");
  grpc::ClientContext c1;
  deadline(c1, std::chrono::seconds(10));
  pb::AttachResponse out;
  grpc::Status s = stub->Attach(&c1, req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("in cluster mode, apply a SchedulerPolicy with kubectl"),
            std::string::npos);
  grpc::ClientContext c2;
  deadline(c2, std::chrono::seconds(10));
  pb::DetachResponse dout;
  EXPECT_EQ(stub->Detach(&c2, {}, &dout).error_code(), grpc::StatusCode::FAILED_PRECONDITION);
}

TEST(GrpcServerTest, StandaloneWithASinglePolicyFileRefusesAttach) {
  TempDir d;
  std::string file = d / "policy.yaml";
  std::ofstream(file) << "";
  TestServer srv(true, file);
  ASSERT_TRUE(srv.startStatus().isOk());
  pb::AttachRequest req;
  req.mutable_scheduler()->set_host_path("/x.bpf.o");
  grpc::ClientContext ctx;
  deadline(ctx, std::chrono::seconds(10));
  pb::AttachResponse out;
  grpc::Status s = stubFor(srv.socket())->Attach(&ctx, req, &out);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(s.error_message().find("--policy-file DIRECTORY"), std::string::npos);
}

TEST(GrpcServerTest, GarbageOnTheSocketDoesNotHurtTheNextClient) {
  TestServer srv(false);
  ASSERT_TRUE(srv.startStatus().isOk());
  std::mt19937 rng(12);  // fixed seed: the same bytes every run
  for (int round = 0; round < 3; ++round) {
    int fd = connectUnix(srv.socket());
    ASSERT_GE(fd, 0);
    std::string junk(round == 0 ? 16 : 64 * 1024, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    if (round == 2) junk = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + junk;  // a preface, then junk
    (void)!::write(fd, junk.data(), junk.size());
    timeval tv{5, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    while (::read(fd, buf, sizeof buf) > 0) {
    }
    ::close(fd);
  }
  int idle = connectUnix(srv.socket());  // connects and says nothing
  ASSERT_GE(idle, 0);
  grpc::ClientContext ctx;
  deadline(ctx, std::chrono::seconds(10));
  pb::NodeStatus out;
  grpc::Status s = stubFor(srv.socket())->GetNodeStatus(&ctx, {}, &out);
  EXPECT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(out.node_name(), "node-a");
  ::close(idle);
}

TEST(GrpcSocketPathTest, RemovesAStaleSocketAndRefusesOtherFiles) {
  TempDir d;
  std::string sock = d / "agent.sock";
  {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::snprintf(a.sun_path, sizeof a.sun_path, "%s", sock.c_str());
    ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    ::close(fd);  // bound, never listened: stale
  }
  EXPECT_TRUE(prepareSocketPath(sock).isOk());
  EXPECT_FALSE(std::filesystem::exists(sock));

  std::string file = d / "not-a-socket";
  std::ofstream(file) << "keep me";
  Status s = prepareSocketPath(file);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(slurp(file), "keep me");

  EXPECT_EQ(prepareSocketPath("relative.sock").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(prepareSocketPath("/" + std::string(200, 'x')).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(prepareSocketPath(d / "new/dir/agent.sock").isOk());
  EXPECT_TRUE(std::filesystem::is_directory(d / "new/dir"));
}

TEST(GrpcSocketPathTest, RefusesASocketAnotherServerServes) {
  TestServer srv(false);
  ASSERT_TRUE(srv.startStatus().isOk());
  EXPECT_EQ(prepareSocketPath(srv.socket()).code(), StatusCode::kAlreadyExists);
  // ... and it still serves.
  grpc::ClientContext ctx;
  deadline(ctx, std::chrono::seconds(10));
  pb::NodeStatus out;
  EXPECT_TRUE(stubFor(srv.socket())->GetNodeStatus(&ctx, {}, &out).ok());
}

}  // namespace
}  // namespace schedkit::agent::grpcapi
