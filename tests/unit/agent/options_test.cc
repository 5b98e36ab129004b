#include "app/options.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace schedkit::agent {
namespace {

Result<AgentOptions> parse(std::vector<std::string> args) {
  args.insert(args.begin(), {"schedkit-agent", "--node-name", "n1"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parseAgentOptions(static_cast<int>(argv.size()), argv.data());
}

TEST(AgentOptionsTest, ScxStatsDefaults) {
  auto o = parse({});
  ASSERT_TRUE(o.isOk()) << o.status().toString();
  EXPECT_EQ(o->scxStatsSocket, "/run/scx/root/stats");
  EXPECT_EQ(o->scxStatsTimeout, std::chrono::seconds(1));
}

TEST(AgentOptionsTest, ScxStatsFlags) {
  auto o = parse({"--scx-stats-socket", "/run/scx/lavd/stats", "--scx-stats-timeout", "250ms"});
  ASSERT_TRUE(o.isOk()) << o.status().toString();
  EXPECT_EQ(o->scxStatsSocket, "/run/scx/lavd/stats");
  EXPECT_EQ(o->scxStatsTimeout, std::chrono::milliseconds(250));
  auto off = parse({"--scx-stats-socket", ""});
  ASSERT_TRUE(off.isOk());
  EXPECT_EQ(off->scxStatsSocket, "");
  for (const char* bad : {"0s", "31s", "soon"}) {
    auto b = parse({"--scx-stats-timeout", bad});
    ASSERT_FALSE(b.isOk()) << bad;
    EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(b.status().message().find("--scx-stats-timeout"), std::string::npos);
  }
}

TEST(AgentOptionsTest, HelpNamesTheScxStatsFlags) {
  auto h = parse({"--help"});
  ASSERT_EQ(h.status().code(), StatusCode::kCancelled);
  EXPECT_NE(h.status().message().find("--scx-stats-socket"), std::string::npos);
  EXPECT_NE(h.status().message().find("--scx-stats-timeout"), std::string::npos);
}

// --grpc-socket: on by default at /run/schedkit/agent.sock, "" turns it off, and only an absolute
// path is a socket path.
TEST(AgentOptionsTest, GrpcSocketDefaultOffAndRelative) {
  auto d = parse({});
  ASSERT_TRUE(d.isOk()) << d.status().toString();
  EXPECT_EQ(d->grpcSocket, "/run/schedkit/agent.sock");
  auto off = parse({"--grpc-socket", ""});
  ASSERT_TRUE(off.isOk());
  EXPECT_EQ(off->grpcSocket, "");
  auto other = parse({"--grpc-socket=/tmp/x/agent.sock"});
  ASSERT_TRUE(other.isOk());
  EXPECT_EQ(other->grpcSocket, "/tmp/x/agent.sock");
  auto rel = parse({"--grpc-socket", "agent.sock"});
  ASSERT_FALSE(rel.isOk());
  EXPECT_EQ(rel.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(rel.status().message().find("--grpc-socket"), std::string::npos);
}

}  // namespace
}  // namespace schedkit::agent
