// slatectl repair on real databases: destinations written the way the original Node replicator
// wrote them (ts truncated with date_trunc('milliseconds', ts)).

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include <pqxx/pqxx>

#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"
#include "tests/support/subprocess.h"

namespace slate::testing {
namespace {

constexpr char kTruncatedRows[] =
    "SELECT count(*) FROM events WHERE ts = date_trunc('milliseconds', ts)";

class RepairTest : public ::testing::Test {
 protected:
  void SetUp() override {
    src_ = NewSlateDatabase(c(), pg::TableType::kSource);
    dst_ = NewSlateDatabase(c(), pg::TableType::kDestination);
    FillSource(c().ConnInfo(src_), 300, 1, 80);
    config_ = WriteFile(c().dir(), "config.json", ConfigJson(c().Params(src_), {c().Params(dst_)}));
    ASSERT_NO_FATAL_FAILURE(ReplicateOnce(config_, Src(), Dst()));
    total_ = Count(Src());
    // As the Node tool left it.
    Exec(Dst(), "UPDATE events SET ts = date_trunc('milliseconds', ts)");
    truncated_ = total_ - QueryInt(Src(), kTruncatedRows);
    ASSERT_GT(truncated_, 1000);
  }
  PgCluster& c() { return SharedCluster(); }
  std::string Src() { return c().ConnInfo(src_); }
  std::string Dst() { return c().ConnInfo(dst_); }
  std::string name() { return absl::StrCat("127.0.0.1:", c().port(), "/", dst_); }
  // No replicator answers there.
  std::string NoServer() { return absl::StrCat("127.0.0.1:", FreeLoopbackPort().value_or(1)); }
  int Repair(std::vector<std::string> extra, std::string* out, const std::string& config = "") {
    std::vector<std::string> args = {"repair", "-c", config.empty() ? config_ : config, "--chunk",
                                     "2000"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunSlatectl(args, out);
  }
  int Verify(std::string* out) { return RunSlatectl({"verify", "-c", config_}, out); }

  std::string src_, dst_, config_;
  long long total_ = 0;
  long long truncated_ = 0;
};

TEST_F(RepairTest, RewritesTruncatedRowsAndLeavesEveryOtherDifferenceAlone) {
  Exec(Dst(), "UPDATE events SET event = event || '{\"tampered\": true}' WHERE id = 5");
  Exec(Dst(), "DELETE FROM events WHERE id = 8");
  const std::string row5 =
      QueryValue(Dst(), "SELECT ts::text || event::text FROM events WHERE id = 5");
  std::string out;
  EXPECT_EQ(Repair({"--destination", name(), "--server", NoServer()}, &out), 1) << out;
  const long long expected = truncated_ - QueryInt(Src(),
                                                   "SELECT count(*) FROM events WHERE id IN (5, 8) "
                                                   "AND ts <> date_trunc('milliseconds', ts)");
  EXPECT_NE(out.find(absl::StrCat(name(), ": ", expected, " rows given the source's ts")),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("held the writer lock: no replicator answered"), std::string::npos) << out;
  EXPECT_NE(out.find("content differs:                  1  (id 5)"), std::string::npos) << out;
  EXPECT_NE(out.find("missing:                          1  (id 8)"), std::string::npos) << out;
  // The differing row is exactly as it was; no row was added back.
  EXPECT_EQ(QueryValue(Dst(), "SELECT ts::text || event::text FROM events WHERE id = 5"), row5);
  EXPECT_EQ(QueryInt(Dst(), "SELECT count(*) FROM events WHERE id = 8"), 0);
  EXPECT_EQ(Verify(&out), 1) << out;
  EXPECT_NE(out.find("(2 rows differ)"), std::string::npos) << out;
  EXPECT_EQ(out.find("ts truncated"), std::string::npos) << out;
}

TEST_F(RepairTest, AfterARepairVerifySaysIdentical) {
  std::string out;
  EXPECT_EQ(Repair({"--destination", name(), "--server", NoServer(), "-o", "json"}, &out), 0)
      << out;
  EXPECT_EQ(JsonField(out, "repaired"), truncated_) << out;
  EXPECT_NE(out.find("\"coordination\":\"writer_lock\""), std::string::npos) << out;
  EXPECT_EQ(Verify(&out), 0) << out;
  EXPECT_EQ(Digest(Dst()), Digest(Src()));
  // Each source transaction was mended in one transaction: never two kinds of ts in one.
  ExpectWholeTransactions(Dst(), Src());
  // Nothing left to do: a second run rewrites nothing.
  EXPECT_EQ(Repair({"--destination", name(), "--server", NoServer(), "-o", "json"}, &out), 0)
      << out;
  EXPECT_EQ(JsonField(out, "repaired"), 0) << out;
}

TEST_F(RepairTest, PausesARunningReplicatorAndResumesIt) {
  auto r = ReplicatorProcess::Start(config_);
  ASSERT_TRUE(r.ok());
  const int port = (*r)->WaitForControlPort();
  ASSERT_GT(port, 0);
  const std::string server = absl::StrCat("127.0.0.1:", port);
  std::string out;
  ASSERT_TRUE(WaitUntil([&] {
    return RunSlatectl({"status", "--server", server}, &out) == 0 &&
           out.find("in_sync") != std::string::npos;
  })) << out;
  EXPECT_EQ(Repair({"--destination", name(), "--server", server}, &out), 0) << out;
  EXPECT_NE(out.find("paused through the control API at " + server), std::string::npos) << out;
  EXPECT_NE(out.find(absl::StrCat(truncated_, " rows given the source's ts")), std::string::npos)
      << out;
  const std::string log = (*r)->Log();
  const size_t paused = log.find("pause requested");
  const size_t resumed = log.find("resume requested");
  ASSERT_NE(paused, std::string::npos) << log;
  ASSERT_NE(resumed, std::string::npos) << log;
  EXPECT_LT(paused, resumed);
  EXPECT_NE(log.find("slatectl repair", paused), std::string::npos) << log;
  // Resumed: new events reach the destination.
  InsertEvents(Src(), 25);
  const std::string want = Digest(Src());
  EXPECT_TRUE(WaitUntil([&] { return Digest(Dst()) == want; }));
  EXPECT_EQ(RunSlatectl({"status", "--server", server}, &out), 0);
  EXPECT_EQ(out.find("paused"), std::string::npos) << out;
  EXPECT_EQ(Verify(&out), 0) << out;
}

TEST_F(RepairTest, AnInterruptedRepairGoesOnWhenRunAgain) {
  // Hold a row of the second transaction, so the repair commits its first and then waits there.
  const std::string config =
      WriteFile(c().dir(), "config.json",
                ConfigJson(c().Params(src_), {c().Params(dst_)}, "\"maxEventsPerWrite\": 10000"));
  // The last row to mend is in the second: the first takes at most 10000 rows, cut between source
  // transactions (of at most 80 rows).
  ASSERT_GT(truncated_, 10000);
  const long long held =
      QueryInt(Src(),
               "SELECT id FROM events WHERE ts <> date_trunc('milliseconds', ts) "
               "ORDER BY id DESC LIMIT 1");
  pqxx::connection lock_conn(Dst());
  pqxx::work lock_tx(lock_conn);
  lock_tx.exec(absl::StrCat("SELECT 1 FROM events WHERE id = ", held, " FOR UPDATE"));
  const std::string out_path = absl::StrCat(c().dir(), "/", UniqueName("repair"), ".out");
  SpawnOptions options;
  options.output_path = out_path;
  options.parent_death_signal = SIGKILL;
  auto pid = Spawn(
      {SLATECTL_BINARY, "repair", "-c", config, "--destination", name(), "--server", NoServer()},
      options);
  ASSERT_TRUE(pid.ok());
  const std::string untruncated =
      "SELECT count(*) FROM events WHERE ts <> date_trunc('milliseconds', ts)";
  // The first transaction: up to 10000 rows, whole source transactions.
  EXPECT_TRUE(WaitUntil([&] { return QueryInt(Dst(), untruncated) > 10000 - 80; }))
      << QueryInt(Dst(), untruncated) << "\n"
      << ReadFile(out_path);
  kill(*pid, SIGKILL);
  (void)WaitExit(*pid);
  lock_tx.abort();
  ASSERT_TRUE(WaitUntil([&] {
    return QueryInt(Dst(),
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                    "'slatectl repair'") == 0;
  }));
  const long long first = QueryInt(Dst(), untruncated);  // the first transaction, whole
  EXPECT_LE(first, 10000);
  EXPECT_GT(first, 10000 - 80);
  std::string out;
  EXPECT_EQ(Repair({"--destination", name(), "--server", NoServer(), "-o", "json"}, &out, config),
            0)
      << out;
  EXPECT_EQ(JsonField(out, "repaired"), truncated_ - first) << out;
  EXPECT_EQ(Verify(&out), 0) << out;
}

TEST_F(RepairTest, RefusesWithoutWritingWhenItCannotCoordinateOrTheInputIsWrong) {
  std::string out;
  // A writer lock held by a session nobody can reach through the control API.
  {
    pqxx::connection holder(Dst());
    pqxx::nontransaction tx(holder);
    tx.exec("SELECT pg_advisory_lock(1936482676, 1)");
    EXPECT_EQ(Repair({"--destination", name(), "--server", NoServer()}, &out), 1) << out;
    EXPECT_NE(out.find("is being written (its writer lock is held"), std::string::npos) << out;
    EXPECT_NE(out.find("Point --server (or SLATE_SERVER) at the replicator"), std::string::npos)
        << out;
  }
  EXPECT_EQ(total_ - QueryInt(Dst(), kTruncatedRows), 0) << "nothing written";
  // Usage: no destination, an unknown one.
  EXPECT_EQ(Repair({}, &out), 2) << out;
  EXPECT_EQ(Repair({"--destination", "nope"}, &out), 2) << out;
  EXPECT_NE(out.find("no destination named 'nope' in the config; its destinations are: " + name()),
            std::string::npos)
      << out;
  // The wrong kind of database: the config's destination is a source.
  const std::string other = NewSlateDatabase(c(), pg::TableType::kSource);
  const std::string wrong =
      WriteFile(c().dir(), "config.json", ConfigJson(c().Params(src_), {c().Params(other)}));
  const std::string other_name = absl::StrCat("127.0.0.1:", c().port(), "/", other);
  EXPECT_EQ(Repair({"--destination", other_name, "--server", NoServer()}, &out, wrong), 1) << out;
  EXPECT_NE(out.find("refused, nothing written"), std::string::npos) << out;
  EXPECT_NE(out.find("it looks like a source"), std::string::npos) << out;
  // Credentials that fail, and a database that does not answer.
  ConnParams bad = c().Params(dst_);
  bad.user = "nobody_here";
  const std::string denied =
      WriteFile(c().dir(), "config.json", ConfigJson(c().Params(src_), {bad}));
  EXPECT_EQ(Repair({"--destination", name(), "--server", NoServer()}, &out, denied), 3) << out;
  EXPECT_NE(out.find("cannot reach"), std::string::npos) << out;
  EXPECT_NE(out.find("nobody_here"), std::string::npos) << out;
  EXPECT_EQ(total_ - QueryInt(Dst(), kTruncatedRows), 0) << "nothing written";
}

}  // namespace
}  // namespace slate::testing
