#include "schedkit/oci/unpack.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "fakes/oci_image_builder.h"
#include "schedkit/oci/store.h"

namespace schedkit::oci {
namespace {

using namespace testing;  // NOLINT: builder helpers

class UnpackTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/schedkit-unpack-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    root_ = dir_ + "/root";
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    // A decoy outside the root that escapes would hit.
    ASSERT_EQ(mkdir((dir_ + "/outside").c_str(), 0755), 0);
    std::ofstream(dir_ + "/outside/secret") << "keep me";
  }
  void TearDown() override { (void)removeTree(dir_); }

  Result<UnpackStats> unpack(const std::vector<std::string>& layers) {
    std::vector<LayerFile> files;
    for (std::size_t i = 0; i < layers.size(); ++i) {
      std::string p = dir_ + "/layer" + std::to_string(i);
      std::ofstream(p, std::ios::binary) << layers[i];
      files.push_back({p, Digest::of(layers[i]), "layer " + std::to_string(i), {}});
    }
    return unpackLayers(files, root_, limits_);
  }
  std::string read(const std::string& rel) {
    std::ifstream in(root_ + "/" + rel);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  bool exists(const std::string& rel) {
    struct stat st {};
    return lstat((root_ + "/" + rel).c_str(), &st) == 0;
  }
  // Everything outside the root is as SetUp left it.
  void expectOutsideUntouched() {
    std::ifstream in(dir_ + "/outside/secret");
    std::string s;
    std::getline(in, s);
    EXPECT_EQ(s, "keep me");
    std::string cmd = "ls -A " + dir_ + "/outside";
    FILE* p = popen(cmd.c_str(), "r");
    char buf[256];
    int n = 0;
    while (fgets(buf, sizeof buf, p)) ++n;
    pclose(p);
    EXPECT_EQ(n, 1);
  }

  std::string dir_, root_;
  UnpackLimits limits_;
};

TEST_F(UnpackTest, GzipZstdAndPlainLayers) {
  for (auto c : {Compression::kGzip, Compression::kZstd, Compression::kNone}) {
    (void)removeTree(root_);
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    auto st = unpack({buildTar({dir("usr/"), dir("usr/bin"), file("usr/bin/scx", "ELF", 0755),
                                symlink("usr/bin/link", "scx"),
                                hardlink("usr/bin/hard", "usr/bin/scx"), file("./etc/conf", "x=1")},
                               c)});
    ASSERT_TRUE(st.isOk()) << st.status().toString();
    EXPECT_EQ(read("usr/bin/scx"), "ELF");
    EXPECT_EQ(read("usr/bin/link"), "ELF");
    EXPECT_EQ(read("usr/bin/hard"), "ELF");
    EXPECT_EQ(read("etc/conf"), "x=1");  // implicit parent made
    struct stat s {};
    ASSERT_EQ(stat((root_ + "/usr/bin/scx").c_str(), &s), 0);
    EXPECT_EQ(s.st_mode & 0777, 0755u);
    EXPECT_EQ(st->entries, 6);
    EXPECT_EQ(st->bytes, 6);
  }
}

TEST_F(UnpackTest, WhiteoutsAndOpaqueDirectoriesAcrossLayers) {
  auto lower = buildTar({file("a/keep", "1"), file("a/drop", "2"), file("b/old1", "3"),
                         file("b/old2", "4"), dir("c"), file("c/x", "5")});
  auto upper = buildTar({file("a/.wh.drop", ""), dir("b"), file("b/.wh..wh..opq", ""),
                         file("b/new", "6"), file(".wh.c", "")});
  auto st = unpack({lower, upper});
  ASSERT_TRUE(st.isOk()) << st.status().toString();
  EXPECT_TRUE(exists("a/keep"));
  EXPECT_FALSE(exists("a/drop"));
  EXPECT_FALSE(exists("a/.wh.drop"));
  EXPECT_FALSE(exists("b/old1"));
  EXPECT_FALSE(exists("b/old2"));
  EXPECT_TRUE(exists("b/new"));
  EXPECT_FALSE(exists("b/.wh..wh..opq"));
  EXPECT_FALSE(exists("c"));
  EXPECT_EQ(st->whiteouts, 3);
}

TEST_F(UnpackTest, LaterLayersReplaceFilesDirsAndSymlinks) {
  auto l1 = buildTar({file("x", "file"), dir("d"), file("d/f", "1"), symlink("s", "x")});
  auto l2 = buildTar({dir("x"), file("d", "now a file"), file("s", "not a link")});
  ASSERT_TRUE(unpack({l1, l2}).isOk());
  struct stat st {};
  ASSERT_EQ(lstat((root_ + "/x").c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(read("d"), "now a file");
  ASSERT_EQ(lstat((root_ + "/s").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
}

TEST_F(UnpackTest, DirectoryModesNeverFollowALaterSymlink) {
  // Layer 1 makes d/ (its mode is applied at the end); layer 2 turns d into a symlink to a
  // host directory. The mode must not land on the host directory.
  std::string outside = dir_ + "/outside";
  ASSERT_EQ(chmod(outside.c_str(), 0700), 0);
  auto st = unpack({buildTar({dir("d", 0555)}), buildTar({symlink("d", outside)})});
  ASSERT_TRUE(st.isOk()) << st.status().toString();
  struct stat s {};
  ASSERT_EQ(stat(outside.c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0700u);
  expectOutsideUntouched();
}

TEST_F(UnpackTest, DirectoryModesAreAppliedAfterAllLayers) {
  // A read-only directory in layer 1 still receives layer 2's file; its mode lands at the end.
  auto st = unpack(
      {buildTar({dir("ro", 0555), dir("ro/deep", 0711)}), buildTar({file("ro/deep/late", "x")})});
  ASSERT_TRUE(st.isOk()) << st.status().toString();
  struct stat s {};
  ASSERT_EQ(stat((root_ + "/ro").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0555u);
  ASSERT_EQ(stat((root_ + "/ro/deep").c_str(), &s), 0);
  EXPECT_EQ(s.st_mode & 0777, 0711u);
  EXPECT_TRUE(exists("ro/deep/late"));
}

TEST_F(UnpackTest, PathDepthCap) {
  std::string deep;
  for (int i = 0; i < 300; ++i) deep += "d/";
  auto st = unpack({buildTar({file(deep + "f", "x")})});
  ASSERT_FALSE(st.isOk());
  EXPECT_NE(st.status().message().find("more than 256 directories deep"), std::string::npos)
      << st.status().message();
}

TEST_F(UnpackTest, InRootSymlinksAreFollowedForWrites) {
  // Merged-/usr layouts: lib -> usr/lib, and an absolute link taken relative to the root.
  auto st = unpack({buildTar({dir("usr/lib"), symlink("lib", "usr/lib"), symlink("abs", "/usr"),
                              file("lib/a.so", "A"), file("abs/lib/b.so", "B")})});
  ASSERT_TRUE(st.isOk()) << st.status().toString();
  EXPECT_EQ(read("usr/lib/a.so"), "A");
  EXPECT_EQ(read("usr/lib/b.so"), "B");
}

struct Hostile {
  std::string name;
  std::vector<TarEntry> entries;
  StatusCode code;
  std::string message;
};

class HostileLayerTest : public UnpackTest, public ::testing::WithParamInterface<Hostile> {};

TEST_P(HostileLayerTest, RefusedWithTheEntryNamedAndNothingOutside) {
  const auto& h = GetParam();
  auto st = unpack({buildTar(h.entries)});
  ASSERT_FALSE(st.isOk()) << h.name;
  EXPECT_EQ(st.status().code(), h.code) << st.status().toString();
  EXPECT_NE(st.status().message().find(h.message), std::string::npos) << st.status().toString();
  expectOutsideUntouched();
}

INSTANTIATE_TEST_SUITE_P(
    Cases, HostileLayerTest,
    ::testing::Values(Hostile{"absolute",
                              {file("/etc/passwd", "x")},
                              StatusCode::kPermissionDenied,
                              "entry \"/etc/passwd\" is absolute"},
                      Hostile{"dotdot",
                              {file("a/../../outside/secret", "pwned")},
                              StatusCode::kPermissionDenied,
                              "contains \"..\""},
                      Hostile{"symlink_escape",
                              {symlink("evil", "../outside"), file("evil/secret", "pwned")},
                              StatusCode::kPermissionDenied,
                              "symlink evil -> ../outside leaves the image root"},
                      Hostile{"symlink_escape_deep",
                              {dir("a"), symlink("a/up", "../../outside"), file("a/up/new", "x")},
                              StatusCode::kPermissionDenied,
                              "leaves the image root"},
                      Hostile{"hardlink_escape",
                              {hardlink("h", "../outside/secret")},
                              StatusCode::kPermissionDenied,
                              "hard link target"},
                      Hostile{"hardlink_absolute",
                              {hardlink("h", "/etc/shadow")},
                              StatusCode::kPermissionDenied,
                              "is absolute"},
                      Hostile{"hardlink_missing",
                              {hardlink("h", "nope")},
                              StatusCode::kNotFound,
                              "hard link target \"nope\" does not exist"},
                      Hostile{"hardlink_via_symlink_escape",
                              {symlink("out", "../outside"), hardlink("h", "out/secret")},
                              StatusCode::kPermissionDenied,
                              "leaves the image root"},
                      Hostile{"char_device",
                              {{TarEntry::kCharDev, "dev/null", "", "", 0666, 0}},
                              StatusCode::kPermissionDenied,
                              "entry \"dev/null\": device nodes are not allowed"},
                      Hostile{"block_device",
                              {{TarEntry::kBlockDev, "sda", "", "", 0666, 0}},
                              StatusCode::kPermissionDenied,
                              "device nodes"},
                      Hostile{"fifo",
                              {{TarEntry::kFifo, "p", "", "", 0666, 0}},
                              StatusCode::kPermissionDenied,
                              "fifos are not allowed"}),
    [](const ::testing::TestParamInfo<Hostile>& p) { return p.param.name; });

TEST_F(UnpackTest, GzipBombHitsTheByteCapAndLeavesNoPartialFile) {
  limits_.maxBytes = 1 << 20;
  TarEntry bomb = file("bomb", "");
  bomb.zeros = 64 << 20;  // 64 MiB of zeros, ~64 KiB gzipped
  auto layer = buildTar({file("ok", "fine"), bomb});
  EXPECT_LT(layer.size(), 200000u);
  auto st = unpack({layer});
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.status().message().find("entry \"bomb\""), std::string::npos)
      << st.status().message();
  EXPECT_FALSE(exists("bomb"));
  EXPECT_TRUE(exists("ok"));
}

TEST_F(UnpackTest, EntryCountCap) {
  limits_.maxEntries = 10;
  std::vector<TarEntry> many;
  for (int i = 0; i < 20; ++i) many.push_back(file("f" + std::to_string(i), ""));
  auto st = unpack({buildTar(many)});
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.status().message().find("more than 10 entries"), std::string::npos);
}

TEST_F(UnpackTest, DigestIsReverifiedWhileReading) {
  auto layer = buildTar({file("a", "1")});
  std::string p = dir_ + "/l";
  std::ofstream(p, std::ios::binary) << layer;
  auto st = unpackLayers({{p, Digest::of("something else"), "layer 0", {}}}, root_, limits_);
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.status().code(), StatusCode::kDataLoss);
}

TEST_F(UnpackTest, DiffIdsAreCheckedAgainstTheUncompressedTar) {
  for (auto c : {Compression::kGzip, Compression::kZstd, Compression::kNone}) {
    (void)removeTree(root_);
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    auto layer = buildTar({file("a", "1")}, c);
    std::string p = dir_ + "/l";
    std::ofstream(p, std::ios::binary | std::ios::trunc) << layer;
    EXPECT_TRUE(
        unpackLayers({{p, Digest::of(layer), "layer 0", diffIdOf(layer)}}, root_, limits_).isOk());
    (void)removeTree(root_);
    ASSERT_EQ(mkdir(root_.c_str(), 0755), 0);
    auto st = unpackLayers({{p, Digest::of(layer), "layer 0", Digest::of("x")}}, root_, limits_);
    EXPECT_EQ(st.status().code(), StatusCode::kDataLoss);
    EXPECT_NE(st.status().message().find("config diff_id"), std::string::npos);
  }
}

TEST_F(UnpackTest, TruncatedAndPaddedStreams) {
  auto gz = buildTar({file("a", std::string(100000, 'q'))}, Compression::kGzip);
  auto truncated = unpack({gz.substr(0, gz.size() / 2)});
  ASSERT_FALSE(truncated.isOk());
  EXPECT_NE(truncated.status().message().find("truncated gzip stream"), std::string::npos)
      << truncated.status().message();
  // Compressed padding after the archive is hashed but capped: a bomb there is refused too.
  limits_.maxBytes = 1 << 20;
  limits_.maxEntries = 10;
  std::string padded = buildTar({file("a", "1")}, Compression::kNone) + std::string(8 << 20, '\0');
  auto st = unpackLayerBytes(padded, root_, limits_);
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.status().code(), StatusCode::kResourceExhausted);
  EXPECT_NE(st.status().message().find("decompresses to more than"), std::string::npos)
      << st.status().message();
}

TEST_F(UnpackTest, GarbageIsACleanError) {
  auto st = unpack({std::string("\x1f\x8b garbage that is not gzip", 30)});
  ASSERT_FALSE(st.isOk());
  EXPECT_EQ(st.status().code(), StatusCode::kInvalidArgument);
  auto empty = unpack({std::string()});
  EXPECT_TRUE(empty.isOk()) << empty.status().toString();
}

TEST_F(UnpackTest, ResolveInRoot) {
  ASSERT_TRUE(
      unpack({buildTar({dir("usr/bin"), file("usr/bin/scx", "ELF"), symlink("bin", "usr/bin"),
                        symlink("usr/bin/abs", "/usr/bin/scx"), symlink("esc", "../outside/secret"),
                        symlink("loop1", "loop2"), symlink("loop2", "loop1")})})
          .isOk());
  EXPECT_EQ(*resolveInRoot(root_, "/usr/bin/scx"), root_ + "/usr/bin/scx");
  EXPECT_EQ(*resolveInRoot(root_, "/bin/scx"), root_ + "/usr/bin/scx");
  EXPECT_EQ(*resolveInRoot(root_, "bin/abs"), root_ + "/usr/bin/scx");
  EXPECT_EQ(resolveInRoot(root_, "/esc").status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(resolveInRoot(root_, "/../outside/secret").status().code(),
            StatusCode::kPermissionDenied);
  EXPECT_EQ(resolveInRoot(root_, "/nope").status().code(), StatusCode::kNotFound);
  EXPECT_EQ(resolveInRoot(root_, "/loop1").status().code(), StatusCode::kPermissionDenied);
}

}  // namespace
}  // namespace schedkit::oci
