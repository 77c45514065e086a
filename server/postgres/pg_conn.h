#pragma once

// A libpq connection (RAII) with status-returning helpers, for the paths that need libpq itself
// (binary COPY, LISTEN, verify's checksums). Opened with the settings every connection carries
// (connection.h). Internal to server/postgres/. Not thread-safe, except Interrupt().

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include <libpq-fe.h>

#include "server/common/conn_params.h"
#include "server/core/interfaces.h"

namespace slate::pg {

class PgConn {
 public:
  PgConn() = default;
  ~PgConn() { Close(); }
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Connects with ConnInfo(params). `what` names the database in errors ("destination replica1
  // (user@host:5432/db)"). `bound_calls`: each Exec/Query is bounded by the stall timeout
  // (one-shot users; the engine's calls are bounded by its stall watchdog instead).
  absl::Status Open(const ConnParams& params, const std::string& what, bool bound_calls = false);
  // Counts successful Open()s: session state (prepared statements) belongs to one generation.
  uint64_t generation() const { return generation_; }
  void Close();
  // Thread-safe: shuts the socket down so a call blocked on it in another thread fails at once.
  void Interrupt();
  bool is_open() const { return conn_ != nullptr; }
  PGconn* get() const { return conn_; }
  const std::string& what() const { return what_; }

  // Runs a command that returns no rows.
  absl::Status Exec(const std::string& sql);
  // Runs a query; every value as text ("" for NULL).
  absl::StatusOr<std::vector<std::vector<std::string>>> Query(const std::string& sql);
  // In COPY FROM STDIN: sends *buf (if any) and clears it.
  absl::Status PutCopyData(std::string* buf);
  // The error of `res` (may be null) as a Status; clears `res`.
  absl::Status ResultError(PGresult* res, const std::string& context);
  // Reads and drops every result still to come of the query sent last (blocks until it ends),
  // so the session can take the next one. Nothing when closed.
  void DrainResults();

 private:
  PGresult* Execute(const std::string& sql);

  PGconn* conn_ = nullptr;
  absl::Duration call_limit_ = absl::InfiniteDuration();
  uint64_t generation_ = 0;
  std::string what_;
  std::mutex fd_mu_;  // guards fd_ against Close() racing Interrupt()
  int fd_ = -1;
};

// Who holds a lock: the backend's pid and "backend pid P, application_name 'A', client C".
struct LockHolder {
  int64_t pid = 0;
  std::string description = "another session";
};
// Takes the destination's writer lock (sql.h) on `conn`'s session: nullopt when taken, else its
// holder (pid 0 when it could not be read).
absl::StatusOr<std::optional<LockHolder>> TryWriterLock(PgConn& conn);

// The lowest-id event of `conn`'s events table (identity checks); nullopt when empty.
absl::StatusOr<std::optional<core::FirstEvent>> ReadFirstEvent(PgConn& conn);

}  // namespace slate::pg
