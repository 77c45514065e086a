#pragma once

// One way to open and guard a PostgreSQL connection, for every use: the data path, LISTEN,
// start-up facts, init-db and verify. Internal to server/postgres/.
//
// - Settings: every connection string comes from ConnInfo(): the config's parameters
//   (connect_timeout, application_name, sslmode, ...) plus TCP keepalives, so a peer that
//   vanished is noticed while a session idles.
// - Bounded waits: a call with no answer within ConnParams::stall_timeout_ms fails as
//   Unavailable. The engine's threads are bounded by its stall watchdog (server/core/
//   stall_watchdog.h, which calls Interrupt()); one-shot uses (facts, init-db, verify) by a
//   CallDeadline around each call. Both interrupt the same way: the socket is shut down.
// - Libraries: libpq where binary COPY needs it (PgConn, pg_conn.h); libpqxx for everything else
//   (PqxxSession below). Errors of both map to canonical codes in pg_status.h.

#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include <pqxx/pqxx>

#include "server/common/conn_params.h"
#include "server/postgres/pg_status.h"

namespace slate::pg {

// The libpq connection string of `params`, with the settings every connection carries.
std::string ConnInfo(const ConnParams& params);

// The bound of one call on `params`' connections (InfiniteDuration when unbounded).
absl::Duration CallLimit(const ConnParams& params);

// Shuts socket `fd` down if the scope is still open after `limit`, so a call blocked on it fails
// at once. Thread-safe by construction: the timer runs on its own thread and is joined when the
// scope ends.
class CallDeadline {
 public:
  CallDeadline(int fd, absl::Duration limit);
  ~CallDeadline();
  CallDeadline(const CallDeadline&) = delete;
  CallDeadline& operator=(const CallDeadline&) = delete;
  // Whether the deadline passed (and the socket was shut down).
  bool fired() const { return fired_; }

 private:
  absl::Notification done_;
  bool fired_ = false;  // written by the timer thread before it ends; read after the join
  std::unique_ptr<std::thread> timer_;
};

// A libpqxx connection opened with ConnInfo(), whose calls are bounded by the stall timeout.
// Not thread-safe.
class PqxxSession {
 public:
  // `what` names the database in errors ("destination replica1 (user@host:5432/db)").
  static absl::StatusOr<std::unique_ptr<PqxxSession>> Open(const ConnParams& params,
                                                           const std::string& what);
  pqxx::connection& conn() { return *conn_; }

  // Runs `f` (which uses conn()) under the call bound, mapping libpqxx's exceptions.
  template <typename F>
  absl::Status Run(absl::string_view context, F&& f) {
    CallDeadline deadline(conn_->sock(), limit_);
    absl::Status s = Guard(context, std::forward<F>(f));
    if (deadline.fired()) return Stalled(context);
    return s;
  }

 private:
  PqxxSession(std::unique_ptr<pqxx::connection> conn, std::string what, absl::Duration limit)
      : conn_(std::move(conn)), what_(std::move(what)), limit_(limit) {}
  absl::Status Stalled(absl::string_view context) const;

  std::unique_ptr<pqxx::connection> conn_;
  std::string what_;
  absl::Duration limit_;
};

}  // namespace slate::pg
