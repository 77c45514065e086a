// Bulk bootstrap (server/core/bulk_load.h) through the engine, on fakes: a FakeIndexDb beside
// each destination's FakeSinkDb records when its indexes were set aside and built.

#include "server/core/bulk_load.h"

#include <thread>

#include "gtest/gtest.h"

#include "server/core/copy_pass.h"
#include "server/core/engine.h"
#include "tests/support/fake_clock.h"
#include "tests/support/fakes.h"

namespace slate::testing {
namespace {

constexpr absl::Duration kWait = absl::Seconds(20);

const std::map<std::string, std::string> kIndexes = {
    {"events_a", "CREATE INDEX events_a ON public.events USING btree (a)"},
    {"events_b", "CREATE INDEX events_b ON public.events USING btree (b)"},
    {"events_ts", "CREATE INDEX events_ts ON public.events USING btree (ts)"}};

TEST(ShouldBulkLoadTest, OnlyAnEmptyDestinationWithABacklogAtTheThreshold) {
  EXPECT_TRUE(core::ShouldBulkLoad(100, 0, 100));
  EXPECT_FALSE(core::ShouldBulkLoad(100, 0, 99));
  EXPECT_FALSE(core::ShouldBulkLoad(100, 1, 1000));  // not empty
  EXPECT_FALSE(core::ShouldBulkLoad(0, 0, 1000));    // off
}

class BulkLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 30; ++i) source_.AddTransaction(7);  // 210 rows
    options_.max_events_per_write = 10;
    options_.poll_interval = absl::Hours(1);
    options_.initial_retry_delay = absl::Seconds(1);
    options_.max_retry_delay = absl::Seconds(8);
    options_.listen_wait = absl::Milliseconds(20);
    options_.stall_timeout = absl::ZeroDuration();
    options_.verify_ids_per_second = 0;
    options_.bulk_load_threshold = 100;
    options_.index_build_sessions = 2;
  }

  void Build() {
    core::DestinationSetup s;
    s.name = "d0";
    s.dsn = "fake/d0";
    s.source = std::make_unique<FakeEventSource>(source_);
    s.sink = std::make_unique<FakeEventSink>(sink_);
    s.helpers.push_back(std::make_unique<FakeEventSink>(sink_));
    s.indexes = [this] { return std::make_unique<FakeDestinationIndexes>(indexes_); };
    std::vector<core::DestinationSetup> setups;
    setups.push_back(std::move(s));
    engine_ = std::make_unique<core::Engine>(
        options_, "fake/source", std::make_unique<FakeWakeups>(), std::move(setups), clock_);
  }

  core::DestinationStatus Row() { return engine_->Snapshot().destinations.at(0); }

  // Waits for pred, moving the engine's time to the next deadline whenever it does not hold yet
  // (retries, and the index builds' bounded waits).
  bool DriveUntil(const std::function<bool(const core::DestinationStatus&)>& pred) {
    const absl::Time give_up = absl::Now() + kWait;
    uint64_t version = 0;
    while (absl::Now() < give_up) {
      if (pred(Row())) return true;
      clock_.AdvanceToNextDeadline();
      engine_->board().AwaitChange(&version, absl::Milliseconds(10));
    }
    return pred(Row());
  }
  bool AwaitInSyncAt(int64_t position) {
    return DriveUntil([position](const core::DestinationStatus& d) {
      return d.state == core::DestinationState::kInSync && d.position == position;
    });
  }
  // Stops the engine; its threads' bounded waits run on the fake clock, so it is driven.
  void Stop() {
    engine_->RequestStop();
    std::thread drive([this] {
      while (Row().state != core::DestinationState::kStopped) {
        clock_.AdvanceToNextDeadline();
        std::this_thread::yield();
      }
    });
    engine_->Join();
    drive.join();
  }

  FakeClock clock_;
  FakeSourceDb source_;
  FakeSinkDb sink_;
  FakeIndexDb indexes_{sink_, kIndexes};
  core::EngineOptions options_;
  std::unique_ptr<core::Engine> engine_;
};

TEST_F(BulkLoadTest, AnEmptyDestinationIsLoadedWithoutItsIndexesThenGetsThemBack) {
  Build();
  engine_->Start();
  ASSERT_TRUE(AwaitInSyncAt(210));
  // Set aside before the first row, built after the last one, every one of them, same names and
  // definitions; the record is gone.
  EXPECT_EQ(indexes_.set_aside_at(), std::vector<int64_t>{0});
  const std::map<std::string, int64_t> built = indexes_.built_at();
  ASSERT_EQ(built.size(), 3u);
  for (const auto& [name, position] : built) EXPECT_EQ(position, 210) << name;
  EXPECT_EQ(indexes_.Indexes(), kIndexes);
  EXPECT_FALSE(indexes_.has_record());
  const core::DestinationStatus d = Row();
  EXPECT_EQ(d.phase, "");
  EXPECT_EQ(d.indexes_total, 0);
  EXPECT_EQ(sink_.Rows().size(), 210u);
  Stop();
}

TEST_F(BulkLoadTest, StatusShowsTheBuildsUnderWayInParallelSessions) {
  indexes_.HoldBuilds();
  Build();
  engine_->Start();
  ASSERT_TRUE(indexes_.AwaitBuilding(2, kWait));
  ASSERT_TRUE(DriveUntil([](const core::DestinationStatus& d) {
    return d.phase == "building_indexes" && d.indexes_building.size() == 2;
  }));
  core::DestinationStatus d = Row();
  EXPECT_EQ(d.indexes_built, 0);
  EXPECT_EQ(d.indexes_total, 3);
  EXPECT_EQ(d.position, 210);
  EXPECT_EQ(d.state, core::DestinationState::kCatchingUp);  // not in sync before its indexes
  indexes_.Release();
  ASSERT_TRUE(AwaitInSyncAt(210));
  EXPECT_EQ(indexes_.max_concurrent_builds(), 2);  // index_build_sessions
  EXPECT_EQ(indexes_.Indexes(), kIndexes);
  EXPECT_EQ(Row().phase, "");
  Stop();
}

TEST_F(BulkLoadTest, ADestinationWithRowsOrASmallBacklogKeepsItsIndexes) {
  options_.bulk_load_threshold = 211;  // the backlog is 210
  Build();
  engine_->Start();
  ASSERT_TRUE(AwaitInSyncAt(210));
  Stop();
  // Not empty any more: a backlog over the threshold does not set them aside either.
  for (int i = 0; i < 40; ++i) source_.AddTransaction(7);
  options_.bulk_load_threshold = 100;
  Build();
  engine_->Start();
  ASSERT_TRUE(AwaitInSyncAt(490));
  EXPECT_TRUE(indexes_.set_aside_at().empty());
  EXPECT_EQ(indexes_.Indexes(), kIndexes);
  Stop();
}

TEST_F(BulkLoadTest, ThresholdZeroTurnsItOff) {
  options_.bulk_load_threshold = 0;
  Build();
  engine_->Start();
  ASSERT_TRUE(AwaitInSyncAt(210));
  EXPECT_TRUE(indexes_.set_aside_at().empty());
  Stop();
}

TEST_F(BulkLoadTest, AUserThatMayNotDropTheIndexesCopiesWithThemInPlace) {
  indexes_.DenyPermission();
  Build();
  engine_->Start();
  ASSERT_TRUE(AwaitInSyncAt(210));
  EXPECT_EQ(indexes_.Indexes(), kIndexes);
  EXPECT_FALSE(indexes_.has_record());
  EXPECT_EQ(Row().phase, "");
  Stop();
}

TEST_F(BulkLoadTest, WhatAnEarlierRunLeftSetAsideIsBuiltEvenWithBulkLoadOff) {
  // A crash after the whole backlog was copied and one index built.
  FakeEventSource source(source_);
  FakeEventSink sink(sink_);
  class NoStop : public core::PassObserver {
    bool StopRequested() override { return false; }
    void OnBatchStart(int64_t) override {}
    void OnBatchCommitted(int64_t, int64_t, int64_t) override {}
  } observer;
  ASSERT_TRUE(core::RunCopyPass(source, {&sink}, 0, {}, observer).ok());
  indexes_.SetRecord({"events_b", "events_ts"});
  options_.bulk_load_threshold = 0;
  Build();
  engine_->Start();
  ASSERT_TRUE(AwaitInSyncAt(210));
  EXPECT_EQ(indexes_.Indexes(), kIndexes);
  EXPECT_FALSE(indexes_.has_record());
  EXPECT_EQ(indexes_.built_at().size(), 2u);
  Stop();
}

TEST_F(BulkLoadTest, AStopDuringTheBuildsRollsThemBackAndTheNextRunFinishes) {
  indexes_.HoldBuilds();
  Build();
  engine_->Start();
  ASSERT_TRUE(indexes_.AwaitBuilding(2, kWait));
  Stop();
  // Interrupted builds rolled back: all three are still set aside, none exists.
  EXPECT_EQ(indexes_.Record(), (std::vector<std::string>{"events_a", "events_b", "events_ts"}));
  EXPECT_TRUE(indexes_.Indexes().empty());
  indexes_.Release();
  Build();
  engine_->Start();
  ASSERT_TRUE(AwaitInSyncAt(210));
  EXPECT_EQ(indexes_.Indexes(), kIndexes);
  EXPECT_FALSE(indexes_.has_record());
  EXPECT_EQ(indexes_.set_aside_at(), std::vector<int64_t>{0});  // set aside once
  Stop();
}

TEST_F(BulkLoadTest, AFailedBuildIsRetriedAfterTheBackoff) {
  indexes_.FailNextBuild(absl::UnavailableError("fake: connection lost"));
  Build();
  engine_->Start();
  ASSERT_TRUE(DriveUntil([](const core::DestinationStatus& d) { return d.retries_total > 0; }));
  ASSERT_TRUE(AwaitInSyncAt(210));
  EXPECT_EQ(indexes_.Indexes(), kIndexes);
  EXPECT_FALSE(indexes_.has_record());
  EXPECT_NE(Row().last_error.find("connection lost"), std::string::npos);
  Stop();
}

}  // namespace
}  // namespace slate::testing
