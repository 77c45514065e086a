#include "server/core/source_feed.h"

#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"

#include "tests/support/fakes.h"

namespace slate::testing {
namespace {

// A destination's own source that counts its reads (to tell shared reads from own ones).
class CountingSource : public core::EventSource {
 public:
  CountingSource(const FakeSourceDb& db, int* reads) : inner_(db), reads_(reads) {}
  std::vector<int64_t> afters;  // each read's after_id
  absl::Status Connect() override { return inner_.Connect(); }
  void Close() override {}
  void Interrupt() override {}
  absl::StatusOr<core::SourceHead> Head() override { return inner_.Head(); }
  absl::StatusOr<std::optional<core::FirstEvent>> First() override { return inner_.First(); }
  absl::StatusOr<std::unique_ptr<core::RowReader>> ReadAfter(int64_t after, int64_t up_to,
                                                             int64_t expected) override {
    ++*reads_;
    afters.push_back(after);
    return inner_.ReadAfter(after, up_to, expected);
  }

 private:
  FakeEventSource inner_;
  int* reads_;
};

class SourceFeedTest : public ::testing::Test {
 protected:
  void Build(size_t capacity_bytes, absl::Duration join_grace = absl::ZeroDuration()) {
    for (int i = 0; i < 500; ++i) db_.AddTransaction(1 + i % 7);  // 1,997 rows
    feed_ = core::SourceFeed::Create(std::make_unique<CountingSource>(db_, &feed_reads_),
                                     capacity_bytes, /*min_rows=*/100, absl::Milliseconds(1),
                                     join_grace);
    a_ = feed_->NewSharedSource(std::make_unique<CountingSource>(db_, &own_reads_a_));
    auto b = std::make_unique<CountingSource>(db_, &own_reads_b_);
    b_own_ = b.get();
    b_ = feed_->NewSharedSource(std::move(b));
  }
  // Every row after `after`, as the source has them.
  std::vector<FakeRow> Expected(int64_t after) {
    std::vector<FakeRow> out;
    for (const FakeRow& r : db_.Rows()) {
      if (r.id > after) out.push_back(r);
    }
    return out;
  }
  static bool NextInto(core::RowReader& reader, std::vector<FakeRow>* out) {
    core::EventRow row;
    auto more = reader.Next(&row);
    EXPECT_TRUE(more.ok()) << more.status();
    if (!more.ok() || !*more) return false;
    out->push_back(FakeRow{row.id, row.ts, std::string(row.encoded)});
    return true;
  }
  // b's first read, after a's read from the start has copied `rows` rows (into got_a).
  std::unique_ptr<core::RowReader> StartBAfterAHasCopied(core::RowReader& a, int rows,
                                                         std::vector<FakeRow>* got_a) {
    for (int i = 0; i < rows; ++i) {
      if (!NextInto(a, got_a)) return nullptr;
    }
    auto rb = b_->ReadAfter(0, 0, 5000);
    return rb.ok() ? std::move(*rb) : nullptr;
  }
  // Both reads to their ends, a row of each in turn (two destinations of the same speed).
  static void ReadInStep(core::RowReader& a, core::RowReader& b, std::vector<FakeRow>* got_a,
                         std::vector<FakeRow>* got_b) {
    bool more_a = true, more_b = true;
    while (more_a || more_b) {
      if (more_a) more_a = NextInto(a, got_a);
      if (more_b) more_b = NextInto(b, got_b);
    }
  }
  static void ExpectSame(const std::vector<FakeRow>& got, const std::vector<FakeRow>& want) {
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i].id, want[i].id);
      ASSERT_EQ(got[i].ts, want[i].ts);
      ASSERT_EQ(got[i].encoded, want[i].encoded);
    }
  }

  FakeSourceDb db_;
  int feed_reads_ = 0, own_reads_a_ = 0, own_reads_b_ = 0;
  std::shared_ptr<core::SourceFeed> feed_;
  std::unique_ptr<core::EventSource> a_, b_;
  CountingSource* b_own_ = nullptr;
};

TEST_F(SourceFeedTest, DestinationsThatKeepPaceShareOneRead) {
  Build(1 << 20);
  auto ra = a_->ReadAfter(0, 0, 5000);
  auto rb = b_->ReadAfter(0, 0, 5000);
  ASSERT_TRUE(ra.ok() && rb.ok());
  std::vector<FakeRow> got_a, got_b;
  ReadInStep(**ra, **rb, &got_a, &got_b);
  ExpectSame(got_a, Expected(0));
  ExpectSame(got_b, Expected(0));
  EXPECT_EQ(feed_reads_, 1);
  EXPECT_EQ(own_reads_a_ + own_reads_b_, 2);  // one empty read each, after the stream's end
  EXPECT_EQ(feed_->streams_started(), 1);
  EXPECT_EQ(feed_->detaches(), 0);
}

TEST_F(SourceFeedTest, AReadThatFallsABufferBehindGoesOnAloneAndMissesNothing) {
  Build(4096);  // about 100 rows
  auto ra = a_->ReadAfter(0, 0, 5000);
  auto rb = b_->ReadAfter(0, 0, 5000);
  ASSERT_TRUE(ra.ok() && rb.ok());
  std::vector<FakeRow> got_a, got_b;
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(NextInto(**rb, &got_b));  // then b stalls
  while (NextInto(**ra, &got_a)) {
  }  // a reads everything: it cannot wait for b
  while (NextInto(**rb, &got_b)) {
  }
  ExpectSame(got_a, Expected(0));
  ExpectSame(got_b, Expected(0));
  EXPECT_EQ(feed_->detaches(), 1);
  EXPECT_EQ(own_reads_a_, 1);  // only the empty one after the stream's end
  EXPECT_EQ(own_reads_b_, 1);  // b went on from its last row with its own read
}

TEST_F(SourceFeedTest, ALateReadJoinsWhereTheBufferStillHoldsItsRows) {
  Build(4096);  // about 100 rows: the stream cannot run to its end ahead of the reads
  auto ra = a_->ReadAfter(0, 0, 5000);
  ASSERT_TRUE(ra.ok());
  std::vector<FakeRow> got_a, got_b;
  for (int i = 0; i < 50; ++i) ASSERT_TRUE(NextInto(**ra, &got_a));
  // A destination level with the slowest joined read finds its rows still there, and joins.
  auto rb = b_->ReadAfter(got_a.back().id, 0, 5000);
  ASSERT_TRUE(rb.ok());
  const int64_t joined_at = got_a.back().id;
  ReadInStep(**ra, **rb, &got_a, &got_b);
  ExpectSame(got_a, Expected(0));
  ExpectSame(got_b, Expected(joined_at));
  EXPECT_EQ(feed_reads_, 1);
  EXPECT_EQ(feed_->detaches(), 0);
  // Each read ended with one (empty) read of its own, newer than the stream's snapshot.
  EXPECT_EQ(own_reads_a_, 1);
  EXPECT_EQ(own_reads_b_, 1);
}

TEST_F(SourceFeedTest, AFirstReadALittleLateStillJoinsAtTheStreamsStart) {
  // Two destinations start together; b's first read comes after a has copied rows. The stream
  // kept its first rows for b (within the join grace), so b joins at id 0: one read of the source.
  Build(4096, absl::Hours(1));
  auto ra = a_->ReadAfter(0, 0, 5000);
  ASSERT_TRUE(ra.ok());
  std::vector<FakeRow> got_a, got_b;
  std::unique_ptr<core::RowReader> rb = StartBAfterAHasCopied(**ra, 50, &got_a);
  ASSERT_NE(rb, nullptr);
  ReadInStep(**ra, *rb, &got_a, &got_b);
  ExpectSame(got_a, Expected(0));
  ExpectSame(got_b, Expected(0));
  EXPECT_EQ(feed_reads_, 1);
  EXPECT_EQ(feed_->detaches(), 0);
  EXPECT_EQ(b_own_->afters, std::vector<int64_t>{db_.MaxId()})
      << "only the empty read after the stream's end";
}

TEST_F(SourceFeedTest, WithoutAJoinGraceALateFirstReadGoesAlone) {
  Build(4096);
  auto ra = a_->ReadAfter(0, 0, 5000);
  ASSERT_TRUE(ra.ok());
  std::vector<FakeRow> got_a, got_b;
  // More rows than 4096 bytes hold: the buffer cannot still have id 1.
  std::unique_ptr<core::RowReader> rb = StartBAfterAHasCopied(**ra, 1000, &got_a);
  ASSERT_NE(rb, nullptr);
  while (NextInto(*rb, &got_b)) {
  }
  while (NextInto(**ra, &got_a)) {
  }
  ExpectSame(got_a, Expected(0));
  ExpectSame(got_b, Expected(0));
  EXPECT_EQ(b_own_->afters, std::vector<int64_t>{0}) << "its whole read on its own";
  EXPECT_EQ(feed_reads_, 1);
}

TEST_F(SourceFeedTest, ADestinationThatNeverJoinsHoldsTheStreamOnlyForTheGrace) {
  Build(4096, absl::Milliseconds(20));
  auto ra = a_->ReadAfter(0, 0, 5000);  // b never reads
  ASSERT_TRUE(ra.ok());
  std::vector<FakeRow> got_a;
  while (NextInto(**ra, &got_a)) {
  }
  ExpectSame(got_a, Expected(0));
  EXPECT_EQ(feed_->detaches(), 0) << "a read waiting on the held start is not judged";
  EXPECT_EQ(feed_reads_, 1);
}

TEST_F(SourceFeedTest, RowsCommittedAfterTheStreamStartedAreStillRead) {
  Build(1 << 20);
  auto ra = a_->ReadAfter(0, 0, 5000);
  ASSERT_TRUE(ra.ok());
  std::vector<FakeRow> got;
  ASSERT_TRUE(NextInto(**ra, &got));
  db_.AddTransaction(3);  // committed during the pass (the stream's snapshot may miss it)
  while (NextInto(**ra, &got)) {
  }
  ExpectSame(got, Expected(0));
}

TEST_F(SourceFeedTest, SmallAndBoundedReadsUseTheDestinationsOwnSource) {
  Build(1 << 20);
  std::vector<FakeRow> got;
  auto small = a_->ReadAfter(1900, 0, 50);
  ASSERT_TRUE(small.ok());
  while (NextInto(**small, &got)) {
  }
  ExpectSame(got, Expected(1900));
  got.clear();
  auto bounded = a_->ReadAfter(0, 40, 5000);
  ASSERT_TRUE(bounded.ok());
  while (NextInto(**bounded, &got)) {
  }
  EXPECT_EQ(got.size(), 40u);
  EXPECT_EQ(own_reads_a_, 2);
  EXPECT_EQ(feed_reads_, 0);
}

TEST_F(SourceFeedTest, AnAbandonedReadLetsTheNextStreamStart) {
  Build(4096);
  {
    auto ra = a_->ReadAfter(0, 0, 5000);
    ASSERT_TRUE(ra.ok());
    std::vector<FakeRow> got;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(NextInto(**ra, &got));
  }  // abandoned (a destination error)
  // Once the stream has wound down, a new read starts a new stream from its own position (reads
  // meanwhile go on their own). The deadline only bounds a hang; it is no timing claim.
  std::vector<FakeRow> got;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (feed_->streams_started() < 2 && absl::Now() < deadline) {
    auto rb = b_->ReadAfter(5, 0, 5000);
    ASSERT_TRUE(rb.ok());
    got.clear();
    while (NextInto(**rb, &got)) {
    }
  }
  EXPECT_EQ(feed_->streams_started(), 2);
  ExpectSame(got, Expected(5));
}

}  // namespace
}  // namespace slate::testing
