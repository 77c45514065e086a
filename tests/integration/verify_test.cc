// slatectl verify on real databases.

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"

namespace slate::testing {
namespace {

class VerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = NewSlateDatabase(c(), pg::TableType::kSource);
    dst_ = NewSlateDatabase(c(), pg::TableType::kDestination);
    FillSource(c().ConnInfo(src_), 400, 1, 50);
    config_ = WriteFile(c().dir(), "config.json", ConfigJson(c().Params(src_), {c().Params(dst_)}));
    // A real replica, made by the replicator.
    ASSERT_NO_FATAL_FAILURE(ReplicateOnce(config_, c().ConnInfo(src_), c().ConnInfo(dst_)));
    total_ = Count(c().ConnInfo(src_));
  }
  PgCluster& c() { return SharedCluster(); }
  std::string Dst() { return c().ConnInfo(dst_); }
  int Verify(std::vector<std::string> extra, std::string* out) {
    std::vector<std::string> args = {"verify", "-c", config_, "--chunk", "1000"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunSlatectl(args, out);
  }
  std::string name() { return absl::StrCat("127.0.0.1:", c().port(), "/", dst_); }

  std::string src_, dst_, config_;
  long long total_ = 0;
};

TEST_F(VerifyTest, AFaithfulReplicaIsIdentical) {
  std::string out;
  EXPECT_EQ(Verify({}, &out), 0) << out;
  EXPECT_NE(out.find(absl::StrCat(name(), ": identical (", total_, " events)")), std::string::npos)
      << out;
  EXPECT_EQ(Verify({"-o", "json"}, &out), 0) << out;
  EXPECT_NE(out.find("\"outcome\":\"identical\""), std::string::npos) << out;
}

TEST_F(VerifyTest, BehindIsReportedAndPassesUpToItsPosition) {
  Exec(Dst(), absl::StrCat("DELETE FROM events WHERE id > ", total_ - 10));
  std::string out;
  EXPECT_EQ(Verify({}, &out), 1) << out;
  EXPECT_NE(out.find(absl::StrCat("behind by 10 (has ", total_ - 10, " of ", total_)),
            std::string::npos)
      << out;
  EXPECT_EQ(Verify({"--up-to-position"}, &out), 0) << out;
  EXPECT_NE(out.find("identical up to its position"), std::string::npos) << out;
}

TEST_F(VerifyTest, AChangedRowIsFoundWithBothSummaries) {
  const long long id = total_ / 2 + 7;
  Exec(Dst(),
       absl::StrCat("UPDATE events SET event = event || '{\"tampered\": true}' WHERE id = ", id));
  std::string out;
  EXPECT_EQ(Verify({}, &out), 1) << out;
  EXPECT_NE(out.find(absl::StrCat(name(), ": differs at id ", id)), std::string::npos) << out;
  EXPECT_NE(out.find(absl::StrCat("  source:      id ", id)), std::string::npos) << out;
  EXPECT_NE(out.find(absl::StrCat("  destination: id ", id)), std::string::npos) << out;
  EXPECT_EQ(Verify({"-o", "json"}, &out), 1) << out;
  EXPECT_NE(out.find(absl::StrCat("\"first_difference\":", id)), std::string::npos) << out;
}

TEST_F(VerifyTest, DisplayScaleAndMillisecondsAreDifferencesUnlessAsked) {
  // What the original Node replicator did: ts to the millisecond.
  Exec(Dst(), "UPDATE events SET ts = date_trunc('milliseconds', ts)");
  const std::string truncated = QueryValue(
      c().ConnInfo(src_), "SELECT count(*) FROM events WHERE ts <> date_trunc('milliseconds', ts)");
  ASSERT_NE(truncated, "0");
  std::string out;
  EXPECT_EQ(Verify({}, &out), 1) << out;
  // Every such row counted, in its own class, with the way out.
  EXPECT_NE(out.find(absl::StrCat("(", truncated, " rows differ)")), std::string::npos) << out;
  EXPECT_NE(out.find(absl::StrCat("ts truncated to the millisecond:  ", truncated)),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("--ts-millis` accepts them"), std::string::npos) << out;
  EXPECT_NE(out.find("slatectl repair -c FILE --destination " + name()), std::string::npos) << out;
  EXPECT_EQ(Verify({"-o", "json"}, &out), 1) << out;
  EXPECT_NE(out.find(absl::StrCat("\"differing_rows\":", truncated)), std::string::npos) << out;
  EXPECT_NE(out.find(absl::StrCat("\"ts_millis\":{\"count\":", truncated)), std::string::npos)
      << out;
  EXPECT_NE(out.find("\"content\":{\"count\":0,\"first_ids\":[]}"), std::string::npos) << out;
  EXPECT_EQ(Verify({"--ts-millis"}, &out), 0) << out;
  // A number's display scale (1.50 vs 1.5) is a difference in bytes, even where jsonb equality
  // would call them equal.
  Exec(Dst(),
       "UPDATE events SET event = jsonb_set(event, '{value,amount}', "
       "to_jsonb(round((event #>> '{value,amount}')::numeric, 12))) WHERE id = 3");
  ASSERT_EQ(QueryValue(Dst(), "SELECT '{\"a\": 1.50}'::jsonb = '{\"a\": 1.5}'::jsonb"), "t")
      << "the premise: jsonb equality ignores display scale";
  EXPECT_EQ(Verify({"--ts-millis"}, &out), 1) << out;
  EXPECT_NE(out.find("differs at id 3 (1 row differs)"), std::string::npos) << out;
  EXPECT_NE(out.find("content differs:                  1  (id 3)"), std::string::npos) << out;
}

TEST_F(VerifyTest, EveryClassIsCountedInOneRun) {
  Exec(Dst(), "UPDATE events SET event = event || '{\"tampered\": true}' WHERE id IN (10, 20)");
  Exec(Dst(), "DELETE FROM events WHERE id IN (30, 31, 32)");
  Exec(Dst(),
       "UPDATE events SET ts = date_trunc('milliseconds', ts) WHERE id BETWEEN 40 AND 49 "
       "AND ts <> date_trunc('milliseconds', ts)");
  const long long millis =
      std::stoll(QueryValue(c().ConnInfo(src_),
                            "SELECT count(*) FROM events WHERE id BETWEEN 40 AND 49 AND ts <> "
                            "date_trunc('milliseconds', ts)"));
  std::string out;
  EXPECT_EQ(Verify({"-o", "json"}, &out), 1) << out;
  EXPECT_NE(out.find("\"content\":{\"count\":2,\"first_ids\":[10,20]}"), std::string::npos) << out;
  EXPECT_NE(out.find("\"missing\":{\"count\":3,\"first_ids\":[30,31,32]}"), std::string::npos)
      << out;
  EXPECT_NE(out.find(absl::StrCat("\"ts_millis\":{\"count\":", millis)), std::string::npos) << out;
  EXPECT_NE(out.find(absl::StrCat("\"differing_rows\":", 5 + millis)), std::string::npos) << out;
  EXPECT_NE(out.find("\"first_difference\":10"), std::string::npos) << out;
}

TEST_F(VerifyTest, RowsBeyondTheSourceAndUnreachableDatabases) {
  Exec(Dst(), absl::StrCat("INSERT INTO events VALUES (", total_ + 1, ", now(), '{}')"));
  std::string out;
  EXPECT_EQ(Verify({}, &out), 1) << out;
  EXPECT_NE(out.find(absl::StrCat("differs at id ", total_ + 1)), std::string::npos) << out;
  EXPECT_NE(out.find("source:      (no row)"), std::string::npos) << out;
  ConnParams gone = c().Params(dst_);
  gone.port = 1;
  const std::string bad = WriteFile(c().dir(), "config.json", ConfigJson(c().Params(src_), {gone}));
  EXPECT_EQ(RunSlatectl({"verify", "-c", bad}, &out), 3) << out;
  EXPECT_NE(out.find("cannot verify"), std::string::npos) << out;
  EXPECT_EQ(RunSlatectl({"verify"}, &out), 2) << out;
  EXPECT_EQ(Verify({"--destination", "nope"}, &out), 2) << out;
}

}  // namespace
}  // namespace slate::testing
