#include "server/core/hole_policy.h"

#include "gtest/gtest.h"

namespace slate::core {
namespace {

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);

PassResult HoleAt(int64_t missing, int64_t next_present, int64_t bounded = 0) {
  PassResult r;
  r.end = PassEnd::kHole;
  r.hole_first_missing = missing;
  r.hole_next_present = next_present;
  r.bounded_retry_up_to = bounded;
  return r;
}

TEST(HolePolicyTest, NoHoleClearsEverything) {
  HoleState state;
  state.bounded_up_to = 7;
  state.skip_to = 9;
  PassResult caught_up;
  const HoleDecision d = DecideHole(state, caught_up, 10, kT0, absl::ZeroDuration());
  EXPECT_EQ(d.action, HoleAction::kNone);
  EXPECT_EQ(d.next.bounded_up_to, 0);
  EXPECT_EQ(d.next.skip_to, 0);
  EXPECT_EQ(d.next.at, 0);
}

TEST(HolePolicyTest, AHoleThatWasWaitedAtIsReportedFilled) {
  HoleState state;
  state.at = 5;
  state.since = kT0;
  const HoleDecision d =
      DecideHole(state, PassResult{}, 9, kT0 + absl::Seconds(3), absl::ZeroDuration());
  EXPECT_EQ(d.action, HoleAction::kFilled);
  EXPECT_EQ(d.next.at, 0);
}

TEST(HolePolicyTest, AHoleInsideATransactionFirstCommitsWhatIsBeforeIt) {
  const HoleDecision d =
      DecideHole(HoleState{}, HoleAt(12, 14, /*bounded=*/9), 4, kT0, absl::ZeroDuration());
  EXPECT_EQ(d.action, HoleAction::kRetryNow);
  EXPECT_EQ(d.next.bounded_up_to, 9);
  EXPECT_FALSE(d.new_hole);  // not waited at yet: the bounded pass comes first
  EXPECT_FALSE(d.skipping);
}

TEST(HolePolicyTest, ABoundAlreadyReachedIsNotRetried) {
  const HoleDecision d =
      DecideHole(HoleState{}, HoleAt(12, 14, /*bounded=*/9), 9, kT0, absl::ZeroDuration());
  EXPECT_EQ(d.action, HoleAction::kWait);
  EXPECT_EQ(d.next.bounded_up_to, 0);
  EXPECT_TRUE(d.new_hole);
}

TEST(HolePolicyTest, AHoleIsHeldForEverWithoutTheOptIn) {
  HoleDecision d = DecideHole(HoleState{}, HoleAt(3, 4), 2, kT0, absl::ZeroDuration());
  EXPECT_EQ(d.action, HoleAction::kWait);
  EXPECT_TRUE(d.new_hole);
  EXPECT_EQ(d.next.at, 3);
  EXPECT_EQ(d.next.since, kT0);
  EXPECT_EQ(d.wait, absl::InfiniteDuration());
  // A year later it is the same hole, still held, not new.
  d = DecideHole(d.next, HoleAt(3, 4), 2, kT0 + absl::Hours(24 * 365), absl::ZeroDuration());
  EXPECT_EQ(d.action, HoleAction::kWait);
  EXPECT_FALSE(d.new_hole);
  EXPECT_FALSE(d.skipping);
  EXPECT_EQ(d.next.since, kT0);
}

TEST(HolePolicyTest, SkipHolesAfterPassesAHoleOnceItIsDue) {
  const absl::Duration after = absl::Minutes(10);
  HoleDecision d = DecideHole(HoleState{}, HoleAt(3, 6), 2, kT0, after);
  EXPECT_EQ(d.action, HoleAction::kWait);
  EXPECT_EQ(d.wait, after);  // come back when it is due
  d = DecideHole(d.next, HoleAt(3, 6), 2, kT0 + absl::Minutes(4), after);
  EXPECT_EQ(d.action, HoleAction::kWait);
  EXPECT_EQ(d.wait, absl::Minutes(6));
  d = DecideHole(d.next, HoleAt(3, 6), 2, kT0 + after, after);
  EXPECT_EQ(d.action, HoleAction::kRetryNow);
  EXPECT_TRUE(d.skipping);
  EXPECT_EQ(d.next.skip_to, 6);
  EXPECT_EQ(d.next.at, 0);
}

TEST(HolePolicyTest, ANewHoleRestartsTheWait) {
  const absl::Duration after = absl::Minutes(10);
  HoleDecision d = DecideHole(HoleState{}, HoleAt(3, 6), 2, kT0, after);
  // The first hole filled and another appeared further on: its wait starts now.
  d = DecideHole(d.next, HoleAt(8, 9), 7, kT0 + absl::Minutes(9), after);
  EXPECT_TRUE(d.new_hole);
  EXPECT_EQ(d.action, HoleAction::kWait);
  EXPECT_EQ(d.next.since, kT0 + absl::Minutes(9));
  EXPECT_EQ(d.wait, after);
}

}  // namespace
}  // namespace slate::core
