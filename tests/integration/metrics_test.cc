// /metrics scraped during real replication, checked against SQL; readiness under an outage; the
// shipped alert rules.

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"
#include "tests/support/subprocess.h"

namespace slate::testing {
namespace {

double Must(const absl::StatusOr<double>& v) { return v.ok() ? *v : -1; }

TEST(MetricsTest, AScrapeDuringACatchUpMatchesTheDatabases) {
  PgCluster& c = SharedCluster();
  const std::string src = UniqueName("src");
  const std::string dst = UniqueName("dst");
  ASSERT_TRUE(c.CreateSlateDatabase(src, pg::TableType::kSource).ok());
  ASSERT_TRUE(c.CreateSlateDatabase(dst, pg::TableType::kDestination).ok());
  FillSource(c.ConnInfo(src), 3000, 20, 60);
  const long long total = Count(c.ConnInfo(src));
  auto config = WriteFile(
      c.dir(), "config.json",
      absl::StrCat("{\"replicationDestinations\": [{\"name\": \"replica\", "
                   "\"host\": \"127.0.0.1\", \"port\": ",
                   c.port(), ", \"databaseName\": \"", dst,
                   "\", \"user\": \"postgres\"}],"
                   "\"eventSource\": {\"host\": \"127.0.0.1\", \"port\": ",
                   c.port(), ", \"databaseName\": \"", src, "\", \"user\": \"postgres\"}}"));
  auto replicator = ReplicatorProcess::Start(config);
  ASSERT_TRUE(replicator.ok());
  const int port = (*replicator)->WaitForMetricsPort();
  ASSERT_GT(port, 0) << (*replicator)->Log();
  const std::string d = "destination=\"replica\"";
  double max_lag = 0;
  std::string text;
  ASSERT_TRUE(WaitUntil([&] {
    auto body = HttpGet(port, "/metrics");
    if (!body.ok()) return false;
    text = *body;
    max_lag = std::max(max_lag, Must(Sample(text, "slate_replicator_destination_lag_events", d)));
    return Must(Sample(text, "slate_replicator_destination_position", d)) ==
               static_cast<double>(total) &&
           Must(Sample(text, "slate_replicator_destination_lag_events", d)) == 0 &&
           Must(Sample(text, "slate_replicator_ready")) == 1 &&
           // A bulk load (this backlog is one) is in sync once its indexes are built too.
           Must(Sample(text, "slate_replicator_destination_state", d + ",state=\"in_sync\"")) == 1;
  })) << text;
  EXPECT_GT(max_lag, 0) << "never saw a lag: the catch-up was over before the first scrape";
  // Counters and gauges agree with SQL on both databases.
  EXPECT_EQ(Must(Sample(text, "slate_replicator_destination_events_copied_total", d)),
            static_cast<double>(Count(c.ConnInfo(dst))));
  EXPECT_EQ(Must(Sample(text, "slate_replicator_destination_position", d)),
            static_cast<double>(QueryInt(c.ConnInfo(dst), "SELECT max(id) FROM events")));
  EXPECT_EQ(Must(Sample(text, "slate_replicator_source_max_id")),
            static_cast<double>(QueryInt(c.ConnInfo(src), "SELECT max(id) FROM events")));
  EXPECT_EQ(Must(Sample(text, "slate_replicator_destination_batches_total", d)),
            static_cast<double>(
                QueryInt(c.ConnInfo(dst), "SELECT count(DISTINCT xmin::text) FROM events")));
  EXPECT_EQ(Must(Sample(text, "slate_replicator_destination_lag_seconds", d)), 0);
  EXPECT_EQ(Must(Sample(text, "slate_replicator_destination_state", d + ",state=\"in_sync\"")), 1);
  EXPECT_GT(Must(Sample(text, "slate_replicator_destination_bytes_copied_total", d)),
            static_cast<double>(total) * 300);
  EXPECT_EQ(Must(Sample(text, "slate_replicator_destination_hole_id", d)), 0);
  EXPECT_EQ(Must(Sample(text, "slate_replicator_source_listening")), 1);
  // New events: notifications counted, counters follow. (The first notification's pass may
  // copy all three before the listener has counted the other two: both are waited for.)
  FillSource(c.ConnInfo(src), 3, 1, 1);
  ASSERT_TRUE(WaitUntil([&] {
    auto body = HttpGet(port, "/metrics");
    if (!body.ok()) return false;
    text = *body;
    return Must(Sample(text, "slate_replicator_destination_events_copied_total", d)) ==
               static_cast<double>(total + 3) &&
           Must(Sample(text, "slate_replicator_source_notifications_total")) >= 3;
  })) << text;
  EXPECT_EQ(Must(Sample(text, "slate_replicator_destination_events_copied_total", d)),
            static_cast<double>(Count(c.ConnInfo(dst))));
}

TEST(MetricsTest, ReadinessFollowsTheHeartbeatThroughAnOutage) {
  PgCluster& c = SharedCluster();
  auto other = PgCluster::Start("heartbeat");
  ASSERT_TRUE(other.ok()) << other.status();
  const std::string src = UniqueName("src");
  const std::string dst = UniqueName("dst");
  ASSERT_TRUE(c.CreateSlateDatabase(src, pg::TableType::kSource).ok());
  ASSERT_TRUE((*other)->CreateSlateDatabase(dst, pg::TableType::kDestination).ok());
  const std::string config = WriteFile(
      c.dir(), "config.json",
      ConfigJson(c.Params(src), {(*other)->Params(dst)},
                 "\"heartbeatTimeout\": 1000, \"pollInterval\": 200, \"maxRetryDelay\": 300"));
  auto replicator = ReplicatorProcess::Start(config);
  ASSERT_TRUE(replicator.ok());
  const int port = (*replicator)->WaitForMetricsPort();
  const std::string server = absl::StrCat("127.0.0.1:", (*replicator)->WaitForControlPort());
  std::string out;
  auto ready = [&] {
    return Must(Sample(HttpGet(port, "/metrics").value_or(""), "slate_replicator_ready"));
  };
  ASSERT_TRUE(WaitUntil([&] { return ready() == 1; })) << (*replicator)->Log();
  ASSERT_TRUE(WaitUntil([&] { return RunSlatectl({"health", "--server", server}, &out) == 0; }));

  ASSERT_TRUE((*other)->Stop("immediate").ok());
  ASSERT_TRUE(WaitUntil([&] { return ready() == 0; })) << (*replicator)->Log();
  EXPECT_TRUE(WaitUntil([&] {
    return RunSlatectl({"health", "--server", server}, &out) == 1;
  })) << out;
  // Liveness stays SERVING: the process is up, restarting it would not help.
  EXPECT_EQ(RunSlatectl({"health", "--server", server, "--service",
                         "slate.replicator.v1.ReplicatorService"},
                        &out),
            0)
      << out;
  EXPECT_NE((*replicator)->Log().find("\"message\":\"not ready\""), std::string::npos);
  const std::string text = HttpGet(port, "/metrics").value_or("");
  EXPECT_GE(Must(Sample(text, "slate_replicator_destination_errors_total",
                        absl::StrCat("destination=\"", (*other)->Params(dst).host, ":",
                                     (*other)->port(), "/", dst, "\",kind=\"unavailable\""))),
            1)
      << text;

  ASSERT_TRUE((*other)->Restart().ok());
  ASSERT_TRUE(WaitUntil([&] { return ready() == 1; })) << (*replicator)->Log();
  EXPECT_TRUE(WaitUntil([&] { return RunSlatectl({"health", "--server", server}, &out) == 0; }));
}

TEST(MetricsTest, TheAlertRulesUseOnlyExportedMetricsAndPassPromtool) {
  std::ifstream in(SLATE_SOURCE_DIR "/deploy/prometheus/alerts.yml");
  std::stringstream rules;
  rules << in.rdbuf();
  ASSERT_FALSE(rules.str().empty());
  // Every metric the rules use is one the exporter writes (rendered from a real status).
  PgCluster& c = SharedCluster();
  const std::string src = UniqueName("src");
  const std::string dst = UniqueName("dst");
  ASSERT_TRUE(c.CreateSlateDatabase(src, pg::TableType::kSource).ok());
  ASSERT_TRUE(c.CreateSlateDatabase(dst, pg::TableType::kDestination).ok());
  auto replicator = ReplicatorProcess::Start(
      WriteFile(c.dir(), "config.json", ConfigJson(c.Params(src), {c.Params(dst)})));
  ASSERT_TRUE(replicator.ok());
  const int port = (*replicator)->WaitForMetricsPort();
  std::string text;
  ASSERT_TRUE(WaitUntil([&] {
    text = HttpGet(port, "/metrics").value_or("");
    return Must(Sample(text, "slate_replicator_ready")) == 1;
  }));
  const std::regex name(R"(slate_replicator_[a-z_]+)");
  std::set<std::string> used;
  const std::string r = rules.str();
  for (auto it = std::sregex_iterator(r.begin(), r.end(), name); it != std::sregex_iterator();
       ++it) {
    used.insert(it->str());
  }
  EXPECT_GE(used.size(), 6u);
  for (const std::string& m : used) {
    EXPECT_NE(text.find("\n" + m), std::string::npos) << m << " is not exported";
  }
  // promtool (Debian's prometheus package) checks the rules' syntax and expressions.
  if (access("/usr/bin/promtool", X_OK) == 0) {
    SpawnOptions options;
    options.output_path = c.dir() + "/promtool.out";
    auto rc = RunProcess(
        {"/usr/bin/promtool", "check", "rules", SLATE_SOURCE_DIR "/deploy/prometheus/alerts.yml"},
        options);
    ASSERT_TRUE(rc.ok());
    EXPECT_EQ(*rc, 0) << ReadFile(options.output_path);
  } else {
    GTEST_SKIP() << "promtool not installed: the syntax check was skipped";
  }
}

// promtool's rule unit tests (tests/integration/alerts_test.yml): the lag alert stays quiet for a
// paused destination, PausedTooLong fires after an hour, DestinationDown after its minute.
TEST(MetricsTest, TheAlertRulesBehaveOnSyntheticSeries) {
  if (access("/usr/bin/promtool", X_OK) != 0) GTEST_SKIP() << "promtool not installed";
  SpawnOptions options;
  options.output_path = SharedCluster().dir() + "/promtool-test.out";
  auto rc = RunProcess(
      {"/usr/bin/promtool", "test", "rules", SLATE_SOURCE_DIR "/tests/integration/alerts_test.yml"},
      options);
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 0) << ReadFile(options.output_path);
}

}  // namespace
}  // namespace slate::testing
