#include "schedkit/common/clock.h"

#include <gtest/gtest.h>

#include <vector>

namespace schedkit {
namespace {

using namespace std::chrono_literals;

TEST(SimClockTest, TimeMovesOnlyWhenAdvanced) {
  SimClock c;
  MonoTime t0 = c.now();
  WallTime w0 = c.wallNow();
  EXPECT_EQ(c.now(), t0);
  c.advance(1500ms);
  EXPECT_EQ(c.now() - t0, 1500ms);
  EXPECT_EQ(c.wallNow() - w0, 1500ms);
}

TEST(SimClockTest, FiresTimersInDeadlineOrderWithNowAtDeadline) {
  SimClock c;
  MonoTime t0 = c.now();
  std::vector<std::pair<int, Duration>> fired;
  c.callAfter(3s, [&] { fired.emplace_back(3, c.now() - t0); });
  c.callAfter(1s, [&] { fired.emplace_back(1, c.now() - t0); });
  c.callAfter(2s, [&] { fired.emplace_back(2, c.now() - t0); });
  c.advance(2500ms);
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0], std::make_pair(1, Duration(1s)));
  EXPECT_EQ(fired[1], std::make_pair(2, Duration(2s)));
  EXPECT_EQ(c.now() - t0, 2500ms);
  c.advance(1s);
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[2], std::make_pair(3, Duration(3s)));
}

TEST(SimClockTest, EqualDeadlinesFireInInsertionOrder) {
  SimClock c;
  std::vector<int> order;
  for (int i = 0; i < 5; ++i) c.callAfter(1s, [&order, i] { order.push_back(i); });
  c.advance(1s);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4}));
}

TEST(SimClockTest, CancelledTimerNeverFires) {
  SimClock c;
  bool fired = false;
  TimerId id = c.callAfter(1s, [&] { fired = true; });
  c.cancel(id);
  c.cancel(id);      // twice is harmless
  c.cancel(99999);   // unknown is harmless
  c.advance(10s);
  EXPECT_FALSE(fired);
  EXPECT_EQ(c.pendingTimers(), 0u);
}

TEST(SimClockTest, TimerAddedByCallbackFiresInSameAdvanceWhenDue) {
  SimClock c;
  MonoTime t0 = c.now();
  std::vector<Duration> at;
  c.callAfter(1s, [&] {
    at.push_back(c.now() - t0);
    c.callAfter(1s, [&] { at.push_back(c.now() - t0); });
  });
  c.advance(5s);
  EXPECT_EQ(at, (std::vector<Duration>{1s, 2s}));
}

TEST(SimClockTest, AdvanceToNextTimerJumpsExactly) {
  SimClock c;
  MonoTime t0 = c.now();
  int n = 0;
  c.callAfter(42s, [&] { ++n; });
  EXPECT_TRUE(c.advanceToNextTimer());
  EXPECT_EQ(n, 1);
  EXPECT_EQ(c.now() - t0, 42s);
  EXPECT_FALSE(c.advanceToNextTimer());
}

TEST(SimClockTest, ZeroOrNegativeDelayFiresOnNextAdvance) {
  SimClock c;
  int n = 0;
  c.callAfter(-5s, [&] { ++n; });
  c.callAfter(0s, [&] { ++n; });
  EXPECT_EQ(n, 0);  // never synchronously
  c.advance(0s);
  EXPECT_EQ(n, 2);
}

TEST(TimerQueueTest, RunDueRunsOnlyDue) {
  TimerQueue q;
  MonoTime base(std::chrono::seconds(100));
  int a = 0, b = 0;
  q.add(base + 1s, [&] { ++a; });
  q.add(base + 5s, [&] { ++b; });
  EXPECT_EQ(q.runDue(base + 2s), 1);
  EXPECT_EQ(a, 1);
  EXPECT_EQ(b, 0);
  EXPECT_EQ(*q.nextDeadline(), base + 5s);
}

TEST(FormatTimeTest, Rfc3339) {
  WallTime t = WallTime(std::chrono::seconds(1'764'129'277)) + std::chrono::microseconds(123456);
  EXPECT_EQ(formatRfc3339(t), "2025-11-26T03:54:37Z");
  EXPECT_EQ(formatRfc3339Micro(t), "2025-11-26T03:54:37.123456Z");
}

}  // namespace
}  // namespace schedkit

namespace schedkit {
namespace {
TEST(Rfc3339Test, ParsesWhatItFormats) {
  WallTime t = WallTime(std::chrono::seconds(1'750'000'000)) + std::chrono::microseconds(123456);
  auto back = parseRfc3339(formatRfc3339Micro(t));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(*back, t);
  auto secs = parseRfc3339(formatRfc3339(t));
  ASSERT_TRUE(secs.has_value());
  EXPECT_EQ(*secs, WallTime(std::chrono::seconds(1'750'000'000)));
}

TEST(Rfc3339Test, HonoursOffsetsAndRejectsGarbage) {
  auto utc = parseRfc3339("2026-12-03T10:00:00Z");
  auto off = parseRfc3339("2026-12-03T11:30:00+01:30");
  ASSERT_TRUE(utc && off);
  EXPECT_EQ(*utc, *off);
  for (const char* bad : {"", "2026-12-03", "2026-12-03T10:00:00", "2026-12-03T10:00:00Zjunk",
                          "2026-12-03T10:00:00.Z", "yesterday"}) {
    EXPECT_FALSE(parseRfc3339(bad).has_value()) << bad;
  }
}
}  // namespace
}  // namespace schedkit
