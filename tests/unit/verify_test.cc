#include "server/core/verify.h"

#include <map>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace slate::core {
namespace {

class MapTarget : public VerifyTarget {
 public:
  std::map<int64_t, RowSummary> rows;
  int summaries = 0;
  absl::StatusOr<int64_t> MaxId() override { return rows.empty() ? 0 : rows.rbegin()->first; }
  absl::StatusOr<RangeSummary> Summarize(int64_t from, int64_t to) override {
    ++summaries;
    RangeSummary s;
    uint64_t sum = 0;
    for (auto it = rows.lower_bound(from); it != rows.end() && it->first <= to; ++it) {
      ++s.count;
      sum += std::hash<std::string>()(
          absl::StrCat(it->first, "|", it->second.ts_micros, "|", it->second.event_md5));
    }
    s.digest = absl::StrCat(sum);
    return s;
  }
  absl::StatusOr<std::vector<RowSummary>> Rows(int64_t from, int64_t to) override {
    std::vector<RowSummary> out;
    for (auto it = rows.lower_bound(from); it != rows.end() && it->first <= to; ++it) {
      out.push_back(it->second);
    }
    return out;
  }
  void Fill(int64_t n) {
    for (int64_t id = 1; id <= n; ++id)
      rows[id] = {id, id * 1000, 10, absl::StrCat("md5-", id), "{}"};
  }
};

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

TEST(VerifyTest, BisectsToTheFirstDifferenceWithFewQueries) {
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
  EXPECT_LT(dst.summaries, 20);  // bisection, not a scan
}

TEST(VerifyTest, AMissingRowAndRowsBeyondTheSourceAreDifferences) {
  MapTarget src, dst;
  src.Fill(500);
  dst.Fill(500);
  dst.rows.erase(250);
  auto r = Verify(src, dst, Chunk(100), nullptr);
  EXPECT_EQ(r->first_difference, 250);
  EXPECT_TRUE(r->source_row.has_value());
  EXPECT_FALSE(r->destination_row.has_value());
  dst.Fill(510);  // 250 back, and ten more than the source
  r = Verify(src, dst, Chunk(100), nullptr);
  EXPECT_EQ(r->outcome, VerifyResult::Outcome::kDifferent);
  EXPECT_EQ(r->first_difference, 501);
  EXPECT_FALSE(r->source_row.has_value());
  EXPECT_EQ(r->destination_row->id, 501);
}

}  // namespace
}  // namespace slate::core
