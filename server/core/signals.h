#pragma once

// The engine's control signals, shared by its threads: the stop request, the wake-up generation
// (one per batch of notifications), the source's head as far as the engine knows it, and each
// destination's own lane: whether it is paused (and since when, by whom) or asked to end (removed
// by a reload). The engine decides from these; the StatusBoard only reports (it copies the head
// and the stop flag into each snapshot).
//
// Threads: every method is thread-safe and takes one short lock. Waits go through the Clock, so
// tests drive them with a fake one. `on_change` (optional) runs after the head rises or a stop is
// requested, outside the lock: the board uses it to wake status watchers.

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "server/core/clock.h"

namespace slate::core {

// The newest source event the engine knows of.
struct KnownHead {
  int64_t max_id = 0;                                   // from notifications, heads and passes
  absl::Time newest_event_time = absl::InfinitePast();  // its ts, when a read saw it
};

// One destination's own control (Signals::Lane()).
struct LaneControl {
  bool ending = false;  // removed: finish or roll back the open batch and stop
  bool paused = false;
  absl::Time paused_since = absl::InfinitePast();
  std::string paused_by;  // what asked for the pause ("config", "PauseDestination from ...")
  uint64_t version = 0;   // bumped on every change
};

// A lane id; kNoLane waits for the engine-wide signals only.
inline constexpr uint64_t kNoLane = 0;

class Signals {
 public:
  explicit Signals(const Clock& clock) : clock_(clock) {}
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

  void set_on_change(std::function<void()> on_change) { on_change_ = std::move(on_change); }
  const Clock& clock() const { return clock_; }

  void RequestStop();
  bool stopping() const;
  // A stop, or `lane` asked to end.
  bool stopping(uint64_t lane) const;

  // Lanes: one per destination, added and ended as destinations come and go.
  uint64_t AddLane(bool paused, const std::string& paused_by);
  void EndLane(uint64_t lane);
  void DropLane(uint64_t lane);  // after its thread ended
  // False when `lane` is already in the state asked for (nothing changes).
  bool SetPaused(uint64_t lane, bool paused, const std::string& by);
  LaneControl Lane(uint64_t lane) const;

  // Wake-ups: Notify() starts a pass on every idle destination.
  void Notify();
  uint64_t wake_generation() const;
  // Waits for a Notify() newer than *seen, a stop, `lane`'s control moving past `lane_version`
  // (its LaneControl::version as last read), or `deadline`; updates *seen. False when stopping
  // (or `lane` ends).
  bool WaitForWakeup(uint64_t* seen, absl::Time deadline, uint64_t lane = kNoLane,
                     uint64_t lane_version = 0) const;
  // Waits for a stop (or `lane` ending) or `deadline` (backoff delays: wake-ups do not shorten
  // them). False when stopping (or `lane` ends).
  bool SleepUntil(absl::Time deadline, uint64_t lane = kNoLane) const;
  // Waits for a stop, `lane`'s control moving past `version`, or `deadline`. False when stopping
  // (or `lane` ends).
  bool WaitForLaneChange(uint64_t lane, uint64_t version, absl::Time deadline) const;

  // Raises the known max id (a notification, a committed batch).
  void NoteSourceMax(int64_t id);
  // Records the source's newest event as a read saw it (raises, never lowers).
  void NoteSourceHead(int64_t id, absl::Time newest_event_time);
  KnownHead head() const;

 private:
  void Changed() const {
    if (on_change_) on_change_();
  }
  bool StoppingLocked(uint64_t lane) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  uint64_t LaneVersionLocked(uint64_t lane) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Clock& clock_;
  std::function<void()> on_change_;  // set before the engine's threads start

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t wake_generation_ ABSL_GUARDED_BY(mu_) = 0;
  KnownHead head_ ABSL_GUARDED_BY(mu_);
  std::map<uint64_t, LaneControl> lanes_ ABSL_GUARDED_BY(mu_);
  uint64_t next_lane_ ABSL_GUARDED_BY(mu_) = 1;
};

}  // namespace slate::core
