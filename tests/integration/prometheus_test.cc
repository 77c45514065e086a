// Monitoring a person would use: the Grafana dashboard's expressions against what the server
// exports, and a real Prometheus (Debian's) scraping a running replicator with the shipped alert
// rules.

#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include <nlohmann/json.hpp>

#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/replication.h"
#include "tests/support/subprocess.h"

namespace slate::testing {
namespace {

constexpr char kPrometheus[] = "/usr/bin/prometheus";
constexpr char kPromtool[] = "/usr/bin/promtool";

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// j at `path` ("/data/result"), or null when absent; never throws.
nlohmann::json At(const nlohmann::json& j, const std::string& path) {
  const nlohmann::json::json_pointer pointer(path);
  return j.is_object() && j.contains(pointer) ? j.at(pointer) : nlohmann::json();
}

// Every expr of the dashboard's panels, with Grafana's variables as Prometheus would see them.
std::vector<std::string> DashboardExpressions() {
  const nlohmann::json dash =
      nlohmann::json::parse(Slurp(SLATE_SOURCE_DIR "/deploy/grafana/slate-replicator.json"));
  std::vector<std::string> out;
  for (const nlohmann::json& panel : At(dash, "/panels")) {
    for (const nlohmann::json& target : At(panel, "/targets")) {
      out.push_back(absl::StrReplaceAll(At(target, "/expr").get<std::string>(),
                                        {{"$__rate_interval", "1m"}, {"$instance", ".+"}}));
    }
  }
  return out;
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += absl::StrCat("%", absl::Hex(u, absl::kZeroPad2));
    }
  }
  return out;
}

// The alerts Prometheus has named `name` for destination "replica", by state.
std::vector<std::string> AlertStates(const nlohmann::json& alerts, const std::string& name) {
  std::vector<std::string> out;
  const nlohmann::json list = At(alerts, "/data/alerts");
  if (!list.is_array()) return out;
  for (const nlohmann::json& a : list) {
    if (At(a, "/labels/alertname") == name && At(a, "/labels/destination") == "replica") {
      out.push_back(At(a, "/state").is_string() ? At(a, "/state").get<std::string>() : "");
    }
  }
  return out;
}

// A replicator (source on the shared cluster, its one destination "replica" on `dest`) with its
// metrics port.
struct Running {
  std::unique_ptr<ReplicatorProcess> replicator;
  int metrics_port = 0;
  std::string source;
};

Running StartReplicator(PgCluster& dest, const std::string& extra = "") {
  PgCluster& c = SharedCluster();
  Running r;
  const std::string src = UniqueName("src");
  const std::string dst = UniqueName("dst");
  EXPECT_TRUE(c.CreateSlateDatabase(src, pg::TableType::kSource).ok());
  EXPECT_TRUE(dest.CreateSlateDatabase(dst, pg::TableType::kDestination).ok());
  r.source = c.ConnInfo(src);
  const std::string config = WriteFile(
      c.dir(), "config.json",
      absl::StrCat("{", extra, R"("replicationDestinations": [{"name": "replica", )",
                   R"("host": "127.0.0.1", "port": )", dest.port(), R"(, "databaseName": ")", dst,
                   R"(", "user": "postgres"}], "eventSource": {"host": "127.0.0.1", "port": )",
                   c.port(), R"(, "databaseName": ")", src, R"(", "user": "postgres"}})"));
  auto p = ReplicatorProcess::Start(config);
  EXPECT_TRUE(p.ok());
  r.replicator = std::move(*p);
  r.metrics_port = r.replicator->WaitForMetricsPort();
  EXPECT_GT(r.metrics_port, 0) << r.replicator->Log();
  return r;
}

TEST(DashboardTest, EveryExpressionUsesExportedMetricsAndParses) {
  const std::vector<std::string> exprs = DashboardExpressions();
  ASSERT_GE(exprs.size(), 10u);
  const std::string all = [&] {
    std::string s;
    for (const std::string& e : exprs) s += e + "\n";
    return s;
  }();
  // The issue's list: lag in events and seconds, rate, state, retries, ETA, role.
  for (const char* m :
       {"destination_lag_events", "destination_lag_seconds", "destination_events_copied_total",
        "destination_state", "destination_retries_total", "role", "destination_paused"}) {
    EXPECT_NE(all.find(absl::StrCat("slate_replicator_", m)), std::string::npos) << m;
  }
  Running r = StartReplicator(SharedCluster());
  std::string text;
  ASSERT_TRUE(WaitUntil([&] {
    text = HttpGet(r.metrics_port, "/metrics").value_or("");
    return text.find("slate_replicator_destination_state{") != std::string::npos &&
           // The sample line, not the HELP text ("slate_replicator_ready 1 when active, ...").
           text.find("\nslate_replicator_ready 1\n") != std::string::npos;
  })) << text;
  const std::regex name(R"(slate_replicator_[a-z_]+)");
  std::set<std::string> used;
  for (auto it = std::sregex_iterator(all.begin(), all.end(), name); it != std::sregex_iterator();
       ++it) {
    used.insert(it->str());
  }
  for (const std::string& m : used) {
    EXPECT_NE(text.find("\n" + m), std::string::npos) << m << " is used but not exported";
  }
  // promtool parses each expression (as a recording rule).
  if (access(kPromtool, X_OK) != 0) GTEST_SKIP() << "promtool not installed";
  std::string rules = "groups:\n  - name: dashboard\n    rules:\n";
  for (size_t i = 0; i < exprs.size(); ++i) {
    nlohmann::json quoted = exprs[i];
    absl::StrAppend(&rules, "      - record: dashboard:expr_", i, "\n        expr: ", quoted.dump(),
                    "\n");
  }
  const std::string path = WriteFile(SharedCluster().dir(), "dashboard_rules.yml", rules);
  SpawnOptions options;
  options.output_path = path + ".out";
  auto rc = RunProcess({kPromtool, "check", "rules", path}, options);
  ASSERT_TRUE(rc.ok());
  EXPECT_EQ(*rc, 0) << ReadFile(options.output_path) << rules;
}

class PrometheusProcess {
 public:
  // Scrapes 127.0.0.1:`target` every second and evaluates the shipped alert rules every second.
  explicit PrometheusProcess(int target) {
    const std::string dir = SharedCluster().dir();
    const std::string config =
        WriteFile(dir, "prometheus.yml",
                  absl::StrCat("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                               "rule_files:\n  - ",
                               SLATE_SOURCE_DIR, "/deploy/prometheus/alerts.yml\n",
                               "scrape_configs:\n  - job_name: slate-replicator\n"
                               "    static_configs:\n      - targets: ['127.0.0.1:",
                               target, "']\n"));
    port_ = FreeLoopbackPort().value_or(0);
    log_ = absl::StrCat(dir, "/", UniqueName("prometheus"), ".log");
    SpawnOptions options;
    options.output_path = log_;
    options.parent_death_signal = SIGKILL;
    auto pid = Spawn({kPrometheus, "--config.file", config, "--storage.tsdb.path",
                      absl::StrCat(dir, "/", UniqueName("tsdb")), "--web.listen-address",
                      absl::StrCat("127.0.0.1:", port_)},
                     options);
    if (pid.ok()) pid_ = *pid;
  }
  ~PrometheusProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      (void)WaitExit(pid_);
    }
  }
  bool Ready() {
    return WaitUntil([&] { return HttpGet(port_, "/-/ready").ok(); });
  }
  // GET /api/v1/<path>, parsed; null on failure.
  nlohmann::json Api(const std::string& path) {
    auto body = HttpGet(port_, "/api/v1/" + path);
    if (!body.ok()) return nullptr;
    return nlohmann::json::parse(*body, nullptr, false);
  }
  nlohmann::json Query(const std::string& expr) { return Api("query?query=" + UrlEncode(expr)); }
  std::string Log() const { return ReadFile(log_); }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string log_;
};

TEST(PrometheusTest, ARealScrapeSeesLagReachZeroAndTheDestinationDownAlert) {
  if (access(kPrometheus, X_OK) != 0) GTEST_SKIP() << "prometheus not installed";
  auto other = PgCluster::Start("scraped");
  ASSERT_TRUE(other.ok()) << other.status();
  Running r = StartReplicator(**other, R"("pollInterval": 200, "maxRetryDelay": 500, )");
  FillSource(r.source, 2000, 5, 30);
  const long long total = Count(r.source);
  PrometheusProcess prometheus(r.metrics_port);
  ASSERT_TRUE(prometheus.Ready()) << prometheus.Log();

  // Lag, as Prometheus stored it, falls to 0 with the position at the source's max id.
  nlohmann::json result;
  ASSERT_TRUE(WaitUntil([&] {
    result = prometheus.Query(
        R"(slate_replicator_destination_lag_events{destination="replica"} == 0 and on(instance, destination) slate_replicator_destination_position == )" +
        std::to_string(total));
    const nlohmann::json rows = At(result, "/data/result");
    return At(result, "/status") == "success" && rows.is_array() && !rows.empty();
  })) << result.dump()
      << prometheus.Log();
  // Every dashboard panel's query runs on the real server and returns data.
  for (const std::string& expr : DashboardExpressions()) {
    nlohmann::json q;
    EXPECT_TRUE(WaitUntil(
        [&] {
          q = prometheus.Query(expr);
          return At(q, "/status") == "success";
        },
        absl::Seconds(20)))
        << expr << ": " << q.dump();
  }
  // The destination goes down: the alert goes pending (then firing after its 1m).
  ASSERT_TRUE((*other)->Stop("immediate").ok());
  nlohmann::json alerts;
  ASSERT_TRUE(WaitUntil([&] {
    alerts = prometheus.Api("alerts");
    for (const std::string& state : AlertStates(alerts, "SlateReplicatorDestinationDown")) {
      if (state == "pending" || state == "firing") return true;
    }
    return false;
  })) << alerts.dump()
      << r.replicator->Log();
  // And it clears when the destination is back.
  ASSERT_TRUE((*other)->Restart().ok());
  ASSERT_TRUE(WaitUntil([&] {
    alerts = prometheus.Api("alerts");
    return At(alerts, "/status") == "success" &&
           AlertStates(alerts, "SlateReplicatorDestinationDown").empty();
  })) << alerts.dump();
}

}  // namespace
}  // namespace slate::testing
