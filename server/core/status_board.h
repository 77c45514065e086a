#pragma once

// The status every engine thread writes and the control plane reads. It only reports: nothing in
// the engine reads it back to decide (decisions come from server/core/signals.h and each loop's
// own state). Snapshots copy the known source head and the stop flag from the Signals.
//
// Threads: thread-safe; every method takes one short lock. Update*() callbacks run under it and
// must not call back into the board. Await()/AwaitChange() are for observers (RPC watchers,
// tests) and wait in real time; Snapshot() computes lag and rate at the engine's clock.

#include <cstdint>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "server/core/clock.h"
#include "server/core/signals.h"
#include "server/core/status.h"

namespace slate::core {

class StatusBoard {
 public:
  // `clock` and `signals` must outlive the board.
  StatusBoard(const Clock& clock, const Signals& signals, SourceStatus source);

  // Destinations come and go (a reload); each has a key, its row in snapshots follows those
  // added before it.
  void AddDestination(uint64_t key, DestinationStatus status);
  void RemoveDestination(uint64_t key);
  // Mutates destination `key` (or the source) under the lock and wakes status watchers. A key
  // not (or no longer) on the board is ignored.
  void UpdateDestination(uint64_t key, const std::function<void(DestinationStatus&)>& fn);
  void UpdateSource(const std::function<void(SourceStatus&)>& fn);
  // Records a committed batch for the rate window.
  void NoteBatch(uint64_t key, absl::Time when, int64_t events_total);
  // Destination `key`'s row of Snapshot(now) (default-constructed when not on the board).
  DestinationStatus Destination(uint64_t key, absl::Time now) const;
  // Wakes status watchers (the signals changed).
  void Touch();

  // A consistent copy, with lag and rate computed for the clock's now (or `now`).
  EngineStatus Snapshot() const;
  EngineStatus Snapshot(absl::Time now) const;
  // Waits until pred(Snapshot()) holds or the timeout passes; returns whether it holds.
  bool Await(const std::function<bool(const EngineStatus&)>& pred, absl::Duration timeout) const;
  // Waits until the status changes after `*version` or the timeout passes (for watchers).
  void AwaitChange(uint64_t* version, absl::Duration timeout) const;

 private:
  // Constant after construction.
  const Clock& clock_;
  const Signals& signals_;

  mutable absl::Mutex mu_;
  EngineStatus SnapshotLocked(absl::Time now, const KnownHead& head, bool stopping) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The index of `key` in status_.destinations, or -1.
  int IndexLocked(uint64_t key) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  EngineStatus status_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> keys_ ABSL_GUARDED_BY(mu_);  // parallel to status_.destinations
  std::vector<std::deque<std::pair<absl::Time, int64_t>>> rate_samples_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace slate::core
