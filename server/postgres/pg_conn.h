#pragma once

// A libpq connection (RAII) with status-returning helpers. Internal to server/postgres/.

#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include <libpq-fe.h>

#include "server/common/conn_params.h"

namespace slate::pg {

// Lock keys of the destination writer lock: pg_try_advisory_lock(kWriterLockKey1,
// kWriterLockKey2), per database. 0x736c6174 is "slat".
inline constexpr int kWriterLockKey1 = 0x736c6174;
inline constexpr int kWriterLockKey2 = 1;

class PgConn {
 public:
  PgConn() = default;
  ~PgConn() { Close(); }
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  // Connects with TCP keepalives on, so a silently dropped peer is noticed. `what` names the
  // database in errors ("destination replica1 (user@host:5432/db)").
  absl::Status Open(const ConnParams& params, const std::string& what);
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
  // The error of `res` (may be null) as a Status; clears `res`.
  absl::Status ResultError(PGresult* res, const std::string& context);

 private:
  PGconn* conn_ = nullptr;
  uint64_t generation_ = 0;
  std::string what_;
  std::mutex fd_mu_;  // guards fd_ against Close() racing Interrupt()
  int fd_ = -1;
};

}  // namespace slate::pg
