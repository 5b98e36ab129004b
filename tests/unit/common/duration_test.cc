#include "schedkit/common/duration.h"

#include <gtest/gtest.h>

namespace schedkit {
namespace {

using namespace std::chrono_literals;

struct GoodCase {
  const char* in;
  Duration want;
};
class ParseDurationGood : public ::testing::TestWithParam<GoodCase> {};
TEST_P(ParseDurationGood, Parses) {
  auto r = parseDuration(GetParam().in);
  ASSERT_TRUE(r.isOk()) << r.status().toString();
  EXPECT_EQ(*r, GetParam().want);
}
INSTANTIATE_TEST_SUITE_P(
    Go, ParseDurationGood,
    ::testing::Values(GoodCase{"0", 0s}, GoodCase{"5s", 5s}, GoodCase{"10m", 10min},
                      GoodCase{"1h30m", 90min}, GoodCase{"300ms", 300ms}, GoodCase{"2.5s", 2500ms},
                      GoodCase{"1h0m0s", 1h}, GoodCase{"100us", 100us},
                      GoodCase{"100\xc2\xb5s", 100us}, GoodCase{"7ns", 7ns},
                      GoodCase{".5s", 500ms}, GoodCase{"1m30.5s", 90500ms}));

class ParseDurationBad : public ::testing::TestWithParam<const char*> {};
TEST_P(ParseDurationBad, Rejects) {
  auto r = parseDuration(GetParam());
  ASSERT_FALSE(r.isOk()) << GetParam();
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}
INSTANTIATE_TEST_SUITE_P(Go, ParseDurationBad,
                         ::testing::Values("", "5", "5 minutes", "-5s", "s", "1x", "1.s.", "1d",
                                           "ten seconds", "99999999999999h"));

TEST(FormatDurationTest, MatchesGoStyleAndRoundTrips) {
  EXPECT_EQ(formatDuration(0s), "0s");
  EXPECT_EQ(formatDuration(5s), "5s");
  EXPECT_EQ(formatDuration(10min), "10m0s");
  EXPECT_EQ(formatDuration(90min), "1h30m0s");
  EXPECT_EQ(formatDuration(250ms), "250ms");
  EXPECT_EQ(formatDuration(2500ms), "2.5s");
  EXPECT_EQ(formatDuration(1500us), "1.5ms");
  for (Duration d : {Duration(1ns), Duration(999us), Duration(61s), Duration(3h + 7ms)}) {
    auto back = parseDuration(formatDuration(d));
    ASSERT_TRUE(back.isOk()) << formatDuration(d);
    EXPECT_EQ(*back, d) << formatDuration(d);
  }
}

}  // namespace
}  // namespace schedkit
