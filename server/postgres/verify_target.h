#pragma once

// core::VerifyTarget on PostgreSQL: checksums computed by the server (no table transfer), in a
// session that cannot write (default_transaction_read_only), but for a destination's verification
// checkpoint, written in a READ WRITE transaction of its own.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

#include "server/common/conn_params.h"
#include "server/core/verify.h"

namespace slate::pg {

// `ts_millis`: compare ts truncated to the millisecond (destinations written by the original Node
// replicator). Unavailable when the database cannot be reached.
absl::StatusOr<std::unique_ptr<core::VerifyTarget>> NewVerifyTarget(const ConnParams& params,
                                                                    const std::string& what,
                                                                    bool ts_millis);

// A destination's target for continuous verification: the same checksums, and the checkpoint
// kept in the destination's table slate_replicator_verification (one row, created at the first
// save; safe to drop: the next start then verifies from id 1).
absl::StatusOr<std::unique_ptr<core::VerifyTarget>> NewDestinationVerifyTarget(
    const ConnParams& params, const std::string& what);

class PgConn;
// The same checksums on `conn`, which stays the caller's (inside its transaction, e.g. restore).
std::unique_ptr<core::VerifyTarget> NewVerifyView(PgConn& conn);

}  // namespace slate::pg
