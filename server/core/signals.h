#pragma once

// The engine's control signals, shared by its threads: the stop request, the wake-up generation
// (one per batch of notifications) and the source's head as far as the engine knows it. The
// engine decides from these; the StatusBoard only reports (it copies the head and the stop flag
// into each snapshot).
//
// Threads: every method is thread-safe and takes one short lock. Waits go through the Clock, so
// tests drive them with a fake one. `on_change` (optional) runs after the head rises or a stop is
// requested, outside the lock: the board uses it to wake status watchers.

#include <cstdint>
#include <functional>

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

class Signals {
 public:
  explicit Signals(const Clock& clock) : clock_(clock) {}
  Signals(const Signals&) = delete;
  Signals& operator=(const Signals&) = delete;

  void set_on_change(std::function<void()> on_change) { on_change_ = std::move(on_change); }
  const Clock& clock() const { return clock_; }

  void RequestStop();
  bool stopping() const;

  // Wake-ups: Notify() starts a pass on every idle destination.
  void Notify();
  uint64_t wake_generation() const;
  // Waits for a Notify() newer than *seen, a stop, or `deadline`; updates *seen. False when
  // stopping.
  bool WaitForWakeup(uint64_t* seen, absl::Time deadline) const;
  // Waits for a stop or `deadline` (backoff delays: wake-ups do not shorten them). False when
  // stopping.
  bool SleepUntil(absl::Time deadline) const;

  // Raises the known max id (a notification, a committed batch).
  void NoteSourceMax(int64_t id);
  // Records the source's newest event as a read saw it (raises, never lowers).
  void NoteSourceHead(int64_t id, absl::Time newest_event_time);
  KnownHead head() const;

 private:
  void Changed() const {
    if (on_change_) on_change_();
  }

  const Clock& clock_;
  std::function<void()> on_change_;  // set before the engine's threads start

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t wake_generation_ ABSL_GUARDED_BY(mu_) = 0;
  KnownHead head_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slate::core
