// Start-up validation through the real binary: `slate-replicator --dry-run` and a refused start,
// for every check, each writing nothing.

#include <functional>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"

namespace slate::testing {
namespace {

class ValidationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_db_ = UniqueName("src");
    ASSERT_TRUE(cluster().CreateSlateDatabase(source_db_, pg::TableType::kSource).ok());
    FillSource(Source(), 5, 2, 4);
  }
  PgCluster& cluster() { return SharedCluster(); }
  std::string Source() { return cluster().ConnInfo(source_db_); }
  // A fresh destination, made by init-db and then changed by `prepare` (SQL on it).
  ConnParams NewDestination(const std::string& prepare_sql = "") {
    const std::string name = UniqueName("dst");
    EXPECT_TRUE(cluster().CreateSlateDatabase(name, pg::TableType::kDestination).ok());
    if (!prepare_sql.empty()) Exec(cluster().ConnInfo(name), prepare_sql);
    return cluster().Params(name);
  }
  // Copies the source's first `n` rows into `dest` (a correct partial replica).
  void CopyFirst(const ConnParams& dest, int n) {
    const Rows rows = Query(
        Source(), absl::StrCat("SELECT id, ts, event FROM events WHERE id <= ", n, " ORDER BY id"));
    for (const auto& r : rows) {
      Exec(dest.ToConnInfo(),
           absl::StrCat("INSERT INTO events VALUES (", r[0], ", '", r[1], "', '", r[2], "')"));
    }
  }
  int DryRun(const ConnParams& source, const std::vector<ConnParams>& dests, std::string* out,
             const std::string& extra = "") {
    const std::string config =
        WriteFile(cluster().dir(), "config.json", ConfigJson(source, dests, extra));
    return RunReplicator({"-c", config, "--dry-run", "--log-format", "text"}, out);
  }
  // Runs a dry run expecting exit 4 and `message`, then a real start expecting the same refusal;
  // neither may change any database.
  void ExpectRefused(const ConnParams& dest, const std::string& message,
                     const ConnParams* source = nullptr) {
    const ConnParams src = source != nullptr ? *source : cluster().Params(source_db_);
    const std::string before_src = Digest(src.ToConnInfo());
    const std::string before_dst = Digest(dest.ToConnInfo());
    std::string out;
    EXPECT_EQ(DryRun(src, {dest}, &out), 4) << out;
    EXPECT_NE(out.find(message), std::string::npos) << "expected: " << message << "\n" << out;
    EXPECT_NE(out.find("dry run failed"), std::string::npos) << out;
    const std::string config = WriteFile(cluster().dir(), "config.json", ConfigJson(src, {dest}));
    EXPECT_EQ(RunReplicator({"-c", config}, &out), 4) << out;
    EXPECT_NE(out.find("not starting: fix the failed checks"), std::string::npos) << out;
    EXPECT_EQ(Digest(src.ToConnInfo()), before_src);
    EXPECT_EQ(Digest(dest.ToConnInfo()), before_dst);
  }

  std::string source_db_;
};

TEST_F(ValidationTest, AGoodSetupPassesAndPrintsTheRunParametersWithoutSecrets) {
  const ConnParams empty = NewDestination();
  const ConnParams partial = NewDestination();
  CopyFirst(partial, 7);
  ConnParams with_password = cluster().Params(source_db_);
  std::string config_text =
      ConfigJson(with_password, {empty, partial}, "\"maxEventsPerWrite\": 50");
  // trust authentication ignores the password; it must still never be printed.
  config_text.insert(config_text.find("\"user\""), "\"password\": \"s3cret-pw\", ");
  const std::string config = WriteFile(cluster().dir(), "config.json", config_text);
  std::string out;
  EXPECT_EQ(RunReplicator({"-c", config, "--dry-run"}, &out), 0) << out;
  for (const char* expected :
       {"maxEventsPerWrite 50 raised to the minimum 10000", "\"name\":\"eventSource\"",
        "\"name\":\"maxEventsPerWrite\",\"value\":\"10000\"", "password from the config file",
        "first event\",\"result\":\"pass\"", "dry run passed; nothing was written"}) {
    EXPECT_NE(out.find(expected), std::string::npos) << expected << "\n" << out;
  }
  EXPECT_EQ(out.find("s3cret-pw"), std::string::npos) << out;
  EXPECT_EQ(Count(empty.ToConnInfo()), 0);
  EXPECT_EQ(Count(partial.ToConnInfo()), 7);
}

TEST_F(ValidationTest, ADestinationThatIsReallyASourceIsRefused) {
  const std::string other = UniqueName("src");
  ASSERT_TRUE(cluster().CreateSlateDatabase(other, pg::TableType::kSource).ok());
  ExpectRefused(cluster().Params(other), "it looks like a source");
}

TEST_F(ValidationTest, ADestinationOfAnotherSourceIsRefused) {
  ExpectRefused(NewDestination("INSERT INTO events VALUES (1, now(), '{\"other\": true}')"),
                "differs from the source's (id 1): it is a copy of another source");
}

TEST_F(ValidationTest, ADestinationAheadOfTheSourceIsRefused) {
  const ConnParams dest = NewDestination();
  CopyFirst(dest, 1000);
  Exec(dest.ToConnInfo(),
       "INSERT INTO events SELECT g, now(), '{}' FROM generate_series(("
       "SELECT max(id) + 1 FROM events), (SELECT max(id) + 5 FROM events)) g");
  ExpectRefused(dest, "belongs to another source");
}

TEST_F(ValidationTest, ADestinationWithAHoleIsRefused) {
  const ConnParams dest = NewDestination();
  CopyFirst(dest, 6);
  // Remove a row in the middle (a destination has no delete trigger).
  Exec(dest.ToConnInfo(), "DELETE FROM events WHERE id = 3");
  ExpectRefused(dest, "has 5 events but max id 6: ids are missing");
}

TEST_F(ValidationTest, ADatabaseWithoutTheSlateSchemaIsRefused) {
  const std::string name = UniqueName("empty");
  ASSERT_TRUE(cluster().CreateEmptyDatabase(name).ok());
  ExpectRefused(cluster().Params(name),
                "has no events table: create the database with "
                "`slatectl init-db --table-type destination`");
}

TEST_F(ValidationTest, EventsColumnsOfAnotherTypeAreRefused) {
  const std::string name = UniqueName("wrong");
  ASSERT_TRUE(cluster().CreateEmptyDatabase(name).ok());
  Exec(cluster().ConnInfo(name),
       "CREATE TABLE events (id bigint PRIMARY KEY, ts timestamptz, "
       "event json)");
  ExpectRefused(cluster().Params(name),
                "event json), expected (id bigint, ts timestamp with "
                "time zone, event jsonb)");
}

// A dry run is a one-shot judgement: a database that does not answer fails it (a real start
// waits for it instead: the fault suite shows that).
TEST_F(ValidationTest, AnUnreachableDestinationFailsTheDryRun) {
  ConnParams dest = NewDestination();
  dest.port = 1;
  std::string out;
  EXPECT_EQ(DryRun(cluster().Params(source_db_), {dest}, &out), 4) << out;
  EXPECT_NE(out.find("cannot connect to destination 127.0.0.1:1/"), std::string::npos) << out;
  EXPECT_NE(out.find("It did not answer: a start waits for it"), std::string::npos) << out;
  EXPECT_NE(out.find("check host and port in the config"), std::string::npos) << out;
}

TEST_F(ValidationTest, ASourceWithoutTheSourceObjectsIsRefused) {
  const ConnParams not_a_source = NewDestination();
  const ConnParams dest = NewDestination();
  ExpectRefused(dest, "the source lacks table id, function insert_events", &not_a_source);
}

TEST_F(ValidationTest, AFilledDestinationWithAnEmptySourceIsRefused) {
  const std::string empty_src = UniqueName("src");
  ASSERT_TRUE(cluster().CreateSlateDatabase(empty_src, pg::TableType::kSource).ok());
  const ConnParams dest = NewDestination();
  CopyFirst(dest, 3);
  const ConnParams src = cluster().Params(empty_src);
  ExpectRefused(dest, "the source is empty: wrong source, or restore the source", &src);
}

TEST_F(ValidationTest, TheSourceUnderAnotherNameIsRefused) {
  ConnParams alias = cluster().Params(source_db_);
  alias.host = "localhost";  // same server and database, another name
  std::string out;
  EXPECT_EQ(DryRun(cluster().Params(source_db_), {alias}, &out), 4) << out;
  EXPECT_NE(out.find("is the source database itself"), std::string::npos) << out;
}

TEST_F(ValidationTest, ADestinationWrittenByTheNodeReplicatorIsAcceptedWithAWarning) {
  const ConnParams dest = NewDestination();
  // The original replicator wrote ts truncated to milliseconds.
  const Rows rows = Query(Source(),
                          "SELECT id, date_trunc('milliseconds', ts), event FROM events "
                          "WHERE id <= 4 ORDER BY id");
  for (const auto& r : rows) {
    Exec(dest.ToConnInfo(),
         absl::StrCat("INSERT INTO events VALUES (", r[0], ", '", r[1], "', '", r[2], "')"));
  }
  ASSERT_NE(QueryValue(Source(), "SELECT ts FROM events WHERE id = 1"),
            QueryValue(dest.ToConnInfo(), "SELECT ts FROM events WHERE id = 1"))
      << "the source's first ts happens to be a whole millisecond; the test needs microseconds";
  std::string out;
  EXPECT_EQ(DryRun(cluster().Params(source_db_), {dest}, &out), 0) << out;
  EXPECT_NE(out.find("ts truncated to the millisecond: written by the original Node replicator"),
            std::string::npos)
      << out;
  // And it replicates the rest, with microseconds.
  const std::string config =
      WriteFile(cluster().dir(), "config.json", ConfigJson(cluster().Params(source_db_), {dest}));
  auto replicator = ReplicatorProcess::Start(config);
  ASSERT_TRUE(replicator.ok());
  const long long total = Count(Source());
  ASSERT_TRUE(WaitUntil([&] { return Count(dest.ToConnInfo()) == total; })) << (*replicator)->Log();
  EXPECT_EQ(QueryValue(Source(), "SELECT ts FROM events WHERE id = 5"),
            QueryValue(dest.ToConnInfo(), "SELECT ts FROM events WHERE id = 5"));
}

TEST_F(ValidationTest, ConfigAndUsageErrorsHaveTheirOwnExitCodes) {
  std::string out;
  const std::string bad =
      WriteFile(cluster().dir(), "bad.json",
                R"({"eventSource": {"host": 1}, "replicationDestinations": []})");
  EXPECT_EQ(RunReplicator({"-c", bad}, &out), 3) << out;
  EXPECT_NE(out.find("eventSource.host: must be a string, not a whole number"), std::string::npos)
      << out;
  EXPECT_NE(out.find("replicationDestinations: must be an array of one or more destination "
                     "objects, not an empty array"),
            std::string::npos)
      << out;
  EXPECT_EQ(RunReplicator({"-c", "/nonexistent.json"}, &out), 3) << out;
  EXPECT_NE(out.find("cannot read config file '/nonexistent.json'"), std::string::npos) << out;
  EXPECT_EQ(RunReplicator({"--frobnicate"}, &out), 2) << out;
  EXPECT_NE(out.find("unknown argument '--frobnicate'"), std::string::npos) << out;
  EXPECT_NE(out.find("Usage: slate-replicator"), std::string::npos) << out;
  EXPECT_EQ(RunReplicator({}, &out), 2) << out;
  EXPECT_EQ(RunReplicator({"--help"}, &out), 0) << out;
  EXPECT_EQ(RunReplicator({"--version"}, &out), 0) << out;
  EXPECT_NE(out.find("slate-replicator 0."), std::string::npos) << out;
}

}  // namespace
}  // namespace slate::testing
