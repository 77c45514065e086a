#include "tests/support/replication.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
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

long long SplitTransactions(const std::string& conninfo) {
  return QueryInt(conninfo,
                  "SELECT count(*) FROM (SELECT ts FROM events GROUP BY ts "
                  "HAVING count(DISTINCT xmin::text) > 1) AS split");
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

int ReplicatorProcess::WaitForControlPort(absl::Duration timeout) const {
  int port = 0;
  WaitUntil(
      [&] {
        const std::string log = Log();
        const size_t at = log.find("\"message\":\"control API listening\"");
        if (at == std::string::npos) return false;
        const size_t p = log.find("\"port\":", at);
        if (p == std::string::npos) return false;
        port = std::atoi(log.c_str() + p + 7);
        return port > 0;
      },
      timeout);
  return port;
}

int RunReplicator(const std::vector<std::string>& args, std::string* output) {
  const std::string out_path = absl::StrCat(SharedCluster().dir(), "/", UniqueName("run"), ".out");
  std::vector<std::string> argv = {SLATE_REPLICATOR_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  if (std::find(args.begin(), args.end(), "-c") != args.end() &&
      std::find(args.begin(), args.end(), "--listen") == args.end()) {
    argv.insert(argv.end(), {"--listen", "127.0.0.1:0"});
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
  *output = ReadFile(out_path);
  return rc.ok() ? *rc : -1;
}

}  // namespace slate::testing
