#include "schedkit/oci/auth.h"

#include <gtest/gtest.h>

namespace schedkit::oci {
namespace {

TEST(WwwAuthenticate, BearerChallenge) {
  auto c = parseWwwAuthenticate(
      R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull")");
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].scheme, "bearer");
  EXPECT_EQ(c[0].param("realm"), "https://auth.docker.io/token");
  EXPECT_EQ(c[0].param("service"), "registry.docker.io");
  EXPECT_EQ(c[0].param("scope"), "repository:library/ubuntu:pull");
}

TEST(WwwAuthenticate, SeveralChallengesQuotesAndCase) {
  auto c = parseWwwAuthenticate(
      R"(Basic realm="a \"quoted\" realm", BEARER Realm=https://x/t, error="insufficient_scope")");
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0].scheme, "basic");
  EXPECT_EQ(c[0].param("realm"), "a \"quoted\" realm");
  EXPECT_EQ(c[1].scheme, "bearer");
  EXPECT_EQ(c[1].param("realm"), "https://x/t");
  EXPECT_EQ(c[1].param("error"), "insufficient_scope");
}

TEST(WwwAuthenticate, GarbageDoesNotCrash) {
  for (const char* s :
       {"", ",,,", "=", "Bearer realm=\"unterminated", "\"\"\"", "Bearer ,realm=x"}) {
    (void)parseWwwAuthenticate(s);
  }
}

TEST(TokenResponse, TokenOrAccessToken) {
  EXPECT_EQ(parseTokenResponse(R"({"token":"a","expires_in":300})")->expiresIn, 300);
  EXPECT_EQ(parseTokenResponse(R"({"access_token":"b"})")->token, "b");
  EXPECT_EQ(parseTokenResponse(R"({"access_token":"b"})")->expiresIn, 60);
  EXPECT_FALSE(parseTokenResponse(R"({"expires_in":3})").isOk());
  EXPECT_FALSE(parseTokenResponse("nope").isOk());
}

}  // namespace
}  // namespace schedkit::oci
