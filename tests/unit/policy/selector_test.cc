#include "schedkit/policy/selector.h"

#include <gtest/gtest.h>

#include "schedkit/policy/decode.h"

namespace schedkit::policy {
namespace {

using nlohmann::json;

struct SelectorCase {
  const char* name;
  const char* selector;  // JSON metav1.LabelSelector
  Labels labels;
  bool want;
};

class SelectorSemantics : public ::testing::TestWithParam<SelectorCase> {};

TEST_P(SelectorSemantics, MatchesLikeKubernetes) {
  const auto& c = GetParam();
  auto sel = decodeLabelSelector(json::parse(c.selector));
  ASSERT_TRUE(sel.isOk()) << sel.status().toString();
  EXPECT_EQ(matches(*sel, c.labels), c.want) << c.name << " selector=" << toString(*sel);
}

const Labels kLatency = {{"schedkit.io/pool", "latency"}, {"kubernetes.io/arch", "amd64"}};

INSTANTIATE_TEST_SUITE_P(
    Rules, SelectorSemantics,
    ::testing::Values(
        SelectorCase{"empty selector matches all", "{}", kLatency, true},
        SelectorCase{"empty selector matches unlabelled node", "{}", {}, true},
        SelectorCase{"matchLabels equal", R"({"matchLabels":{"schedkit.io/pool":"latency"}})",
                     kLatency, true},
        SelectorCase{"matchLabels value differs", R"({"matchLabels":{"schedkit.io/pool":"batch"}})",
                     kLatency, false},
        SelectorCase{"matchLabels key missing", R"({"matchLabels":{"zone":"a"}})", kLatency, false},
        SelectorCase{"matchLabels all must hold",
                     R"({"matchLabels":{"schedkit.io/pool":"latency","kubernetes.io/arch":"arm64"}})",
                     kLatency, false},
        SelectorCase{"matchLabels empty value matches empty label", R"({"matchLabels":{"gpu":""}})",
                     Labels{{"gpu", ""}}, true},
        SelectorCase{"In with value present",
                     R"({"matchExpressions":[{"key":"schedkit.io/pool","operator":"In","values":["batch","latency"]}]})",
                     kLatency, true},
        SelectorCase{"In with other value",
                     R"({"matchExpressions":[{"key":"schedkit.io/pool","operator":"In","values":["batch"]}]})",
                     kLatency, false},
        SelectorCase{"In with key absent",
                     R"({"matchExpressions":[{"key":"zone","operator":"In","values":["a"]}]})",
                     kLatency, false},
        SelectorCase{"NotIn with key absent matches",
                     R"({"matchExpressions":[{"key":"zone","operator":"NotIn","values":["a"]}]})",
                     kLatency, true},
        SelectorCase{"NotIn with listed value",
                     R"({"matchExpressions":[{"key":"schedkit.io/pool","operator":"NotIn","values":["latency"]}]})",
                     kLatency, false},
        SelectorCase{"NotIn with other value",
                     R"({"matchExpressions":[{"key":"schedkit.io/pool","operator":"NotIn","values":["batch"]}]})",
                     kLatency, true},
        SelectorCase{"Exists present",
                     R"({"matchExpressions":[{"key":"kubernetes.io/arch","operator":"Exists"}]})",
                     kLatency, true},
        SelectorCase{"Exists absent", R"({"matchExpressions":[{"key":"gpu","operator":"Exists"}]})",
                     kLatency, false},
        SelectorCase{"Exists with empty value", R"({"matchExpressions":[{"key":"gpu","operator":"Exists"}]})",
                     Labels{{"gpu", ""}}, true},
        SelectorCase{"DoesNotExist absent",
                     R"({"matchExpressions":[{"key":"gpu","operator":"DoesNotExist"}]})", kLatency, true},
        SelectorCase{"DoesNotExist present",
                     R"({"matchExpressions":[{"key":"schedkit.io/pool","operator":"DoesNotExist"}]})",
                     kLatency, false},
        SelectorCase{"labels and expressions ANDed",
                     R"({"matchLabels":{"kubernetes.io/arch":"amd64"},"matchExpressions":[{"key":"gpu","operator":"Exists"}]})",
                     kLatency, false},
        SelectorCase{"values are case sensitive",
                     R"({"matchLabels":{"schedkit.io/pool":"Latency"}})", kLatency, false}),
    [](const auto& param_info) {
      std::string n = param_info.param.name;
      for (auto& ch : n) {
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      }
      return n;
    });

struct BadSelector {
  const char* selector;
  const char* wantError;
};
class SelectorValidation : public ::testing::TestWithParam<BadSelector> {};

TEST_P(SelectorValidation, RejectsWithPath) {
  auto sel = decodeLabelSelector(json::parse(GetParam().selector));
  ASSERT_FALSE(sel.isOk());
  EXPECT_NE(sel.status().message().find(GetParam().wantError), std::string::npos)
      << sel.status().message();
}

INSTANTIATE_TEST_SUITE_P(
    Rules, SelectorValidation,
    ::testing::Values(
        BadSelector{R"({"matchExpressions":[{"key":"a","operator":"Maybe","values":["x"]}]})",
                    R"(matchExpressions[0].operator: unsupported value "Maybe")"},
        BadSelector{R"({"matchExpressions":[{"key":"a","operator":"In"}]})",
                    "matchExpressions[0].values: must be non-empty when operator is In or NotIn"},
        BadSelector{R"({"matchExpressions":[{"key":"a","operator":"NotIn","values":[]}]})",
                    "must be non-empty when operator is In or NotIn"},
        BadSelector{R"({"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]})",
                    "must be empty when operator is Exists or DoesNotExist"},
        BadSelector{R"({"matchExpressions":[{"operator":"Exists"}]})", "matchExpressions[0].key: required"},
        BadSelector{R"({"matchLabels":{"bad key!":"x"}})", "invalid label key"},
        BadSelector{R"({"matchLabels":{"Example.COM/x":"y"}})", "prefix must be a lowercase RFC 1123"},
        BadSelector{R"({"matchLabels":{"a":"-leading-dash"}})", "invalid label value"},
        BadSelector{R"({"matchLabels":{"a":1}})", "matchLabels.a: must be a string"},
        BadSelector{R"({"matchLabel":{"a":"b"}})", "did you mean \"matchLabels\""}));

TEST(SelectorToString, KubectlForm) {
  auto sel = decodeLabelSelector(json::parse(
      R"({"matchLabels":{"a":"b"},"matchExpressions":[{"key":"c","operator":"In","values":["x","y"]},{"key":"d","operator":"DoesNotExist"}]})"));
  ASSERT_TRUE(sel.isOk());
  EXPECT_EQ(toString(*sel), "a=b,c in (x,y),!d");
}

TEST(ParseLabels, AcceptsListAndRejectsBadEntries) {
  auto l = parseLabels("schedkit.io/pool=latency,kubernetes.io/hostname=node-a,empty=");
  ASSERT_TRUE(l.isOk()) << l.status().toString();
  EXPECT_EQ(l->at("schedkit.io/pool"), "latency");
  EXPECT_EQ(l->at("empty"), "");
  EXPECT_TRUE(parseLabels("").isOk());
  EXPECT_NE(parseLabels("novalue").status().message().find("expected key=value"), std::string::npos);
  EXPECT_NE(parseLabels("a=1,a=2").status().message().find("given twice"), std::string::npos);
  EXPECT_FALSE(parseLabels("a=b c").isOk());
}

}  // namespace
}  // namespace schedkit::policy
