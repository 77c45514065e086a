#pragma once

// Restore by COPY (slatectl restore): fills an empty, freshly initialised source from a backup in
// one transaction: every row streamed from the backup's binary COPY into the target's (event
// bytes untouched), the notify trigger off for that transaction (one notification at the end),
// the id counter set to max + 1, and the rows verified against the backup with verify's checksums
// before the commit. All or nothing: any failure rolls everything back. No I/O of its own.

#include <cstdint>
#include <functional>

#include "absl/status/statusor.h"

#include "server/core/interfaces.h"
#include "server/core/verify.h"

namespace slate::core {

// The target's side: one transaction from Begin() to Commit() or Abort(). One thread.
class RestoreTarget {
 public:
  virtual ~RestoreTarget() = default;
  // Opens the transaction, locks the id counter, checks that events is empty (FailedPrecondition
  // otherwise), turns the notify trigger off for this transaction and starts the COPY.
  virtual absl::Status Begin() = 0;
  virtual absl::Status Write(const EventRow& row) = 0;
  // Ends the COPY; view() sees the rows from here on.
  virtual absl::Status EndCopy() = 0;
  // The target's events as the open transaction sees them.
  virtual VerifyTarget& view() = 0;
  // Turns the trigger back on, sets the id counter to max_id + 1, sends one notification for
  // max_id, commits.
  virtual absl::Status Commit(int64_t max_id) = 0;
  virtual void Abort() = 0;  // rolls back; never fails
};

struct RestoreProgress {
  bool verifying = false;  // false: copying
  int64_t done = 0;        // rows copied, or ids verified
  int64_t total = 0;
};

struct RestoreResult {
  int64_t rows = 0;
  int64_t max_id = 0;
  int64_t next_insert_id = 0;
};

// `backup` streams the backup's rows, `backup_view` checksums them (another session);
// `backup_max` is the backup's max id (= its count, checked before). Progress every 10,000 rows
// and after each verified chunk.
absl::StatusOr<RestoreResult> Restore(EventSource& backup, VerifyTarget& backup_view,
                                      RestoreTarget& target, int64_t backup_max,
                                      int64_t verify_chunk,
                                      const std::function<void(const RestoreProgress&)>& progress);

}  // namespace slate::core
