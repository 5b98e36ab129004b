#include <gtest/gtest.h>

#include "schedkit/policy/decode.h"

namespace schedkit::policy {
namespace {

using nlohmann::json;

json one(const std::string& y) {
  auto r = yamlToJson(y);
  EXPECT_TRUE(r.isOk()) << r.status().toString();
  return r.isOk() && !r->empty() ? r->front() : json();
}

TEST(YamlTest, PlainScalarsResolveLikeKubectl) {
  json j = one(R"(
i: 42
neg: -7
f: 2.5
t: true
yes_: yes
off_: off
n: null
tilde: ~
empty:
s: hello
quoted_num: "42"
quoted_bool: 'true'
pct: 10%
ver: 1.0.6
hex: 0x1F
)");
  EXPECT_EQ(j["i"], 42);
  EXPECT_EQ(j["neg"], -7);
  EXPECT_DOUBLE_EQ(j["f"].get<double>(), 2.5);
  EXPECT_EQ(j["t"], true);
  EXPECT_EQ(j["yes_"], true);
  EXPECT_EQ(j["off_"], false);
  EXPECT_TRUE(j["n"].is_null());
  EXPECT_TRUE(j["tilde"].is_null());
  EXPECT_TRUE(j["empty"].is_null());
  EXPECT_EQ(j["s"], "hello");
  EXPECT_EQ(j["quoted_num"], "42");
  EXPECT_EQ(j["quoted_bool"], "true");
  EXPECT_EQ(j["pct"], "10%");
  EXPECT_EQ(j["ver"], "1.0.6");
  EXPECT_EQ(j["hex"], 31);
}

TEST(YamlTest, SyntaxErrorsCarryLineAndColumn) {
  auto r = yamlToJson("a: b\nc: [unclosed\n");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("invalid YAML: line "), std::string::npos)
      << r.status().message();
}

TEST(YamlTest, DuplicateKeysRejected) {
  auto r = yamlToJson("spec:\n  priority: 1\n  priority: 2\n");
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("duplicate key \"priority\" at line 3"), std::string::npos)
      << r.status().message();
}

TEST(YamlTest, AliasBombIsRefused) {
  std::string y = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 9; ++i) {
    y += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) y += std::string(k ? ", " : "") + "*a" + std::to_string(i - 1);
    y += "]\n";
  }
  auto r = yamlToJson(y);
  ASSERT_FALSE(r.isOk());
  EXPECT_NE(r.status().message().find("too large"), std::string::npos) << r.status().message();
}

TEST(YamlTest, DeepNestingIsRefused) {
  std::string y(200, '[');
  y += std::string(200, ']');
  EXPECT_FALSE(yamlToJson(y).isOk());
}

TEST(YamlTest, NonStringKeysRejectedAndCustomTagsRefused) {
  EXPECT_FALSE(yamlToJson("? [a, b]\n: c\n").isOk());
  EXPECT_FALSE(yamlToJson("a: !custom x\n").isOk());
}

TEST(YamlTest, EmptyDocumentsSkipped) {
  auto r = yamlToJson("---\n---\na: 1\n---\n");
  ASSERT_TRUE(r.isOk());
  EXPECT_EQ(r->size(), 1u);
}

}  // namespace
}  // namespace schedkit::policy
