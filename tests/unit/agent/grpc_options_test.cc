// schedkit-agent --grpc-socket: on by default at /run/schedkit/agent.sock, "" turns it off, and
// only an absolute path is a socket path.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "app/options.h"

namespace schedkit::agent {
namespace {

Result<AgentOptions> parse(std::vector<std::string> args) {
  args.insert(args.begin(), {"schedkit-agent", "--node-name", "n1"});
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  return parseAgentOptions(static_cast<int>(argv.size()), argv.data());
}

TEST(GrpcOptionsTest, SocketDefaultOffAndRelative) {
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
