#include "schedkit/net/http.h"

#include <gtest/gtest.h>

namespace schedkit::net {
namespace {

TEST(HeadersTest, NamesAreCaseInsensitive) {
  Headers h;
  h.set("Content-Type", "application/json");
  EXPECT_EQ(h.get("content-type"), "application/json");
  EXPECT_EQ(h.get("CONTENT-TYPE"), "application/json");
  EXPECT_EQ(h.all().begin()->first, "content-type");
}

TEST(HeadersTest, SetReplacesAndAddAppends) {
  Headers h;
  h.add("Warning", "a");
  h.add("warning", "b");
  EXPECT_EQ(h.getAll("WARNING"), (std::vector<std::string>{"a", "b"}));
  h.set("Warning", "c");
  EXPECT_EQ(h.getAll("warning"), (std::vector<std::string>{"c"}));
  h.remove("WARNING");
  EXPECT_FALSE(h.get("warning").has_value());
  EXPECT_TRUE(h.empty());
}

TEST(CancelTokenTest, RunsCallbacksOnceAndAtOnceWhenAlreadyCancelled) {
  CancelToken t;
  int ran = 0;
  auto id = t.onCancel([&] { ++ran; });
  auto removed = t.onCancel([&] { ran += 100; });
  t.removeCallback(removed);
  EXPECT_FALSE(t.cancelled());
  t.cancel();
  t.cancel();
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(ran, 1);
  EXPECT_NE(id, 0u);
  t.onCancel([&] { ran += 10; });
  EXPECT_EQ(ran, 11);
}

struct EncodeCase {
  std::string in, out;
};
class UrlEncodeTest : public ::testing::TestWithParam<EncodeCase> {};
TEST_P(UrlEncodeTest, KeepsUnreservedOnly) { EXPECT_EQ(urlEncode(GetParam().in), GetParam().out); }
INSTANTIATE_TEST_SUITE_P(Cases, UrlEncodeTest,
                         ::testing::Values(EncodeCase{"abcXYZ019-._~", "abcXYZ019-._~"},
                                           EncodeCase{"", ""}, EncodeCase{"a b", "a%20b"},
                                           EncodeCase{
                                               "schedkit.io/pool=latency,env!=dev",
                                               "schedkit.io%2Fpool%3Dlatency%2Cenv%21%3Ddev"},
                                           EncodeCase{"metadata.name=n-1", "metadata.name%3Dn-1"},
                                           EncodeCase{"\xc3\xa9+", "%C3%A9%2B"}));

struct ParseCase {
  std::string url;
  bool ok;
  std::string scheme, host;
  int port;
  std::string path, query, origin;
};
class ParseUrlTest : public ::testing::TestWithParam<ParseCase> {};
TEST_P(ParseUrlTest, Parses) {
  const auto& c = GetParam();
  auto u = parseUrl(c.url);
  ASSERT_EQ(u.isOk(), c.ok) << u.status().toString();
  if (!c.ok) {
    EXPECT_EQ(u.status().code(), StatusCode::kInvalidArgument);
    return;
  }
  EXPECT_EQ(u->scheme, c.scheme);
  EXPECT_EQ(u->host, c.host);
  EXPECT_EQ(u->port, c.port);
  EXPECT_EQ(u->path, c.path);
  EXPECT_EQ(u->query, c.query);
  EXPECT_EQ(u->origin(), c.origin);
}
INSTANTIATE_TEST_SUITE_P(
    Cases, ParseUrlTest,
    ::testing::Values(
        ParseCase{"https://127.0.0.1:6443/api/v1/nodes?watch=1&rv=5", true, "https", "127.0.0.1",
                  6443, "/api/v1/nodes", "watch=1&rv=5", "https://127.0.0.1:6443"},
        ParseCase{"HTTPS://Registry.Example.com/v2/", true, "https", "registry.example.com", 443,
                  "/v2/", "", "https://registry.example.com:443"},
        ParseCase{"http://localhost", true, "http", "localhost", 80, "/", "",
                  "http://localhost:80"},
        ParseCase{"http://h:5000?x=1#frag", true, "http", "h", 5000, "/", "x=1", "http://h:5000"},
        ParseCase{"https://[::1]:8443/readyz", true, "https", "::1", 8443, "/readyz", "",
                  "https://[::1]:8443"},
        ParseCase{"/api/v1", false, "", "", 0, "", "", ""},
        ParseCase{"https://", false, "", "", 0, "", "", ""},
        ParseCase{"https://h:99999/", false, "", "", 0, "", "", ""},
        ParseCase{"https://h:12ab/", false, "", "", 0, "", "", ""},
        ParseCase{"https://user:pw@h/", false, "", "", 0, "", "", ""},
        ParseCase{"ftp://h/", false, "", "", 0, "", "", ""}));

TEST(UrlTest, TargetJoinsPathAndQuery) {
  auto u = parseUrl("https://h/a/b?c=d");
  ASSERT_TRUE(u.isOk());
  EXPECT_EQ(u->target(), "/a/b?c=d");
  u->query.clear();
  EXPECT_EQ(u->target(), "/a/b");
}

struct ResolveCase {
  std::string base, ref, want;
};
class ResolveUrlTest : public ::testing::TestWithParam<ResolveCase> {};
TEST_P(ResolveUrlTest, Resolves) {
  EXPECT_EQ(resolveUrl(GetParam().base, GetParam().ref), GetParam().want);
}
// RFC 3986 section 5.4 examples, plus the shapes registries send in Location.
INSTANTIATE_TEST_SUITE_P(
    Cases, ResolveUrlTest,
    ::testing::Values(
        ResolveCase{"http://a/b/c/d;p?q", "g", "http://a/b/c/g"},
        ResolveCase{"http://a/b/c/d;p?q", "./g", "http://a/b/c/g"},
        ResolveCase{"http://a/b/c/d;p?q", "g/", "http://a/b/c/g/"},
        ResolveCase{"http://a/b/c/d;p?q", "/g", "http://a/g"},
        ResolveCase{"http://a/b/c/d;p?q", "//g", "http://g"},
        ResolveCase{"http://a/b/c/d;p?q", "?y", "http://a/b/c/d;p?y"},
        ResolveCase{"http://a/b/c/d;p?q", "g?y", "http://a/b/c/g?y"},
        ResolveCase{"http://a/b/c/d;p?q", "..", "http://a/b/"},
        ResolveCase{"http://a/b/c/d;p?q", "../g", "http://a/b/g"},
        ResolveCase{"http://a/b/c/d;p?q", "../../g", "http://a/g"},
        ResolveCase{"http://a/b/c/d;p?q", "../../../g", "http://a/g"},
        ResolveCase{"http://a/b/c/d;p?q", "g#s", "http://a/b/c/g#s"},
        ResolveCase{"http://a/b/c/d;p?q", "https://other:9/x", "https://other:9/x"},
        ResolveCase{"https://127.0.0.1:5000/v2/r/blobs/sha256:ab", "/v2/r/blobs/uploads/?x=1",
                    "https://127.0.0.1:5000/v2/r/blobs/uploads/?x=1"},
        ResolveCase{"https://reg/v2/r/blobs/uploads/", "", "https://reg/v2/r/blobs/uploads/"}));

}  // namespace
}  // namespace schedkit::net
