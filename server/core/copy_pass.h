#pragma once

// One copy pass for one destination: stream every source row after the destination's position
// into destination transactions, in id order.
//
// Parallel writes: with several sinks (sessions on the same destination), consecutive batches go
// to them in turn (to as many of them as the observer's WritersNow says at each batch). A batch is
// ended (sent) on one sink, and the next is streamed to the following sink while the destination
// still applies the first; commits stay strictly in id order (a batch commits only after the one
// before it), so the destination never shows a hole, even after a crash. One sink is the plain
// sequential copy.
//
// Rules (the original tool's, kept):
// - A destination transaction holds at most max_events_per_write rows, extended only so that a
//   source transaction (rows sharing one ts) is never split: a batch ends only where ts changes.
// - The ids written are exactly position+1 .. position+n. A missing id (a hole) is never skipped:
//   the pass commits what comes before it (if that ends a source transaction) and returns kHole.
//   Only `skip_hole_to` (an explicit opt-in) lets it jump from the hole to that id.
// - A stop request rolls back the open batch, commits those already sent in full (in order) and
//   returns kStopped.
// - A pause request ends the pass where the next batch would begin: every batch begun commits,
//   and it returns kPaused.
// - Any error rolls back the open batch, commits those already sent in full if it still can, and
//   is returned; the position the observer last saw is what is committed.

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"

#include "server/core/interfaces.h"
#include "server/core/options.h"

namespace slate::core {

struct PassOptions {
  int64_t max_events_per_write = kMinEventsPerWrite;
  int64_t up_to_id = 0;       // stop after this id (0: read to the end)
  int64_t skip_hole_to = 0;   // accept a jump from a hole to exactly this id (0: never)
  int64_t expected_rows = 0;  // the caller's guess of the backlog (0: unknown), for the source
};

enum class PassEnd { kCaughtUp, kHole, kStopped, kPaused };

struct PassResult {
  PassEnd end = PassEnd::kCaughtUp;
  int64_t position = 0;            // after the pass
  int64_t position_ts = 0;         // the ts of the row at `position` (0: none written)
  int64_t hole_first_missing = 0;  // kHole: the first missing id
  int64_t hole_next_present = 0;   // kHole: the id the source has after the hole
  int64_t hole_next_ts = 0;  // kHole: that row's ts (the oldest event present and missing here)
  // kHole when the hole fell inside a source transaction: the open batch was rolled back; a pass
  // bounded to this id commits everything before that transaction.
  int64_t bounded_retry_up_to = 0;
};

class PassObserver {
 public:
  virtual ~PassObserver() = default;
  virtual bool StopRequested() = 0;
  // Asked where a batch ends and the next would begin.
  virtual bool PauseRequested() { return false; }
  // A batch is about to start with the row at `first_ts`. Batches commit in the order they start:
  // the oldest started and not yet committed holds the oldest event the destination lacks.
  virtual void OnBatchStart(int64_t first_ts) = 0;
  virtual void OnBatchCommitted(int64_t position, int64_t events, int64_t bytes) = 0;
  // Every batch started and not committed was abandoned (an error, a stop, a hole).
  virtual void OnBatchesAbandoned() {}
  // A row was written to the open batch (progress, for the stall watchdog).
  virtual void OnRow() {}
  // Asked as each batch begins: how many of the pass's `sinks` (the first ones) to write with
  // now, from 1 to `sinks` (writer_shares.h); it may change within a pass.
  virtual int WritersNow(int sinks) { return sinks; }
};

// `sinks` has at least one sink; all write the same destination.
absl::StatusOr<PassResult> RunCopyPass(EventSource& source, const std::vector<EventSink*>& sinks,
                                       int64_t position, const PassOptions& options,
                                       PassObserver& observer);

}  // namespace slate::core
