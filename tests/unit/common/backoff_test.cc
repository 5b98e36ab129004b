#include <gtest/gtest.h>

#include "fakes/fixed_random.h"
#include "schedkit/common/random.h"

namespace schedkit {
namespace {

using namespace std::chrono_literals;

TEST(BackoffTest, DoublesUpToMaxWithoutJitter) {
  FixedRandom rnd(0);
  Backoff b({.initial = 5s, .max = 30s, .factor = 2.0, .jitter = 0.0});
  std::vector<Duration> got;
  for (int i = 0; i < 6; ++i) got.push_back(b.next(rnd));
  EXPECT_EQ(got, (std::vector<Duration>{5s, 10s, 20s, 30s, 30s, 30s}));
  b.reset();
  EXPECT_EQ(b.next(rnd), 5s);
}

TEST(BackoffTest, JitterScalesDownWithinBound) {
  // unit() == 0.5 with jitter 0.2 → factor 0.9.
  FixedRandom rnd(std::uint64_t{1} << 63);
  Backoff b({.initial = 10s, .max = 1min, .factor = 2.0, .jitter = 0.2});
  EXPECT_EQ(b.next(rnd), 9s);
  EXPECT_EQ(b.next(rnd), 18s);
}

TEST(BackoffTest, RealRandomStaysWithinJitterRange) {
  RealRandom rnd(42);
  Backoff b({.initial = 1s, .max = 1s, .factor = 2.0, .jitter = 0.5});
  for (int i = 0; i < 1000; ++i) {
    Duration d = b.next(rnd);
    ASSERT_GE(d, 500ms);
    ASSERT_LE(d, 1s);
  }
}

}  // namespace
}  // namespace schedkit
