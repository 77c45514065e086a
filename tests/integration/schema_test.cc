// The slate schema on a real PostgreSQL: insert_events, the triggers, restore_events, init-db.

#include <chrono>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include <pqxx/pqxx>

#include "server/postgres/init_db.h"
#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/subprocess.h"

namespace slate::testing {
namespace {

class SchemaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_db_ = UniqueName("src");
    ASSERT_TRUE(SharedCluster().CreateSlateDatabase(source_db_, pg::TableType::kSource).ok());
    source_ = SharedCluster().ConnInfo(source_db_);
  }
  std::string source_db_;
  std::string source_;
};

TEST_F(SchemaTest, InsertEventsAssignsConsecutiveIdsAndOneTsPerCall) {
  InsertEvents(source_, 3);
  InsertEvents(source_, 2);
  InsertEvents(source_, 1);
  const Rows rows = Query(source_, "SELECT id, ts FROM events ORDER BY id");
  ASSERT_EQ(rows.size(), 6u);
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i][0], std::to_string(i + 1));
  EXPECT_EQ(rows[0][1], rows[1][1]);
  EXPECT_EQ(rows[1][1], rows[2][1]);
  EXPECT_NE(rows[2][1], rows[3][1]);
  EXPECT_EQ(rows[3][1], rows[4][1]);
  EXPECT_NE(rows[4][1], rows[5][1]);
  EXPECT_EQ(QueryInt(source_, "SELECT id FROM id"), 7);
  EXPECT_EQ(QueryInt(source_, "SELECT count(DISTINCT ts) FROM events"), 3);
}

TEST_F(SchemaTest, InsertEventsSharesTsAcrossCallsInOneTransaction) {
  pqxx::connection c(source_);
  pqxx::work tx(c);
  tx.exec("SELECT insert_events($$($1[1], $2, '{\"a\": 1}')$$)");
  tx.exec("SELECT insert_events($$($1[1], $2, '{\"a\": 2}'), ($1[2], $2, '{\"a\": 3}')$$)");
  tx.commit();
  EXPECT_EQ(QueryInt(source_, "SELECT count(*) FROM events"), 3);
  EXPECT_EQ(QueryInt(source_, "SELECT count(DISTINCT ts) FROM events"), 1);
  EXPECT_EQ(QueryValue(source_, "SELECT string_agg(id::text, ',' ORDER BY id) FROM events"),
            "1,2,3");
}

TEST_F(SchemaTest, InsertEventsHandlesLargeCallsAndLeavesEventTextAlone) {
  // One call of 30,000 events (a naive $1[k] over an id array needs gigabytes for this).
  Exec(source_,
       "SELECT insert_events((SELECT string_agg(format('($1[%s], $2, %L)', k, "
       "json_build_object('k', k)::text), ', ') FROM generate_series(1, 30000) k))");
  EXPECT_EQ(QueryValue(source_,
                       "SELECT count(*) || ',' || max(id) || ',' || count(DISTINCT ts) "
                       "FROM events"),
            "30000,30000,1");
  EXPECT_EQ(QueryInt(source_, "SELECT count(*) FROM events WHERE (event->>'k')::int <> id"), 0);
  // Text inside an event that looks like the placeholders is data, kept as is...
  Exec(source_, R"sql(SELECT insert_events($v$($1[1], $2, '{"note": "$1[9] and $2"}')$v$))sql");
  EXPECT_EQ(QueryValue(source_, "SELECT event->>'note' FROM events WHERE id = 30001"),
            "$1[9] and $2");
  // ...but a whole tuple head inside an event is refused, never half-rewritten.
  try {
    Exec(source_, R"sql(SELECT insert_events($v$($1[1], $2, '{"note": "($1[2], $2, x)"}')$v$))sql");
    ADD_FAILURE() << "a tuple head inside an event was accepted";
  } catch (const pqxx::sql_error& e) {
    EXPECT_NE(std::string(e.what()).find("1 rows given but 2 ids written as $1[k]"),
              std::string::npos)
        << e.what();
  }
  EXPECT_EQ(QueryInt(source_, "SELECT count(*) FROM events"), 30001);
}

TEST_F(SchemaTest, InsertEventsRejectsMalformedValues) {
  const std::vector<std::string> bad = {
      "(1, $2, '{}')",                         // id not written $1[k]
      "($1[2], $2, '{}')",                     // does not start at 1
      "($1[1], $2, '{}'), ($1[3], $2, '{}')",  // not consecutive
      "($1[1], $2, '{}'), (99, now(), '{}')",  // a row without $1[k]
  };
  for (const std::string& values : bad) {
    pqxx::connection c(source_);
    pqxx::work tx(c);
    EXPECT_THROW(tx.exec_params("SELECT insert_events($1)", values), pqxx::sql_error) << values;
  }
  EXPECT_EQ(QueryInt(source_, "SELECT count(*) FROM events"), 0);
  EXPECT_EQ(QueryInt(source_, "SELECT id FROM id"), 1);
}

TEST_F(SchemaTest, UpdateDeleteTruncateFailWithTheDocumentedMessage) {
  InsertEvents(source_, 2);
  const std::vector<std::pair<std::string, std::string>> commands = {
      {"UPDATE events SET event = '{}'", "UPDATE"},
      {"DELETE FROM events", "DELETE"},
      {"TRUNCATE events", "TRUNCATE"},
  };
  for (const auto& [sql, op] : commands) {
    try {
      Exec(source_, sql);
      ADD_FAILURE() << sql << " succeeded";
    } catch (const pqxx::sql_error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot perform SQL command on events table: " + op),
                std::string::npos)
          << e.what();
    }
  }
  EXPECT_EQ(QueryInt(source_, "SELECT count(*) FROM events"), 2);
}

class Collector : public pqxx::notification_receiver {
 public:
  explicit Collector(pqxx::connection_base& c) : pqxx::notification_receiver(c, "eventsinsert") {}
  void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
  std::vector<std::string> payloads;
};

TEST_F(SchemaTest, NotifyCarriesTableAndIdOfEachRow) {
  pqxx::connection listener(source_);
  Collector collector(listener);
  InsertEvents(source_, 3);
  InsertEvents(source_, 1);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (collector.payloads.size() < 4 && std::chrono::steady_clock::now() < deadline) {
    listener.await_notification(1, 0);  // blocks on the socket; returns on arrival
  }
  ASSERT_EQ(collector.payloads.size(), 4u);
  const std::regex pattern(R"re(^\{"table" : "events", "id" : (\d+)\}$)re");
  std::set<std::string> ids;
  for (const std::string& p : collector.payloads) {
    std::smatch m;
    ASSERT_TRUE(std::regex_match(p, m, pattern)) << p;
    ids.insert(m[1]);
  }
  EXPECT_EQ(ids, (std::set<std::string>{"1", "2", "3", "4"}));
}

TEST_F(SchemaTest, EventsOfAnySizeCanBeInserted) {
  // The original trigger put the event in the NOTIFY payload, which must stay under 8000 bytes.
  InsertEvents(source_, 1, absl::StrCat("\"big\": \"", std::string(100000, 'x'), "\""));
  EXPECT_GT(QueryInt(source_, "SELECT length(event::text) FROM events"), 100000);
}

TEST_F(SchemaTest, SourceHasEveryObjectAndDestinationNone) {
  const std::string dest_db = UniqueName("dst");
  ASSERT_TRUE(SharedCluster().CreateSlateDatabase(dest_db, pg::TableType::kDestination).ok());
  const std::string dest = SharedCluster().ConnInfo(dest_db);
  const std::string objects = R"sql(
    SELECT (SELECT count(*) FROM pg_class WHERE relname = 'id' AND relkind = 'r')
         + (SELECT count(*) FROM pg_trigger WHERE tgname IN ('notify_insert', 'check_sql_command'))
         + (SELECT count(*) FROM pg_proc WHERE proname IN ('insert_events', 'restore_events',
                                            'notify_event_insert', 'filter_sql_command')))sql";
  EXPECT_EQ(QueryInt(source_, objects), 7);
  EXPECT_EQ(QueryInt(dest, objects), 0);
  const std::string indexes =
      "SELECT string_agg(indexname, ',' ORDER BY indexname) FROM pg_indexes "
      "WHERE tablename = 'events'";
  const std::string expected =
      "events_event_entityid,events_event_entityname,events_event_metadata_command,"
      "events_event_operation,events_event_propertyname,events_pkey,events_ts";
  EXPECT_EQ(QueryValue(source_, indexes), expected);
  EXPECT_EQ(QueryValue(dest, indexes), expected);
}

TEST_F(SchemaTest, RestoreEventsRebuildsAnEmptySourceFromABackup) {
  InsertEvents(source_, 5);
  InsertEvents(source_, 2, "\"big\": 123456789012345678901234567890");
  // The backup: a destination holding a byte-exact copy.
  const std::string backup_db = UniqueName("backup");
  ASSERT_TRUE(SharedCluster().CreateSlateDatabase(backup_db, pg::TableType::kDestination).ok());
  const std::string backup = SharedCluster().ConnInfo(backup_db);
  const Rows rows = Query(source_, "SELECT id, ts, event FROM events ORDER BY id");
  for (const auto& r : rows) {
    pqxx::connection c(backup);
    pqxx::work tx(c);
    tx.exec_params("INSERT INTO events VALUES ($1, $2, $3)", r[0], r[1], r[2]);
    tx.commit();
  }

  const std::string fresh_db = UniqueName("fresh");
  ASSERT_TRUE(SharedCluster().CreateSlateDatabase(fresh_db, pg::TableType::kSource).ok());
  const std::string fresh = SharedCluster().ConnInfo(fresh_db);
  const Rows result = Query(
      fresh, absl::StrCat("SELECT rows_restored, next_insert_id FROM restore_events('127.0.0.1:",
                          SharedCluster().port(), "', '", backup_db, "', 'postgres', '')"));
  ASSERT_EQ(result.size(), 1u);
  EXPECT_EQ(result[0][0], "7");
  EXPECT_EQ(result[0][1], "8");
  const std::string dump =
      "SELECT string_agg(id || ts::text || event::text, '|' ORDER BY id) FROM events";
  EXPECT_EQ(QueryValue(fresh, dump), QueryValue(source_, dump));
  InsertEvents(fresh, 1);
  EXPECT_EQ(QueryInt(fresh, "SELECT max(id) FROM events"), 8);

  // Refused into a non-empty database, and from a backup with a hole.
  EXPECT_THROW(
      Query(fresh, absl::StrCat("SELECT * FROM restore_events('127.0.0.1:", SharedCluster().port(),
                                "', '", backup_db, "', 'postgres', '')")),
      pqxx::sql_error);
  Exec(backup, "INSERT INTO events VALUES (10, now(), '{}')");
  const std::string fresh2_db = UniqueName("fresh");
  ASSERT_TRUE(SharedCluster().CreateSlateDatabase(fresh2_db, pg::TableType::kSource).ok());
  try {
    Query(SharedCluster().ConnInfo(fresh2_db),
          absl::StrCat("SELECT * FROM restore_events('127.0.0.1:", SharedCluster().port(), "', '",
                       backup_db, "', 'postgres', '')"));
    ADD_FAILURE() << "restore from a backup with a hole succeeded";
  } catch (const pqxx::sql_error& e) {
    EXPECT_NE(std::string(e.what()).find("count = max(id)"), std::string::npos) << e.what();
  }
}

TEST(InitDbTest, RefusesABadNameAndAnExistingDatabase) {
  pg::InitDbRequest request;
  request.server = SharedCluster().Params("postgres");
  request.type = pg::TableType::kDestination;
  request.new_database = "Bad-Name";
  absl::Status s = pg::InitDatabase(request, [](absl::string_view) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;

  request.new_database = UniqueName("dup");
  ASSERT_TRUE(pg::InitDatabase(request, [](absl::string_view) {}).ok());
  s = pg::InitDatabase(request, [](absl::string_view) {});
  EXPECT_EQ(s.code(), absl::StatusCode::kAlreadyExists) << s;
  EXPECT_NE(s.message().find("already exists"), absl::string_view::npos);
}

TEST(InitDbTest, DryRunCreatesNothing) {
  pg::InitDbRequest request;
  request.server = SharedCluster().Params("postgres");
  request.type = pg::TableType::kSource;
  request.new_database = UniqueName("dry");
  request.dry_run = true;
  ASSERT_TRUE(pg::InitDatabase(request, [](absl::string_view) {}).ok());
  EXPECT_EQ(QueryInt(SharedCluster().ConnInfo("postgres"),
                     absl::StrCat("SELECT count(*) FROM pg_database WHERE datname = '",
                                  request.new_database, "'")),
            0);
}

// The slatectl binary itself: exit codes and messages.
class SlatectlInitDbTest : public ::testing::Test {
 protected:
  int RunCtl(const std::vector<std::string>& args, std::string* output) {
    const std::string out_path = SharedCluster().dir() + "/" + UniqueName("ctl") + ".out";
    std::vector<std::string> argv = {SLATECTL_BINARY};
    argv.insert(argv.end(), args.begin(), args.end());
    SpawnOptions opts;
    opts.output_path = out_path;
    auto rc = RunProcess(argv, opts);
    *output = ReadFile(out_path);
    return rc.ok() ? *rc : -1;
  }
  std::vector<std::string> Base(const std::string& type, const std::string& name) {
    return {"init-db",
            "--table-type",
            type,
            "--host",
            "127.0.0.1",
            "--port",
            std::to_string(SharedCluster().port()),
            "--user",
            "postgres",
            "--new-database",
            name};
  }
};

TEST_F(SlatectlInitDbTest, CreatesASourceThenRefusesItAgain) {
  const std::string name = UniqueName("ctlsrc");
  std::string out;
  ASSERT_EQ(RunCtl(Base("source", name), &out), 0) << out;
  EXPECT_NE(out.find("initialised " + name + " as a slate source"), std::string::npos) << out;
  EXPECT_EQ(QueryInt(SharedCluster().ConnInfo(name), "SELECT id FROM id"), 1);
  EXPECT_EQ(RunCtl(Base("source", name), &out), 1) << out;
  EXPECT_NE(out.find("already exists"), std::string::npos) << out;
}

TEST_F(SlatectlInitDbTest, UsageErrorsExitTwo) {
  std::string out;
  EXPECT_EQ(RunCtl(Base("source", "9lives"), &out), 2) << out;
  EXPECT_NE(out.find("must start with a lower-case letter"), std::string::npos) << out;
  EXPECT_EQ(RunCtl(Base("sideways", "x"), &out), 2) << out;
  EXPECT_NE(out.find("use source or destination"), std::string::npos) << out;
  EXPECT_EQ(RunCtl({"init-db", "--host", "127.0.0.1"}, &out), 2) << out;
  EXPECT_EQ(RunCtl({"no-such-command"}, &out), 2) << out;
}

TEST_F(SlatectlInitDbTest, UnreachableServerExitsThree) {
  std::string out;
  std::vector<std::string> args = Base("destination", UniqueName("nowhere"));
  args[6] = "1";  // --port 1: nothing listens there
  EXPECT_EQ(RunCtl(args, &out), 3) << out;
  EXPECT_NE(out.find("connecting to postgres@127.0.0.1:1/postgres"), std::string::npos) << out;
}

}  // namespace
}  // namespace slate::testing
