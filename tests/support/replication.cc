#include "tests/support/replication.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

#include "tests/support/db.h"
#include "tests/support/pg_cluster.h"
#include "tests/support/subprocess.h"

namespace slate::testing {

bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling a condition
  }
  return condition();
}

void FillSource(const std::string& conninfo, int transactions, int min_per_tx, int max_per_tx) {
  Exec(conninfo, absl::StrCat(R"sql(
DO $fill$
DECLARE
  n integer;
  v text;
BEGIN
  FOR t IN 1..)sql",
                              transactions, R"sql( LOOP
    n := )sql",
                              min_per_tx, " + (t * 7) % ", max_per_tx - min_per_tx + 1, R"sql(;
    SELECT string_agg(format('($1[%s], $2, %L)', k, json_build_object(
             'entityName', 'order', 'entityId', t, 'operation', 'update', 'propertyName', 'status',
             'metadata', json_build_object('command', 'fill', 'k', k),
             'value', json_build_object('amount', 12345678901234567890.123456789 + t,
                                        'note', repeat('payload ', 25)))::text), ', ')
      INTO v FROM generate_series(1, n) AS k;
    PERFORM insert_events(v);
    COMMIT;
  END LOOP;
END
$fill$)sql"));
}

std::string Digest(const std::string& conninfo) {
  if (QueryValue(conninfo, "SELECT to_regclass('events') IS NULL") == "t") return "no events table";
  return QueryValue(
      conninfo,
      "SELECT count(*) || '|' || coalesce(max(id), 0) || '|' || "
      "coalesce(md5(string_agg(id || ':' || (extract(epoch FROM ts) * 1000000)::bigint"
      " || ':' || event::text, ',' ORDER BY id)), '') FROM events");
}

long long Count(const std::string& conninfo) {
  return QueryInt(conninfo, "SELECT count(*) FROM events");
}

long long SplitTransactions(const std::string& conninfo, const std::string& source_conninfo) {
  if (source_conninfo.empty()) {
    return QueryInt(conninfo,
                    "SELECT count(*) FROM (SELECT ts FROM events GROUP BY ts "
                    "HAVING count(DISTINCT xmin::text) > 1) AS split");
  }
  long long split = 0;
  for (const auto& row :
       Query(conninfo,
             "SELECT ts::text, count(DISTINCT xmin::text) FROM events GROUP BY ts "
             "HAVING count(DISTINCT xmin::text) > 1")) {
    const long long in_source = QueryInt(
        source_conninfo, absl::StrCat("SELECT count(DISTINCT xmin::text) FROM events WHERE ts = '",
                                      row[0], "'::timestamptz"));
    if (std::stoll(row[1]) > in_source) ++split;
  }
  return split;
}

std::string ConfigJson(const ConnParams& source, const std::vector<ConnParams>& destinations,
                       const std::string& extra) {
  auto db = [](const ConnParams& p) {
    return absl::StrCat(R"({"host": ")", p.host, R"(", "port": )", p.port, R"(, "databaseName": ")",
                        p.database, R"(", "user": ")", p.user, R"("})");
  };
  std::vector<std::string> dests;
  for (const ConnParams& d : destinations) dests.push_back(db(d));
  return absl::StrCat("{", extra.empty() ? "" : absl::StrCat(extra, ", "),
                      R"("connectTimeout": 5000, "eventSource": )", db(source),
                      R"(, "replicationDestinations": [)", absl::StrJoin(dests, ", "), "]}");
}

std::string WriteFile(const std::string& dir, const std::string& name, const std::string& text) {
  const std::string path = absl::StrCat(dir, "/", UniqueName(name));
  std::ofstream(path) << text;
  return path;
}

absl::StatusOr<std::unique_ptr<ReplicatorProcess>> ReplicatorProcess::Start(
    const std::string& config_path, const std::vector<std::string>& extra_args,
    const std::vector<std::string>& env) {
  std::unique_ptr<ReplicatorProcess> p(new ReplicatorProcess());
  p->log_path_ = absl::StrCat(SharedCluster().dir(), "/", UniqueName("replicator"), ".log");
  std::vector<std::string> argv = {SLATE_REPLICATOR_BINARY, "-c", config_path};
  argv.insert(argv.end(), extra_args.begin(), extra_args.end());
  if (std::find(extra_args.begin(), extra_args.end(), "--listen") == extra_args.end()) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});  // parallel tests: no fixed port
  }
  if (std::find(extra_args.begin(), extra_args.end(), "--metrics-listen") == extra_args.end()) {
    argv.insert(argv.end(), {"--metrics-listen", "127.0.0.1:0"});
  }
  SpawnOptions options;
  options.output_path = p->log_path_;
  options.parent_death_signal = SIGKILL;
  options.env = env;
  auto pid = Spawn(argv, options);
  if (!pid.ok()) return pid.status();
  p->pid_ = *pid;
  return p;
}

ReplicatorProcess::~ReplicatorProcess() {
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    (void)WaitExit(pid_);
  }
}

void ReplicatorProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

absl::StatusOr<int> ReplicatorProcess::Wait(absl::Duration timeout) {
  auto rc = WaitExitFor(pid_, static_cast<int>(absl::ToInt64Milliseconds(timeout)));
  if (rc.ok()) pid_ = -1;
  return rc;
}

std::string ReplicatorProcess::Log() const { return ReadFile(log_path_); }

namespace {
// The port logged with `message` ("control API listening", "metrics listening").
int LoggedPort(const ReplicatorProcess& p, const std::string& message, absl::Duration timeout) {
  int port = 0;
  WaitUntil(
      [&] {
        const std::string log = p.Log();
        const size_t at = log.find(absl::StrCat("\"message\":\"", message, "\""));
        if (at == std::string::npos) return false;
        const size_t q = log.find("\"port\":", at);
        if (q == std::string::npos) return false;
        port = std::atoi(log.c_str() + q + 7);
        return port > 0;
      },
      timeout);
  return port;
}
}  // namespace

int ReplicatorProcess::WaitForControlPort(absl::Duration timeout) const {
  return LoggedPort(*this, "control API listening", timeout);
}

int ReplicatorProcess::WaitForMetricsPort(absl::Duration timeout) const {
  return LoggedPort(*this, "metrics listening", timeout);
}

int RunReplicator(const std::vector<std::string>& args, std::string* output) {
  const std::string out_path = absl::StrCat(SharedCluster().dir(), "/", UniqueName("run"), ".out");
  std::vector<std::string> argv = {SLATE_REPLICATOR_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  if (std::find(args.begin(), args.end(), "-c") != args.end() &&
      std::find(args.begin(), args.end(), "--listen") == args.end()) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"});
  }
  SpawnOptions options;
  options.output_path = out_path;
  options.parent_death_signal = SIGKILL;
  auto rc = RunProcess(argv, options);
  *output = ReadFile(out_path);
  return rc.ok() ? *rc : -1;
}

}  // namespace slate::testing

namespace slate::testing {

int RunSlatectl(const std::vector<std::string>& args, std::string* output,
                const std::vector<std::string>& env) {
  const std::string out_path = absl::StrCat(SharedCluster().dir(), "/", UniqueName("ctl"), ".out");
  std::vector<std::string> argv = {SLATECTL_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  SpawnOptions options;
  options.output_path = out_path;
  options.parent_death_signal = SIGKILL;
  options.env = env;
  auto rc = RunProcess(argv, options);
  if (output != nullptr) *output = ReadFile(out_path);
  return rc.ok() ? *rc : -1;
}

}  // namespace slate::testing

namespace slate::testing {

void ReplicateOnce(const std::string& config, const std::string& src, const std::string& dst) {
  auto r = ReplicatorProcess::Start(config);
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string want = Digest(src);
  ASSERT_TRUE(WaitUntil([&] { return Digest(dst) == want; })) << (*r)->Log();
  (*r)->Signal(SIGTERM);
  ASSERT_TRUE((*r)->Wait().ok());
}

absl::StatusOr<std::string> HttpGet(int port, const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to port ", port, " failed"));
  }
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  if (write(fd, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::UnavailableError("write failed");
  }
  std::string response;
  char buf[8192];
  ssize_t n = 0;
  while ((n = read(fd, buf, sizeof buf)) > 0) response.append(buf, static_cast<size_t>(n));
  close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || body == std::string::npos) {
    return absl::InternalError(absl::StrCat("not an HTTP response: ", response.substr(0, 200)));
  }
  if (response.find(" 200 ") > response.find("\r\n")) {
    return absl::InternalError(response.substr(0, response.find("\r\n")));
  }
  return response.substr(body + 4);
}

absl::StatusOr<double> Sample(const std::string& exposition, const std::string& name,
                              const std::string& labels) {
  const std::string key = labels.empty() ? name + " " : absl::StrCat(name, "{", labels, "} ");
  size_t at = 0;
  while ((at = exposition.find(key, at)) != std::string::npos) {
    if (at == 0 || exposition[at - 1] == '\n') {
      return std::strtod(exposition.c_str() + at + key.size(), nullptr);
    }
    at += key.size();
  }
  return absl::NotFoundError(absl::StrCat("no sample ", key));
}

}  // namespace slate::testing

namespace slate::testing {

void SourceAndDestinations::SetUp() {
  source_db_ = UniqueName("src");
  ASSERT_TRUE(SharedCluster().CreateSlateDatabase(source_db_, pg::TableType::kSource).ok());
  for (int i = 0; i < 2; ++i) {
    dest_dbs_.push_back(UniqueName("dst"));
    ASSERT_TRUE(
        SharedCluster().CreateSlateDatabase(dest_dbs_.back(), pg::TableType::kDestination).ok());
  }
}

std::string SourceAndDestinations::Source() { return SharedCluster().ConnInfo(source_db_); }

std::string SourceAndDestinations::Dest(int i) {
  return SharedCluster().ConnInfo(dest_dbs_[static_cast<size_t>(i)]);
}

std::vector<ConnParams> SourceAndDestinations::DestParams() {
  return {SharedCluster().Params(dest_dbs_[0]), SharedCluster().Params(dest_dbs_[1])};
}

std::string SourceAndDestinations::Config(const std::string& extra) {
  return WriteFile(SharedCluster().dir(), "config.json",
                   ConfigJson(SharedCluster().Params(source_db_), DestParams(), extra));
}

long long JsonField(const std::string& json, const std::string& name, int nth) {
  const std::regex re("\"" + name + "\":\"?(-?[0-9]+)");
  auto it = std::sregex_iterator(json.begin(), json.end(), re);
  for (int i = 0; i < nth && it != std::sregex_iterator(); ++i) ++it;
  return it == std::sregex_iterator() ? -1 : std::stoll((*it)[1]);
}

}  // namespace slate::testing

namespace slate::testing {

void ExpectWholeTransactions(const std::string& conninfo, const std::string& source_conninfo) {
  EXPECT_EQ(QueryInt(conninfo, "SELECT count(*) - coalesce(max(id), 0) FROM events"), 0)
      << "holes in " << conninfo;
  EXPECT_EQ(SplitTransactions(conninfo, source_conninfo), 0)
      << "split source transactions in " << conninfo << ": "
      << QueryValue(conninfo,
                    "SELECT coalesce(string_agg(format('ts %s: ids %s-%s in transactions %s', ts, "
                    "lo, hi, xmins), '; '), '') FROM (SELECT ts, min(id) lo, max(id) hi, "
                    "string_agg(DISTINCT xmin::text, ',') xmins FROM events GROUP BY ts HAVING "
                    "count(DISTINCT xmin::text) > 1 LIMIT 5) s");
}

bool WaitForNoReplicatorSessions(const std::string& conninfo) {
  return WaitUntil([&] {
    return QueryInt(conninfo,
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND application_name LIKE 'slate-replicator/%'") == 0;
  });
}

FrozenReplicatorBackend::FrozenReplicatorBackend(PgCluster& cluster, const std::string& database) {
  const Rows rows =
      Query(cluster.ConnInfo("postgres"),
            absl::StrCat("SELECT pid FROM pg_stat_activity WHERE datname = '", database,
                         "' AND application_name LIKE 'slate-replicator/%'"));
  if (rows.empty()) {
    ADD_FAILURE() << "expected a slate-replicator session in " << database << ", found none";
    return;
  }
  for (const auto& row : rows) {
    const pid_t pid = static_cast<pid_t>(std::stoi(row[0]));
    if (kill(pid, SIGSTOP) != 0) {
      ADD_FAILURE() << "cannot SIGSTOP backend " << pid;
      continue;
    }
    pids_.push_back(pid);
  }
}

void FrozenReplicatorBackend::Thaw() {
  for (pid_t pid : pids_) kill(pid, SIGCONT);
  pids_.clear();
}

}  // namespace slate::testing
