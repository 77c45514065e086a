#include "server/core/copy_pass.h"

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "tests/support/fakes.h"

namespace slate::testing {
namespace {

class RecordingObserver : public core::PassObserver {
 public:
  bool StopRequested() override { return ++calls_ > stop_after_; }
  void OnBatchStart(int64_t) override { ++starts; }
  void OnBatchCommitted(int64_t position, int64_t events, int64_t bytes) override {
    positions.push_back(position);
    events_total += events;
    bytes_total += bytes;
  }
  void StopAfter(int calls) { stop_after_ = calls; }

  int starts = 0;
  std::vector<int64_t> positions;
  int64_t events_total = 0;
  int64_t bytes_total = 0;

 private:
  int calls_ = 0;
  int stop_after_ = 1 << 30;
};

// Every case runs with one sink (a single stream) and with three (parallel writes).
class CopyPassTest : public ::testing::TestWithParam<int> {
 protected:
  CopyPassTest() {
    for (int i = 0; i < GetParam(); ++i) {
      owned_.push_back(std::make_unique<FakeEventSink>(sink_db_));
      sinks_.push_back(owned_.back().get());
    }
  }
  absl::StatusOr<core::PassResult> Pass(int64_t position, core::PassOptions options = {}) {
    if (options.max_events_per_write == 10000) options.max_events_per_write = 10;
    return core::RunCopyPass(source_, sinks_, position, options, observer_);
  }
  // Every committed batch holds whole source transactions (no ts straddles two batches).
  void ExpectNoTransactionSplit() {
    std::map<int64_t, std::set<size_t>> batches_of_ts;
    std::map<int64_t, int64_t> ts_of;
    for (const FakeRow& r : db_.Rows()) ts_of[r.id] = r.ts;
    const auto batches = sink_db_.Batches();
    for (size_t b = 0; b < batches.size(); ++b) {
      for (int64_t id : batches[b]) batches_of_ts[ts_of[id]].insert(b);
    }
    for (const auto& [ts, in] : batches_of_ts) EXPECT_EQ(in.size(), 1u) << "ts " << ts << " split";
  }

  FakeSourceDb db_;
  FakeEventSource source_{db_};
  FakeSinkDb sink_db_;
  std::vector<std::unique_ptr<FakeEventSink>> owned_;
  std::vector<core::EventSink*> sinks_;
  RecordingObserver observer_;
};

TEST_P(CopyPassTest, CopiesEveryRowInOrderByteForByte) {
  for (int n : {3, 1, 7, 2}) db_.AddTransaction(n);
  auto result = Pass(0);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->end, core::PassEnd::kCaughtUp);
  EXPECT_EQ(result->position, 13);
  const auto src = db_.Rows();
  const auto dst = sink_db_.Rows();
  ASSERT_EQ(dst.size(), src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    EXPECT_EQ(dst[i].id, src[i].id);
    EXPECT_EQ(dst[i].encoded, src[i].encoded);
  }
  EXPECT_EQ(observer_.events_total, 13);
}

TEST_P(CopyPassTest, BatchesAreCappedButNeverSplitATransaction) {
  // max 10 per write: 4+4+4 -> first batch must take all 12 (ends only at a ts change after >= 10)
  for (int n : {4, 4, 4, 25, 1, 1, 9, 2}) db_.AddTransaction(n);
  auto result = Pass(0);
  ASSERT_TRUE(result.ok()) << result.status();
  const auto batches = sink_db_.Batches();
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[0].size(), 12u);  // 4+4+4: reaches 10 inside the third transaction
  EXPECT_EQ(batches[1].size(), 25u);  // one transaction larger than the maximum
  EXPECT_EQ(batches[2].size(), 11u);  // 1+1+9
  EXPECT_EQ(batches[3].size(), 2u);
  ExpectNoTransactionSplit();
  EXPECT_EQ(observer_.positions, (std::vector<int64_t>{12, 37, 48, 50}));
}

TEST_P(CopyPassTest, ResumesFromAPosition) {
  for (int n : {5, 5, 5}) db_.AddTransaction(n);
  ASSERT_TRUE(Pass(0, {10, 5, 0}).ok());  // up to id 5
  EXPECT_EQ(sink_db_.Position(), 5);
  auto result = Pass(5);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->position, 15);
  EXPECT_EQ(sink_db_.Rows().size(), 15u);
}

TEST_P(CopyPassTest, HoleIsHeldAndRowsBeforeItAreCommitted) {
  db_.AddRow(1, 100);
  db_.AddRow(2, 100);
  db_.AddRow(3, 101);
  db_.AddRow(5, 102);  // 4 is missing
  auto result = Pass(0);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->end, core::PassEnd::kHole);
  EXPECT_EQ(result->position, 3);
  EXPECT_EQ(result->hole_first_missing, 4);
  EXPECT_EQ(result->hole_next_present, 5);
  EXPECT_EQ(sink_db_.Position(), 3);
  // Passing again without the opt-in still waits; once id 4 appears, it goes on.
  EXPECT_EQ(Pass(3)->end, core::PassEnd::kHole);
  db_.AddRow(4, 103);
  EXPECT_EQ(Pass(3)->position, 5);
}

TEST_P(CopyPassTest, HoleInsideATransactionRollsBackThatTransaction) {
  db_.AddRow(1, 100);
  db_.AddRow(2, 101);
  db_.AddRow(3, 101);
  db_.AddRow(5, 101);  // same ts as 2 and 3: the hole is inside that transaction
  auto result = Pass(0);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->end, core::PassEnd::kHole);
  EXPECT_EQ(result->position, 0);
  EXPECT_EQ(result->bounded_retry_up_to, 1);
  EXPECT_EQ(sink_db_.Position(), 0);
  auto bounded = Pass(0, {10, result->bounded_retry_up_to, 0});
  ASSERT_TRUE(bounded.ok());
  EXPECT_EQ(bounded->position, 1);
}

TEST_P(CopyPassTest, SkipHoleToIsTheOnlyWayPast) {
  db_.AddRow(1, 100);
  db_.AddRow(4, 101);
  EXPECT_EQ(Pass(0)->end, core::PassEnd::kHole);
  auto result = Pass(1, {10, 0, 4});
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->end, core::PassEnd::kCaughtUp);
  EXPECT_EQ(result->position, 4);
}

TEST_P(CopyPassTest, StopRollsBackTheOpenBatch) {
  db_.AddTransaction(30);
  observer_.StopAfter(5);
  auto result = Pass(0);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(result->end, core::PassEnd::kStopped);
  EXPECT_EQ(sink_db_.Position(), 0);
  EXPECT_TRUE(sink_db_.Rows().empty());
}

TEST_P(CopyPassTest, AnErrorLeavesOnlyWholeBatches) {
  for (int n : {10, 10, 10}) db_.AddTransaction(n);
  {
    absl::MutexLock lock(&sink_db_.faults().mu);
    sink_db_.faults().write.push_back(absl::OkStatus());
    for (int i = 0; i < 14; ++i) sink_db_.faults().write.push_back(absl::OkStatus());
    sink_db_.faults().write.push_back(absl::UnavailableError("cut"));  // 16th row
  }
  auto result = Pass(0);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(sink_db_.Position(), 10);
  EXPECT_EQ(observer_.positions, (std::vector<int64_t>{10}));
  auto again = Pass(10);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(sink_db_.Position(), 30);
  EXPECT_EQ(sink_db_.Rows().size(), 30u);
}

TEST_P(CopyPassTest, APositionThatMovedIsAborted) {
  db_.AddTransaction(3);
  ASSERT_TRUE(Pass(0).ok());
  EXPECT_EQ(Pass(1).status().code(), absl::StatusCode::kAborted);  // stale position
}

TEST_P(CopyPassTest, ParallelBatchesCommitStrictlyInIdOrderOnEverySink) {
  // 40 transactions of 3: 12 batches of 12 (the fake fails a batch that commits before the one
  // before it, so any out-of-order commit fails the pass).
  for (int i = 0; i < 40; ++i) db_.AddTransaction(3);
  auto result = Pass(0);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->position, 120);
  const auto batches = sink_db_.Batches();
  ASSERT_EQ(batches.size(), 10u);
  int64_t next = 1;
  for (const auto& b : batches) {
    for (int64_t id : b) EXPECT_EQ(id, next++);
  }
  for (const auto& sink : owned_) EXPECT_GE(sink->commits(), 3);  // every sink took its turn
  ExpectNoTransactionSplit();
}

TEST_P(CopyPassTest, AFailedCommitLeavesNoLaterBatchCommitted) {
  for (int i = 0; i < 20; ++i) db_.AddTransaction(5);  // 10 batches of 10
  {
    absl::MutexLock lock(&sink_db_.faults().mu);
    sink_db_.faults().commit.push_back(absl::OkStatus());
    sink_db_.faults().commit.push_back(absl::UnknownError("commit outcome unknown"));
  }
  auto result = Pass(0);
  EXPECT_EQ(result.status().code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(sink_db_.Position(), 10);  // the first batch only: the rest never commit
  EXPECT_EQ(sink_db_.Rows().size(), 10u);
  auto again = Pass(10);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(sink_db_.Position(), 100);
}

INSTANTIATE_TEST_SUITE_P(Sinks, CopyPassTest, ::testing::Values(1, 3),
                         [](const ::testing::TestParamInfo<int>& p) {
                           return p.param == 1 ? std::string("OneStream")
                                               : std::string("ParallelWrites");
                         });

// The observer says at each batch how many sinks to write with (writer_shares.h): batch i goes to
// sink i % writers, a shrinking count commits the older batches first, and the order and the
// data stay as with a fixed count.
TEST(CopyPassWritersTest, TheWritersCanChangeAtEveryBatch) {
  class Scripted : public RecordingObserver {
   public:
    int WritersNow(int sinks) override {
      EXPECT_EQ(sinks, 3);
      return script[asked++ % script.size()];
    }
    // 0 and 7 are out of range: clamped to 1 and 3.
    std::vector<int> script = {1, 1, 0, 3, 3, 7, 2, 2, 1, 1};
    size_t asked = 0;
  } observer;
  FakeSourceDb db;
  for (int i = 0; i < 50; ++i) db.AddTransaction(2);  // 10 batches of 10
  FakeEventSource source(db);
  FakeSinkDb sink_db;
  std::vector<std::unique_ptr<FakeEventSink>> owned;
  std::vector<core::EventSink*> sinks;
  for (int i = 0; i < 3; ++i) {
    owned.push_back(std::make_unique<FakeEventSink>(sink_db));
    sinks.push_back(owned.back().get());
  }
  core::PassOptions options;
  options.max_events_per_write = 10;
  auto result = core::RunCopyPass(source, sinks, 0, options, observer);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->position, 100);
  EXPECT_EQ(observer.asked, 10u);
  // Batch i on sink i % writers: sink 0 has batches 0 1 2 3 6 8 9, sink 1 has 4 7, sink 2 has 5.
  EXPECT_EQ(owned[0]->commits(), 7);
  EXPECT_EQ(owned[1]->commits(), 2);
  EXPECT_EQ(owned[2]->commits(), 1);
  const auto batches = sink_db.Batches();
  ASSERT_EQ(batches.size(), 10u);
  int64_t next = 1;
  for (const auto& b : batches) {
    for (int64_t id : b) EXPECT_EQ(id, next++);
  }
  EXPECT_EQ(observer.positions.back(), 100);
}

}  // namespace
}  // namespace slate::testing
