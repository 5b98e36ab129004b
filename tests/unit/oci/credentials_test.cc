#include "schedkit/oci/credentials.h"

#include <gtest/gtest.h>

namespace schedkit::oci {
namespace {

TEST(Base64, RoundTrip) {
  for (const std::string& s : std::vector<std::string>{"", "a", "ab", "abc", "alice:secret",
                                                       std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(*base64Decode(base64Encode(s)), s);
  }
  EXPECT_EQ(base64Encode("alice:secret"), "YWxpY2U6c2VjcmV0");
  EXPECT_FALSE(base64Decode("!!!").isOk());
  EXPECT_FALSE(base64Decode("YQ==YQ").isOk());
}

TEST(Keychain, DockerConfigAuthAndUsernamePassword) {
  Keychain k;
  ASSERT_TRUE(k.addDockerConfigJson(R"({"auths":{
      "https://index.docker.io/v1/":{"auth":"YWxpY2U6c2VjcmV0"},
      "reg.example.com:5000":{"username":"bob","password":"pw"},
      "https://reg.example.com:5000/team":{"auth":"dGVhbTp0cA=="},
      "*.corp.example":{"auth":"d2lsZDpjYXJk"},
      "tok.example":{"registrytoken":"raw-token"}}})")
                  .isOk());
  EXPECT_EQ(k.lookup("docker.io", "library/ubuntu")->username, "alice");
  EXPECT_EQ(k.lookup("docker.io", "library/ubuntu")->password, "secret");
  EXPECT_EQ(k.lookup("reg.example.com:5000", "other/img")->username, "bob");
  EXPECT_EQ(k.lookup("reg.example.com:5000", "team/img")->username, "team");  // longer path wins
  EXPECT_EQ(k.lookup("reg.example.com:5000", "teamx/img")->username, "bob");  // not a prefix
  EXPECT_FALSE(k.lookup("reg.example.com", "team/img"));                      // port differs
  EXPECT_EQ(k.lookup("a.corp.example", "x")->username, "wild");
  EXPECT_FALSE(k.lookup("a.b.corp.example", "x"));  // wildcard covers one label
  EXPECT_EQ(k.lookup("tok.example", "x")->registryToken, "raw-token");
  EXPECT_FALSE(k.lookup("nowhere.example", "x"));
}

TEST(Keychain, PullSecretPayload) {
  Keychain k;
  std::string cfg = R"({"auths":{"127.0.0.1:5000":{"auth":")" + base64Encode("u:p") + R"("}}})";
  ASSERT_TRUE(k.addPullSecretData({{".dockerconfigjson", base64Encode(cfg)}}).isOk());
  EXPECT_EQ(k.lookup("127.0.0.1:5000", "a")->password, "p");
  Keychain legacy;
  ASSERT_TRUE(legacy
                  .addPullSecretData({{".dockercfg", base64Encode(R"({"h:1":{"auth":")" +
                                                                  base64Encode("x:y") + R"("}})")}})
                  .isOk());
  EXPECT_EQ(legacy.lookup("h:1", "r")->username, "x");
}

TEST(Keychain, ErrorsAreClear) {
  Keychain k;
  EXPECT_NE(k.addDockerConfigJson("[]").message().find("not a JSON object"), std::string::npos);
  EXPECT_NE(k.addDockerConfigJson(R"({"auths":{"h":{"auth":"bm9jb2xvbg=="}}})")
                .message()
                .find("user:password"),
            std::string::npos);
  EXPECT_NE(k.addDockerConfigJson(R"({"auths":{"h":{"auth":"***"}}})").message().find("base64"),
            std::string::npos);
  EXPECT_FALSE(k.addPullSecretData({{"other", "x"}}).isOk());
  EXPECT_FALSE(k.addDockerConfigJson(R"({"auths":{"h":{"username":5}}})").isOk() &&
               k.lookup("h", "r")->username == "5");
}

}  // namespace
}  // namespace schedkit::oci
