// Live operation on real PostgreSQL: reload (slatectl reload and SIGHUP), pause and resume, and
// read-your-writes waits, with a writer running on the source throughout.

#include <signal.h>

#include <atomic>
#include <fstream>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"

namespace slate::testing {
namespace {

// Appends a transaction of 1-3 events to the source every ~10 ms until destroyed.
class Writer {
 public:
  explicit Writer(std::string source) : source_(std::move(source)) {
    thread_ = std::thread([this] {
      int n = 0;
      while (!stop_.load()) {
        InsertEvents(source_, 1 + n++ % 3);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));  // pacing, not syncing
      }
    });
  }
  ~Writer() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

 private:
  const std::string source_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class LiveTest : public SourceAndDestinations {
 protected:
  void SetUp() override {
    SourceAndDestinations::SetUp();
    third_db_ = UniqueName("dst");
    ASSERT_TRUE(SharedCluster().CreateSlateDatabase(third_db_, pg::TableType::kDestination).ok());
    config_path_ = WriteFile(SharedCluster().dir(), "live.json", "{}");
  }

  std::string Db(const std::string& name) {
    if (name == "a") return dest_dbs_[0];
    if (name == "b") return dest_dbs_[1];
    return third_db_;
  }
  std::string Conn(const std::string& name) { return SharedCluster().ConnInfo(Db(name)); }

  // Writes the config file: the named destinations ("a", "b", "c"), each {"name": ...} plus
  // `per_dest[name]` keys, and `extra` top-level keys.
  void WriteConfig(const std::vector<std::string>& names,
                   const std::map<std::string, std::string>& per_dest = {},
                   const std::string& extra = "") {
    auto db = [](const ConnParams& p) {
      return absl::StrCat(R"("host": ")", p.host, R"(", "port": )", p.port,
                          R"(, "databaseName": ")", p.database, R"(", "user": ")", p.user, R"(")");
    };
    std::vector<std::string> dests;
    for (const std::string& n : names) {
      auto more = per_dest.find(n);
      dests.push_back(absl::StrCat(R"({"name": ")", n, R"(", )", db(SharedCluster().Params(Db(n))),
                                   more == per_dest.end() ? "" : ", " + more->second, "}"));
    }
    std::ofstream(config_path_, std::ios::trunc) << absl::StrCat(
        "{", extra.empty() ? "" : extra + ", ", R"("connectTimeout": 5000, "eventSource": {)",
        db(SharedCluster().Params(source_db_)), R"(}, "replicationDestinations": [)",
        absl::StrJoin(dests, ", "), "]}");
  }

  void StartReplicator() {
    auto r = ReplicatorProcess::Start(config_path_);
    ASSERT_TRUE(r.ok());
    replicator_ = std::move(*r);
    const int port = replicator_->WaitForControlPort();
    ASSERT_GT(port, 0) << replicator_->Log();
    server_ = absl::StrCat("127.0.0.1:", port);
  }
  int Ctl(std::vector<std::string> args, std::string* out) {
    args.insert(args.begin() + 1, {"--server", server_});
    return RunSlatectl(args, out);
  }
  // The JSON status row of destination `name` ("" when absent).
  std::string Row(const std::string& name) {
    std::string out;
    if (Ctl({"status", "-o", "json"}, &out) != 0) return "";
    const std::string key = absl::StrCat("\"name\":\"", name, "\"");
    const size_t at = out.find(key);
    if (at == std::string::npos) return "";
    const size_t end = out.find("\"name\":", at + key.size());
    return out.substr(at, end == std::string::npos ? std::string::npos : end - at);
  }
  // Waits until every named destination holds exactly what the source holds and is in sync.
  bool AllInSync(const std::vector<std::string>& names) {
    return WaitUntil([&] {
      const long long source = Count(Source());
      for (const std::string& n : names) {
        if (Count(Conn(n)) != source) return false;
        if (Row(n).find("STATE_IN_SYNC") == std::string::npos) return false;
      }
      return true;
    });
  }
  // "pid@backend_start" of every replicator session on destination `name`, sorted.
  std::string Sessions(const std::string& name) {
    return QueryValue(Conn(name),
                      "SELECT coalesce(string_agg(pid || '@' || backend_start, ',' ORDER BY pid), "
                      "'') FROM pg_stat_activity WHERE datname = current_database() AND "
                      "application_name LIKE 'slate-replicator/%'");
  }
  // The longest pause between consecutive commits on destination `name` in [from, to] (ms).
  double LongestCommitGapMs(const std::string& name, const std::string& from,
                            const std::string& to) {
    return std::stod(QueryValue(
        Conn(name),
        absl::StrCat("SELECT coalesce(max(gap), 0) FROM (SELECT extract(epoch FROM c - lag(c) "
                     "OVER (ORDER BY c)) * 1000 AS gap FROM (SELECT DISTINCT "
                     "pg_xact_commit_timestamp(xmin) AS c FROM events) t WHERE c BETWEEN '",
                     from, "' AND '", to, "') g")));
  }
  std::string Now() { return QueryValue(Source(), "SELECT clock_timestamp()::text"); }

  std::string third_db_;
  std::string config_path_;
  std::unique_ptr<ReplicatorProcess> replicator_;
  std::string server_;
};

TEST_F(LiveTest, AReloadAddsRemovesAndReconnectsWhileTheOthersCopyOnUntouched) {
  FillSource(Source(), 200, 1, 20);
  WriteConfig({"a", "b"});
  StartReplicator();
  Writer writer(Source());
  ASSERT_TRUE(WaitUntil([&] { return Row("a").find("STATE_IN_SYNC") != std::string::npos; }));
  ASSERT_TRUE(WaitUntil([&] { return Row("b").find("STATE_IN_SYNC") != std::string::npos; }));
  const std::string a_sessions = Sessions("a");
  ASSERT_FALSE(a_sessions.empty());
  // For comparison: a's longest commit gap over as many commits without a reload.
  const std::string quiet_from = Now();
  const long long quiet_start = Count(Source());
  ASSERT_TRUE(WaitUntil([&] { return Count(Conn("a")) > quiet_start + 60; }));
  const double quiet_gap = LongestCommitGapMs("a", quiet_from, Now());

  // b goes, c comes; a must not notice.
  const std::string before = Now();
  WriteConfig({"a", "c"});
  std::string out;
  ASSERT_EQ(Ctl({"reload"}, &out), 0) << out << replicator_->Log();
  EXPECT_NE(out.find("added:       c"), std::string::npos) << out;
  EXPECT_NE(out.find("removed:     b"), std::string::npos) << out;
  EXPECT_NE(out.find("unchanged:   a"), std::string::npos) << out;
  EXPECT_TRUE(WaitForNoReplicatorSessions(Conn("b"))) << "b's sessions and writer lock must go";
  EXPECT_EQ(QueryInt(Conn("b"),
                     "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND database = "
                     "(SELECT oid FROM pg_database WHERE datname = current_database())"),
            0);
  ASSERT_TRUE(WaitUntil([&] { return Row("c").find("STATE_IN_SYNC") != std::string::npos; }))
      << Row("c");
  EXPECT_EQ(Row("b"), "") << "a removed destination leaves the status";
  // Let a copy on a little past the reload, then look at its commits across it.
  const long long after_reload = Count(Source());
  ASSERT_TRUE(WaitUntil([&] { return Count(Conn("a")) > after_reload + 20; }));
  const std::string after = Now();
  EXPECT_EQ(Sessions("a"), a_sessions) << "a was reconnected by a reload that did not change it";
  const double gap = LongestCommitGapMs("a", before, after);
  std::cout << "[ measure ] longest gap between a's commits across the reload: " << gap
            << " ms; over as many commits without a reload: " << quiet_gap
            << " ms (writer: a transaction every ~10 ms)\n";

  // a's connection settings change: it reconnects (new sessions), nothing is lost.
  WriteConfig({"a", "c"}, {{"a", R"("sslmode": "disable")"}});
  ASSERT_EQ(Ctl({"reload"}, &out), 0) << out;
  EXPECT_NE(out.find("reconnected: a"), std::string::npos) << out;
  EXPECT_NE(out.find("unchanged:   c"), std::string::npos) << out;
  ASSERT_TRUE(WaitUntil([&] {
    const std::string now = Sessions("a");
    return !now.empty() && now != a_sessions;
  }));

  writer.Stop();
  ASSERT_TRUE(AllInSync({"a", "c"}));
  EXPECT_EQ(Digest(Conn("a")), Digest(Source()));
  EXPECT_EQ(Digest(Conn("c")), Digest(Source()));
  ExpectWholeTransactions(Conn("a"));
  ExpectWholeTransactions(Conn("c"));
  EXPECT_LT(Count(Conn("b")), Count(Source())) << "b was written no more";
  ExpectWholeTransactions(Conn("b"));
}

TEST_F(LiveTest, ABadReloadIsRefusedWithEveryProblemAndNothingChanges) {
  FillSource(Source(), 50, 1, 5);
  WriteConfig({"a", "b"});
  StartReplicator();
  ASSERT_TRUE(AllInSync({"a", "b"}));
  const std::string a_sessions = Sessions("a");
  const std::string b_sessions = Sessions("b");
  std::string out;

  // Not JSON.
  std::ofstream(config_path_, std::ios::trunc) << "{ \"eventSource\": ";
  EXPECT_EQ(Ctl({"reload"}, &out), 1) << out;
  EXPECT_NE(out.find("reload refused, nothing changed"), std::string::npos) << out;
  // Every problem at once.
  std::ofstream(config_path_, std::ios::trunc)
      << R"({"eventSource": {"host": "h"}, "replicationDestinations": [], "pollInterval": -1})";
  EXPECT_EQ(Ctl({"reload"}, &out), 1) << out;
  EXPECT_NE(out.find("eventSource.databaseName"), std::string::npos) << out;
  EXPECT_NE(out.find("one or more destination"), std::string::npos) << out;
  EXPECT_NE(out.find("pollInterval"), std::string::npos) << out;
  // A destination that fails its checks (a copy of another source).
  Exec(Conn("c"),
       "INSERT INTO events (id, ts, event) VALUES (1, now(), '{\"other\": \"source\"}'::jsonb)");
  WriteConfig({"a", "b", "c"});
  EXPECT_EQ(Ctl({"reload"}, &out), 1) << out;
  EXPECT_NE(out.find("fix these checks"), std::string::npos) << out;
  EXPECT_NE(out.find("destination c"), std::string::npos) << out;
  // The same broken file by SIGHUP: refused in the log.
  replicator_->Signal(SIGHUP);
  ASSERT_TRUE(WaitUntil([&] {
    const std::string log = replicator_->Log();
    size_t n = 0;
    for (size_t at = log.find("reload refused: check failed"); at != std::string::npos;
         at = log.find("reload refused: check failed", at + 1)) {
      ++n;
    }
    return n >= 2;
  })) << replicator_->Log();

  // Nothing changed: the same two destinations, the same sessions, still copying.
  EXPECT_EQ(Row("c"), "");
  EXPECT_EQ(Sessions("a"), a_sessions);
  EXPECT_EQ(Sessions("b"), b_sessions);
  InsertEvents(Source(), 5);
  ASSERT_TRUE(AllInSync({"a", "b"}));
  EXPECT_EQ(Count(Conn("c")), 1) << "c was never written";

  // A setting that cannot change live is named, the rest applies.
  WriteConfig({"a"}, {}, R"("pollInterval": 2500)");
  ASSERT_EQ(Ctl({"reload"}, &out), 0) << out;
  EXPECT_NE(out.find("not applied: pollInterval"), std::string::npos) << out;
  EXPECT_NE(out.find("needs a restart"), std::string::npos) << out;
  EXPECT_NE(out.find("removed:     b"), std::string::npos) << out;
  auto metrics = HttpGet(replicator_->WaitForMetricsPort(), "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(
      Sample(*metrics, "slate_replicator_config_reloads_total", R"(result="applied")").value_or(-1),
      1);
  EXPECT_EQ(
      Sample(*metrics, "slate_replicator_config_reloads_total", R"(result="refused")").value_or(-1),
      4);
}

TEST_F(LiveTest, SighupAppliesAValidFile) {
  FillSource(Source(), 50, 1, 5);
  WriteConfig({"a"});
  StartReplicator();
  ASSERT_TRUE(AllInSync({"a"}));
  WriteConfig({"a", "b"});
  replicator_->Signal(SIGHUP);
  ASSERT_TRUE(AllInSync({"a", "b"})) << replicator_->Log();
  EXPECT_EQ(Digest(Conn("b")), Digest(Source()));
  EXPECT_NE(replicator_->Log().find("SIGHUP received"), std::string::npos);
}

TEST_F(LiveTest, APausedDestinationKeepsItsPlaceWhileItsLagGrowsAndResumesFromThere) {
  FillSource(Source(), 50, 1, 5);
  WriteConfig({"a", "b"});
  StartReplicator();
  ASSERT_TRUE(AllInSync({"a", "b"}));
  const std::string a_sessions = Sessions("a");
  std::string out;
  ASSERT_EQ(Ctl({"pause", "a", "--reason", "vacuum full"}, &out), 0) << out;
  EXPECT_NE(out.find("paused a"), std::string::npos) << out;
  ASSERT_TRUE(WaitUntil([&] { return Row("a").find("STATE_PAUSED") != std::string::npos; }));
  EXPECT_EQ(Ctl({"pause", "a"}, &out), 0) << out;
  EXPECT_NE(out.find("already paused"), std::string::npos) << out;
  const long long paused_at = Count(Conn("a"));
  {
    Writer writer(Source());
    ASSERT_TRUE(WaitUntil([&] { return Count(Source()) > paused_at + 50; }));
  }
  ASSERT_TRUE(AllInSync({"b"}));
  const std::string row = Row("a");
  EXPECT_NE(row.find("STATE_PAUSED"), std::string::npos) << row;
  EXPECT_NE(row.find("vacuum full"), std::string::npos) << row;
  EXPECT_GT(JsonField(row, "lag_events"), 50) << row;
  EXPECT_EQ(Count(Conn("a")), paused_at) << "a paused destination is written no more";
  EXPECT_EQ(Sessions("a"), a_sessions) << "a pause keeps its sessions (and writer lock)";
  auto metrics = HttpGet(replicator_->WaitForMetricsPort(), "/metrics");
  ASSERT_TRUE(metrics.ok());
  EXPECT_EQ(
      Sample(*metrics, "slate_replicator_destination_paused", R"(destination="a")").value_or(-1),
      1);
  EXPECT_EQ(
      Sample(*metrics, "slate_replicator_destination_state", R"(destination="a",state="paused")")
          .value_or(-1),
      1);
  EXPECT_GT(Sample(*metrics, "slate_replicator_destination_lag_seconds", R"(destination="a")")
                .value_or(-1),
            0);
  EXPECT_NE(replicator_->Log().find("\"destination paused\""), std::string::npos);

  // It survives a reload; unknown names are refused with the names there are.
  ASSERT_EQ(Ctl({"reload"}, &out), 0) << out;
  EXPECT_NE(Row("a").find("STATE_PAUSED"), std::string::npos);
  EXPECT_EQ(Ctl({"pause", "nope"}, &out), 2) << out;
  EXPECT_NE(out.find("the destinations are: a, b"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"resume", "nope"}, &out), 2) << out;
  EXPECT_EQ(Ctl({"pause"}, &out), 2) << out;

  ASSERT_EQ(Ctl({"resume", "a"}, &out), 0) << out;
  EXPECT_NE(out.find("resumed a"), std::string::npos) << out;
  ASSERT_TRUE(AllInSync({"a", "b"}));
  EXPECT_EQ(Digest(Conn("a")), Digest(Source()));
  ExpectWholeTransactions(Conn("a"));
  EXPECT_EQ(Sessions("a"), a_sessions) << "resumed in the same sessions";

  // A restart starts unpaused unless the config says "paused": true.
  replicator_->Signal(SIGTERM);
  ASSERT_EQ(replicator_->Wait().value_or(-1), 0);
  WriteConfig({"a", "b"}, {{"b", R"("paused": true)"}});
  StartReplicator();
  ASSERT_TRUE(WaitUntil([&] { return Row("b").find("STATE_PAUSED") != std::string::npos; }));
  EXPECT_NE(Row("b").find("\"paused_by\":\"config\""), std::string::npos) << Row("b");
  ASSERT_TRUE(WaitUntil([&] { return Row("a").find("STATE_IN_SYNC") != std::string::npos; }));
}

TEST_F(LiveTest, WaitReturnsOnceTheReplicaHasTheIdAndNotBefore) {
  WriteConfig({"a", "b"});
  StartReplicator();
  ASSERT_TRUE(WaitUntil([&] { return Row("b").find("STATE_IN_SYNC") != std::string::npos; }));
  std::string out;
  for (int i = 0; i < 20; ++i) {
    InsertEvents(Source(), 1 + i % 3);
    const long long id = QueryInt(Source(), "SELECT max(id) FROM events");
    ASSERT_EQ(Ctl({"wait", "--id", std::to_string(id)}, &out), 0) << out;
    EXPECT_NE(out.find(absl::StrCat("id ", id, " reached")), std::string::npos) << out;
    // Read-your-writes: the replica has it the moment the wait returns.
    EXPECT_GE(QueryInt(Conn("a"), "SELECT coalesce(max(id), 0) FROM events"), id);
    EXPECT_GE(QueryInt(Conn("b"), "SELECT coalesce(max(id), 0) FROM events"), id);
  }
  ASSERT_EQ(Ctl({"wait", "--id", "1", "-d", "a", "-o", "json"}, &out), 0) << out;
  EXPECT_NE(out.find("\"name\":\"a\""), std::string::npos) << out;
  EXPECT_EQ(out.find("\"name\":\"b\""), std::string::npos) << "only the one named" << out;

  // A paused destination does not get there: a timeout, with the positions (exit 1).
  ASSERT_EQ(Ctl({"pause", "a"}, &out), 0) << out;
  ASSERT_TRUE(WaitUntil([&] { return Row("a").find("STATE_PAUSED") != std::string::npos; }));
  InsertEvents(Source(), 1);
  const long long id = QueryInt(Source(), "SELECT max(id) FROM events");
  EXPECT_EQ(Ctl({"wait", "--id", std::to_string(id), "-d", "a", "--timeout", "1"}, &out), 1) << out;
  EXPECT_NE(out.find(absl::StrCat("a at ", id - 1)), std::string::npos) << out;
  ASSERT_EQ(Ctl({"wait", "--id", std::to_string(id), "-d", "b"}, &out), 0) << out;

  // Bad arguments: exit 2, each named.
  EXPECT_EQ(Ctl({"wait", "--id", "-1"}, &out), 2) << out;
  EXPECT_NE(out.find("--id"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"wait", "--id", "5", "--timeout", "0"}, &out), 2) << out;
  EXPECT_NE(out.find("--timeout"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"wait", "--id", "5", "-d", "nope"}, &out), 2) << out;
  EXPECT_NE(out.find("no destination named nope"), std::string::npos) << out;
  EXPECT_EQ(Ctl({"wait"}, &out), 2) << out;
}

TEST_F(LiveTest, AReloadOnAStandbyAppliesWhenItBecomesActive) {
  FillSource(Source(), 50, 1, 5);
  WriteConfig({"a"}, {}, R"("instanceGroup": "live-test")");
  StartReplicator();
  ASSERT_TRUE(AllInSync({"a"}));
  auto standby = ReplicatorProcess::Start(config_path_);
  ASSERT_TRUE(standby.ok());
  const int standby_port = (*standby)->WaitForControlPort();
  ASSERT_GT(standby_port, 0);
  const std::string standby_server = absl::StrCat("127.0.0.1:", standby_port);
  std::string out;
  ASSERT_TRUE(WaitUntil([&] {
    RunSlatectl({"status", "--server", standby_server, "-o", "json"}, &out);
    return out.find("ROLE_STANDBY") != std::string::npos;
  })) << out;
  // The standby keeps the new file for later; waits are for the active.
  WriteConfig({"a", "b"}, {}, R"("instanceGroup": "live-test")");
  ASSERT_EQ(RunSlatectl({"reload", "--server", standby_server}, &out), 0) << out;
  EXPECT_NE(out.find("applies when it becomes active"), std::string::npos) << out;
  EXPECT_EQ(RunSlatectl({"wait", "--server", standby_server, "--id", "1"}, &out), 3) << out;
  EXPECT_NE(out.find("standby"), std::string::npos) << out;
  EXPECT_EQ(Count(Conn("b")), 0);
  // The active goes; the standby takes over with both destinations.
  replicator_->Signal(SIGKILL);
  ASSERT_TRUE(WaitUntil([&] {
    RunSlatectl({"status", "--server", standby_server, "-o", "json"}, &out);
    return out.find("\"name\":\"b\"") != std::string::npos &&
           out.find("STATE_IN_SYNC") != std::string::npos && Count(Conn("b")) == Count(Source());
  })) << out
      << (*standby)->Log();
  EXPECT_EQ(Digest(Conn("b")), Digest(Source()));
}

// seedFrom: a replica added by a reload reads its backlog from another destination, up to what
// continuous verification has proven equal there, and the rest from the source.
constexpr char kSeedSettings[] =
    R"("verifyIdsPerSecond": 1000000, "verifyPassInterval": 1500, "pollInterval": 300, )"
    R"("bulkLoadThreshold": 0)";

class SeedTest : public LiveTest {
 protected:
  // A source of `transactions`, replicated to a alone until verification has proven all of it.
  void StartWithAVerifiedSeed(int transactions) {
    FillSource(Source(), transactions, 1, 30);
    backlog_ = Count(Source());
    WriteConfig({"a"}, {}, kSeedSettings);
    StartReplicator();
    ASSERT_TRUE(WaitUntil([&] { return JsonField(Row("a"), "verified_position") == backlog_; }))
        << Row("a") << replicator_->Log();
  }
  long long backlog_ = 0;
};

TEST_F(SeedTest, AReplicaAddedWithASeedReadsItsVerifiedBacklogFromTheSeed) {
  ASSERT_NO_FATAL_FAILURE(StartWithAVerifiedSeed(1000));
  const long long backlog = backlog_;
  // Writes go on while c is added and bootstrapped.
  Writer writer(Source());
  WriteConfig({"a", "c"}, {{"c", R"("seedFrom": "a")"}}, kSeedSettings);
  std::string out;
  ASSERT_EQ(Ctl({"reload"}, &out), 0) << out << replicator_->Log();
  ASSERT_TRUE(WaitUntil([&] { return Row("c").find("STATE_IN_SYNC") != std::string::npos; }))
      << Row("c") << replicator_->Log();
  writer.Stop();
  ASSERT_TRUE(AllInSync({"a", "c"})) << replicator_->Log();
  EXPECT_EQ(Digest(Conn("c")), Digest(Source()));
  ExpectWholeTransactions(Conn("c"), Source());
  const std::string row = Row("c");
  EXPECT_NE(row.find("\"seed_from\":\"a\""), std::string::npos) << row;
  EXPECT_GE(JsonField(row, "seed_rows"), backlog)
      << "the whole verified backlog from the seed" << row;
  EXPECT_LE(JsonField(row, "seed_rows"), Count(Source())) << row;
  const std::string log = replicator_->Log();
  EXPECT_NE(log.find("\"message\":\"reading from the seed\",\"destination\":\"c\",\"seed\":\"a\","
                     "\"from_id\":1"),
            std::string::npos)
      << log;
  // Live events after the bootstrap still arrive.
  InsertEvents(Source(), 3);
  ASSERT_TRUE(AllInSync({"a", "c"}));
}

TEST_F(SeedTest, ASeedThatDiffersFromTheSourceGivesNothing) {
  ASSERT_NO_FATAL_FAILURE(StartWithAVerifiedSeed(300));
  const long long backlog = backlog_;
  // A row of a altered: continuous verification finds it, and a is no seed while it differs.
  Exec(Conn("a"), "UPDATE events SET event = event || '{\"tampered\": true}' WHERE id = 40");
  ASSERT_TRUE(WaitUntil([&] { return Row("a").find("\"diverged\":true") != std::string::npos; }))
      << Row("a") << replicator_->Log();
  WriteConfig({"a", "c"}, {{"c", R"("seedFrom": "a")"}}, kSeedSettings);
  std::string out;
  ASSERT_EQ(Ctl({"reload"}, &out), 0) << out << replicator_->Log();
  ASSERT_TRUE(WaitUntil([&] { return Count(Conn("c")) == backlog; })) << replicator_->Log();
  ASSERT_TRUE(WaitUntil([&] { return Row("c").find("STATE_IN_SYNC") != std::string::npos; }));
  EXPECT_EQ(Digest(Conn("c")), Digest(Source())) << "copied from the source, not the seed";
  EXPECT_EQ(JsonField(Row("c"), "seed_rows"), 0) << Row("c");
  EXPECT_EQ(replicator_->Log().find("\"message\":\"reading from the seed\""), std::string::npos);
}

}  // namespace
}  // namespace slate::testing
