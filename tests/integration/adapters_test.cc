// The PostgreSQL adapters on a real database: the two read paths give the same bytes, and
// parallel writes commit whole, in order, with their checks.

#include "server/postgres/adapters.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "server/core/copy_pass.h"
#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"

namespace slate::testing {
namespace {

struct ReadRow {
  int64_t id;
  int64_t ts;
  std::string encoded;
};

class NoStop : public core::PassObserver {
 public:
  bool StopRequested() override { return false; }
  void OnBatchStart(int64_t) override {}
  void OnBatchCommitted(int64_t, int64_t, int64_t) override { ++batches; }
  int batches = 0;
};

// The source and its first destination (a second one is made too, and unused).
class AdaptersTest : public SourceAndDestinations {
 protected:
  PgCluster& c() { return SharedCluster(); }
  std::string Src() { return Source(); }
  std::string Dst() { return Dest(0); }
  ConnParams SrcParams() { return c().Params(source_db_); }
  ConnParams DstParams() { return DestParams()[0]; }

  std::vector<ReadRow> ReadAll(int64_t after, int64_t up_to, int64_t expected_rows) {
    auto source = pg::NewEventSource(SrcParams(), "source");
    EXPECT_TRUE(source->Connect().ok());
    auto reader = source->ReadAfter(after, up_to, expected_rows);
    EXPECT_TRUE(reader.ok()) << reader.status();
    std::vector<ReadRow> out;
    if (!reader.ok()) return out;
    core::EventRow row;
    while (true) {
      auto more = (*reader)->Next(&row);
      EXPECT_TRUE(more.ok()) << more.status();
      if (!more.ok() || !*more) break;
      out.push_back({row.id, row.ts, std::string(row.encoded)});
    }
    return out;
  }

  std::unique_ptr<core::EventSink> Sink(bool lock) {
    pg::SinkOptions options;
    options.take_writer_lock = lock;
    auto sink = pg::NewEventSink(DstParams(), "destination", options);
    EXPECT_TRUE(sink->Connect().ok());
    return sink;
  }
};

TEST_F(AdaptersTest, SmallAndLargeReadsGiveTheSameBytesAndSmallOnesGoOnPastTheirLimit) {
  FillSource(Src(), 120, 20, 30);  // about 3,000 events: more than a small read's 1,000 rows
  const long long total = Count(Src());
  ASSERT_GT(total, 2000);
  const auto copied = ReadAll(0, 0, /*expected_rows=*/0);          // COPY
  const auto selected = ReadAll(0, 0, /*expected_rows=*/5);        // SELECT, then COPY
  const auto bounded = ReadAll(10, 1500, /*expected_rows=*/1000);  // SELECT, then COPY, bounded
  ASSERT_EQ(static_cast<long long>(copied.size()), total);
  ASSERT_EQ(selected.size(), copied.size());
  for (size_t i = 0; i < copied.size(); ++i) {
    ASSERT_EQ(copied[i].id, static_cast<int64_t>(i + 1));
    ASSERT_EQ(selected[i].id, copied[i].id);
    ASSERT_EQ(selected[i].ts, copied[i].ts);
    ASSERT_EQ(selected[i].encoded, copied[i].encoded) << "row " << i + 1;
  }
  ASSERT_EQ(bounded.size(), 1490u);
  EXPECT_EQ(bounded.front().id, 11);
  EXPECT_EQ(bounded.back().id, 1500);
  EXPECT_EQ(bounded.back().encoded, copied[1499].encoded);
}

TEST_F(AdaptersTest, ASmallReadIsAwaitedAtItsFirstRowAndMayBeAbandonedBeforeIt) {
  FillSource(Src(), 3, 2, 2);  // ids 1-6
  auto source = pg::NewEventSource(SrcParams(), "source");
  ASSERT_TRUE(source->Connect().ok());
  // Abandoned before its result was read: the session is still usable, and the next read whole.
  {
    auto sent = source->ReadAfter(0, 0, 6);
    ASSERT_TRUE(sent.ok()) << sent.status();
  }
  auto head = source->Head();
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->max_id, 6);
  auto reader = source->ReadAfter(2, 0, 4);
  ASSERT_TRUE(reader.ok()) << reader.status();
  core::EventRow row;
  int64_t rows = 0;
  while (true) {
    auto more = (*reader)->Next(&row);
    ASSERT_TRUE(more.ok()) << more.status();
    if (!*more) break;
    EXPECT_EQ(row.id, 3 + rows++);
  }
  EXPECT_EQ(rows, 4);
  // A read the source refuses (a role that may not read events): sent without complaint, its
  // error shows at the first row and names the read.
  Exec(Src(), "DROP ROLE IF EXISTS slate_no_read; CREATE ROLE slate_no_read LOGIN");
  ConnParams no_read = SrcParams();
  no_read.user = "slate_no_read";
  {
    auto refused_source = pg::NewEventSource(no_read, "source");
    ASSERT_TRUE(refused_source->Connect().ok());
    auto refused = refused_source->ReadAfter(0, 0, 6);
    ASSERT_TRUE(refused.ok()) << refused.status();
    auto first = (*refused)->Next(&row);
    ASSERT_FALSE(first.ok());
    EXPECT_NE(first.status().message().find("reading events"), std::string::npos) << first.status();
    EXPECT_NE(first.status().message().find("permission denied"), std::string::npos)
        << first.status();
  }
  Exec(Src(), "DROP ROLE slate_no_read");
}

TEST_F(AdaptersTest, ParallelWritesCopyEverythingWholeAndInOrder) {
  FillSource(Src(), 1500, 1, 30);  // about 23,000 events
  auto source = pg::NewEventSource(SrcParams(), "source");
  ASSERT_TRUE(source->Connect().ok());
  auto a = Sink(true), b = Sink(false), d = Sink(false);
  NoStop observer;
  core::PassOptions options;
  options.max_events_per_write = 1000;
  auto result = core::RunCopyPass(*source, {a.get(), b.get(), d.get()}, 0, options, observer);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->end, core::PassEnd::kCaughtUp);
  EXPECT_EQ(result->position, Count(Src()));
  EXPECT_EQ(Digest(Dst()), Digest(Src()));
  EXPECT_EQ(SplitTransactions(Dst()), 0);
  EXPECT_GE(observer.batches, 15);
  // The three sessions each wrote batches.
  EXPECT_EQ(QueryInt(Dst(), "SELECT count(DISTINCT xmin::text) FROM events"), observer.batches);
}

TEST_F(AdaptersTest, AFollowingBatchRefusesToCommitWhenTheRowBeforeItIsGone) {
  FillSource(Src(), 3, 2, 2);  // ids 1-6
  auto head = Sink(true), next = Sink(false);
  auto source = pg::NewEventSource(SrcParams(), "source");
  ASSERT_TRUE(source->Connect().ok());
  auto reader = source->ReadAfter(0, 0, 0);
  ASSERT_TRUE(reader.ok());
  core::EventRow row;
  ASSERT_TRUE(head->BeginBatch(0).ok());
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(*(*reader)->Next(&row));
    ASSERT_TRUE(head->Write(row).ok());
  }
  ASSERT_TRUE(head->EndBatch().ok());
  ASSERT_TRUE(next->BeginFollowingBatch(4).ok());
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(*(*reader)->Next(&row));
    ASSERT_TRUE(next->Write(row).ok());
  }
  ASSERT_TRUE(next->EndBatch().ok());
  ASSERT_TRUE(head->CommitBatch().ok());
  Exec(Dst(), "DELETE FROM events WHERE id = 4");  // someone removed a row meanwhile
  auto committed = next->CommitBatch();
  EXPECT_EQ(committed.status().code(), absl::StatusCode::kDataLoss) << committed.status();
  next->AbortBatch();
  EXPECT_EQ(QueryInt(Dst(), "SELECT count(*) FROM events WHERE id > 4"), 0);
}

TEST_F(AdaptersTest, AHeadBatchFindsAMovedPositionAndWritesNothing) {
  FillSource(Src(), 2, 2, 2);  // ids 1-4
  auto sink = Sink(true);
  Exec(Dst(), "INSERT INTO events SELECT * FROM (VALUES (1::bigint, now(), '{}'::jsonb)) v");
  EXPECT_EQ(sink->BeginBatch(0).code(), absl::StatusCode::kAborted);
  sink->AbortBatch();
  EXPECT_EQ(sink->BeginBatch(2).code(), absl::StatusCode::kDataLoss);  // id 2 never written
  sink->AbortBatch();
  EXPECT_TRUE(sink->Ping().ok());  // the session is usable again
  EXPECT_EQ(QueryInt(Dst(), "SELECT count(*) FROM events"), 1);
}

TEST_F(AdaptersTest, ABatchStartSentAheadCompletesOrIsCancelledCleanly) {
  FillSource(Src(), 3, 2, 2);  // ids 1-6
  auto source = pg::NewEventSource(SrcParams(), "source");
  ASSERT_TRUE(source->Connect().ok());
  auto sink = Sink(true);
  // Sent ahead, then nothing to write: cancelled, nothing written, the session usable.
  ASSERT_TRUE(sink->SendBeginBatch(0).ok());
  sink->AbortBatch();
  EXPECT_TRUE(sink->Ping().ok());
  // Sent ahead for another position than the batch that begins: replaced.
  ASSERT_TRUE(sink->SendBeginBatch(7).ok());
  NoStop observer;
  core::PassOptions options;
  options.expected_rows = 6;  // the pass sends its first batch's start ahead of the read
  auto result = core::RunCopyPass(*source, {sink.get()}, 0, options, observer);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->position, 6);
  EXPECT_EQ(Digest(Dst()), Digest(Src()));
  // A pass that expected rows and found none leaves no transaction open.
  result = core::RunCopyPass(*source, {sink.get()}, 6, options, observer);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->position, 6);
  EXPECT_TRUE(sink->Ping().ok());
  EXPECT_EQ(QueryInt(Dst(), "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in%'"),
            0);
}

}  // namespace
}  // namespace slate::testing
