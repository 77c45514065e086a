#pragma once

// Repair of a destination written by the original Node replicator: every row whose only
// difference from the source is a ts truncated to the millisecond gets the source's ts. Nothing
// else is touched: a row whose content differs, a missing row or an extra one is reported and
// left for a person to decide. Walks the ids in chunks with verify's checksums (verify.h), so it
// reads only what differs; rewrites in transactions of at most `max_rows_per_transaction` rows,
// each rewriting a row only while it is still as compared (a rerun after an interruption finds
// the rest). Reads through VerifyTargets, writes through a TsRewriter: no I/O of its own.

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"

#include "server/core/verify.h"

namespace slate::core {

// The destination's writing side. Used by one thread.
class TsRewriter {
 public:
  virtual ~TsRewriter() = default;
  // One transaction: sets each row's ts to source_ts_micros where the row still has
  // destination_ts_micros and an event with md5 event_md5. Returns how many rows it rewrote.
  virtual absl::StatusOr<int64_t> RewriteTs(const std::vector<TsFix>& fixes) = 0;
};

struct RepairOptions {
  int64_t chunk = 100000;  // ids per checksum query
  int64_t max_rows_per_transaction = 10000;
};

struct RepairProgress {
  int64_t compared_up_to = 0;
  int64_t total = 0;  // ids to compare
  int64_t repaired = 0;
};

struct RepairResult {
  int64_t source_max = 0;
  int64_t destination_max = 0;
  int64_t compared_up_to = 0;
  int64_t repaired = 0;      // rows given the source's ts
  int64_t skipped = 0;       // found truncated but changed before their rewrite: left as they are
  int64_t transactions = 0;  // that rewrote rows
  Differences left;          // every other difference (never ts_millis rows), untouched
  int64_t behind = 0;        // source_max - destination_max when positive
};

// `progress` after each chunk; `stop` (may be empty) is asked between transactions, and a true
// ends the repair with Cancelled (what committed stays: a rerun goes on).
absl::StatusOr<RepairResult> RepairTruncatedTs(
    VerifyTarget& source, VerifyTarget& destination, TsRewriter& writer,
    const RepairOptions& options, const std::function<void(const RepairProgress&)>& progress,
    const std::function<bool()>& stop);

}  // namespace slate::core
