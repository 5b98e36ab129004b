#include "schedkit/kube/rate_limiter.h"

#include <gtest/gtest.h>

namespace schedkit::kube {
namespace {

using namespace std::chrono_literals;

TEST(TokenBucketTest, BurstIsFreeThenRequestsQueueAtQps) {
  SimClock clock;
  TokenBucket b(clock, 5, 3);
  EXPECT_EQ(b.reserve(), Duration::zero());
  EXPECT_EQ(b.reserve(), Duration::zero());
  EXPECT_EQ(b.reserve(), Duration::zero());
  EXPECT_EQ(b.reserve(), 200ms);
  EXPECT_EQ(b.reserve(), 400ms);  // queued behind the previous reservation
  clock.advance(400ms);
  EXPECT_EQ(b.reserve(), 200ms);
}

TEST(TokenBucketTest, RefillsUpToBurstOnly) {
  SimClock clock;
  TokenBucket b(clock, 10, 2);
  EXPECT_TRUE(b.tryTake());
  EXPECT_TRUE(b.tryTake());
  EXPECT_FALSE(b.tryTake());
  clock.advance(1h);
  EXPECT_DOUBLE_EQ(b.available(), 2.0);
  EXPECT_TRUE(b.tryTake());
  EXPECT_TRUE(b.tryTake());
  EXPECT_FALSE(b.tryTake());
  clock.advance(100ms);
  EXPECT_TRUE(b.tryTake());
}

TEST(TokenBucketTest, ZeroQpsIsUnlimited) {
  SimClock clock;
  TokenBucket b(clock, 0, 1);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(b.reserve(), Duration::zero());
  EXPECT_TRUE(b.tryTake());
}

}  // namespace
}  // namespace schedkit::kube
