#pragma once

// The engine's shared state: the status every thread writes and the control plane reads, the
// wake-up generation, and the stop flag. Thread-safe; every method takes one short lock.

#include <cstdint>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "server/core/status.h"

namespace slate::core {

class StatusBoard {
 public:
  StatusBoard(SourceStatus source, std::vector<DestinationStatus> destinations);

  // Mutates destination `index` (or the source) under the lock and wakes status watchers.
  void UpdateDestination(size_t index, const std::function<void(DestinationStatus&)>& fn);
  void UpdateSource(const std::function<void(SourceStatus&)>& fn);
  // The highest source id known (from notifications, heads and passes).
  int64_t SourceMaxId() const;
  // Raises the known source max id.
  void NoteSourceMax(int64_t id);
  // Records the source's newest event, as a pass read it.
  void NoteSourceHead(int64_t id, absl::Time newest_event_time);
  // Records a committed batch for the rate window.
  void NoteBatch(size_t index, absl::Time when, int64_t events_total);

  // A consistent copy, with lag and rate computed for `now`.
  EngineStatus Snapshot(absl::Time now = absl::Now()) const;
  // Waits until pred(Snapshot()) holds or the timeout passes; returns whether it holds.
  bool Await(const std::function<bool(const EngineStatus&)>& pred, absl::Duration timeout) const;
  // Waits until the status changes after `*version` or the timeout passes (for watchers).
  void AwaitChange(uint64_t* version, absl::Duration timeout) const;

  // Wake-ups: Notify() starts a pass on every idle destination.
  void Notify();
  // Waits for a Notify() newer than *seen, a stop, or the timeout. Returns false when stopping.
  bool WaitForWakeup(uint64_t* seen, absl::Duration timeout) const;
  // Waits for a stop or the timeout (backoff delays: wake-ups do not shorten them).
  bool SleepUnlessStopped(absl::Duration timeout) const;  // false when stopping
  uint64_t wake_generation() const;

  void RequestStop();
  bool stopping() const;

 private:
  mutable absl::Mutex mu_;
  EngineStatus status_ ABSL_GUARDED_BY(mu_);
  std::vector<std::deque<std::pair<absl::Time, int64_t>>> rate_samples_ ABSL_GUARDED_BY(mu_);
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t wake_generation_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slate::core
