#include "schedkit/os/filesystem.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace schedkit {
namespace {

class HostFilesystemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/schedkit-fs-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf " + root_).c_str()); }
  std::string root_;
};

TEST_F(HostFilesystemTest, PathsAreRootedAtHostRoot) {
  HostFilesystem fs(root_ + "/");
  ASSERT_TRUE(fs.makeDirs("/sys/kernel/sched_ext").isOk());
  ASSERT_TRUE(fs.writeFileAtomic("/sys/kernel/sched_ext/state", "enabled\n").isOk());
  EXPECT_EQ(fs.resolve("/sys/kernel/sched_ext/state"), root_ + "/sys/kernel/sched_ext/state");
  std::ifstream in(root_ + "/sys/kernel/sched_ext/state");
  std::string got;
  std::getline(in, got);
  EXPECT_EQ(got, "enabled");
  EXPECT_EQ(*fs.readFile("/sys/kernel/sched_ext/state"), "enabled\n");
  EXPECT_TRUE(fs.exists("/sys/kernel/sched_ext/state"));
  EXPECT_TRUE(fs.isDirectory("/sys/kernel"));
  EXPECT_FALSE(fs.isDirectory("/sys/kernel/sched_ext/state"));
}

TEST_F(HostFilesystemTest, MissingFileIsNotFoundWithPath) {
  HostFilesystem fs(root_);
  auto r = fs.readFile("/nope");
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_NE(r.status().message().find(root_ + "/nope"), std::string::npos);
}

TEST_F(HostFilesystemTest, ReadRefusesFilesOverLimit) {
  HostFilesystem fs(root_);
  ASSERT_TRUE(fs.writeFileAtomic("/big", std::string(100, 'x')).isOk());
  auto r = fs.readFile("/big", 10);
  ASSERT_FALSE(r.isOk());
  EXPECT_EQ(r.status().code(), StatusCode::kResourceExhausted);
}

TEST_F(HostFilesystemTest, AtomicWriteReplacesAndLeavesNoTempFiles) {
  HostFilesystem fs(root_);
  ASSERT_TRUE(fs.writeFileAtomic("/state.json", "{\"a\":1}").isOk());
  ASSERT_TRUE(fs.writeFileAtomic("/state.json", "{\"a\":2}").isOk());
  EXPECT_EQ(*fs.readFile("/state.json"), "{\"a\":2}");
  EXPECT_EQ(*fs.listDir("/"), (std::vector<std::string>{"state.json"}));
}

TEST_F(HostFilesystemTest, ListDirSortedRemoveIdempotent) {
  HostFilesystem fs(root_);
  for (const char* n : {"/c", "/a", "/b"}) ASSERT_TRUE(fs.writeFileAtomic(n, "").isOk());
  EXPECT_EQ(*fs.listDir("/"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_TRUE(fs.remove("/a").isOk());
  EXPECT_TRUE(fs.remove("/a").isOk());
  EXPECT_FALSE(fs.exists("/a"));
  ASSERT_TRUE(fs.makeDirs("/d/e").isOk());
  EXPECT_TRUE(fs.remove("/d/e").isOk());
  EXPECT_FALSE(fs.exists("/d/e"));
}

TEST_F(HostFilesystemTest, MakeDirsOverFileFails) {
  HostFilesystem fs(root_);
  ASSERT_TRUE(fs.writeFileAtomic("/f", "x").isOk());
  EXPECT_FALSE(fs.makeDirs("/f").isOk());
}

TEST(JoinPathTest, SingleSlashes) {
  EXPECT_EQ(joinPath("/a/", "/b"), "/a/b");
  EXPECT_EQ(joinPath("", "x"), "/x");
}

}  // namespace
}  // namespace schedkit
