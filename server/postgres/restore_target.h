#pragma once

// core::RestoreTarget on PostgreSQL (slatectl restore): one transaction on the target source:
// LOCK TABLE id, an emptiness check, ALTER TABLE events DISABLE TRIGGER notify_insert (only this
// transaction sees it off; it needs the table's owner), COPY events FROM STDIN (FORMAT binary),
// then ENABLE TRIGGER, the id counter, one pg_notify and COMMIT.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

#include "server/common/conn_params.h"
#include "server/core/restore.h"

namespace slate::pg {

absl::StatusOr<std::unique_ptr<core::RestoreTarget>> NewRestoreTarget(const ConnParams& params,
                                                                      const std::string& what);

}  // namespace slate::pg
