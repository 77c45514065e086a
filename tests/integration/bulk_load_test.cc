// Bulk bootstrap against real PostgreSQL: an empty destination is loaded with its secondary
// indexes set aside and ends with exactly its original index set; a kill -9 during the load,
// between two index builds and during one leaves, after a restart, the same indexes and data.
// Each kill happens at a point the test holds the replicator at with a lock of its own, so the
// phase is certain rather than a matter of timing.

#include <signal.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include <pqxx/pqxx>

#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"

namespace slate::testing {
namespace {

constexpr char kRecord[] = "slate_replicator_pending_indexes";

// Every index of events: name, definition, valid and ready.
std::string IndexSet(const std::string& conninfo) {
  return QueryValue(conninfo,
                    "SELECT string_agg(c.relname || ': ' || pg_get_indexdef(i.indexrelid) || "
                    "CASE WHEN i.indisvalid AND i.indisready THEN '' ELSE ' (INVALID)' END, "
                    "E'\\n' ORDER BY c.relname) FROM pg_index i JOIN pg_class c ON c.oid = "
                    "i.indexrelid WHERE i.indrelid = 'events'::regclass");
}

bool HasRecord(const std::string& conninfo) {
  return QueryValue(conninfo, absl::StrCat("SELECT to_regclass('", kRecord, "') IS NOT NULL")) ==
         "t";
}

// A replicator session of this database waits for a lock, running a statement like `like`.
bool ReplicatorWaitsForALock(const std::string& conninfo, const std::string& like) {
  return WaitUntil([&] {
    return QueryInt(conninfo,
                    absl::StrCat("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                 "current_database() AND application_name LIKE "
                                 "'slate-replicator/%' AND wait_event_type = 'Lock' AND query "
                                 "LIKE '",
                                 like, "'")) > 0;
  });
}

class BulkLoadTest : public SourceAndDestinations {
 protected:
  void SetUp() override {
    SourceAndDestinations::SetUp();
    FillSource(Source(), 1000, 1, 40);  // ~20k events
    original_ = IndexSet(Dest(0));
    ASSERT_NE(original_.find("events_ts"), std::string::npos);
    config_ = Config(R"("bulkLoadThreshold": 1000, "indexBuildSessions": 1)");
  }

  // Once caught up: same data as the source, no transaction split, the original index set and
  // no record left, on both destinations.
  void ExpectBulkLoadedReplicas() {
    const std::string want = Digest(Source());
    for (int d = 0; d < 2; ++d) {
      EXPECT_TRUE(WaitUntil([&] { return Digest(Dest(d)) == want && !HasRecord(Dest(d)); }))
          << "destination " << d;
      EXPECT_EQ(IndexSet(Dest(d)), original_) << "destination " << d;
      ExpectWholeTransactions(Dest(d), Source());
    }
  }

  void KillAndRestart(std::unique_ptr<ReplicatorProcess>& replicator,
                      std::unique_ptr<pqxx::connection> hold) {
    replicator->Signal(SIGKILL);
    ASSERT_TRUE(replicator->Wait().ok());
    hold.reset();  // its transaction (and locks) end
    ASSERT_TRUE(WaitForNoReplicatorSessions(Dest(0)));
    auto again = ReplicatorProcess::Start(config_);
    ASSERT_TRUE(again.ok());
    replicator = *std::move(again);
    ExpectBulkLoadedReplicas();
    // A live event after the bulk load arrives as always.
    InsertEvents(Source(), 3);
    const std::string want = Digest(Source());
    EXPECT_TRUE(WaitUntil([&] { return Digest(Dest(0)) == want; })) << replicator->Log();
    const std::string log = replicator->Log();
    EXPECT_NE(log.find("bulk load under way (set aside by an earlier run)"), std::string::npos)
        << log;
    EXPECT_NE(log.find("indexes built: the destination has its whole index set again"),
              std::string::npos);
  }

  // Starts the replicator (replicator_) with destination 0's load held at id 15000 (a row trigger
  // waits for the test's advisory lock, held by hold_load_) and waits until it is: the indexes
  // are set aside, the batches before it committed. The trigger stays (dropping it would wait
  // for the held COPY); without the lock held it costs nothing.
  void StartWithLoadHeld() {
    Exec(Dest(0),
         "CREATE FUNCTION hold_load() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN IF NEW.id = "
         "15000 THEN PERFORM pg_advisory_xact_lock(4242); END IF; RETURN NEW; END $$; "
         "CREATE TRIGGER hold_load BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION "
         "hold_load()");
    hold_load_ = Begin(Dest(0), "SELECT pg_advisory_xact_lock(4242)");
    auto started = ReplicatorProcess::Start(config_);
    ASSERT_TRUE(started.ok());
    replicator_ = *std::move(started);
    ASSERT_TRUE(ReplicatorWaitsForALock(Dest(0), "%COPY%")) << replicator_->Log();
    EXPECT_TRUE(HasRecord(Dest(0)));
    EXPECT_EQ(IndexSet(Dest(0)).find("events_ts"), std::string::npos);  // set aside
    EXPECT_TRUE(WaitUntil([&] { return Count(Dest(0)) > 0; }));         // the batch before it
  }

  static std::unique_ptr<pqxx::connection> Begin(const std::string& conninfo,
                                                 const std::string& sql) {
    auto c = std::make_unique<pqxx::connection>(conninfo);
    pqxx::nontransaction(*c).exec("BEGIN; " + sql);
    return c;
  }

  std::string original_;
  std::string config_;
  std::unique_ptr<ReplicatorProcess> replicator_;
  std::unique_ptr<pqxx::connection> hold_load_;
};

TEST_F(BulkLoadTest, AnEmptyDestinationIsLoadedInBulkAndGetsExactlyItsIndexesBack) {
  auto replicator = ReplicatorProcess::Start(config_);
  ASSERT_TRUE(replicator.ok());
  ExpectBulkLoadedReplicas();
  InsertEvents(Source(), 5);
  const std::string want = Digest(Source());
  EXPECT_TRUE(WaitUntil([&] { return Digest(Dest(1)) == want; }));
  const std::string log = (*replicator)->Log();
  EXPECT_NE(log.find("bulk load: secondary indexes set aside until the backlog is copied"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("\"to\":\"building_indexes\""), std::string::npos);
  EXPECT_NE(log.find("\"message\":\"caught up\""), std::string::npos);
  (*replicator)->Signal(SIGTERM);
  auto rc = (*replicator)->Wait();
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 0) << (*replicator)->Log();
}

TEST_F(BulkLoadTest, KillNineDuringTheLoad) {
  ASSERT_NO_FATAL_FAILURE(StartWithLoadHeld());
  KillAndRestart(replicator_, std::move(hold_load_));
}

TEST_F(BulkLoadTest, KillNineBetweenTwoIndexBuilds) {
  ASSERT_NO_FATAL_FAILURE(StartWithLoadHeld());
  // Builds wait (CREATE INDEX needs a SHARE lock) while this session holds ROW EXCLUSIVE, so the
  // record's second row can be locked before any build gets there.
  auto block_builds = Begin(Dest(0), "LOCK TABLE events IN ROW EXCLUSIVE MODE");
  const std::string second = QueryValue(
      Dest(0), absl::StrCat("SELECT name FROM ", kRecord, " ORDER BY ord OFFSET 1 LIMIT 1"));
  auto hold = Begin(
      Dest(0), absl::StrCat("SELECT 1 FROM ", kRecord, " WHERE name = '", second, "' FOR UPDATE"));
  hold_load_.reset();
  block_builds.reset();
  // The first index is built and committed; the second build waits for its row.
  ASSERT_TRUE(ReplicatorWaitsForALock(Dest(0), "%FOR UPDATE%")) << replicator_->Log();
  EXPECT_EQ(
      QueryValue(Dest(0), absl::StrCat("SELECT name FROM ", kRecord, " ORDER BY ord LIMIT 1")),
      second);
  EXPECT_EQ(QueryInt(Dest(0), "SELECT count(*) FROM pg_index WHERE indrelid = 'events'::regclass"),
            2);  // the primary key and the first one built
  KillAndRestart(replicator_, std::move(hold));
}

TEST_F(BulkLoadTest, KillNineDuringAnIndexBuild) {
  ASSERT_NO_FATAL_FAILURE(StartWithLoadHeld());
  // The load goes on (ROW EXCLUSIVE does not block COPY); the first CREATE INDEX waits inside
  // its transaction.
  auto hold = Begin(Dest(0), "LOCK TABLE events IN ROW EXCLUSIVE MODE");
  hold_load_.reset();
  ASSERT_TRUE(ReplicatorWaitsForALock(Dest(0), "CREATE INDEX%")) << replicator_->Log();
  EXPECT_EQ(Digest(Dest(0)), Digest(Source()));  // the whole backlog is there
  KillAndRestart(replicator_, std::move(hold));
}

TEST_F(BulkLoadTest, AUserThatDoesNotOwnEventsCopiesWithTheIndexesInPlace) {
  // Destination 0 is written by a user that may insert but does not own events.
  Exec(Dest(0),
       "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'bulk_writer') THEN "
       "CREATE ROLE bulk_writer LOGIN; END IF; END $$; "
       "GRANT SELECT, INSERT ON events TO bulk_writer; GRANT CREATE ON SCHEMA public TO "
       "bulk_writer");
  std::vector<ConnParams> dests = DestParams();
  dests[0].user = "bulk_writer";
  const std::string config = WriteFile(
      ::testing::TempDir(), "bulk_not_owner.json",
      ConfigJson(SharedCluster().Params(source_db_), dests, R"("bulkLoadThreshold": 1000)"));
  auto replicator = ReplicatorProcess::Start(config);
  ASSERT_TRUE(replicator.ok());
  const std::string want = Digest(Source());
  ASSERT_TRUE(WaitUntil([&] { return Digest(Dest(0)) == want && Digest(Dest(1)) == want; }))
      << (*replicator)->Log();
  EXPECT_EQ(IndexSet(Dest(0)), original_);
  EXPECT_FALSE(HasRecord(Dest(0)));
  const std::string log = (*replicator)->Log();
  EXPECT_NE(log.find("bulk load not possible: copying with the indexes in place"),
            std::string::npos)
      << log;
  EXPECT_NE(log.find("not the owner of table events"), std::string::npos);
}

}  // namespace
}  // namespace slate::testing
