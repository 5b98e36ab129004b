// Every sample in crds/samples must parse; every sample in crds/samples/invalid must be rejected
// with the message its `# expect-error:` header names. The same files are applied to a real
// kube-apiserver by the integration tests (their `# expect-server-error:` header).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "schedkit/policy/decode.h"
#include "schedkit/policy/encode.h"

namespace schedkit::policy {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> yamlFiles(const std::string& dir) {
  std::vector<std::string> out;
  if (!fs::is_directory(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file() && e.path().extension() == ".yaml") out.push_back(e.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const std::string kSamples = std::string(SCHEDKIT_SOURCE_DIR) + "/crds/samples";

std::string testName(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = fs::path(info.param).stem().string();
  for (auto& c : n) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return n;
}

class ValidSample : public ::testing::TestWithParam<std::string> {};

TEST_P(ValidSample, ParsesAndRoundTrips) {
  auto r = parsePolicies(slurp(GetParam()));
  ASSERT_TRUE(r.isOk()) << GetParam() << ": " << r.status().toString();
  ASSERT_FALSE(r->empty());
  for (const auto& p : *r) {
    auto back = decodePolicy(encodePolicy(p));
    ASSERT_TRUE(back.isOk()) << back.status().toString();
    EXPECT_EQ(*back, p);
  }
}

INSTANTIATE_TEST_SUITE_P(Crds, ValidSample, ::testing::ValuesIn(yamlFiles(kSamples)), testName);

class InvalidSample : public ::testing::TestWithParam<std::string> {};

TEST_P(InvalidSample, RejectedWithExpectedMessage) {
  std::string content = slurp(GetParam());
  std::vector<std::string> expected;
  std::istringstream lines(content);
  for (std::string line; std::getline(lines, line);) {
    const std::string tag = "# expect-error:";
    if (line.rfind(tag, 0) == 0) {
      std::string e = line.substr(tag.size());
      e.erase(0, e.find_first_not_of(' '));
      expected.push_back(e);
    }
  }
  ASSERT_FALSE(expected.empty()) << GetParam() << " has no '# expect-error:' header";
  auto r = parsePolicies(content);
  ASSERT_FALSE(r.isOk()) << GetParam() << " was accepted";
  for (const auto& e : expected) {
    EXPECT_NE(r.status().message().find(e), std::string::npos)
        << GetParam() << "\n  want: " << e << "\n  got:  " << r.status().message();
  }
}

INSTANTIATE_TEST_SUITE_P(Crds, InvalidSample, ::testing::ValuesIn(yamlFiles(kSamples + "/invalid")),
                         testName);

TEST(SamplesTest, TheSampleSetIsComplete) {
  // Guards the parameterised suites above against silently running zero cases.
  EXPECT_GE(yamlFiles(kSamples).size(), 5u);
  EXPECT_GE(yamlFiles(kSamples + "/invalid").size(), 10u);
}

}  // namespace
}  // namespace schedkit::policy
