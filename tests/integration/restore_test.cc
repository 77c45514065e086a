// slatectl restore on real databases: a fresh source rebuilt from a backup by binary COPY.

#include <signal.h>

#include <chrono>
#include <regex>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include <pqxx/pqxx>

#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"

namespace slate::testing {
namespace {

class Collector : public pqxx::notification_receiver {
 public:
  explicit Collector(pqxx::connection_base& c) : pqxx::notification_receiver(c, "eventsinsert") {}
  void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
  std::vector<std::string> payloads;
};

class RestoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    old_ = NewSlateDatabase(c(), pg::TableType::kSource);
    backup_ = NewSlateDatabase(c(), pg::TableType::kDestination);
    fresh_ = NewSlateDatabase(c(), pg::TableType::kSource);
    FillSource(c().ConnInfo(old_), 300, 1, 80);
    const std::string make =
        WriteFile(c().dir(), "config.json", ConfigJson(c().Params(old_), {c().Params(backup_)}));
    ASSERT_NO_FATAL_FAILURE(ReplicateOnce(make, c().ConnInfo(old_), Backup()));
    total_ = Count(Backup());
    // The old source is lost; the config now names the fresh one.
    config_ =
        WriteFile(c().dir(), "config.json", ConfigJson(c().Params(fresh_), {c().Params(backup_)}));
  }
  PgCluster& c() { return SharedCluster(); }
  std::string Backup() { return c().ConnInfo(backup_); }
  std::string Fresh() { return c().ConnInfo(fresh_); }
  std::string backup_name() { return absl::StrCat("127.0.0.1:", c().port(), "/", backup_); }
  int Restore(std::vector<std::string> extra, std::string* out, const std::string& config = "") {
    std::vector<std::string> args = {"restore", "-c", config.empty() ? config_ : config, "--chunk",
                                     "3000"};
    args.insert(args.end(), extra.begin(), extra.end());
    return RunSlatectl(args, out);
  }

  std::string old_, backup_, fresh_, config_;
  long long total_ = 0;
};

TEST_F(RestoreTest, RebuildsTheSourceWithOneNotificationAndTheNextId) {
  pqxx::connection listener(Fresh());
  Collector collector(listener);
  std::string out;
  ASSERT_EQ(Restore({"--from", backup_name()}, &out), 0) << out;
  EXPECT_NE(out.find(absl::StrCat("restored ", total_, " events from backup ", backup_name())),
            std::string::npos)
      << out;
  EXPECT_NE(out.find(absl::StrCat("the next insert gets id ", total_ + 1)), std::string::npos)
      << out;
  EXPECT_EQ(Digest(Fresh()), Digest(Backup()));
  // One notification, for the last id.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (collector.payloads.empty() && std::chrono::steady_clock::now() < deadline) {
    listener.await_notification(1, 0);
  }
  listener.get_notifs();
  ASSERT_EQ(collector.payloads.size(), 1u);
  EXPECT_NE(collector.payloads[0].find(absl::StrCat("\"id\" : ", total_)), std::string::npos)
      << collector.payloads[0];
  // The trigger is on again, and the next insert takes the next id.
  EXPECT_EQ(QueryValue(Fresh(), "SELECT tgenabled FROM pg_trigger WHERE tgname = 'notify_insert'"),
            "O");
  EXPECT_EQ(QueryInt(Fresh(), "SELECT id FROM id"), total_ + 1);
  InsertEvents(Fresh(), 2);
  EXPECT_EQ(QueryInt(Fresh(), "SELECT max(id) FROM events"), total_ + 2);
  while (collector.payloads.size() < 3 && std::chrono::steady_clock::now() < deadline) {
    listener.await_notification(1, 0);
  }
  EXPECT_EQ(collector.payloads.size(), 3u);
  // The backup now replicates from the restored source as it did before.
  auto r = ReplicatorProcess::Start(config_);
  ASSERT_TRUE(r.ok());
  const std::string want = Digest(Fresh());
  EXPECT_TRUE(WaitUntil([&] { return Digest(Backup()) == want; })) << (*r)->Log();
}

TEST_F(RestoreTest, FromADsnWithJsonOutput) {
  const ConnParams b = c().Params(backup_);
  std::string out;
  ASSERT_EQ(Restore({"--from-dsn",
                     absl::StrCat("host=", b.host, " port=", b.port, " dbname=", b.database,
                                  " user=", b.user),
                     "-o", "json"},
                    &out),
            0)
      << out;
  EXPECT_EQ(JsonField(out, "rows"), total_) << out;
  EXPECT_EQ(JsonField(out, "next_insert_id"), total_ + 1) << out;
  EXPECT_NE(out.find("\"verified\":true"), std::string::npos) << out;
  EXPECT_EQ(Digest(Fresh()), Digest(Backup()));
}

TEST_F(RestoreTest, RefusesWrongTargetsAndBackupsWithoutWriting) {
  std::string out;
  // A target with rows.
  InsertEvents(Fresh(), 1);
  EXPECT_EQ(Restore({"--from", backup_name()}, &out), 1) << out;
  EXPECT_NE(out.find("refused, nothing written"), std::string::npos) << out;
  EXPECT_NE(out.find("already has 1 events: restore only into an empty"), std::string::npos) << out;
  EXPECT_EQ(Count(Fresh()), 1);
  // A target that is not a source.
  const std::string dest_db = NewSlateDatabase(c(), pg::TableType::kDestination);
  const std::string not_source =
      WriteFile(c().dir(), "config.json", ConfigJson(c().Params(dest_db), {c().Params(backup_)}));
  EXPECT_EQ(Restore({"--from", backup_name()}, &out, not_source), 1) << out;
  EXPECT_NE(out.find("it is not a slate source"), std::string::npos) << out;
  EXPECT_EQ(Count(c().ConnInfo(dest_db)), 0);
  // A backup with a hole.
  const std::string empty_db = NewSlateDatabase(c(), pg::TableType::kSource);
  const std::string to_empty =
      WriteFile(c().dir(), "config.json", ConfigJson(c().Params(empty_db), {c().Params(backup_)}));
  Exec(Backup(), "DELETE FROM events WHERE id = 17");
  EXPECT_EQ(Restore({"--from", backup_name()}, &out, to_empty), 1) << out;
  EXPECT_NE(out.find(absl::StrCat("has ", total_ - 1, " events and max id ", total_,
                                  ": a backup must hold ids 1..max without holes")),
            std::string::npos)
      << out;
  EXPECT_EQ(Count(c().ConnInfo(empty_db)), 0);
  // Usage: no backup, both, an unknown name, a bad DSN.
  EXPECT_EQ(Restore({}, &out, to_empty), 2) << out;
  EXPECT_EQ(Restore({"--from", backup_name(), "--from-dsn", "dbname=x"}, &out, to_empty), 2);
  EXPECT_EQ(Restore({"--from", "nope"}, &out, to_empty), 2) << out;
  EXPECT_NE(out.find("no destination named 'nope'"), std::string::npos) << out;
  EXPECT_EQ(Restore({"--from-dsn", "host=x sslkey=/k dbname=y"}, &out, to_empty), 2) << out;
  EXPECT_NE(out.find("sets sslkey: only host, port, dbname, user, password and sslmode"),
            std::string::npos)
      << out;
  EXPECT_EQ(Restore({"--from-dsn", "not a dsn"}, &out, to_empty), 2) << out;
  EXPECT_NE(out.find("not a connection string"), std::string::npos) << out;
  // Credentials that fail.
  ConnParams bad = c().Params(backup_);
  bad.user = "nobody_here";
  EXPECT_EQ(Restore({"--from-dsn", absl::StrCat("host=127.0.0.1 port=", bad.port,
                                                " dbname=", bad.database, " user=nobody_here")},
                    &out, to_empty),
            3)
      << out;
  EXPECT_NE(out.find("nobody_here"), std::string::npos) << out;
  EXPECT_EQ(Count(c().ConnInfo(empty_db)), 0);
}

TEST_F(RestoreTest, AUserWhoMayNotTurnTheTriggerOffGetsTheFixAndNothingIsWritten) {
  const std::string role = UniqueName("restorer");
  Exec(Fresh(), absl::StrCat("CREATE ROLE ", role, " LOGIN; GRANT SELECT, INSERT ON events, id TO ",
                             role, "; GRANT UPDATE ON id TO ", role));
  ConnParams as_role = c().Params(fresh_);
  as_role.user = role;
  const std::string cfg =
      WriteFile(c().dir(), "config.json", ConfigJson(as_role, {c().Params(backup_)}));
  std::string out;
  EXPECT_EQ(Restore({"--from", backup_name()}, &out, cfg), 1) << out;
  EXPECT_NE(out.find("needs the owner of table events"), std::string::npos) << out;
  EXPECT_NE(out.find("nothing restored (rolled back)"), std::string::npos) << out;
  EXPECT_EQ(Count(Fresh()), 0);
  EXPECT_EQ(QueryInt(Fresh(), "SELECT id FROM id"), 1);
}

}  // namespace
}  // namespace slate::testing
