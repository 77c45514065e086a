// The fault-injection suite: slate-replicator on real PostgreSQL under crashes, restarts, cut
// and blackholed connections, refusing destinations, notification storms, holes, a second
// writer and bad input. Every case ends with `slatectl verify`: identical destinations, no
// duplicates, nothing lost.

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include <pqxx/pqxx>

#include "server/config/config.h"
#include "server/postgres/connection.h"
#include "server/postgres/facts.h"
#include "server/replicator.h"
#include "tests/faults/writers.h"
#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"
#include "tests/support/tcp_proxy.h"

namespace slate::testing {
namespace {

// Fast reactions for tests: short backoff, stall and connect timeouts.
constexpr char kFast[] =
    "\"maxRetryDelay\": 500, \"stallTimeout\": 2000, \"connectTimeout\": 2000, "
    "\"pollInterval\": 500";

// Everything the suite checks at the end of a case. Split transactions are judged against the
// source (ExpectWholeTransactions): two of its transactions may share a ts (client-side writers
// starting in the same microsecond), and that is no split.
void ExpectVerified(const std::string& config, const std::string& source_conninfo,
                    const std::vector<std::string>& dest_conninfos) {
  std::string out;
  EXPECT_EQ(RunSlatectl({"verify", "-c", config}, &out), 0) << out;
  for (const std::string& d : dest_conninfos) {
    EXPECT_EQ(QueryInt(d, "SELECT count(*) - count(DISTINCT id) FROM events"), 0) << "duplicates";
    ExpectWholeTransactions(d, source_conninfo);
  }
}

class FaultTest : public ::testing::Test {
 protected:
  PgCluster& shared() { return SharedCluster(); }
  // A source and two destinations on the shared cluster, and a config for them (kFast).
  struct SourceAndTwo {
    std::string src, d1, d2, config;
  };
  SourceAndTwo NewSourceAndTwoDestinations() {
    SourceAndTwo t;
    t.src = NewSlateDatabase(shared(), pg::TableType::kSource);
    t.d1 = NewSlateDatabase(shared(), pg::TableType::kDestination);
    t.d2 = NewSlateDatabase(shared(), pg::TableType::kDestination);
    t.config = WriteFile(
        shared().dir(), "config.json",
        ConfigJson(shared().Params(t.src), {shared().Params(t.d1), shared().Params(t.d2)}, kFast));
    return t;
  }
  bool CaughtUp(const std::string& source, const std::vector<std::string>& dests,
                absl::Duration timeout = absl::Seconds(120)) {
    return WaitUntil(
        [&] {
          const std::string want = Digest(source);
          for (const auto& d : dests) {
            try {
              if (Digest(d) != want) return false;
            } catch (const std::exception&) {
              return false;  // a destination being restarted
            }
          }
          return true;
        },
        timeout);
  }
};

TEST_F(FaultTest, KillNineAtRandomMomentsDuringA200kCatchUp) {
  const SourceAndTwo dbs = NewSourceAndTwoDestinations();
  const std::string &src = dbs.src, &d1 = dbs.d1, &d2 = dbs.d2, &config = dbs.config;
  FillSource(shared().ConnInfo(src), 5000, 20, 60);  // about 200k events
  ASSERT_GE(Count(shared().ConnInfo(src)), 200000);
  const unsigned seed = std::random_device()();
  std::mt19937 random(seed);
  std::cout << "kill -9 schedule seed: " << seed << "\n";
  int mid_catch_up = 0;
  for (int round = 0; round < 8; ++round) {
    auto r = ReplicatorProcess::Start(config);
    ASSERT_TRUE(r.ok());
    const int delay_ms = std::uniform_int_distribution<int>(50, 1500)(random);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));  // the random moment
    (*r)->Signal(SIGKILL);
    ASSERT_TRUE((*r)->Wait().ok());
    if (Count(shared().ConnInfo(d1)) < Count(shared().ConnInfo(src))) ++mid_catch_up;
  }
  std::cout << "kills during the catch-up: " << mid_catch_up << " of 8\n";
  EXPECT_GE(mid_catch_up, 1);
  auto r = ReplicatorProcess::Start(config);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(d1), shared().ConnInfo(d2)}))
      << (*r)->Log();
  ExpectVerified(config, shared().ConnInfo(src), {shared().ConnInfo(d1), shared().ConnInfo(d2)});
}

TEST_F(FaultTest, DestinationServersCrashAndRestartMidStream) {
  auto c1 = PgCluster::Start("dest1");
  auto c2 = PgCluster::Start("dest2");
  ASSERT_TRUE(c1.ok() && c2.ok());
  const std::string src = NewSlateDatabase(shared(), pg::TableType::kSource);
  const std::string d1 = NewSlateDatabase(**c1, pg::TableType::kDestination);
  const std::string d2 = NewSlateDatabase(**c2, pg::TableType::kDestination);
  FillSource(shared().ConnInfo(src), 3000, 20, 60);
  const std::string config =
      WriteFile(shared().dir(), "config.json",
                ConfigJson(shared().Params(src), {(*c1)->Params(d1), (*c2)->Params(d2)}, kFast));
  auto r = ReplicatorProcess::Start(config);
  ASSERT_TRUE(r.ok());
  for (PgCluster* c : {c1->get(), c2->get()}) {
    const std::string d = c == c1->get() ? d1 : d2;
    ASSERT_TRUE(WaitUntil([&] { return Count(c->ConnInfo(d)) > 0; }));
    ASSERT_TRUE(c->Stop("immediate").ok());  // a crash, mid-stream
    FillSource(shared().ConnInfo(src), 100, 1, 20);
    ASSERT_TRUE(c->Restart().ok());
  }
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {(*c1)->ConnInfo(d1), (*c2)->ConnInfo(d2)}))
      << (*r)->Log();
  EXPECT_EQ(kill((*r)->pid(), 0), 0) << "the replicator recovered without a restart";
  ExpectVerified(config, shared().ConnInfo(src), {(*c1)->ConnInfo(d1), (*c2)->ConnInfo(d2)});
}

// Start-up waits out outages: a database that does not answer never ends the process.
TEST_F(FaultTest, StartsWhileTheSourceIsDownAndCopiesOnceItAnswers) {
  auto sc = PgCluster::Start("source");
  ASSERT_TRUE(sc.ok());
  const std::string src = NewSlateDatabase(**sc, pg::TableType::kSource);
  const std::string d1 = NewSlateDatabase(shared(), pg::TableType::kDestination);
  FillSource((*sc)->ConnInfo(src), 300, 1, 20);
  const std::string config = WriteFile(
      shared().dir(), "config.json", ConfigJson((*sc)->Params(src), {shared().Params(d1)}, kFast));
  ASSERT_TRUE((*sc)->Stop("fast").ok());
  auto r = ReplicatorProcess::Start(config);
  ASSERT_TRUE(r.ok());
  // The control API serves at once and shows the source and the destination connecting.
  const std::string server = absl::StrCat("127.0.0.1:", (*r)->WaitForControlPort());
  std::string out;
  ASSERT_TRUE(WaitUntil([&] {
    RunSlatectl({"status", "--server", server}, &out);
    return out.find("connecting (not listening)") != std::string::npos &&
           out.find("next retry") != std::string::npos &&
           out.find("connecting  ") != std::string::npos;
  })) << out
      << (*r)->Log();
  EXPECT_NE(kill((*r)->pid(), 0), -1) << "the process must wait, not exit";
  EXPECT_NE((*r)->Log().find("the source did not answer; starting anyway"), std::string::npos);
  ASSERT_TRUE((*sc)->Restart().ok());
  ASSERT_TRUE(CaughtUp((*sc)->ConnInfo(src), {shared().ConnInfo(d1)})) << (*r)->Log();
  EXPECT_NE((*r)->Log().find("start-up checks passed"), std::string::npos);
  ExpectVerified(config, (*sc)->ConnInfo(src), {shared().ConnInfo(d1)});
}

// A source and destination d1 on the shared cluster, a second destination d2 (made as `d2_type`)
// on its own cluster, which is stopped; the replicator started on all three, d1 caught up.
class SecondDestinationDownAtStart {
 public:
  SecondDestinationDownAtStart(pg::TableType d2_type, int transactions)
      : cluster_(PgCluster::Start("dest2")) {
    if (!cluster_.ok()) return;
    PgCluster& shared = SharedCluster();
    src = Made(shared, pg::TableType::kSource);
    d1 = Made(shared, pg::TableType::kDestination);
    d2 = Made(**cluster_, d2_type);
    FillSource(shared.ConnInfo(src), transactions, 1, 5);
    config = WriteFile(
        shared.dir(), "config.json",
        ConfigJson(shared.Params(src), {shared.Params(d1), (*cluster_)->Params(d2)}, kFast));
    if (!(*cluster_)->Stop("fast").ok()) return;
    auto r = ReplicatorProcess::Start(config);
    if (r.ok()) replicator = std::move(*r);
  }
  bool ok() const { return cluster_.ok() && replicator != nullptr; }
  PgCluster& second() { return **cluster_; }

  std::string src, d1, d2, config;
  std::unique_ptr<ReplicatorProcess> replicator;

 private:
  static std::string Made(PgCluster& c, pg::TableType type) {
    const std::string name = UniqueName(type == pg::TableType::kSource ? "src" : "dst");
    EXPECT_TRUE(c.CreateSlateDatabase(name, type).ok());
    return name;
  }
  absl::StatusOr<std::unique_ptr<PgCluster>> cluster_;
};

TEST_F(FaultTest, ADestinationDownAtStartDoesNotHoldBackTheOthers) {
  SecondDestinationDownAtStart s(pg::TableType::kDestination, 300);
  ASSERT_TRUE(s.ok());
  ReplicatorProcess& r = *s.replicator;
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(s.src), {shared().ConnInfo(s.d1)})) << r.Log();
  const std::string server = absl::StrCat("127.0.0.1:", r.WaitForControlPort());
  std::string out;
  ASSERT_TRUE(WaitUntil([&] {
    RunSlatectl({"status", "-o", "json", "--server", server}, &out);
    return out.find("STATE_CONNECTING") != std::string::npos &&
           out.find("Connection refused") != std::string::npos;
  })) << out;
  EXPECT_NE(r.Log().find("a destination did not answer; the others start"), std::string::npos);
  ASSERT_TRUE(s.second().Restart().ok());
  const std::vector<std::string> both = {shared().ConnInfo(s.d1), s.second().ConnInfo(s.d2)};
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(s.src), both)) << r.Log();
  ExpectVerified(s.config, shared().ConnInfo(s.src), both);
}

TEST_F(FaultTest, ADestinationThatAnswersWrongAfterAnOutageFailsAlone) {
  // The second destination is a source: not a destination at all.
  SecondDestinationDownAtStart s(pg::TableType::kSource, 50);
  ASSERT_TRUE(s.ok());
  ReplicatorProcess& r = *s.replicator;
  // The control API listens once the start-up checks have judged the second cluster unreachable;
  // it answers only after that (restarted earlier, it would be judged at start and refused).
  const int port = r.WaitForControlPort();
  ASSERT_GT(port, 0) << r.Log();
  ASSERT_NE(r.Log().find("a destination did not answer; the others start"), std::string::npos)
      << r.Log();
  ASSERT_TRUE(s.second().Restart().ok());
  const std::string server = absl::StrCat("127.0.0.1:", port);
  std::string out;
  ASSERT_TRUE(WaitUntil([&] {
    RunSlatectl({"status", "-o", "json", "--server", server}, &out);
    return out.find("STATE_FAILED") != std::string::npos;
  })) << out
      << r.Log();
  EXPECT_NE(out.find("start-up checks failed"), std::string::npos) << out;
  EXPECT_NE(out.find("it looks like a source"), std::string::npos) << out;
  // The other destination goes on.
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(s.src), {shared().ConnInfo(s.d1)})) << r.Log();
  EXPECT_NE(kill(r.pid(), 0), -1);
  EXPECT_EQ(Count(s.second().ConnInfo(s.d2)), 0);
}

TEST_F(FaultTest, SourceRestartWhileWritersInsertMissesNothing) {
  auto sc = PgCluster::Start("source");
  ASSERT_TRUE(sc.ok());
  const std::string src = NewSlateDatabase(**sc, pg::TableType::kSource);
  const std::string d1 = NewSlateDatabase(shared(), pg::TableType::kDestination);
  const std::string config = WriteFile(
      shared().dir(), "config.json",
      ConfigJson((*sc)->Params(src), {shared().Params(d1)},
                 absl::StrCat(kFast, ", \"pollInterval\": 3600000")));  // only notifications
  auto r = ReplicatorProcess::Start(config);
  ASSERT_TRUE(r.ok());
  // The restart must come while it listens (on a busy machine its start can take a while).
  ASSERT_TRUE(WaitUntil([&] {
    return (*r)->Log().find("listening for notifications") != std::string::npos;
  })) << (*r)->Log();
  Writers writers((*sc)->ConnInfo(src), 2);
  ASSERT_TRUE(WaitUntil([&] { return writers.committed() > 200; }));
  ASSERT_TRUE((*sc)->Stop("fast").ok());
  ASSERT_TRUE((*sc)->Restart().ok());
  const long long before = writers.committed();
  ASSERT_TRUE(WaitUntil([&] { return writers.committed() > before + 200; }));
  writers.Stop();
  // With passes only on notifications, catching up proves the listener came back.
  ASSERT_TRUE(CaughtUp((*sc)->ConnInfo(src), {shared().ConnInfo(d1)})) << (*r)->Log();
  const std::string log = (*r)->Log();
  EXPECT_NE(log.find("lost the notification connection"), std::string::npos);
  size_t listens = 0;
  for (size_t at = 0; (at = log.find("listening for notifications", at)) != std::string::npos;
       ++at) {
    ++listens;
  }
  EXPECT_GE(listens, 2u);
  ExpectVerified(config, (*sc)->ConnInfo(src), {shared().ConnInfo(d1)});
}

// ---------------------------------------------------------------------------------------------
// Standby: one active instance per config, the others wait and take over.

size_t Occurrences(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = 0; (at = text.find(what, at)) != std::string::npos; at += what.size()) ++n;
  return n;
}
size_t Takeovers(const ReplicatorProcess& r) {
  return Occurrences(r.Log(), "active: took the leader lock");
}
bool IsStandby(const ReplicatorProcess& r) {
  return r.Log().find("standby: another instance is active") != std::string::npos;
}
// The pid in the application_name of the session holding `conninfo`'s writer lock; 0: none.
long long WriterLockPid(const std::string& conninfo) {
  return QueryInt(conninfo,
                  "SELECT coalesce((SELECT substring(a.application_name FROM "
                  "'slate-replicator/([0-9]+)@')::bigint FROM pg_locks l JOIN pg_stat_activity a "
                  "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted AND l.classid = "
                  "1936482676 AND l.objid = 1 AND l.database = (SELECT oid FROM pg_database WHERE "
                  "datname = current_database())), 0)");
}
int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}
void PrintTimes(const std::string& what, const std::vector<double>& ms) {
  std::cout << "takeover times, " << what << ": n=" << ms.size() << " median " << Median(ms)
            << " ms, max " << (ms.empty() ? 0 : *std::max_element(ms.begin(), ms.end())) << " ms\n";
}

TEST_F(FaultTest, ThreeInstancesStartedTogetherElectExactlyOneActive) {
  const SourceAndTwo dbs = NewSourceAndTwoDestinations();
  const std::string &src = dbs.src, &d1 = dbs.d1, &d2 = dbs.d2, &config = dbs.config;
  FillSource(shared().ConnInfo(src), 50, 1, 5);
  const int rounds = EnvInt("SLATE_STANDBY_ROUNDS", 50);
  for (int round = 0; round < rounds; ++round) {
    std::vector<std::unique_ptr<ReplicatorProcess>> rs;
    for (int i = 0; i < 3; ++i) {
      auto r = ReplicatorProcess::Start(config);
      ASSERT_TRUE(r.ok());
      rs.push_back(std::move(*r));
    }
    ReplicatorProcess* active = nullptr;
    ASSERT_TRUE(WaitUntil([&] {
      int actives = 0;
      int standbys = 0;
      for (auto& r : rs) {
        if (Takeovers(*r) > 0) {
          ++actives;
          active = r.get();
        } else if (IsStandby(*r)) {
          ++standbys;
        }
      }
      EXPECT_LE(actives, 1) << "round " << round << ": two actives";
      return actives == 1 && standbys == 2;
    })) << "round "
        << round;
    // Every destination is written by the active alone.
    ASSERT_TRUE(WaitUntil([&] {
      return WriterLockPid(shared().ConnInfo(d1)) == active->pid() &&
             WriterLockPid(shared().ConnInfo(d2)) == active->pid();
    })) << "round "
        << round << "\n"
        << active->Log();
    for (auto& r : rs) {
      if (r.get() != active) {
        EXPECT_EQ(Takeovers(*r), 0u) << "round " << round;
      }
    }
    rs.clear();  // SIGKILL all three
    ASSERT_TRUE(WaitForNoReplicatorSessions(shared().ConnInfo(src)));
    ASSERT_TRUE(WaitForNoReplicatorSessions(shared().ConnInfo(d1)));
    ASSERT_TRUE(WaitForNoReplicatorSessions(shared().ConnInfo(d2)));
  }
  auto last = ReplicatorProcess::Start(config);
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(d1), shared().ConnInfo(d2)}));
  ExpectVerified(config, shared().ConnInfo(src), {shared().ConnInfo(d1), shared().ConnInfo(d2)});
}

// kill -9 of the active, under live load and during catch-ups: the standby is copying within
// about a second (process death closes the sessions, and with them the locks). Times are
// printed, not asserted (a shared machine); nothing may be lost or written twice.
TEST_F(FaultTest, KillNineOfTheActiveHandsOverToTheStandby) {
  const std::string src = NewSlateDatabase(shared(), pg::TableType::kSource);
  const std::string d1 = NewSlateDatabase(shared(), pg::TableType::kDestination);
  const std::string config =
      WriteFile(shared().dir(), "config.json",
                ConfigJson(shared().Params(src), {shared().Params(d1)}, kFast));
  auto first = ReplicatorProcess::Start(config);
  ASSERT_TRUE(first.ok());
  std::unique_ptr<ReplicatorProcess> active = std::move(*first);
  ASSERT_TRUE(WaitUntil([&] { return Takeovers(*active) == 1; })) << active->Log();
  auto second = ReplicatorProcess::Start(config);
  ASSERT_TRUE(second.ok());
  std::unique_ptr<ReplicatorProcess> standby = std::move(*second);
  ASSERT_TRUE(WaitUntil([&] { return IsStandby(*standby); })) << standby->Log();
  Writers writers(shared().ConnInfo(src), 1);
  const int takeovers = EnvInt("SLATE_TAKEOVERS", 10);
  std::vector<double> live_ms, catch_up_ms;
  for (int i = 0; i < 2 * takeovers; ++i) {
    const bool catching_up = i % 2 == 1;
    if (catching_up) {
      FillSource(shared().ConnInfo(src), 400, 20, 60);  // a backlog the active is copying
      ASSERT_TRUE(WaitUntil([&] { return Count(shared().ConnInfo(d1)) > 0; }));
    }
    ASSERT_TRUE(WaitUntil([&] { return writers.committed() > 20; }));
    const long long at_kill = Count(shared().ConnInfo(d1));
    const absl::Time killed = absl::Now();
    const size_t before = Takeovers(*standby);
    active->Signal(SIGKILL);
    ASSERT_TRUE(active->Wait().ok());
    ASSERT_TRUE(WaitUntil([&] { return Takeovers(*standby) == before + 1; }, absl::Seconds(30)))
        << standby->Log();
    ASSERT_TRUE(
        WaitUntil([&] { return Count(shared().ConnInfo(d1)) > at_kill; }, absl::Seconds(30)));
    (catching_up ? catch_up_ms : live_ms)
        .push_back(absl::ToDoubleMilliseconds(absl::Now() - killed));
    // The killed one comes back as the new standby.
    auto again = ReplicatorProcess::Start(config);
    ASSERT_TRUE(again.ok());
    active = std::move(standby);
    standby = std::move(*again);
    ASSERT_TRUE(WaitUntil([&] { return IsStandby(*standby); })) << standby->Log();
  }
  writers.Stop();
  PrintTimes("kill -9 under live load (kill to the first row copied by the standby)", live_ms);
  PrintTimes("kill -9 during a catch-up (kill to the first row copied by the standby)",
             catch_up_ms);
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(d1)})) << active->Log();
  // The writer (client-side) and the backlog fills (server-side) run at once here.
  ExpectVerified(config, shared().ConnInfo(src), {shared().ConnInfo(d1)});
}

// If two writers ever believe they are active (here forced: two engines without writer locks,
// as two instances whose fencing failed would be), the destination's own rules still hold: the
// primary key refuses a second copy of an id, and every batch checks inside its transaction that
// it starts right after the destination's last row. So no duplicate, no gap, no split source
// transaction, whatever the interleaving.
TEST_F(FaultTest, TwoWritersAtOnceStillLeaveOneFaithfulCopy) {
  const std::string src = NewSlateDatabase(shared(), pg::TableType::kSource);
  const std::string d1 = NewSlateDatabase(shared(), pg::TableType::kDestination);
  FillSource(shared().ConnInfo(src), 1500, 1, 40);
  auto cfg = config::ParseConfig(
      ConfigJson(shared().Params(src), {shared().Params(d1)},
                 "\"maxRetryDelay\": 200, \"pollInterval\": 200, \"parallelWrites\": 3"),
      config::DefaultSecretLookup());
  ASSERT_TRUE(cfg.ok()) << cfg.status();
  EngineBuild overlap;
  overlap.take_writer_locks = false;  // the forced split: neither excludes the other
  auto a = BuildEngine(*cfg, "slate-replicator/overlap-a", overlap);
  auto b = BuildEngine(*cfg, "slate-replicator/overlap-b", overlap);
  Writers writers(shared().ConnInfo(src), 2);
  a->Start();
  b->Start();
  ASSERT_TRUE(WaitUntil([&] { return writers.committed() > 300; }));
  writers.Stop();
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(d1)}));
  a->RequestStop();
  b->RequestStop();
  a->Join();
  b->Join();
  // They met: a batch of one was refused by the other's rows (the primary key, or the position
  // check finding its start taken), and what was committed was committed by exactly one of them.
  const core::EngineStatus sa = a->Snapshot();
  const core::EngineStatus sb = b->Snapshot();
  auto refused = [](const core::DestinationStatus& d) {
    int64_t n = 0;
    for (const char* kind : {"failed_precondition", "aborted"}) {
      auto it = d.errors_by_kind.find(kind);
      if (it != d.errors_by_kind.end()) n += it->second;
    }
    return n;
  };
  EXPECT_GT(refused(sa.destinations[0]) + refused(sb.destinations[0]), 0)
      << "the two writers never met";
  EXPECT_EQ(sa.destinations[0].events_total + sb.destinations[0].events_total,
            Count(shared().ConnInfo(d1)))
      << "every row committed exactly once, by one of them";
  EXPECT_EQ(QueryInt(shared().ConnInfo(d1), "SELECT count(*) - max(id) FROM events"), 0) << "a gap";
  const std::string config = WriteFile(shared().dir(), "config.json",
                                       ConfigJson(shared().Params(src), {shared().Params(d1)}));
  ExpectVerified(config, shared().ConnInfo(src), {shared().ConnInfo(d1)});
}

// Every comparison between a destination and the source is made so that appends to the source
// during the check cannot make a correct destination look wrong: under writers, 50 Validate RPCs
// and 50 dry runs pass, and 20 restarts all start.
TEST_F(FaultTest, ChecksUnderConcurrentWritesRaiseNoFalseAlarm) {
  const SourceAndTwo dbs = NewSourceAndTwoDestinations();
  const std::string &src = dbs.src, &d1 = dbs.d1, &d2 = dbs.d2, &config = dbs.config;
  FillSource(shared().ConnInfo(src), 200, 1, 10);
  Writers writers(shared().ConnInfo(src), 4);
  const absl::Time began = absl::Now();
  const long long committed_before = writers.committed();
  const int rounds = EnvInt("SLATE_VALIDATION_RESTARTS", 20);
  int rpc_validations = 0;
  int dry_runs = 0;
  for (int restart = 0; restart < rounds; ++restart) {
    auto r = ReplicatorProcess::Start(config);
    ASSERT_TRUE(r.ok());
    ASSERT_TRUE(WaitUntil([&] { return Takeovers(**r) == 1; })) << (*r)->Log();
    ASSERT_TRUE(WaitUntil([&] { return Count(shared().ConnInfo(d1)) > 0; }));
    const std::string server = absl::StrCat("127.0.0.1:", (*r)->WaitForControlPort());
    std::string out;
    // Validate RPCs while it copies (the running replicator's own writer locks pass).
    for (int i = 0; i < 50 / rounds + (restart < 50 % rounds ? 1 : 0); ++i) {
      EXPECT_EQ(RunSlatectl({"validate", "--server", server}, &out), 0) << out;
      ++rpc_validations;
    }
    (*r)->Signal(SIGTERM);
    auto code = (*r)->Wait();
    ASSERT_TRUE(code.ok());
    EXPECT_EQ(*code, 0) << (*r)->Log();
    EXPECT_EQ((*r)->Log().find("not starting"), std::string::npos) << (*r)->Log();
    // Dry runs while nothing replicates and the writers go on.
    for (int i = 0; i < 50 / rounds + (restart < 50 % rounds ? 1 : 0); ++i) {
      EXPECT_EQ(RunReplicator({"-c", config, "--dry-run", "--log-format", "text"}, &out), 0) << out;
      ++dry_runs;
    }
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - began);
  const long long during = writers.committed() - committed_before;
  writers.Stop();
  std::cout << "checks under writers: " << rpc_validations << " Validate RPCs, " << dry_runs
            << " dry runs, " << rounds << " restarts in " << seconds << " s, writers at "
            << static_cast<double>(during) / seconds << " tx/s\n";
  EXPECT_EQ(rpc_validations + dry_runs, 100);
  auto last = ReplicatorProcess::Start(config);
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(d1), shared().ConnInfo(d2)}));
  ExpectVerified(config, shared().ConnInfo(src), {shared().ConnInfo(d1), shared().ConnInfo(d2)});
}

class ProxiedTest : public FaultTest {
 protected:
  void SetUp() override {
    src_ = NewSlateDatabase(shared(), pg::TableType::kSource);
    dst_ = NewSlateDatabase(shared(), pg::TableType::kDestination);
    auto sp = TcpProxy::Start(shared().port());
    auto dp = TcpProxy::Start(shared().port());
    ASSERT_TRUE(sp.ok() && dp.ok());
    source_proxy_ = std::move(*sp);
    dest_proxy_ = std::move(*dp);
    ConnParams s = shared().Params(src_);
    s.port = source_proxy_->port();
    ConnParams d = shared().Params(dst_);
    d.port = dest_proxy_->port();
    config_ = WriteFile(shared().dir(), "config.json", ConfigJson(s, {d}, kFast));
    // verify goes around the proxies; so does a standby of the same instance group.
    direct_config_ = WriteFile(shared().dir(), "config.json",
                               ConfigJson(shared().Params(src_), {shared().Params(dst_)}));
    const std::string group = "\"instanceGroup\": \"proxied-test\"";
    config_group_ = WriteFile(shared().dir(), "config.json",
                              ConfigJson(s, {d}, absl::StrCat(kFast, ", ", group)));
    direct_group_ = WriteFile(shared().dir(), "config.json",
                              ConfigJson(shared().Params(src_), {shared().Params(dst_)},
                                         absl::StrCat(kFast, ", ", group)));
  }
  std::string Src() { return shared().ConnInfo(src_); }
  std::string Dst() { return shared().ConnInfo(dst_); }
  long long Retries(const std::string& server) {
    std::string out;
    RunSlatectl({"status", "-o", "json", "--server", server}, &out);
    return JsonField(out, "retries_total", 0);
  }

  std::string src_, dst_, config_, direct_config_, config_group_, direct_group_;
  std::unique_ptr<TcpProxy> source_proxy_, dest_proxy_;
};

// One-shot connections (facts for validation and the Validate RPC, init-db, verify) are bounded
// like the engine's: a call that gets no answer fails after the stall timeout instead of waiting
// for the kernel's TCP timeout.
TEST_F(ProxiedTest, ACallOnABlackholedConnectionIsBoundedByTheStallTimeout) {
  ConnParams params = shared().Params(src_);
  params.port = source_proxy_->port();
  params.stall_timeout_ms = 1500;
  auto session = pg::PqxxSession::Open(params, "source");
  ASSERT_TRUE(session.ok()) << session.status();
  ASSERT_TRUE((*session)
                  ->Run("a first query",
                        [&] {
                          pqxx::nontransaction tx((*session)->conn());
                          tx.exec("SELECT 1");
                        })
                  .ok());
  source_proxy_->Blackhole(true);  // the connection stays open; no byte moves
  const absl::Status s = (*session)->Run("a query", [&] {
    pqxx::nontransaction tx((*session)->conn());
    tx.exec("SELECT 1");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable) << s;
  EXPECT_NE(s.message().find("no answer within 1.5s (stallTimeout)"), std::string::npos) << s;
  source_proxy_->Blackhole(false);
  // Validation's facts of a database that answers again are whole.
  const core::DatabaseFacts facts = pg::GatherFacts(params, "source", false);
  EXPECT_TRUE(facts.reachable) << facts.error;
  EXPECT_TRUE(facts.has_events);
}

// The active's host vanishes (every connection of it blackholed): the server ends its leader
// session after its idle timeout, the standby takes the lock and ends the former active's
// lingering destination sessions; the former active fences itself as soon as it cannot confirm
// its lock, and is a standby once its connections come back. Times printed, not asserted.
TEST_F(ProxiedTest, ABlackholedActiveIsReplacedByTheStandby) {
  Writers writers(Src(), 1);
  std::vector<double> ms;
  const int rounds = EnvInt("SLATE_BLACKHOLE_TAKEOVERS", 2);
  for (int round = 0; round < rounds; ++round) {
    // Behind the proxies: the instance whose host will vanish.
    auto p = ReplicatorProcess::Start(config_group_);
    ASSERT_TRUE(p.ok());
    std::unique_ptr<ReplicatorProcess> proxied = std::move(*p);
    ASSERT_TRUE(WaitUntil([&] { return Takeovers(*proxied) == 1; })) << proxied->Log();
    auto d = ReplicatorProcess::Start(direct_group_);
    ASSERT_TRUE(d.ok());
    std::unique_ptr<ReplicatorProcess> direct = std::move(*d);
    ASSERT_TRUE(WaitUntil([&] { return IsStandby(*direct); })) << direct->Log();
    ASSERT_TRUE(WaitUntil([&] { return Count(Dst()) > 0 && writers.committed() > 20; }));
    const long long at_cut = Count(Dst());
    const absl::Time cut = absl::Now();
    source_proxy_->Blackhole(true);
    dest_proxy_->Blackhole(true);
    ASSERT_TRUE(WaitUntil([&] { return Takeovers(*direct) == 1; })) << direct->Log();
    ASSERT_TRUE(WaitUntil([&] { return Count(Dst()) > at_cut; })) << direct->Log();
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - cut));
    // The former active stopped writing on its own: it could not confirm its lock.
    ASSERT_TRUE(WaitUntil([&] {
      return proxied->Log().find("cannot confirm the leader lock; fencing") != std::string::npos;
    })) << proxied->Log();
    source_proxy_->Blackhole(false);
    dest_proxy_->Blackhole(false);
    ASSERT_TRUE(WaitUntil([&] { return IsStandby(*proxied) && Takeovers(*proxied) == 1; }));
    ASSERT_TRUE(WaitUntil([&] {
      return proxied->Log().find("standby: writes stopped") != std::string::npos;
    })) << proxied->Log();
    // The next round starts from scratch.
    proxied.reset();
    direct.reset();
    ASSERT_TRUE(WaitForNoReplicatorSessions(Src()));
    ASSERT_TRUE(WaitForNoReplicatorSessions(Dst()));
  }
  writers.Stop();
  PrintTimes("the active's connections blackholed (cut to the first row copied by the standby)",
             ms);
  auto last = ReplicatorProcess::Start(direct_group_);
  ASSERT_TRUE(last.ok());
  ASSERT_TRUE(CaughtUp(Src(), {Dst()}));
  ExpectVerified(direct_config_, Src(), {Dst()});
}

TEST_F(ProxiedTest, CutConnectionsRecoverAfterBackoffWithoutARestart) {
  FillSource(Src(), 3000, 20, 60);
  auto r = ReplicatorProcess::Start(config_);
  ASSERT_TRUE(r.ok());
  const std::string server = absl::StrCat("127.0.0.1:", (*r)->WaitForControlPort());
  ASSERT_TRUE(WaitUntil([&] { return Count(Dst()) > 0; }));
  dest_proxy_->Cut();
  ASSERT_TRUE(WaitUntil([&] { return Retries(server) >= 1; })) << (*r)->Log();
  source_proxy_->Cut();
  FillSource(Src(), 200, 1, 20);
  ASSERT_TRUE(CaughtUp(Src(), {Dst()})) << (*r)->Log();
  EXPECT_EQ(kill((*r)->pid(), 0), 0);
  EXPECT_GE(source_proxy_->connections_accepted(), 4);  // reader and listener reconnected
  ExpectVerified(direct_config_, Src(), {Dst()});
}

TEST_F(ProxiedTest, BlackholedConnectionsAreDetectedAndRecover) {
  FillSource(Src(), 3000, 20, 60);
  auto r = ReplicatorProcess::Start(config_);
  ASSERT_TRUE(r.ok());
  ASSERT_TRUE(WaitUntil([&] { return Count(Dst()) > 0; }));
  dest_proxy_->Blackhole(true);
  ASSERT_TRUE(WaitUntil([&] {
    return (*r)->Log().find("no progress inside a database call") != std::string::npos;
  })) << (*r)->Log();
  dest_proxy_->Blackhole(false);
  ASSERT_TRUE(CaughtUp(Src(), {Dst()})) << (*r)->Log();
  source_proxy_->Blackhole(true);
  FillSource(Src(), 200, 1, 20);  // written while the source path is silent
  std::this_thread::sleep_for(
      std::chrono::seconds(3));  // the outage lasts longer than stallTimeout
  source_proxy_->Blackhole(false);
  ASSERT_TRUE(CaughtUp(Src(), {Dst()})) << (*r)->Log();
  EXPECT_EQ(kill((*r)->pid(), 0), 0);
  ExpectVerified(direct_config_, Src(), {Dst()});
}

TEST_F(FaultTest, ARefusingDestinationReportsAndResumesWhenFixed) {
  const std::string src = NewSlateDatabase(shared(), pg::TableType::kSource);
  const std::string dst = NewSlateDatabase(shared(), pg::TableType::kDestination);
  const std::string config =
      WriteFile(shared().dir(), "config.json",
                ConfigJson(shared().Params(src), {shared().Params(dst)}, kFast));
  FillSource(shared().ConnInfo(src), 20, 1, 5);
  auto r = ReplicatorProcess::Start(config);
  ASSERT_TRUE(r.ok());
  const std::string server = absl::StrCat("127.0.0.1:", (*r)->WaitForControlPort());
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(dst)}));
  std::string out;
  auto status_says = [&](const std::string& text) {
    return WaitUntil([&] {
      RunSlatectl({"status", "--server", server}, &out);
      return out.find(text) != std::string::npos;
    });
  };
  // Read-only: new sessions refuse writes.
  const std::string admin = shared().ConnInfo("postgres");
  Exec(admin, absl::StrCat("ALTER DATABASE ", dst, " SET default_transaction_read_only = on"));
  Exec(admin,
       absl::StrCat("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '", dst,
                    "' AND pid <> pg_backend_pid()"));
  FillSource(shared().ConnInfo(src), 10, 1, 5);
  ASSERT_TRUE(status_says("read-only transaction")) << out;
  EXPECT_NE(out.find("retrying"), std::string::npos) << out;
  Exec(admin, absl::StrCat("ALTER DATABASE ", dst, " RESET default_transaction_read_only"));
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(dst)})) << (*r)->Log();
  // A trigger that raises (out of space, a policy): the same.
  Exec(
      shared().ConnInfo(dst),
      "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
      "RAISE EXCEPTION 'destination refuses writes for now'; END $$; "
      "CREATE TRIGGER refuse BEFORE INSERT ON events FOR EACH STATEMENT EXECUTE FUNCTION refuse()");
  FillSource(shared().ConnInfo(src), 10, 1, 5);
  ASSERT_TRUE(status_says("destination refuses writes for now")) << out;
  Exec(shared().ConnInfo(dst), "DROP TRIGGER refuse ON events");
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(dst)})) << (*r)->Log();
  ExpectVerified(config, shared().ConnInfo(src), {shared().ConnInfo(dst)});
}

TEST_F(FaultTest, NotificationStormsAndMalformedPayloads) {
  const std::string src = NewSlateDatabase(shared(), pg::TableType::kSource);
  const std::string dst = NewSlateDatabase(shared(), pg::TableType::kDestination);
  const std::string config =
      WriteFile(shared().dir(), "config.json",
                ConfigJson(shared().Params(src), {shared().Params(dst)}, kFast));
  auto r = ReplicatorProcess::Start(config);
  ASSERT_TRUE(r.ok());
  const std::string server = absl::StrCat("127.0.0.1:", (*r)->WaitForControlPort());
  ASSERT_TRUE(WaitUntil([&] { return RunSlatectl({"health", "--server", server}, nullptr) == 0; }));
  // 20,000 notifications by hand, a third of them garbage or foreign, while events arrive.
  Exec(shared().ConnInfo(src),
       "SELECT pg_notify('eventsinsert', CASE g % 3 WHEN 0 THEN 'garbage ' || g "
       "WHEN 1 THEN '{\"table\": \"events\", \"id\": ' || g || '}' "
       "ELSE '{\"table\": \"other\", \"id\": 1}' END) FROM generate_series(1, 20000) g");
  FillSource(shared().ConnInfo(src), 300, 1, 30);
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(dst)})) << (*r)->Log();
  // 6,666 distinct garbage payloads, plus the identical foreign ones, which PostgreSQL delivers
  // once per transaction. (A pass may copy the events before the listener has read every
  // notification before them: the count is waited for.)
  std::string out;
  EXPECT_TRUE(WaitUntil([&] {
    return RunSlatectl({"status", "-o", "json", "--server", server}, &out) == 0 &&
           JsonField(out, "malformed_notifications_total", 0) >= 6667;
  })) << out;
  EXPECT_EQ(JsonField(out, "malformed_notifications_total", 0), 6667) << out;
  EXPECT_EQ(kill((*r)->pid(), 0), 0);
  ExpectVerified(config, shared().ConnInfo(src), {shared().ConnInfo(dst)});
}

TEST_F(FaultTest, AHoleIsHeldReportedAndNeverSkipped) {
  const std::string src = NewSlateDatabase(shared(), pg::TableType::kSource);
  const std::string dst = NewSlateDatabase(shared(), pg::TableType::kDestination);
  const std::string config =
      WriteFile(shared().dir(), "config.json",
                ConfigJson(shared().Params(src), {shared().Params(dst)}, kFast));
  FillSource(shared().ConnInfo(src), 10, 1, 5);
  const long long max = QueryInt(shared().ConnInfo(src), "SELECT max(id) FROM events");
  auto r = ReplicatorProcess::Start(config);
  ASSERT_TRUE(r.ok());
  const std::string server = absl::StrCat("127.0.0.1:", (*r)->WaitForControlPort());
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(dst)}));
  // Committed out of order: max+2 is there, max+1 is not.
  Exec(shared().ConnInfo(src),
       absl::StrCat("INSERT INTO events VALUES (", max + 2, ", now(), '{}')"));
  std::string out;
  ASSERT_TRUE(WaitUntil([&] {
    RunSlatectl({"status", "--server", server}, &out);
    return out.find(absl::StrCat("waiting_at_hole ", max + 1)) != std::string::npos;
  })) << out;
  // Held across many polls: never skipped.
  ASSERT_TRUE(WaitUntil([&] {
    RunSlatectl({"status", "-o", "json", "--server", server}, &out);
    return JsonField(out, "passes_total", 0) >= 6;
  }));
  EXPECT_EQ(QueryInt(shared().ConnInfo(dst), "SELECT max(id) FROM events"), max);
  Exec(shared().ConnInfo(src),
       absl::StrCat("INSERT INTO events VALUES (", max + 1, ", now(), '{}')"));
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(dst)}));
  ExpectVerified(config, shared().ConnInfo(src), {shared().ConnInfo(dst)});
}

TEST_F(FaultTest, ASecondInstanceWaitsAsAStandbyAndAnotherConfigIsRefused) {
  const std::string src = NewSlateDatabase(shared(), pg::TableType::kSource);
  const std::string dst = NewSlateDatabase(shared(), pg::TableType::kDestination);
  const std::string config =
      WriteFile(shared().dir(), "config.json",
                ConfigJson(shared().Params(src), {shared().Params(dst)}, kFast));
  FillSource(shared().ConnInfo(src), 2000, 20, 60);
  auto first = ReplicatorProcess::Start(config);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(WaitUntil([&] { return Count(shared().ConnInfo(dst)) > 0; }));
  // The same config: a standby, live, not ready, showing who is active; it writes nothing.
  auto second = ReplicatorProcess::Start(config);
  ASSERT_TRUE(second.ok());
  ASSERT_TRUE(WaitUntil([&] { return IsStandby(**second); })) << (*second)->Log();
  const std::string server = absl::StrCat("127.0.0.1:", (*second)->WaitForControlPort());
  std::string out;
  ASSERT_TRUE(WaitUntil([&] {
    RunSlatectl({"status", "--server", server}, &out);
    return out.find("  standby  ") != std::string::npos;
  })) << out;
  EXPECT_NE(out.find(absl::StrCat("application_name 'slate-replicator/", (*first)->pid(), "@")),
            std::string::npos)
      << out;
  EXPECT_EQ(RunSlatectl({"health", "--server", server}, &out), 1) << out;  // live, not ready
  EXPECT_EQ(WriterLockPid(shared().ConnInfo(dst)), (*first)->pid());
  // Another config writing the same destination is refused at start (two configs would race).
  const std::string other =
      WriteFile(shared().dir(), "config.json",
                ConfigJson(shared().Params(src), {shared().Params(dst)},
                           absl::StrCat(kFast, ", \"instanceGroup\": \"another\"")));
  EXPECT_EQ(RunReplicator({"-c", other}, &out), 4) << out;
  EXPECT_NE(out.find("is being written by another slate-replicator"), std::string::npos) << out;
  EXPECT_NE(out.find("not one of this config"), std::string::npos) << out;
  ASSERT_TRUE(CaughtUp(shared().ConnInfo(src), {shared().ConnInfo(dst)}));
  EXPECT_EQ(Takeovers(**second), 0u);
  ExpectVerified(config, shared().ConnInfo(src), {shared().ConnInfo(dst)});
}

TEST_F(FaultTest, WrongPasswordsAreRefusedClearlyAndWriteNothing) {
  auto c = PgCluster::Start("auth", "right-pw");
  ASSERT_TRUE(c.ok()) << c.status();
  const std::string src = NewSlateDatabase(**c, pg::TableType::kSource);
  const std::string dst = NewSlateDatabase(**c, pg::TableType::kDestination);
  FillSource((*c)->ConnInfo(src), 5, 1, 3);
  for (bool wrong_source : {true, false}) {
    ConnParams s = (*c)->Params(src);
    ConnParams d = (*c)->Params(dst);
    (wrong_source ? s : d).password = "wrong-pw";
    std::string config = ConfigJson(s, {d});
    // ConfigJson leaves passwords out: give both, the wrong one among them.
    config.replace(config.find("\"user\""), 0, "\"password\": \"" + s.password + "\", ");
    config.replace(config.rfind("\"user\""), 0, "\"password\": \"" + d.password + "\", ");
    const std::string path = WriteFile(shared().dir(), "auth.json", config);
    std::string out;
    EXPECT_EQ(RunReplicator({"-c", path}, &out), 4) << out;
    EXPECT_NE(out.find("password authentication failed for user"), std::string::npos) << out;
    EXPECT_NE(out.find("Check host, port, databaseName, user and password"), std::string::npos);
    EXPECT_EQ(out.find("wrong-pw"), std::string::npos) << "a password was logged";
    EXPECT_EQ(out.find("right-pw"), std::string::npos) << "a password was logged";
  }
  EXPECT_EQ(Count((*c)->ConnInfo(dst)), 0);
}

TEST_F(FaultTest, BadInputGetsAClearErrorAndWritesNothing) {
  const std::string src = NewSlateDatabase(shared(), pg::TableType::kSource);
  const std::string dst = NewSlateDatabase(shared(), pg::TableType::kDestination);
  const std::string other_src = NewSlateDatabase(shared(), pg::TableType::kSource);
  FillSource(shared().ConnInfo(src), 5, 1, 3);
  FillSource(shared().ConnInfo(other_src), 5, 1, 3);
  const std::string before_src = Digest(shared().ConnInfo(src));
  const std::string before_dst = Digest(shared().ConnInfo(dst));
  const std::string good = ConfigJson(shared().Params(src), {shared().Params(dst)});
  struct Case {
    std::string config;
    int exit_code;
    std::string says;
  };
  auto replace = [&](const std::string& from, const std::string& to) {
    std::string c = good;
    c.replace(c.find(from), from.size(), to);
    return c;
  };
  ConnParams ahead = shared().Params(NewSlateDatabase(shared(), pg::TableType::kDestination));
  FillSource(shared().ConnInfo(other_src), 20, 1, 3);
  Exec(ahead.ToConnInfo(),
       "INSERT INTO events SELECT g, now(), '{}' FROM generate_series(1, 500) g");
  const std::vector<Case> cases = {
      {replace("\"connectTimeout\": 5000", "\"connectTimeout\": \"5s\""), 3,
       "connectTimeout: must be"},
      {replace("\"connectTimeout\": 5000", "\"maxEventsPerWrite\": -4"), 3,
       "maxEventsPerWrite: must be"},
      {replace("\"host\": \"127.0.0.1\"", "\"host\": 7"), 3, "eventSource.host: must be a string"},
      {replace("\"databaseName\"", "\"database\""), 3, "eventSource.databaseName: required"},
      {replace("\"user\": \"postgres\"}]", "\"user\": \"postgres\", \"sslmode\": \"maybe\"}]"), 3,
       "sslmode: 'maybe' is not a libpq sslmode"},
      {"{\"eventSource\": ", 3, "config is not valid JSON"},
      {ConfigJson(shared().Params(src), {shared().Params(other_src)}), 4, "it looks like a source"},
      {ConfigJson(shared().Params(src), {ahead}), 4, "belongs to another source"},
  };
  for (const Case& c : cases) {
    const std::string path = WriteFile(shared().dir(), "bad.json", c.config);
    std::string out;
    EXPECT_EQ(RunReplicator({"-c", path}, &out), c.exit_code) << c.config << "\n" << out;
    EXPECT_NE(out.find(c.says), std::string::npos) << c.says << "\n" << out;
  }
  std::string out;
  EXPECT_EQ(RunReplicator({"-c", "/proc/self/nonexistent"}, &out), 3) << out;  // unreadable
  EXPECT_EQ(Digest(shared().ConnInfo(src)), before_src);
  EXPECT_EQ(Digest(shared().ConnInfo(dst)), before_dst);
}

// Live changes under writers: pauses, resumes, reloads that remove and re-add a destination, and a
// kill -9 in the middle of it, with writers committing the whole time. Nothing is lost, nothing
// duplicated, no source transaction split (SLATE_LIVE_ROUNDS rounds, default 10).
TEST_F(FaultTest, LiveChangesUnderWritersLoseNothingAndSplitNothing) {
  const SourceAndTwo dbs = NewSourceAndTwoDestinations();
  const std::string src = shared().ConnInfo(dbs.src);
  const std::string d1 = shared().ConnInfo(dbs.d1);
  const std::string d2 = shared().ConnInfo(dbs.d2);
  const std::string config = WriteFile(shared().dir(), "live.json", "{}");
  auto write_config = [&](bool with_d2) {
    auto db = [](const ConnParams& p, const std::string& name) {
      return absl::StrCat(R"({"name": ")", name, R"(", "host": ")", p.host, R"(", "port": )",
                          p.port, R"(, "databaseName": ")", p.database, R"(", "user": ")", p.user,
                          R"("})");
    };
    std::ofstream(config, std::ios::trunc)
        << absl::StrCat("{", kFast, R"(, "instanceGroup": "live-faults", "eventSource": )",
                        db(shared().Params(dbs.src), "source"), R"(, "replicationDestinations": [)",
                        db(shared().Params(dbs.d1), "d1"),
                        with_d2 ? ", " + db(shared().Params(dbs.d2), "d2") : std::string(), "]}");
  };
  write_config(true);
  FillSource(src, 200, 1, 20);
  auto start = [&] {
    auto r = ReplicatorProcess::Start(config);
    EXPECT_TRUE(r.ok());
    const int port = (*r)->WaitForControlPort();
    EXPECT_GT(port, 0) << (*r)->Log();
    return std::make_pair(std::move(*r), absl::StrCat("127.0.0.1:", port));
  };
  auto [replicator, server] = start();
  Writers writers(src, 2);
  const int rounds = EnvInt("SLATE_LIVE_ROUNDS", 10);
  std::string out;
  for (int round = 0; round < rounds; ++round) {
    const std::string name = round % 2 == 0 ? "d1" : "d2";
    ASSERT_EQ(RunSlatectl({"pause", "--server", server, name}, &out), 0) << out;
    const long long paused_from = Count(round % 2 == 0 ? d1 : d2);
    ASSERT_TRUE(WaitUntil([&] { return Count(src) > paused_from + 100; }));
    ASSERT_EQ(RunSlatectl({"resume", "--server", server, name}, &out), 0) << out;
    write_config(false);
    ASSERT_EQ(RunSlatectl({"reload", "--server", server}, &out), 0) << out;
    ASSERT_NE(out.find("removed:     d2"), std::string::npos) << out;
    write_config(true);
    if (round == rounds / 2) {
      // The re-add is picked up by a restart after a kill -9, not by the reload.
      replicator->Signal(SIGKILL);
      ASSERT_TRUE(replicator->Wait().ok());
      auto again = start();
      replicator = std::move(again.first);
      server = again.second;
    } else {
      ASSERT_EQ(RunSlatectl({"reload", "--server", server}, &out), 0) << out;
      ASSERT_NE(out.find("added:       d2"), std::string::npos) << out;
    }
  }
  writers.Stop();
  EXPECT_EQ(writers.errors(), 0);
  ASSERT_TRUE(CaughtUp(src, {d1, d2})) << replicator->Log();
  ExpectWholeTransactions(d1, src);
  ExpectWholeTransactions(d2, src);
  std::cout << "[ measure ] " << rounds << " rounds of pause/resume/reload, " << writers.committed()
            << " writer transactions, " << Count(src) << " events\n";
}

}  // namespace
}  // namespace slate::testing
