// slate-replicator against real PostgreSQL: catch-up, live writers, byte-exact copies, crashes,
// signals, outages, holes, a second writer, notifications, and the original tool's databases.

#include "tests/support/replication.h"

#include <signal.h>

#include <atomic>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include <pqxx/pqxx>

#include "server/config/config.h"
#include "server/replicator.h"
#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"

namespace slate::testing {
namespace {

class ReplicationTest : public SourceAndDestinations {
 protected:
  PgCluster& cluster() { return SharedCluster(); }
  bool AllCaughtUp() {
    const std::string want = Digest(Source());
    return WaitUntil([&] { return Digest(Dest(0)) == want && Digest(Dest(1)) == want; });
  }
  // The engine in this process, on the production wiring, for tests that read its status.
  std::unique_ptr<core::Engine> InProcessEngine(const std::string& extra = "") {
    auto cfg = config::ParseConfig(ConfigJson(cluster().Params(source_db_), DestParams(), extra),
                                   config::DefaultSecretLookup());
    EXPECT_TRUE(cfg.ok()) << cfg.status();
    return BuildEngine(*cfg);
  }
};

TEST_F(ReplicationTest, CatchesUpABacklogIntoTwoDestinationsWithoutSplittingTransactions) {
  FillSource(Source(), 2000, 1, 50);  // about 51k events, more than 5 batches
  const long long total = Count(Source());
  ASSERT_GT(total, 50000);
  auto replicator = ReplicatorProcess::Start(Config());
  ASSERT_TRUE(replicator.ok());
  ASSERT_TRUE(AllCaughtUp()) << (*replicator)->Log();
  for (int d = 0; d < 2; ++d) {
    EXPECT_EQ(SplitTransactions(Dest(d)), 0);
    // Several destination transactions were used: batches are bounded.
    EXPECT_GE(QueryInt(Dest(d), "SELECT count(DISTINCT xmin::text) FROM events"), 5);
  }
  (*replicator)->Signal(SIGTERM);
  auto rc = (*replicator)->Wait();
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 0) << (*replicator)->Log();
  const std::string log = (*replicator)->Log();
  EXPECT_NE(log.find("\"message\":\"caught up\""), std::string::npos);
  EXPECT_NE(log.find("\"message\":\"slate-replicator stopped\""), std::string::npos);
}

TEST_F(ReplicationTest, FollowsConcurrentWritersLive) {
  auto replicator = ReplicatorProcess::Start(Config());
  ASSERT_TRUE(replicator.ok());
  ASSERT_TRUE(
      WaitUntil([&] { return (*replicator)->Log().find("listening") != std::string::npos; }));
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      try {
        pqxx::connection c(Source());
        for (int t = 0; t < 150; ++t) {
          pqxx::work tx(c);
          std::string values;
          const int n = 1 + (t + w) % 9;
          for (int k = 1; k <= n; ++k) {
            absl::StrAppend(&values, k > 1 ? ", " : "", "($1[", k, "], $2, '{\"writer\": ", w,
                            ", \"t\": ", t, ", \"k\": ", k, "}')");
          }
          tx.exec_params("SELECT insert_events($1)", values);
          tx.commit();
        }
      } catch (const std::exception& e) {
        ++failures;
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : writers) t.join();
  ASSERT_EQ(failures.load(), 0);
  ASSERT_TRUE(AllCaughtUp()) << (*replicator)->Log();
  EXPECT_EQ(SplitTransactions(Dest(0)), 0);
  EXPECT_EQ(SplitTransactions(Dest(1)), 0);
}

TEST_F(ReplicationTest, CopiesAreByteExact) {
  Exec(
      Source(),
      R"sql(SELECT insert_events($v$($1[1], $2, '{"big": 123456789012345678901234567890, "frac": 0.100000000000000000000000000001, "neg": -1e-30}'), ($1[2], $2, '{"text": "ünïcødé 😀 \" \\ \n \t", "nested": {"a": [1, 2.50, null, true]}}')$v$))sql");
  Exec(Source(), absl::StrCat("SELECT insert_events($v$($1[1], $2, '{\"mb\": \"",
                              std::string(1 << 20, 'm'), "\"}')$v$)"));
  auto replicator = ReplicatorProcess::Start(Config());
  ASSERT_TRUE(replicator.ok());
  ASSERT_TRUE(AllCaughtUp()) << (*replicator)->Log();
  const std::string exact =
      "SELECT string_agg(id || '|' || (extract(epoch FROM ts) * 1000000)::bigint || '|' || "
      "event::text, E'\\n' ORDER BY id) FROM events";
  const std::string src = QueryValue(Source(), exact);
  EXPECT_EQ(QueryValue(Dest(0), exact), src);
  EXPECT_NE(src.find("123456789012345678901234567890"), std::string::npos);
  EXPECT_NE(src.find("0.100000000000000000000000000001"), std::string::npos);
  // Microseconds survive (the original replicator truncated to milliseconds).
  EXPECT_EQ(QueryValue(Dest(0), "SELECT string_agg(ts::text, ',' ORDER BY id) FROM events"),
            QueryValue(Source(), "SELECT string_agg(ts::text, ',' ORDER BY id) FROM events"));
  EXPECT_GT(QueryInt(Dest(1), "SELECT max(length(event::text)) FROM events"), 1 << 20);
}

TEST_F(ReplicationTest, KillNineMidCatchUpLosesAndDuplicatesNothing) {
  FillSource(Source(), 3000, 20, 60);  // about 120k events
  const long long total = Count(Source());
  const std::string config = Config();
  int killed_midway = 0;
  for (int round = 0; round < 3; ++round) {
    auto replicator = ReplicatorProcess::Start(config);
    ASSERT_TRUE(replicator.ok());
    const long long before = Count(Dest(0));
    // Let it commit at least one more batch, then kill it without warning.
    ASSERT_TRUE(WaitUntil([&] { return Count(Dest(0)) > before || Count(Dest(0)) == total; }))
        << (*replicator)->Log();
    (*replicator)->Signal(SIGKILL);
    ASSERT_TRUE((*replicator)->Wait().ok());
    const long long after = Count(Dest(0));
    if (after < total) ++killed_midway;
    for (int d = 0; d < 2; ++d) ExpectWholeTransactions(Dest(d));
  }
  EXPECT_GE(killed_midway, 1) << "the backlog was copied before any kill: make it larger";
  auto replicator = ReplicatorProcess::Start(config);
  ASSERT_TRUE(replicator.ok());
  ASSERT_TRUE(AllCaughtUp()) << (*replicator)->Log();
  EXPECT_EQ(Count(Dest(0)), total);
}

TEST_F(ReplicationTest, SigtermMidBatchCommitsOrRollsBackWholeAndExitsZero) {
  FillSource(Source(), 3000, 20, 60);
  const long long total = Count(Source());
  auto replicator = ReplicatorProcess::Start(Config());
  ASSERT_TRUE(replicator.ok());
  WaitUntil([&] { return Count(Dest(0)) > 0; });
  (*replicator)->Signal(SIGTERM);
  auto rc = (*replicator)->Wait(absl::Seconds(10));
  ASSERT_TRUE(rc.ok()) << "did not stop within 10 s";
  EXPECT_EQ(*rc, 0) << (*replicator)->Log();
  for (int d = 0; d < 2; ++d) {
    ExpectWholeTransactions(Dest(d));
    // The last transaction on the destination is complete.
    const long long max_id = QueryInt(Dest(d), "SELECT coalesce(max(id), 0) FROM events");
    if (max_id > 0 && max_id < total) {
      EXPECT_NE(
          QueryValue(Source(), absl::StrCat("SELECT ts FROM events WHERE id = ", max_id)),
          QueryValue(Source(), absl::StrCat("SELECT ts FROM events WHERE id = ", max_id + 1)));
    }
  }
  EXPECT_NE((*replicator)->Log().find("signal received"), std::string::npos);
}

TEST_F(ReplicationTest, ASecondSignalExitsAtOnceWhenTheGracefulStopCannotFinish) {
  FillSource(Source(), 3000, 20, 60);
  auto replicator = ReplicatorProcess::Start(Config());
  ASSERT_TRUE(replicator.ok());
  ASSERT_TRUE(WaitUntil([&] { return Count(Dest(0)) > 0; })) << (*replicator)->Log();
  // Freeze the backend writing destination 0: the replicator's write to it cannot complete.
  FrozenReplicatorBackend frozen(cluster(), dest_dbs_[0]);
  ASSERT_TRUE(frozen.frozen());
  (*replicator)->Signal(SIGTERM);
  (*replicator)->Signal(SIGINT);  // another signal: standard signals of one kind do not queue
  auto rc = (*replicator)->Wait(absl::Seconds(10));
  frozen.Thaw();
  ASSERT_TRUE(rc.ok()) << "did not exit at the second signal";
  EXPECT_EQ(*rc, 130) << (*replicator)->Log();
  EXPECT_NE((*replicator)->Log().find("second signal; exiting now"), std::string::npos);
  // The interrupted batch rolls back when its connection goes: whole transactions only.
  ASSERT_TRUE(WaitForNoReplicatorSessions(Dest(0)));
  ExpectWholeTransactions(Dest(0));
}

// A replicator of another config (another instance group) on the same destinations is refused;
// one of the same config would wait as a standby (the fault suite shows that).
TEST_F(ReplicationTest, AReplicatorOfAnotherConfigIsRefused) {
  Exec(Source(), "SELECT insert_events($$($1[1], $2, '{}')$$)");
  const std::string config = Config();
  auto first = ReplicatorProcess::Start(config);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(AllCaughtUp());
  std::string out;
  EXPECT_EQ(RunReplicator({"-c", Config("\"instanceGroup\": \"another\"")}, &out), 4) << out;
  EXPECT_NE(out.find("is being written by another slate-replicator"), std::string::npos) << out;
  EXPECT_NE(out.find("application_name 'slate-replicator/"), std::string::npos) << out;
  Exec(Source(), "SELECT insert_events($$($1[1], $2, '{}')$$)");
  ASSERT_TRUE(AllCaughtUp());  // the first one goes on
}

TEST_F(ReplicationTest, AHoleIsHeldReportedAndPassedOnlyWhenFilled) {
  Exec(Source(), "SELECT insert_events($$($1[1], $2, '{}'), ($1[2], $2, '{}')$$)");
  auto engine = InProcessEngine();
  engine->Start();
  // A direct insert that bypassed insert_events leaves id 3 missing.
  Exec(Source(), "INSERT INTO events VALUES (4, now(), '{\"direct\": 4}')");
  ASSERT_TRUE(engine->board().Await(
      [](const core::EngineStatus& s) {
        return s.destinations[0].state == core::DestinationState::kWaitingAtHole &&
               s.destinations[1].state == core::DestinationState::kWaitingAtHole;
      },
      absl::Seconds(30)));
  core::EngineStatus s = engine->Snapshot();
  EXPECT_EQ(s.destinations[0].hole_at, 3);
  EXPECT_EQ(s.destinations[0].position, 2);
  EXPECT_EQ(Count(Dest(0)), 2);
  Exec(Source(), "INSERT INTO events VALUES (3, now(), '{\"direct\": 3}')");
  ASSERT_TRUE(AllCaughtUp());
  ASSERT_TRUE(engine->board().Await(
      [](const core::EngineStatus& st) { return st.destinations[0].hole_at == 0; },
      absl::Seconds(30)));
}

TEST_F(ReplicationTest, MalformedPayloadsAreLoggedAndStillWakeUp) {
  auto engine = InProcessEngine();
  engine->Start();
  ASSERT_TRUE(engine->board().Await([](const core::EngineStatus& s) { return s.source.listening; },
                                    absl::Seconds(30)));
  Exec(Source(),
       "SELECT pg_notify('eventsinsert', 'garbage'), "
       "pg_notify('eventsinsert', '{\"table\": \"other\", \"id\": 1}')");
  ASSERT_TRUE(engine->board().Await(
      [](const core::EngineStatus& s) { return s.source.malformed_notifications_total == 2; },
      absl::Seconds(30)));
  Exec(Source(), "SELECT insert_events($$($1[1], $2, '{}')$$)");
  ASSERT_TRUE(AllCaughtUp());
}

TEST_F(ReplicationTest, ALargeTransactionsNotificationsCostAFewPasses) {
  auto engine = InProcessEngine("\"pollInterval\": 3600000");
  engine->Start();
  ASSERT_TRUE(engine->board().Await(
      [](const core::EngineStatus& s) {
        return s.source.listening && s.destinations[0].state == core::DestinationState::kInSync &&
               s.destinations[1].state == core::DestinationState::kInSync;
      },
      absl::Seconds(30)));
  const int64_t passes_before = engine->Snapshot().source.passes_total;
  FillSource(Source(), 1, 10000, 10000);  // one transaction, 10,000 notifications
  ASSERT_TRUE(AllCaughtUp());
  ASSERT_TRUE(engine->board().Await(
      [](const core::EngineStatus& s) { return s.source.notifications_total == 10000; },
      absl::Seconds(30)));
  const int64_t passes = engine->Snapshot().source.passes_total - passes_before;
  EXPECT_LE(passes, 10) << "passes for 2 destinations";
  EXPECT_EQ(SplitTransactions(Dest(0)), 0);
}

TEST_F(ReplicationTest, WorksWithTheOriginalTriggerThatSendsTheEvent) {
  Exec(Source(), R"sql(CREATE OR REPLACE FUNCTION notify_event_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('eventsinsert', json_build_object('table', TG_TABLE_NAME, 'id', NEW.id,
                                                          'event', NEW.event)::text);
      RETURN NULL;
    END $$)sql");
  auto engine = InProcessEngine("\"pollInterval\": 3600000");
  engine->Start();
  ASSERT_TRUE(engine->board().Await([](const core::EngineStatus& s) { return s.source.listening; },
                                    absl::Seconds(30)));
  Exec(Source(), R"sql(SELECT insert_events($$($1[1], $2, '{"id": 77, "entityName": "x"}')$$))sql");
  ASSERT_TRUE(AllCaughtUp());
  // The destinations' first pass may copy the event before the listener has read its
  // notification: the notification is waited for.
  ASSERT_TRUE(engine->board().Await(
      [](const core::EngineStatus& s) { return s.source.notifications_total >= 1; },
      absl::Seconds(30)));
  EXPECT_EQ(engine->Snapshot().source.malformed_notifications_total, 0);
}

// Destinations on their own clusters, so one can be stopped.
TEST(ReplicationOutageTest, AStoppedDestinationDoesNotSlowTheOtherAndCatchesUpLater) {
  PgCluster& shared = SharedCluster();
  auto other = PgCluster::Start("outage");
  ASSERT_TRUE(other.ok()) << other.status();
  const std::string src = UniqueName("src");
  const std::string d1 = UniqueName("dst");
  const std::string d2 = UniqueName("dst");
  ASSERT_TRUE(shared.CreateSlateDatabase(src, pg::TableType::kSource).ok());
  ASSERT_TRUE(shared.CreateSlateDatabase(d1, pg::TableType::kDestination).ok());
  ASSERT_TRUE((*other)->CreateSlateDatabase(d2, pg::TableType::kDestination).ok());
  auto cfg =
      config::ParseConfig(ConfigJson(shared.Params(src), {shared.Params(d1), (*other)->Params(d2)},
                                     "\"maxRetryDelay\": 500"),
                          config::DefaultSecretLookup());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  auto engine = BuildEngine(*cfg);
  engine->Start();
  FillSource(shared.ConnInfo(src), 100, 1, 10);
  const std::string want = Digest(shared.ConnInfo(src));
  ASSERT_TRUE(WaitUntil([&] { return Digest((*other)->ConnInfo(d2)) == want; }));

  ASSERT_TRUE((*other)->Stop("immediate").ok());
  FillSource(shared.ConnInfo(src), 300, 1, 50);
  const std::string want2 = Digest(shared.ConnInfo(src));
  ASSERT_TRUE(WaitUntil([&] { return Digest(shared.ConnInfo(d1)) == want2; }));
  ASSERT_TRUE(engine->board().Await(
      [](const core::EngineStatus& s) {
        return s.destinations[1].state == core::DestinationState::kRetrying &&
               s.destinations[1].lag_events > 0 && !s.destinations[1].last_error.empty();
      },
      absl::Seconds(30)));

  ASSERT_TRUE((*other)->Restart().ok());
  ASSERT_TRUE(WaitUntil([&] { return Digest((*other)->ConnInfo(d2)) == want2; }));
  EXPECT_EQ(SplitTransactions((*other)->ConnInfo(d2)), 0);
  engine->RequestStop();
  engine->Join();
}

}  // namespace
}  // namespace slate::testing
