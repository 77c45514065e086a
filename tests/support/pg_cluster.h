#pragma once

// A throwaway PostgreSQL 15 cluster for integration tests: initdb into a temp dir, the server on
// a free loopback port with fsync off, run as an unprivileged user (PostgreSQL refuses root: as
// root it runs as SLATE_PG_USER, default "postgres"). Binaries come from SLATE_PG_BINDIR, else
// /usr/lib/postgresql/15/bin, else `pg_config --bindir`. The server dies with the test binary
// (parent-death signal), so a killed test leaves nothing running. Not thread-safe: drive one
// cluster from one thread.

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"

#include "server/common/conn_params.h"
#include "server/postgres/schema.h"

namespace slate::testing {

class PgCluster {
 public:
  // initdb and start. `name` labels the log and the temp dir. With a `password`, TCP connections
  // need it (scram-sha-256) and Params() carries it; without, every connection is trusted.
  static absl::StatusOr<std::unique_ptr<PgCluster>> Start(const std::string& name,
                                                          const std::string& password = "");
  ~PgCluster();  // stops (fast) and removes the temp dir

  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  int port() const { return port_; }
  const std::string& name() const { return name_; }
  const std::string& dir() const { return dir_; }
  const std::string& log_path() const { return log_path_; }
  bool running() const { return pid_ > 0; }

  // Connection parameters for `database` on this cluster, as the superuser.
  ConnParams Params(const std::string& database) const;
  std::string ConnInfo(const std::string& database) const { return Params(database).ToConnInfo(); }

  // Creates a slate database with the production init-db code.
  absl::Status CreateSlateDatabase(const std::string& database, pg::TableType type);
  // Creates an empty database.
  absl::Status CreateEmptyDatabase(const std::string& database);

  // Stops the server: "fast" (SIGINT) or "immediate" (SIGQUIT, like a crash).
  absl::Status Stop(const std::string& mode = "fast");
  // Starts it again on the same port and data.
  absl::Status Restart();

  // The last `max_bytes` of the server log.
  std::string LogTail(size_t max_bytes = 8192) const;

  // The directory PostgreSQL's binaries are in, or an error naming the variable to set.
  static absl::StatusOr<std::string> BinDir();

 private:
  PgCluster() = default;
  absl::Status StartServer();

  std::string name_;
  std::string dir_;
  std::string data_dir_;
  std::string log_path_;
  std::string bin_dir_;
  int port_ = 0;
  std::string password_;
  int uid_ = -1;
  int gid_ = -1;
  pid_t pid_ = -1;
};

// A TCP port on 127.0.0.1 that was free a moment ago (for servers the tests start).
absl::StatusOr<int> FreeLoopbackPort();

// A name unique within this test run, for databases: prefix_<pid>_<n>.
std::string UniqueName(const std::string& prefix);

// A new slate database of `type` on `c` (made by init-db's code), named "src_..." or "dst_...";
// its name. A failure to create it fails the test.
std::string NewSlateDatabase(PgCluster& c, pg::TableType type);

// The cluster every integration test shares (started by PgEnvironment). Tests that stop or
// restart a server start their own PgCluster instead.
PgCluster& SharedCluster();

// Registers the shared cluster as a GoogleTest environment and a listener that prints the server
// log of every live cluster when a test fails. Call from main() before RUN_ALL_TESTS.
void InstallPgEnvironment();

}  // namespace slate::testing
