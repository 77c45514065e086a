#pragma once

// Whether a destination is copying a backlog, and since when: the state behind `catching_up`,
// the "catching up" progress lines and the "caught up" summary. Plain state, no I/O, no clock:
// the destination loop passes the time in and logs what it is told to.
//
// A catch-up starts when a pass needs a second batch, or when the source's head shows more than
// one batch of backlog; it ends when a pass reads to the end of the source. Live events (one
// batch per pass) never start one. Not thread-safe (one destination loop owns it).

#include <cstdint>
#include <optional>

#include "absl/time/time.h"

namespace slate::core {

struct CatchUpSummary {
  int64_t events = 0;
  double seconds = 0;
  double events_per_second = 0;
};

class CatchUpTracker {
 public:
  bool active() const { return active_; }

  // Starts a catch-up at `since` (the pass's start) with `events_copied` copied so far; false if
  // one is already running.
  bool Start(absl::Time since, int64_t events_copied);
  // The pass read to the end of the source: ends the catch-up; a summary when it copied events.
  std::optional<CatchUpSummary> Finish(absl::Time now, int64_t events_copied);
  // An error ended the pass: the catch-up is forgotten (the next pass starts a new one).
  void Abandon() { active_ = false; }
  // True at most once per `interval` while catching up: time for a progress line.
  bool ProgressDue(absl::Time now, absl::Duration interval);

 private:
  bool active_ = false;
  absl::Time start_;
  int64_t start_events_ = 0;
  absl::Time last_progress_;
};

}  // namespace slate::core
