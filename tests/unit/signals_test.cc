#include "server/core/signals.h"

#include <thread>

#include "gtest/gtest.h"

#include "tests/support/fake_clock.h"

namespace slate::core {
namespace {

using slate::testing::FakeClock;

// Waits (real time, bounded) until `n` threads wait on the clock.
bool AwaitWaiters(const FakeClock& clock, int n) {
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (clock.waiters() < n) {
    if (absl::Now() > give_up) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(SignalsTest, AWakeupNewerThanTheOneSeenEndsTheWait) {
  FakeClock clock;
  Signals signals(clock);
  uint64_t seen = signals.wake_generation();
  signals.Notify();
  EXPECT_TRUE(signals.WaitForWakeup(&seen, absl::InfiniteFuture()));  // returns at once
  EXPECT_EQ(seen, signals.wake_generation());
}

TEST(SignalsTest, AWaitEndsAtItsDeadlineInTheClocksTime) {
  FakeClock clock;
  Signals signals(clock);
  uint64_t seen = signals.wake_generation();
  const absl::Time deadline = clock.Now() + absl::Hours(1);
  std::thread waiter([&] { EXPECT_TRUE(signals.WaitForWakeup(&seen, deadline)); });
  ASSERT_TRUE(AwaitWaiters(clock, 1));
  clock.Advance(absl::Minutes(59));
  EXPECT_EQ(clock.waiters(), 1);  // not yet
  EXPECT_TRUE(clock.AdvanceToNextDeadline());
  EXPECT_EQ(clock.Now(), deadline);
  waiter.join();
  EXPECT_EQ(clock.waiters(), 0);
}

TEST(SignalsTest, AStopEndsEveryWaitAndSaysSo) {
  FakeClock clock;
  Signals signals(clock);
  int changes = 0;
  signals.set_on_change([&] { ++changes; });
  uint64_t seen = 0;
  bool woke = true;
  bool slept = true;
  std::thread a([&] { woke = signals.WaitForWakeup(&seen, absl::InfiniteFuture()); });
  std::thread b([&] { slept = signals.SleepUntil(absl::InfiniteFuture()); });
  ASSERT_TRUE(AwaitWaiters(clock, 2));
  signals.RequestStop();
  a.join();
  b.join();
  EXPECT_FALSE(woke);
  EXPECT_FALSE(slept);
  EXPECT_TRUE(signals.stopping());
  EXPECT_EQ(changes, 1);
}

TEST(SignalsTest, AWakeupDoesNotShortenASleep) {
  FakeClock clock;
  Signals signals(clock);
  const absl::Time deadline = clock.Now() + absl::Seconds(5);
  std::thread sleeper([&] { EXPECT_TRUE(signals.SleepUntil(deadline)); });
  ASSERT_TRUE(AwaitWaiters(clock, 1));
  signals.Notify();
  EXPECT_EQ(clock.waiters(), 1);  // still asleep (a backoff delay is not cut short)
  clock.Advance(absl::Seconds(5));
  sleeper.join();
}

TEST(SignalsTest, TheKnownHeadOnlyRises) {
  FakeClock clock;
  Signals signals(clock);
  int changes = 0;
  signals.set_on_change([&] { ++changes; });
  signals.NoteSourceMax(10);
  signals.NoteSourceMax(7);  // older news: ignored
  EXPECT_EQ(signals.head().max_id, 10);
  EXPECT_EQ(signals.head().newest_event_time, absl::InfinitePast());
  const absl::Time t = absl::FromUnixSeconds(1700000000);
  signals.NoteSourceHead(10, t);  // the same id, now with its time
  signals.NoteSourceHead(9, t + absl::Seconds(1));
  EXPECT_EQ(signals.head().max_id, 10);
  EXPECT_EQ(signals.head().newest_event_time, t);
  EXPECT_EQ(changes, 2);
}

}  // namespace
}  // namespace slate::core
