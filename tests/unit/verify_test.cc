#include "server/core/verify.h"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "server/core/repair.h"
#include "server/core/restore.h"
#include "tests/support/fakes.h"

namespace slate::core {
namespace {

using MapTarget = testing::FakeVerifyTarget;

VerifyOptions Chunk(int64_t chunk, bool up_to_position = false) {
  VerifyOptions o;
  o.chunk = chunk;
  o.up_to_position = up_to_position;
  return o;
}

TEST(VerifyTest, IdenticalBehindAndUpToPosition) {
  MapTarget src, dst;
  src.Fill(1000);
  dst.Fill(1000);
  auto r = Verify(src, dst, Chunk(100), nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, VerifyResult::Outcome::kIdentical);
  EXPECT_EQ(DescribeOutcome(*r), "identical (1000 events)");
  for (int64_t id = 901; id <= 1000; ++id) dst.rows.erase(id);
  r = Verify(src, dst, Chunk(100), nullptr);
  EXPECT_EQ(r->outcome, VerifyResult::Outcome::kBehind);
  EXPECT_EQ(DescribeOutcome(*r), "behind by 100 (has 900 of 1000, identical so far)");
  r = Verify(src, dst, Chunk(100, true), nullptr);
  EXPECT_EQ(r->outcome, VerifyResult::Outcome::kIdentical);
}

TEST(VerifyTest, FindsEveryDifferenceReadingOnlyTheDifferingGroups) {
  MapTarget src, dst;
  src.Fill(100000);
  dst.Fill(100000);
  dst.rows[77777].event_md5 = "changed";
  dst.rows[88888].ts_micros = 1;  // a later difference: the first one is reported
  auto r = Verify(src, dst, Chunk(50000), nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->outcome, VerifyResult::Outcome::kDifferent);
  EXPECT_EQ(r->first_difference, 77777);
  EXPECT_EQ(r->source_row->event_md5, "md5-77777");
  EXPECT_EQ(r->destination_row->event_md5, "changed");
  EXPECT_EQ(r->differences.of(DiffClass::kContent).count, 2);
  EXPECT_EQ(r->differences.of(DiffClass::kContent).first_ids, (std::vector<int64_t>{77777, 88888}));
  EXPECT_EQ(r->differences.total(), 2);
  EXPECT_EQ(DescribeOutcome(*r), "differs at id 77777 (2 rows differ)");
  // Two chunk summaries and one group query for the chunk that differs, then only the rows of
  // the two differing groups (391 ids each): not a scan.
  EXPECT_EQ(dst.summaries, 2);
  EXPECT_EQ(dst.group_queries, 1);
  EXPECT_LE(dst.rows_read, 2 * 391);
}

TEST(VerifyTest, MissingExtraAndBehindAreCountedApart) {
  MapTarget src, dst;
  src.Fill(500);
  dst.Fill(500);
  dst.rows.erase(250);
  dst.rows.erase(251);
  auto r = Verify(src, dst, Chunk(100), nullptr);
  EXPECT_EQ(r->first_difference, 250);
  EXPECT_EQ(r->differences.of(DiffClass::kMissing).count, 2);
  EXPECT_TRUE(r->source_row.has_value());
  EXPECT_FALSE(r->destination_row.has_value());
  dst.Fill(510);  // 250 and 251 back, and ten more than the source
  r = Verify(src, dst, Chunk(100), nullptr);
  EXPECT_EQ(r->outcome, VerifyResult::Outcome::kDifferent);
  EXPECT_EQ(r->first_difference, 501);
  EXPECT_EQ(r->differences.of(DiffClass::kExtra).count, 10);
  EXPECT_EQ(r->differences.of(DiffClass::kExtra).first_ids,
            (std::vector<int64_t>{501, 502, 503, 504, 505}));
  EXPECT_FALSE(r->source_row.has_value());
  EXPECT_EQ(r->destination_row->id, 501);
  // Behind and a changed row: both said.
  for (int64_t id = 450; id <= 510; ++id) dst.rows.erase(id);
  dst.rows[7].event_md5 = "x";
  r = Verify(src, dst, Chunk(100), nullptr);
  EXPECT_EQ(r->outcome, VerifyResult::Outcome::kDifferent);
  EXPECT_EQ(r->behind, 51);
  EXPECT_EQ(DescribeOutcome(*r), "differs at id 7 (1 row differs; behind by 51)");
  EXPECT_NE(NextStep(*r, "d").find("repair leaves them alone"), std::string::npos);
}

TEST(VerifyTest, MillisecondTruncatedTimestampsAreTheirOwnClassWithTheirFixes) {
  MapTarget src, dst;
  src.Fill(3000);
  for (auto& [id, row] : src.rows) row.ts_micros = id * 1000 + 123;  // sub-millisecond digits
  dst.rows = src.rows;
  for (auto& [id, row] : dst.rows) row.ts_micros = TruncateToMillis(row.ts_micros);
  dst.rows[2000].ts_micros -= 1000;  // a ts off by a millisecond: not the Node tool's
  dst.rows[2500].event_md5 = "other";
  auto r = Verify(src, dst, Chunk(1000), nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->differences.of(DiffClass::kTsMillis).count, 2998);
  EXPECT_EQ(r->differences.of(DiffClass::kTsMillis).first_ids,
            (std::vector<int64_t>{1, 2, 3, 4, 5}));
  EXPECT_EQ(r->differences.of(DiffClass::kContent).count, 2);
  EXPECT_EQ(r->differences.first_class, DiffClass::kTsMillis);
  const std::string next = NextStep(*r, "replica1");
  EXPECT_NE(next.find("2998 rows differ only in ts below the millisecond"), std::string::npos);
  EXPECT_NE(next.find("--ts-millis"), std::string::npos);
  EXPECT_NE(next.find("slatectl repair -c FILE --destination replica1"), std::string::npos);
  EXPECT_NE(next.find("2 rows differ otherwise"), std::string::npos);

  Differences diff;
  std::vector<TsFix> fixes;
  ASSERT_TRUE(CompareRange(src, dst, 1, 3000, &diff, &fixes).ok());
  ASSERT_EQ(fixes.size(), 2998u);
  EXPECT_EQ(fixes[0].id, 1);
  EXPECT_EQ(fixes[0].source_ts_micros, 1123);
  EXPECT_EQ(fixes[0].destination_ts_micros, 1000);
  EXPECT_EQ(fixes[0].event_md5, "md5-1");
  for (const TsFix& f : fixes) EXPECT_TRUE(f.id != 2000 && f.id != 2500) << f.id;
}

TEST(VerifyTest, TruncationToMillisecondsFloorsBeforeTheEpochToo) {
  EXPECT_EQ(TruncateToMillis(1234567), 1234000);
  EXPECT_EQ(TruncateToMillis(-1), -1000);
  EXPECT_EQ(TruncateToMillis(-1000), -1000);
}

// Applies fixes to a MapTarget as the PostgreSQL rewriter does: only to rows still as seen.
class MapRewriter : public TsRewriter {
 public:
  explicit MapRewriter(MapTarget& target) : target_(target) {}
  std::vector<size_t> transaction_sizes;
  std::vector<std::vector<int64_t>> transaction_ts;  // each transaction's source ts, per row
  std::function<void()> before_each;
  absl::StatusOr<int64_t> RewriteTs(const std::vector<TsFix>& fixes) override {
    if (before_each) before_each();
    transaction_sizes.push_back(fixes.size());
    transaction_ts.emplace_back();
    for (const TsFix& f : fixes) transaction_ts.back().push_back(f.source_ts_micros);
    int64_t n = 0;
    for (const TsFix& f : fixes) {
      auto it = target_.rows.find(f.id);
      if (it == target_.rows.end() || it->second.ts_micros != f.destination_ts_micros ||
          it->second.event_md5 != f.event_md5) {
        continue;
      }
      it->second.ts_micros = f.source_ts_micros;
      ++n;
    }
    return n;
  }

 private:
  MapTarget& target_;
};

class RepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src.Fill(25000);
    for (auto& [id, row] : src.rows) row.ts_micros = id * 1000 + 7;
    dst.rows = src.rows;
    for (auto& [id, row] : dst.rows) row.ts_micros = TruncateToMillis(row.ts_micros);
  }
  RepairOptions Options() {
    RepairOptions o;
    o.chunk = 4000;
    o.max_rows_per_transaction = 10000;
    return o;
  }
  MapTarget src, dst;
};

TEST_F(RepairTest, RewritesOnlyTruncatedRowsInBoundedTransactions) {
  dst.rows[100].event_md5 = "tampered";
  dst.rows.erase(200);
  dst.rows[300].ts_micros = 5;  // another ts: content, not the Node tool's truncation
  MapRewriter writer(dst);
  std::vector<RepairProgress> seen;
  auto r = RepairTruncatedTs(
      src, dst, writer, Options(), [&](const RepairProgress& p) { seen.push_back(p); }, nullptr);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->repaired, 25000 - 3);
  EXPECT_EQ(r->skipped, 0);
  EXPECT_EQ(r->left.of(DiffClass::kContent).count, 2);
  EXPECT_EQ(r->left.of(DiffClass::kMissing).first_ids, std::vector<int64_t>{200});
  EXPECT_EQ(r->left.of(DiffClass::kTsMillis).count, 0);
  for (size_t n : writer.transaction_sizes) EXPECT_LE(n, 10000u);
  EXPECT_EQ(dst.rows[100].ts_micros, TruncateToMillis(src.rows[100].ts_micros)) << "left alone";
  EXPECT_EQ(dst.rows[300].ts_micros, 5) << "left alone";
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.back().compared_up_to, 25000);
  EXPECT_EQ(seen.back().repaired, 25000 - 3);
  auto v = Verify(src, dst, Chunk(4000), nullptr);
  EXPECT_EQ(v->differences.total(), 3);
}

TEST_F(RepairTest, NoSourceTransactionIsMendedInTwoTransactions) {
  // Source transactions of 7 rows (one ts each) and one of 31 (ids 100..130), chunks of 4000
  // ids, at most 10 rows per transaction.
  for (auto& [id, row] : src.rows) row.ts_micros = (id - 1) / 7 * 1000 + 500;
  for (int64_t id = 100; id <= 130; ++id) src.rows[id].ts_micros = 99999500;
  dst.rows = src.rows;
  for (auto& [id, row] : dst.rows) row.ts_micros = TruncateToMillis(row.ts_micros);
  MapRewriter writer(dst);
  RepairOptions o = Options();
  o.max_rows_per_transaction = 10;
  auto r = RepairTruncatedTs(src, dst, writer, o, nullptr, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->repaired, 25000);
  std::map<int64_t, int> transactions_of_ts;
  int big = 0;
  for (const std::vector<int64_t>& tx : writer.transaction_ts) {
    if (tx.size() == 31) {
      ++big;  // the one source transaction larger than the limit, alone
      EXPECT_EQ(std::set<int64_t>(tx.begin(), tx.end()).size(), 1u);
      continue;
    }
    EXPECT_LE(tx.size(), 10u);
    EXPECT_GE(tx.size(), 4u) << "cut only between source transactions, not shorter";
    for (int64_t ts : std::set<int64_t>(tx.begin(), tx.end())) ++transactions_of_ts[ts];
  }
  EXPECT_EQ(big, 1);
  for (const auto& [ts, n] : transactions_of_ts) EXPECT_EQ(n, 1) << "ts " << ts << " split";
}

TEST_F(RepairTest, ARowChangedBeforeItsRewriteIsSkippedAndAStopEndsBetweenTransactions) {
  MapRewriter writer(dst);
  writer.before_each = [&] { dst.rows[2].event_md5 = "changed meanwhile"; };
  int calls = 0;
  RepairOptions o = Options();
  o.max_rows_per_transaction = 1000;
  auto r = RepairTruncatedTs(src, dst, writer, o, nullptr, [&] { return ++calls > 3; });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(writer.transaction_sizes.size(), 3u);
  EXPECT_EQ(dst.rows[2].ts_micros, TruncateToMillis(src.rows[2].ts_micros));
  // Run again: the rest, and nothing twice.
  writer.before_each = nullptr;
  r = RepairTruncatedTs(src, dst, writer, o, nullptr, nullptr);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->repaired, 25000 - 3000);
  EXPECT_EQ(r->left.of(DiffClass::kContent).first_ids, std::vector<int64_t>{2});
}

core::RowSummary Summary(int64_t id, int64_t ts, const std::string& encoded) {
  return {id, ts, static_cast<int64_t>(encoded.size()), encoded, ""};
}

// A target source in memory: rows land in `view` only when the COPY ends; a commit keeps them.
class FakeRestoreTarget : public RestoreTarget {
 public:
  absl::Status Begin() override {
    began = true;
    return absl::OkStatus();
  }
  absl::Status Write(const EventRow& row) override {
    copied.push_back(Summary(row.id, row.ts, std::string(row.encoded)));
    return absl::OkStatus();
  }
  absl::Status EndCopy() override {
    for (const core::RowSummary& r : copied) table.rows[r.id] = r;
    if (tamper_id != 0) table.rows[tamper_id].event_md5 = "changed";
    return absl::OkStatus();
  }
  VerifyTarget& view() override { return table; }
  absl::Status Commit(int64_t max_id) override {
    committed_max = max_id;
    return absl::OkStatus();
  }
  void Abort() override {
    aborted = true;
    table.rows.clear();
  }
  std::vector<core::RowSummary> copied;
  MapTarget table;
  int64_t tamper_id = 0;
  bool began = false;
  bool aborted = false;
  int64_t committed_max = 0;
};

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 40; ++i) backup.AddTransaction(i % 7 + 1);
    for (const testing::FakeRow& r : backup.Rows()) {
      backup_view.rows[r.id] = Summary(r.id, r.ts, r.encoded);
    }
  }
  testing::FakeSourceDb backup;
  MapTarget backup_view;
};

TEST_F(RestoreTest, CopiesEveryRowUntouchedVerifiesThenCommitsWithTheMaxId) {
  testing::FakeEventSource source(backup);
  FakeRestoreTarget target;
  std::vector<RestoreProgress> seen;
  const int64_t max = backup.MaxId();
  auto r = Restore(source, backup_view, target, max, 64,
                   [&](const RestoreProgress& p) { seen.push_back(p); });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->rows, max);
  EXPECT_EQ(r->next_insert_id, max + 1);
  EXPECT_EQ(target.committed_max, max);
  EXPECT_FALSE(target.aborted);
  ASSERT_EQ(target.copied.size(), static_cast<size_t>(max));
  for (const testing::FakeRow& row : backup.Rows()) {
    EXPECT_EQ(target.copied[static_cast<size_t>(row.id - 1)].event_md5, row.encoded);
  }
  ASSERT_FALSE(seen.empty());
  EXPECT_TRUE(seen.back().verifying);
  EXPECT_EQ(seen.back().done, max);
}

TEST_F(RestoreTest, ARowThatDiffersAfterTheCopyRollsEverythingBack) {
  testing::FakeEventSource source(backup);
  FakeRestoreTarget target;
  target.tamper_id = 100;
  auto r = Restore(source, backup_view, target, backup.MaxId(), 64, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("differ from the backup"), std::string::npos);
  EXPECT_TRUE(target.aborted);
  EXPECT_EQ(target.committed_max, 0);
}

TEST_F(RestoreTest, AHoleInTheBackupRollsBack) {
  backup.AddRow(backup.MaxId() + 2, 1);  // a hole before it
  testing::FakeEventSource source(backup);
  FakeRestoreTarget target;
  auto r = Restore(source, backup_view, target, backup.MaxId(), 64, nullptr);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.status().message().find("ids are missing"), std::string::npos) << r.status();
  EXPECT_TRUE(target.aborted);
  EXPECT_EQ(target.committed_max, 0);
}

}  // namespace
}  // namespace slate::core
