#pragma once

// Helpers for replication tests on real PostgreSQL: slate databases, configs, filling a source,
// comparing databases, and the slate-replicator binary as a child process.

#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

#include "server/common/conn_params.h"

namespace slate::testing {

// A slate source and two destinations on the shared cluster, made by init-db.
class SourceAndDestinations : public ::testing::Test {
 protected:
  void SetUp() override;
  std::string Source();
  std::string Dest(int i);
  std::vector<ConnParams> DestParams();
  // A config file for them; `extra` as ConfigJson takes it.
  std::string Config(const std::string& extra = "");

  std::string source_db_;
  std::vector<std::string> dest_dbs_;
};

// The nth (from 0) integer value of "name" in JSON text (proto JSON writes int64 as a string);
// -1 when absent.
long long JsonField(const std::string& json, const std::string& name, int nth = 0);

// Whole source transactions only: no holes (count = max id) and no source transaction split
// across destination transactions. (Duplicates cannot exist: the primary key refuses them.)
// With `source_conninfo`, a ts counts as split only when the destination has more transactions
// for it than the source: two source transactions can share a ts (a client-side writer beside a
// server-side fill starts a transaction in the same microsecond now and then), and the second,
// committed later, is rightly copied in a later destination transaction.
void ExpectWholeTransactions(const std::string& conninfo, const std::string& source_conninfo = "");

// Waits until no slate-replicator session is left in the database of `conninfo` (a dead
// replicator's open batch has then been rolled back).
bool WaitForNoReplicatorSessions(const std::string& conninfo);

class PgCluster;

// SIGSTOPs every backend serving slate-replicator in `database` (the writer's, and its parallel
// writers'), so an open batch can neither commit nor roll back, until Thaw() or destruction: a
// failed assertion never leaves it frozen.
class FrozenReplicatorBackend {
 public:
  FrozenReplicatorBackend(PgCluster& cluster, const std::string& database);
  ~FrozenReplicatorBackend() { Thaw(); }
  FrozenReplicatorBackend(const FrozenReplicatorBackend&) = delete;
  FrozenReplicatorBackend& operator=(const FrozenReplicatorBackend&) = delete;
  bool frozen() const { return !pids_.empty(); }
  void Thaw();

 private:
  std::vector<pid_t> pids_;
};

// Polls `condition` every 20 ms until it holds or `timeout` passes.
bool WaitUntil(const std::function<bool()>& condition, absl::Duration timeout = absl::Seconds(60));

// Inserts `transactions` source transactions through insert_events, server-side (one DO block
// committing after each), sizes cycling through min..max events; about 350-byte events.
void FillSource(const std::string& conninfo, int transactions, int min_per_tx, int max_per_tx);

// "count|max|digest" of events: equal strings mean identical tables (ids, ts to the
// microsecond, event text).
std::string Digest(const std::string& conninfo);
long long Count(const std::string& conninfo);
// Source transactions split across destination transactions (rows of one ts with several xmin).
// With `source_conninfo`: only ts values with more destination than source transactions.
long long SplitTransactions(const std::string& conninfo, const std::string& source_conninfo = "");

// A JSON config for a source and destinations; `extra` is spliced in as top-level keys
// ("\"pollInterval\": 200").
std::string ConfigJson(const ConnParams& source, const std::vector<ConnParams>& destinations,
                       const std::string& extra = "");
// Writes text to a new file in `dir` and returns its path.
std::string WriteFile(const std::string& dir, const std::string& name, const std::string& text);

// slate-replicator as a child process; its output goes to a log file. Killed (SIGKILL) by the
// destructor if still running, and with the test binary if that dies.
class ReplicatorProcess {
 public:
  static absl::StatusOr<std::unique_ptr<ReplicatorProcess>> Start(
      const std::string& config_path, const std::vector<std::string>& extra_args = {},
      const std::vector<std::string>& env = {});
  ~ReplicatorProcess();

  void Signal(int sig);
  // The exit code, or DeadlineExceeded.
  absl::StatusOr<int> Wait(absl::Duration timeout = absl::Seconds(60));
  std::string Log() const;
  pid_t pid() const { return pid_; }
  // The control API's port (it listens on 127.0.0.1:0 unless told otherwise), once it logged it;
  // 0 if it has not within `timeout`.
  int WaitForControlPort(absl::Duration timeout = absl::Seconds(60)) const;
  // The metrics port, likewise.
  int WaitForMetricsPort(absl::Duration timeout = absl::Seconds(60)) const;

 private:
  pid_t pid_ = -1;
  std::string log_path_;
};

// Runs the replicator on `config` until the destination `dst` (conninfo) equals the source `src`,
// then stops it: for tests that start from a real replica. Wrap in ASSERT_NO_FATAL_FAILURE.
void ReplicateOnce(const std::string& config, const std::string& src, const std::string& dst);

// GET http://127.0.0.1:<port><path>; the body, or an error.
absl::StatusOr<std::string> HttpGet(int port, const std::string& path);
// The value of the sample `name{labels}` (labels as written, "" for none) in a Prometheus
// exposition; NotFound if absent.
absl::StatusOr<double> Sample(const std::string& exposition, const std::string& name,
                              const std::string& labels = "");

// Runs slate-replicator to completion (e.g. --dry-run); returns the exit code and its output.
int RunReplicator(const std::vector<std::string>& args, std::string* output);
// Runs slatectl to completion with extra environment entries ("NAME=value").
int RunSlatectl(const std::vector<std::string>& args, std::string* output,
                const std::vector<std::string>& env = {});

}  // namespace slate::testing
