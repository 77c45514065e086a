#include "server/core/catch_up.h"

#include "gtest/gtest.h"

namespace slate::core {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);

TEST(CatchUpTrackerTest, StartsOnceAndSummarisesWhatItCopied) {
  CatchUpTracker t;
  EXPECT_FALSE(t.active());
  EXPECT_TRUE(t.Start(kT0, 100));
  EXPECT_FALSE(t.Start(kT0 + absl::Seconds(1), 200));  // already running: the first start counts
  EXPECT_TRUE(t.active());
  const auto s = t.Finish(kT0 + absl::Seconds(4), 2100);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->events, 2000);
  EXPECT_DOUBLE_EQ(s->seconds, 4.0);
  EXPECT_DOUBLE_EQ(s->events_per_second, 500.0);
  EXPECT_FALSE(t.active());
  EXPECT_FALSE(t.Finish(kT0 + absl::Seconds(5), 2100).has_value());  // none running
}

TEST(CatchUpTrackerTest, NothingCopiedGivesNoSummary) {
  CatchUpTracker t;
  t.Start(kT0, 50);
  EXPECT_FALSE(t.Finish(kT0 + absl::Seconds(1), 50).has_value());
}

TEST(CatchUpTrackerTest, ProgressIsDueOncePerInterval) {
  CatchUpTracker t;
  EXPECT_FALSE(t.ProgressDue(kT0 + absl::Hours(1), absl::Seconds(10)));  // not catching up
  t.Start(kT0, 0);
  EXPECT_FALSE(t.ProgressDue(kT0 + absl::Seconds(9), absl::Seconds(10)));
  EXPECT_TRUE(t.ProgressDue(kT0 + absl::Seconds(10), absl::Seconds(10)));
  EXPECT_FALSE(t.ProgressDue(kT0 + absl::Seconds(15), absl::Seconds(10)));
  EXPECT_TRUE(t.ProgressDue(kT0 + absl::Seconds(20), absl::Seconds(10)));
}

TEST(CatchUpTrackerTest, AnAbandonedCatchUpStartsAfresh) {
  CatchUpTracker t;
  t.Start(kT0, 0);
  t.Abandon();
  EXPECT_FALSE(t.active());
  EXPECT_TRUE(t.Start(kT0 + absl::Seconds(30), 700));
  const auto s = t.Finish(kT0 + absl::Seconds(40), 1700);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->events, 1000);
  EXPECT_DOUBLE_EQ(s->seconds, 10.0);
}

}  // namespace
}  // namespace slate::core
