#pragma once

// Maps PostgreSQL failures to absl::Status at the adapter edge. libpqxx throws; libpq returns
// SQLSTATEs. Both end here, so the rest of the program sees only canonical codes:
//   connection lost / server shutting down / cannot connect  -> Unavailable (retry with backoff)
//   serialization failure, deadlock (class 40)               -> Aborted (redo the batch)
//   in_doubt_error (commit outcome unknown)                   -> Unknown (re-read the position)
//   any other SQL error                                       -> FailedPrecondition, SQLSTATE named
//   anything else                                             -> Internal

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slate::pg {

// A status for an error PostgreSQL reported with `sqlstate` (may be empty) and `message`.
absl::Status StatusFromSqlState(absl::string_view sqlstate, absl::string_view message,
                                absl::string_view context);

// A failure to connect that no wait will cure: wrong password, no pg_hba.conf entry, a missing
// database or role, an SSL mode the server cannot serve. Anything else (refused, timed out, name
// not resolved, starting up / shutting down / in recovery, too many connections) may pass.
bool IsDefinitiveConnectFailure(absl::string_view message);

// Call inside a catch block: maps the exception being handled.
absl::Status StatusFromCurrentException(absl::string_view context);

// Runs `f`, returning Ok or the mapped exception.
template <typename F>
absl::Status Guard(absl::string_view context, F&& f) {
  try {
    f();
    return absl::OkStatus();
  } catch (...) {
    return StatusFromCurrentException(context);
  }
}

// Runs `f` returning T, or the mapped exception.
template <typename T, typename F>
absl::StatusOr<T> GuardOr(absl::string_view context, F&& f) {
  try {
    return f();
  } catch (...) {
    return StatusFromCurrentException(context);
  }
}

}  // namespace slate::pg
