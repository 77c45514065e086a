#pragma once

// A Clock whose time moves only when a test says so (server/core/clock.h). Threads waiting in
// AwaitUntil() wake when their condition holds (as with the real clock) or when the test has
// advanced the time past their deadline. Thread-safe.
//
// How a wait notices an advance: the waiter re-checks the fake time every millisecond of real
// time while it waits (its condition still wakes it at once). The test never sleeps: it advances
// the time and then waits for the state it expects.

#include <atomic>
#include <set>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "server/core/clock.h"

namespace slate::testing {

class FakeClock : public core::Clock {
 public:
  explicit FakeClock(absl::Time start = absl::FromUnixSeconds(1800000000));

  absl::Time Now() const override;
  bool AwaitUntil(absl::Mutex& mu, const absl::Condition& cond, absl::Time deadline) const override;

  void Advance(absl::Duration d);
  // Advances to the earliest deadline a thread is waiting for; false (and no change) when no
  // thread waits with a finite deadline.
  bool AdvanceToNextDeadline();
  // The number of threads inside AwaitUntil().
  int waiters() const;

 private:
  std::atomic<int64_t> now_ns_;
  mutable absl::Mutex mu_;
  mutable std::multiset<absl::Time> deadlines_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slate::testing
