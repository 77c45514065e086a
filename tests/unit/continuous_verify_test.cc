// Continuous verification (server/core/continuous_verify.h) on fakes, its time a FakeClock.

#include "server/core/continuous_verify.h"

#include <thread>

#include "gtest/gtest.h"

#include "tests/support/fake_clock.h"
#include "tests/support/fakes.h"

namespace slate::core {
namespace {

using testing::FakeClock;
using testing::FakeVerifyTarget;

constexpr absl::Duration kWait = absl::Seconds(30);

// The verifier owns its targets; these forward to the test's tables.
class Proxy : public VerifyTarget {
 public:
  Proxy(FakeVerifyTarget& t, int* opened) : t_(t) { ++*opened; }
  absl::StatusOr<int64_t> MaxId() override { return t_.MaxId(); }
  absl::StatusOr<RangeSummary> Summarize(int64_t a, int64_t b) override {
    return t_.Summarize(a, b);
  }
  absl::StatusOr<std::vector<RangeSummary>> SummarizeGroups(int64_t a, int64_t b,
                                                            int64_t g) override {
    return t_.SummarizeGroups(a, b, g);
  }
  absl::StatusOr<std::vector<RowDigest>> RowDigests(int64_t a, int64_t b) override {
    return t_.RowDigests(a, b);
  }
  absl::StatusOr<std::vector<RowSummary>> Rows(int64_t a, int64_t b) override {
    return t_.Rows(a, b);
  }
  absl::StatusOr<std::optional<VerifyCheckpoint>> LoadCheckpoint() override {
    return t_.LoadCheckpoint();
  }
  absl::Status SaveCheckpoint(const VerifyCheckpoint& c) override { return t_.SaveCheckpoint(c); }

 private:
  FakeVerifyTarget& t_;
};

class ContinuousVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_.Fill(5000);
    destination_.Fill(5000);
    options_.verify_ids_per_second = 1000;
    options_.verify_full_pass_every = absl::Hours(1);
    options_.poll_interval = absl::Seconds(5);
    lane_ = signals_.AddLane(false, "");
    DestinationStatus d;
    d.name = "d";
    board_.AddDestination(lane_, d);
    waiters_.Add("d");
    waiters_.Committed("d", 5000);
  }
  void TearDown() override { Stop(); }

  void Start() {
    verifier_ = std::make_unique<ContinuousVerifier>(
        options_, "d",
        [this]() -> absl::StatusOr<std::unique_ptr<VerifyTarget>> {
          absl::MutexLock lock(&mu_);
          if (!source_down_.ok()) return source_down_;
          return std::make_unique<Proxy>(source_, &opened_);
        },
        [this]() -> absl::StatusOr<std::unique_ptr<VerifyTarget>> {
          return std::make_unique<Proxy>(destination_, &opened_);
        },
        signals_, lane_, board_, waiters_, proven_);
    thread_ = std::thread([this] { verifier_->Run(); });
  }
  void Stop() {
    signals_.RequestStop();
    if (thread_.joinable()) thread_.join();
  }
  // The verifier stopped and a new one started, as a restart of the replicator does: a new lane
  // and status, nothing proven yet.
  void Restart() {
    signals_.EndLane(lane_);
    if (thread_.joinable()) thread_.join();
    lane_ = signals_.AddLane(false, "");
    DestinationStatus d;
    d.name = "d";
    board_.AddDestination(lane_, d);
    proven_.Remove("d");
    destination_.ClearRanges();
    Start();
  }
  DestinationStatus Status() { return board_.Destination(lane_, clock_.Now()); }
  // What the destination loop would report.
  void SetLoopState(DestinationState state) {
    board_.UpdateDestination(lane_, [&](DestinationStatus& d) { d.state = state; });
  }
  // Rows first..last, equal on both sides.
  void AppendBoth(int64_t first, int64_t last) {
    for (FakeVerifyTarget* t : {&source_, &destination_}) {
      t->Mutate([&](auto& rows) {
        for (int64_t id = first; id <= last; ++id) rows[id] = {id, id * 1000, 10, "m", "{}"};
      });
    }
  }
  // Waits for pred, moving the time to the verifier's next deadline whenever it does not hold.
  bool DriveUntil(const std::function<bool(const DestinationStatus&)>& pred) {
    const absl::Time give_up = absl::Now() + kWait;
    uint64_t version = 0;
    while (absl::Now() < give_up) {
      if (pred(Status())) return true;
      clock_.AdvanceToNextDeadline();
      board_.AwaitChange(&version, absl::Milliseconds(10));
    }
    return pred(Status());
  }

  FakeClock clock_;
  Signals signals_{clock_};
  StatusBoard board_{clock_, signals_, SourceStatus{}};
  PositionWaiters waiters_{clock_};
  ProvenPositions proven_;
  EngineOptions options_;
  uint64_t lane_ = 0;
  FakeVerifyTarget source_, destination_;
  absl::Mutex mu_;
  absl::Status source_down_ ABSL_GUARDED_BY(mu_);
  int opened_ = 0;
  std::unique_ptr<ContinuousVerifier> verifier_;
  std::thread thread_;
};

TEST_F(ContinuousVerifyTest, APassKeepsToItsBudgetAndFollowsNewCommits) {
  const absl::Time start = clock_.Now();
  Start();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  const DestinationStatus d = Status();
  EXPECT_EQ(d.verified_position, 5000);
  EXPECT_FALSE(d.diverged);
  EXPECT_EQ(d.last_full_verify, clock_.Now());
  // 5000 ids at 1000 per second: fifty checksum steps of 100 ids (a tenth of a second's budget
  // each, so no query is a long burst), 4.9 seconds of budget between them.
  EXPECT_GE(clock_.Now() - start, absl::Milliseconds(4900));
  EXPECT_LE(clock_.Now() - start, absl::Seconds(5));
  EXPECT_EQ(destination_.summaries, 50);
  EXPECT_EQ(destination_.rows_read, 0) << "equal ranges are never read row by row";
  EXPECT_EQ(proven_.Get("d"), 5000) << "what a seeded destination may read from it";
  // New commits are verified as they come, in the same pass.
  AppendBoth(5001, 5600);
  waiters_.Committed("d", 5600);
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& s) { return s.verified_position == 5600; }));
  EXPECT_EQ(Status().verify_passes, 1);
  EXPECT_EQ(proven_.Get("d"), 5600);
}

TEST_F(ContinuousVerifyTest, WhatIsProvenHoldsThroughTheNextPassAndFallsToZeroOnADifference) {
  options_.verify_full_pass_every = absl::Minutes(1);
  Start();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  EXPECT_EQ(proven_.Get("d"), 5000);
  // The next pass from id 1, partway: what the first proved still stands.
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& s) {
    return s.verify_passes == 1 && s.verified_position > 0 && s.verified_position < 5000;
  }));
  EXPECT_EQ(proven_.Get("d"), 5000);
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 2; }));
  // A row altered: once found, nothing is proven (a seed that differs is read no more).
  destination_.Mutate([](auto& rows) { rows[2500].event_md5 = "tampered"; });
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.diverged; }));
  EXPECT_EQ(proven_.Get("d"), 0);
  // Mended, the next clean pass proves it again.
  destination_.Mutate([](auto& rows) { rows[2500].event_md5 = "md5-2500"; });
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return !d.diverged; }));
  EXPECT_EQ(proven_.Get("d"), 5000);
}

TEST_F(ContinuousVerifyTest, AChangedOldRowIsFoundByTheNextPassAndARepairClearsIt) {
  options_.verify_full_pass_every = absl::Minutes(2);
  Start();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  // An old row altered, one deleted, while it runs.
  destination_.Mutate([](auto& rows) {
    rows[1234].event_md5 = "tampered";
    rows.erase(4321);
  });
  const absl::Time altered = clock_.Now();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.diverged; }));
  DestinationStatus d = Status();
  EXPECT_EQ(d.diverged_at, 1234);
  EXPECT_EQ(d.diverged_class, "content");
  // Found in the next pass, due two minutes after the first began.
  EXPECT_LE(clock_.Now() - altered, absl::Minutes(2) + absl::Seconds(5));
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& s) { return s.verify_passes == 2; }));
  d = Status();
  EXPECT_EQ(d.differing_rows, 2);
  // The next pass, halfway (it has found id 1234 again, not yet 4321): the figures hold steady.
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& s) {
    return s.verify_passes == 2 && s.verified_position >= 2000 && s.verified_position < 4000;
  }));
  EXPECT_EQ(Status().differing_rows, 2);
  EXPECT_EQ(Status().diverged_at, 1234);
  // Shown as the state in place of in_sync.
  board_.UpdateDestination(lane_,
                           [](DestinationStatus& s) { s.state = DestinationState::kInSync; });
  EXPECT_EQ(Status().state, DestinationState::kDiverged);
  // Mended: passes start one poll interval after the last ended, not two minutes later, and the
  // first whole pass after the mend clears the verdict.
  destination_.Mutate([&](auto& rows) {
    rows[1234].event_md5 = "md5-1234";
    rows[4321] = {4321, 4321000, 10, "md5-4321", "{}"};
  });
  const absl::Time mended = clock_.Now();
  // The pass under way saw id 1234 before the mend: it still ends with one difference, and
  // still shows diverged. The next pass, begun after the mend, clears it.
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& s) { return s.verify_passes == 3; }));
  EXPECT_TRUE(Status().diverged);
  EXPECT_EQ(Status().differing_rows, 1);
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& s) { return s.verify_passes == 4; }));
  EXPECT_LE(clock_.Now() - mended, absl::Seconds(20));
  d = Status();
  EXPECT_FALSE(d.diverged);
  EXPECT_EQ(d.differing_rows, 0);
  EXPECT_EQ(d.state, DestinationState::kInSync);
}

TEST_F(ContinuousVerifyTest, ACatchUpHoldsItBackUntilItEnds) {
  SetLoopState(DestinationState::kCatchingUp);
  Start();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_waits_for_catch_up; }));
  // A minute of its time passes: nothing is compared, nothing proven.
  const absl::Time minute_later = clock_.Now() + absl::Minutes(1);
  ASSERT_TRUE(DriveUntil([&](const DestinationStatus&) { return clock_.Now() >= minute_later; }));
  EXPECT_EQ(destination_.summaries, 0);
  EXPECT_EQ(Status().verified_position, 0);
  EXPECT_EQ(proven_.Get("d"), 0);
  // The catch-up ends: within a poll interval it goes on, and the pass completes.
  SetLoopState(DestinationState::kInSync);
  const absl::Time caught_up = clock_.Now();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verified_position > 0; }));
  // (The clock may have moved on by one budget step of 100 ids before the test saw the first.)
  EXPECT_LE(clock_.Now() - caught_up, options_.poll_interval + absl::Seconds(1));
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  EXPECT_FALSE(Status().verify_waits_for_catch_up);
  EXPECT_EQ(Status().verified_position, 5000);
}

TEST_F(ContinuousVerifyTest, ADivergedDestinationIsVerifiedWhileItCatchesUp) {
  destination_.Mutate([](auto& rows) { rows[100].event_md5 = "tampered"; });
  Start();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  ASSERT_TRUE(Status().diverged);
  // A catch-up of new rows: the verdict must stay current (a repair must show), so it goes on.
  SetLoopState(DestinationState::kCatchingUp);
  AppendBoth(5001, 5600);
  waiters_.Committed("d", 5600);
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& s) { return s.verified_position == 5600; }));
  EXPECT_FALSE(Status().verify_waits_for_catch_up);
  EXPECT_EQ(Status().state, DestinationState::kDiverged);
}

TEST_F(ContinuousVerifyTest, TruncatedTimestampsAreReportedAsTheirClass) {
  for (auto& [id, row] : source_.rows) row.ts_micros = id * 1000 + 321;
  Start();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  const DestinationStatus d = Status();
  EXPECT_TRUE(d.diverged);
  EXPECT_EQ(d.diverged_at, 1);
  EXPECT_EQ(d.diverged_class, "ts_millis");
  EXPECT_EQ(d.differing_rows, 5000);
}

TEST_F(ContinuousVerifyTest, AnUnreachableDatabaseHoldsItBackAndItGoesOn) {
  {
    absl::MutexLock lock(&mu_);
    source_down_ = absl::UnavailableError("source down");
  }
  Start();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return !d.verify_error.empty(); }));
  EXPECT_EQ(Status().verify_error, "source down");
  EXPECT_EQ(Status().verified_position, 0);
  {
    absl::MutexLock lock(&mu_);
    source_down_ = absl::OkStatus();
  }
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  EXPECT_TRUE(Status().verify_error.empty());
}

TEST_F(ContinuousVerifyTest, ARestartGoesOnFromTheCheckpointTheDestinationKeeps) {
  destination_.keeps_checkpoint = true;
  options_.verify_ids_per_second = 100;  // steps of 64 ids, 50 s for the pass
  const absl::Time started = clock_.Now();
  Start();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) {
    return d.verified_position >= 2500 && d.verified_position < 4000;
  }));
  const int64_t stopped_at = Status().verified_position;
  // The new run's destination loop has not reported its position yet.
  waiters_.Remove("d");
  waiters_.Add("d");
  Restart();
  // Saved every ten seconds of verifying: at least twice in the 25 s it took to get this far.
  const std::optional<VerifyCheckpoint> saved = destination_.Stored();
  ASSERT_TRUE(saved.has_value());
  const int64_t at = saved->pass_through;
  EXPECT_GE(at, 1000);
  EXPECT_LE(at, stopped_at);
  EXPECT_EQ(saved->proven_through, at);
  EXPECT_EQ(saved->pass_started, started);
  EXPECT_EQ(saved->digest, destination_.Sum(at, at).digest);
  // The new run proves at once what the checkpoint holds, and compares only the rest, once the
  // loop has reported its position (a minute of its time passes meanwhile: nothing moves, no pass
  // ends early).
  ASSERT_TRUE(DriveUntil([&](const DestinationStatus& d) { return d.verified_position == at; }));
  EXPECT_EQ(proven_.Get("d"), at);
  const absl::Time minute_later = clock_.Now() + absl::Minutes(1);
  ASSERT_TRUE(DriveUntil([&](const DestinationStatus&) { return clock_.Now() >= minute_later; }));
  EXPECT_EQ(Status().verified_position, at);
  EXPECT_EQ(Status().verify_passes, 0);
  EXPECT_EQ(destination_.LowestRangeStart(), 0);
  waiters_.Committed("d", 5000);
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  EXPECT_EQ(destination_.LowestRangeStart(), at + 1);
  EXPECT_EQ(Status().verified_position, 5000);
  EXPECT_EQ(proven_.Get("d"), 5000);
  // The pass's end is kept too: a restart now compares nothing old, and the next pass from id 1
  // is due an hour after the first began, not an hour after the restart.
  const std::optional<VerifyCheckpoint> ended = destination_.Stored();
  ASSERT_TRUE(ended.has_value());
  EXPECT_EQ(ended->pass_through, 5000);
  EXPECT_GT(ended->last_full_pass, ended->pass_started);
  Restart();
  ASSERT_TRUE(DriveUntil([&](const DestinationStatus& d) {
    return d.verified_position == 5000 && d.last_full_verify == ended->last_full_pass;
  }));
  EXPECT_EQ(destination_.LowestRangeStart(), 0) << "nothing compared again";
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  EXPECT_EQ(destination_.LowestRangeStart(), 1);
  EXPECT_GE(clock_.Now() - started, absl::Hours(1));
  EXPECT_LT(clock_.Now() - started, absl::Hours(1) + absl::Seconds(60));  // + its 50 s
}

TEST_F(ContinuousVerifyTest, ACheckpointWhoseRowChangedIsNotTrusted) {
  destination_.keeps_checkpoint = true;
  Start();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  ASSERT_TRUE(destination_.Stored().has_value());
  EXPECT_EQ(destination_.Stored()->proven_through, 5000);
  // While it is stopped, the row the checkpoint names changes (a rebuilt or restored replica).
  signals_.EndLane(lane_);
  thread_.join();
  destination_.Mutate([](auto& rows) { rows[5000].event_md5 = "other"; });
  Restart();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.diverged; }));
  EXPECT_EQ(destination_.LowestRangeStart(), 1) << "verified from id 1";
  EXPECT_EQ(Status().diverged_at, 5000);
  EXPECT_EQ(proven_.Get("d"), 0);
}

TEST_F(ContinuousVerifyTest, ADifferenceFoundClearsTheCheckpointAtOnce) {
  destination_.keeps_checkpoint = true;
  options_.verify_full_pass_every = absl::Minutes(1);
  Start();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  destination_.Mutate([](auto& rows) { rows[2500].event_md5 = "tampered"; });
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.diverged; }));
  // Saved at once (not ten seconds later, not at the pass's end): a restart must find it again.
  const std::optional<VerifyCheckpoint> saved = destination_.Stored();
  ASSERT_TRUE(saved.has_value());
  EXPECT_EQ(saved->proven_through, 0);
  Restart();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.diverged; }));
  EXPECT_EQ(destination_.LowestRangeStart(), 1);
  EXPECT_EQ(Status().diverged_at, 2500);
}

TEST_F(ContinuousVerifyTest, ADestinationThatMayNotKeepTheCheckpointIsVerifiedAsBefore) {
  destination_.keeps_checkpoint = true;
  destination_.save_error = absl::FailedPreconditionError("permission denied for schema public");
  Start();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  EXPECT_EQ(Status().verified_position, 5000);
  EXPECT_TRUE(Status().verify_error.empty()) << "not an error of verification";
  EXPECT_EQ(destination_.SaveAttempts(), 1) << "tried once, then no more";
  Restart();
  ASSERT_TRUE(DriveUntil([](const DestinationStatus& d) { return d.verify_passes == 1; }));
  EXPECT_EQ(destination_.LowestRangeStart(), 1);
}

TEST_F(ContinuousVerifyTest, OffReportsNothing) {
  options_.verify_ids_per_second = 0;
  Start();
  thread_.join();  // returns at once
  EXPECT_FALSE(Status().verify_enabled);
  EXPECT_EQ(opened_, 0);
}

}  // namespace
}  // namespace slate::core
