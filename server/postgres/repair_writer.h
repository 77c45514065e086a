#pragma once

// core::TsRewriter on PostgreSQL (slatectl repair): one UPDATE per transaction, joining the
// fixes as arrays, rewriting a row only while its ts and event are as compared. With
// `take_writer_lock` it holds the destination's writer lock (sql.h) for as long as it lives, so
// no replicator writes the destination meanwhile; FailedPrecondition naming the holder when
// another session has it.

#include <memory>
#include <string>

#include "absl/status/statusor.h"

#include "server/common/conn_params.h"
#include "server/core/repair.h"

namespace slate::pg {

absl::StatusOr<std::unique_ptr<core::TsRewriter>> NewTsRewriter(const ConnParams& params,
                                                                const std::string& what,
                                                                bool take_writer_lock);

}  // namespace slate::pg
