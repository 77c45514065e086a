// Continuous verification in a running replicator, on real databases: an old row changed or
// deleted on a replica is found, the destination shows diverged (status, metrics, log) while
// copying goes on, and a mended replica is equal again; a destination the original Node tool
// wrote is reported as ts_millis, and slatectl repair mends it while the replicator runs.

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"

namespace slate::testing {
namespace {

double Must(const absl::StatusOr<double>& v) { return v.ok() ? *v : -1; }

class ContinuousVerifyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = NewSlateDatabase(c(), pg::TableType::kSource);
    dst_ = NewSlateDatabase(c(), pg::TableType::kDestination);
    FillSource(Src(), 300, 1, 80);
    total_ = Count(Src());
    config_ = Config("config.json", "postgres", 1500);
  }
  // The replica written as `user`; a pass from id 1 every `pass_interval_ms`.
  std::string Config(const std::string& file, const std::string& user, int pass_interval_ms) {
    return WriteFile(
        c().dir(), file,
        absl::StrCat("{\"replicationDestinations\": [{\"name\": \"replica\", \"host\": "
                     "\"127.0.0.1\", \"port\": ",
                     c().port(), ", \"databaseName\": \"", dst_, "\", \"user\": \"", user,
                     "\"}], \"eventSource\": {\"host\": \"127.0.0.1\", \"port\": ", c().port(),
                     ", \"databaseName\": \"", src_,
                     "\", \"user\": \"postgres\"}, \"pollInterval\": 300, "
                     "\"verifyIdsPerSecond\": 200000, \"verifyPassInterval\": ",
                     pass_interval_ms, "}"));
  }
  PgCluster& c() { return SharedCluster(); }
  std::string Src() { return c().ConnInfo(src_); }
  std::string Dst() { return c().ConnInfo(dst_); }
  void StartReplicator() {
    auto r = ReplicatorProcess::Start(config_);
    ASSERT_TRUE(r.ok());
    replicator_ = std::move(*r);
    metrics_ = replicator_->WaitForMetricsPort();
    control_ = replicator_->WaitForControlPort();
    ASSERT_GT(metrics_, 0);
    ASSERT_GT(control_, 0);
  }
  double Metric(const std::string& name) {
    auto body = HttpGet(metrics_, "/metrics");
    return body.ok() ? Must(Sample(*body, name, "destination=\"replica\"")) : -1;
  }
  std::string StatusJson() {
    std::string out;
    RunSlatectl({"status", "-o", "json", "--server", absl::StrCat("127.0.0.1:", control_)}, &out);
    return out;
  }
  // Waits for a verdict: diverged (or not) found by a pass that began after now.
  bool AwaitVerdict(bool diverged) {
    const double passes = Metric("slate_replicator_destination_last_full_verify_timestamp_seconds");
    const std::string want = diverged ? "\"diverged\":true" : "\"diverged\":false";
    int seen = 0;
    double last = passes;
    return WaitUntil([&] {
      const double now = Metric("slate_replicator_destination_last_full_verify_timestamp_seconds");
      if (now != last) {
        ++seen;
        last = now;
      }
      // Two pass ends after the change: the second began after it.
      return seen >= 2 && (Metric("slate_replicator_destination_diverged") == 1) == diverged &&
             StatusJson().find(want) != std::string::npos;
    });
  }
  // The first pass over the rows of SetUp has ended.
  bool AwaitFirstPass() {
    return WaitUntil([&] {
      return Metric("slate_replicator_destination_verified_position") ==
                 static_cast<double>(total_) &&
             Metric("slate_replicator_destination_last_full_verify_timestamp_seconds") > 0;
    });
  }
  void InSync() {
    const std::string want = Digest(Src());
    ASSERT_TRUE(WaitUntil([&] { return Digest(Dst()) == want; })) << replicator_->Log();
  }

  std::string src_, dst_, config_;
  long long total_ = 0;
  std::unique_ptr<ReplicatorProcess> replicator_;
  int metrics_ = 0;
  int control_ = 0;
};

TEST_F(ContinuousVerifyTest, AChangedOrDeletedOldRowIsFoundWhileCopyingGoesOn) {
  StartReplicator();
  InSync();
  ASSERT_TRUE(AwaitFirstPass()) << replicator_->Log();
  EXPECT_EQ(Metric("slate_replicator_destination_diverged"), 0);

  // An old row changed on the replica.
  const std::string original = QueryValue(Dst(), "SELECT event::text FROM events WHERE id = 77");
  Exec(Dst(), "UPDATE events SET event = event || '{\"tampered\": true}' WHERE id = 77");
  ASSERT_TRUE(AwaitVerdict(true)) << StatusJson() << replicator_->Log();
  std::string status = StatusJson();
  EXPECT_EQ(JsonField(status, "diverged_at_id"), 77) << status;
  EXPECT_NE(status.find("\"diverged_class\":\"content\""), std::string::npos) << status;
  EXPECT_NE(status.find("\"state\":\"STATE_DIVERGED\""), std::string::npos) << status;
  EXPECT_EQ(Metric("slate_replicator_destination_differing_rows"), 1);
  const std::string log = replicator_->Log();
  EXPECT_NE(log.find("destination diverged from the source"), std::string::npos) << log;
  // Copying goes on (the replica differs at id 77, so compare the new rows only).
  InsertEvents(Src(), 30);
  ASSERT_TRUE(WaitUntil([&] {
    return QueryValue(Dst(), "SELECT max(id) FROM events") ==
           QueryValue(Src(), "SELECT max(id) FROM events");
  })) << replicator_->Log();
  const std::string tail = absl::StrCat(
      "SELECT md5(string_agg(id || ts::text || event::text, ',' "
      "ORDER BY id)) FROM events WHERE id > ",
      total_);
  EXPECT_EQ(QueryValue(Dst(), tail), QueryValue(Src(), tail));

  // Mended, then a row deleted: found as missing.
  Exec(Dst(), absl::StrCat("UPDATE events SET event = '", original, "'::jsonb WHERE id = 77"));
  Exec(Dst(), "DELETE FROM events WHERE id = 500");
  ASSERT_TRUE(WaitUntil([&] {
    const std::string s = StatusJson();
    return JsonField(s, "diverged_at_id") == 500 &&
           s.find("\"diverged_class\":\"missing\"") != std::string::npos;
  })) << StatusJson();
  // Put back from the source: equal again, the state back to in_sync.
  const std::string row =
      QueryValue(Src(),
                 "SELECT format('(%s, %L::timestamptz, %L::jsonb)', id, ts, event) FROM events "
                 "WHERE id = 500");
  Exec(Dst(), "INSERT INTO events (id, ts, event) VALUES " + row);
  ASSERT_TRUE(AwaitVerdict(false)) << StatusJson();
  status = StatusJson();
  EXPECT_NE(status.find("\"state\":\"STATE_IN_SYNC\""), std::string::npos) << status;
  EXPECT_NE(replicator_->Log().find("destination equals the source again"), std::string::npos);
}

TEST_F(ContinuousVerifyTest, ANodeToolDestinationIsReportedAsTsMillisAndRepairMendsIt) {
  StartReplicator();
  InSync();
  replicator_->Signal(SIGTERM);
  ASSERT_TRUE(replicator_->Wait().ok());
  Exec(Dst(), "UPDATE events SET ts = date_trunc('milliseconds', ts)");
  const long long truncated =
      QueryInt(Src(), "SELECT count(*) FROM events WHERE ts <> date_trunc('milliseconds', ts)");
  StartReplicator();
  ASSERT_TRUE(WaitUntil([&] {
    const std::string s = StatusJson();
    return s.find("\"diverged_class\":\"ts_millis\"") != std::string::npos &&
           JsonField(s, "differing_rows") == truncated;
  })) << StatusJson();
  std::string out;
  ASSERT_EQ(RunSlatectl({"repair", "-c", config_, "--destination", "replica", "--server",
                         absl::StrCat("127.0.0.1:", control_)},
                        &out),
            0)
      << out;
  EXPECT_NE(out.find("paused through the control API"), std::string::npos) << out;
  ASSERT_TRUE(AwaitVerdict(false)) << StatusJson();
  InsertEvents(Src(), 5);
  InSync();
  EXPECT_EQ(RunSlatectl({"verify", "-c", config_}, &out), 0) << out;
}

TEST_F(ContinuousVerifyTest, ARestartGoesOnFromTheCheckpointKeptInTheDestination) {
  config_ = Config("hourly.json", "postgres", 3600000);
  StartReplicator();
  InSync();
  ASSERT_TRUE(AwaitFirstPass()) << replicator_->Log();
  const double pass_ended =
      Metric("slate_replicator_destination_last_full_verify_timestamp_seconds");
  // Kept in the destination, proven up to its last row (saved at the pass's end).
  ASSERT_TRUE(WaitUntil([&] {
    return QueryValue(Dst(), "SELECT to_regclass('slate_replicator_verification') IS NOT NULL") ==
           "t";
  })) << replicator_->Log();
  EXPECT_EQ(QueryInt(Dst(), "SELECT proven_through FROM slate_replicator_verification"), total_);
  replicator_->Signal(SIGKILL);
  ASSERT_TRUE(replicator_->Wait().ok());

  // The restart goes on from it: the last pass's end stands, and nothing old is compared again.
  StartReplicator();
  ASSERT_TRUE(WaitUntil([&] {
    return replicator_->Log().find("continuous verification goes on from its checkpoint") !=
           std::string::npos;
  })) << replicator_->Log();
  EXPECT_EQ(Metric("slate_replicator_destination_last_full_verify_timestamp_seconds"), pass_ended);
  EXPECT_EQ(Metric("slate_replicator_destination_verified_position"), static_cast<double>(total_));
  // New rows are verified as they come, and saved (at most every ten seconds).
  InsertEvents(Src(), 20);
  InSync();
  const long long now_total = Count(Src());
  ASSERT_TRUE(WaitUntil([&] {
    return QueryInt(Dst(), "SELECT proven_through FROM slate_replicator_verification") == now_total;
  })) << replicator_->Log();
  EXPECT_EQ(Metric("slate_replicator_destination_verified_position"),
            static_cast<double>(now_total));
  replicator_->Signal(SIGTERM);
  ASSERT_TRUE(replicator_->Wait().ok());

  // While it is stopped, the table is rewritten (the same rows): not the table proven, so the
  // start verifies from id 1, and finds it equal.
  Exec(Dst(), "VACUUM FULL events");
  StartReplicator();
  ASSERT_TRUE(WaitUntil([&] {
    return replicator_->Log().find("verification checkpoint does not match the databases") !=
               std::string::npos &&
           Metric("slate_replicator_destination_last_full_verify_timestamp_seconds") > pass_ended;
  })) << replicator_->Log();
  EXPECT_EQ(Metric("slate_replicator_destination_diverged"), 0);
  replicator_->Signal(SIGTERM);
  ASSERT_TRUE(replicator_->Wait().ok());

  // While it is stopped, the row the checkpoint names changes: not trusted, verified from id 1.
  Exec(Dst(), absl::StrCat("UPDATE events SET event = event || '{\"tampered\": true}' WHERE id = ",
                           now_total));
  StartReplicator();
  ASSERT_TRUE(WaitUntil([&] { return JsonField(StatusJson(), "diverged_at_id") == now_total; }))
      << StatusJson() << replicator_->Log();
  EXPECT_NE(replicator_->Log().find("verification checkpoint does not match the databases"),
            std::string::npos)
      << replicator_->Log();
  EXPECT_EQ(QueryInt(Dst(), "SELECT proven_through FROM slate_replicator_verification"), 0)
      << "a difference found is saved at once";
}

TEST_F(ContinuousVerifyTest, AUserThatMayNotCreateTablesIsVerifiedFromIdOneAtEachStart) {
  // The replica written by a user that may insert into events but not create tables (PostgreSQL
  // 15's default for the public schema).
  Exec(Dst(),
       "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'plain_writer') THEN "
       "CREATE ROLE plain_writer LOGIN; END IF; END $$; "
       "GRANT SELECT, INSERT ON events TO plain_writer");
  config_ = Config("plain.json", "plain_writer", 3600000);
  StartReplicator();
  InSync();
  ASSERT_TRUE(WaitUntil([&] {
    return Metric("slate_replicator_destination_last_full_verify_timestamp_seconds") > 0;
  })) << replicator_->Log();
  EXPECT_EQ(Metric("slate_replicator_destination_diverged"), 0);
  const std::string log = replicator_->Log();
  EXPECT_NE(log.find("cannot keep its checkpoint in the destination"), std::string::npos) << log;
  EXPECT_NE(log.find("permission denied for schema public"), std::string::npos) << log;
  EXPECT_EQ(QueryValue(Dst(), "SELECT to_regclass('slate_replicator_verification') IS NULL"), "t");

  // A table there it may not read (made by a run as the owner): the same, not an error that
  // stops it.
  replicator_->Signal(SIGTERM);
  ASSERT_TRUE(replicator_->Wait().ok());
  const std::string plain = config_;
  config_ = Config("owner.json", "postgres", 3600000);
  StartReplicator();
  ASSERT_TRUE(WaitUntil([&] {
    return QueryValue(Dst(), "SELECT to_regclass('slate_replicator_verification') IS NOT NULL") ==
           "t";
  })) << replicator_->Log();
  replicator_->Signal(SIGTERM);
  ASSERT_TRUE(replicator_->Wait().ok());
  config_ = plain;
  StartReplicator();
  ASSERT_TRUE(WaitUntil([&] {
    return Metric("slate_replicator_destination_last_full_verify_timestamp_seconds") > 0;
  })) << replicator_->Log();
  EXPECT_NE(replicator_->Log().find("permission denied for table slate_replicator_verification"),
            std::string::npos)
      << replicator_->Log();
  EXPECT_NE(StatusJson().find("\"verify_error\":\"\""), std::string::npos) << StatusJson();
}

}  // namespace
}  // namespace slate::testing
