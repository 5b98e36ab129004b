#include "schedkit/oci/reference.h"

#include <gtest/gtest.h>

namespace schedkit::oci {
namespace {

struct RefCase {
  std::string in;
  std::string registry, repository, tag, digest, normalised;
};

class ParseReferenceTest : public ::testing::TestWithParam<RefCase> {};

const std::string kHex = std::string(64, 'a');

TEST_P(ParseReferenceTest, Normalises) {
  const auto& c = GetParam();
  auto r = parseReference(c.in);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(r->registry, c.registry);
  EXPECT_EQ(r->repository, c.repository);
  EXPECT_EQ(r->tag, c.tag);
  EXPECT_EQ(r->digest.toString(), c.digest);
  EXPECT_EQ(r->toString(), c.normalised);
}

INSTANTIATE_TEST_SUITE_P(
    Cases, ParseReferenceTest,
    ::testing::Values(
        RefCase{"ubuntu", "docker.io", "library/ubuntu", "latest", "",
                "docker.io/library/ubuntu:latest"},
        RefCase{"scx/lavd:1.0", "docker.io", "scx/lavd", "1.0", "", "docker.io/scx/lavd:1.0"},
        RefCase{"index.docker.io/library/busybox:1", "docker.io", "library/busybox", "1", "",
                "docker.io/library/busybox:1"},
        RefCase{"registry:5000/team/img:v1", "registry:5000", "team/img", "v1", "",
                "registry:5000/team/img:v1"},
        RefCase{"localhost/img", "localhost", "img", "latest", "", "localhost/img:latest"},
        RefCase{"127.0.0.1:5000/a/b/c@sha256:" + kHex, "127.0.0.1:5000", "a/b/c", "",
                "sha256:" + kHex, "127.0.0.1:5000/a/b/c@sha256:" + kHex},
        RefCase{"ghcr.io/x/y:v2@sha256:" + kHex, "ghcr.io", "x/y", "v2", "sha256:" + kHex,
                "ghcr.io/x/y:v2@sha256:" + kHex},
        RefCase{"[::1]:5000/img:t", "[::1]:5000", "img", "t", "", "[::1]:5000/img:t"}));

TEST(ParseReference, RejectsBadInput) {
  for (const char* bad : {"", "UPPER/case", "img:bad tag", "img@sha256:abc",
                          "img@md5:", "https://reg/img", "reg:5000/", "a//b", "img:", "-img"}) {
    auto r = parseReference(bad);
    EXPECT_FALSE(r.isOk()) << bad;
    if (!r.isOk()) {
      EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << bad;
    }
  }
}

TEST(ParseReference, OciLayoutPaths) {
  auto r = parseReference("oci:/tmp/layout:v1");
  ASSERT_TRUE(r.isOk());
  EXPECT_TRUE(r->isLayout());
  EXPECT_EQ(r->layoutPath, "/tmp/layout");
  EXPECT_EQ(r->tag, "v1");
  auto r2 = parseReference("oci:./rel/dir");
  ASSERT_TRUE(r2.isOk());
  EXPECT_EQ(r2->layoutPath, "./rel/dir");
  EXPECT_EQ(r2->tag, "");
  auto r3 = parseReference("oci:/x@sha256:" + kHex);
  ASSERT_TRUE(r3.isOk());
  EXPECT_TRUE(r3->pinned());
  EXPECT_EQ(r3->toString(), "oci:/x@sha256:" + kHex);
}

TEST(Reference, ApiHostAndPinning) {
  auto r = *parseReference("ubuntu:22.04");
  EXPECT_EQ(r.apiHost(), "registry-1.docker.io");
  EXPECT_EQ(r.tagOrDigest(), "22.04");
  auto p = r.withDigest(*Digest::parse("sha256:" + kHex));
  EXPECT_EQ(p.toString(), "docker.io/library/ubuntu@sha256:" + kHex);
  EXPECT_EQ(p.tagOrDigest(), "sha256:" + kHex);
}

TEST(Reference, LoopbackHosts) {
  EXPECT_TRUE(isLoopbackHost("127.0.0.1:5000"));
  EXPECT_TRUE(isLoopbackHost("127.1.2.3"));
  EXPECT_TRUE(isLoopbackHost("localhost:80"));
  EXPECT_TRUE(isLoopbackHost("[::1]:5000"));
  EXPECT_FALSE(isLoopbackHost("10.0.2.2:5000"));
  EXPECT_FALSE(isLoopbackHost("registry.example.com"));
  EXPECT_FALSE(isLoopbackHost("128.0.0.1"));
}

TEST(Digest, ParseAndHash) {
  EXPECT_EQ(Digest::of("").toString(),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  Sha256 h;
  h.update("hel");
  h.update("lo");
  EXPECT_EQ(h.finish(), Digest::of("hello"));
  EXPECT_FALSE(Digest::parse("sha256:" + std::string(63, 'a')).isOk());
  EXPECT_FALSE(Digest::parse("sha256:" + std::string(64, 'A')).isOk());
  EXPECT_FALSE(Digest::parse("sha512:" + std::string(128, 'a')).isOk());
  auto st = verifyDigest("blob", Digest::of("a"), Digest::of("b"));
  EXPECT_EQ(st.code(), StatusCode::kDataLoss);
  EXPECT_NE(st.message().find("digest mismatch"), std::string::npos);
}

}  // namespace
}  // namespace schedkit::oci
