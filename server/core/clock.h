#pragma once

// Time behind the I/O boundary. The engine reads the time and waits only through a Clock, so unit
// tests drive time with a fake (tests/support/fake_clock.h) instead of sleeping.
//
// Threads: every method is thread-safe. Waiting: AwaitUntil() is called with `mu` held, releases
// it while blocked (as absl::Mutex::Await does) and returns with it held; `cond` is evaluated
// under `mu`, so whatever sets the state it reads must hold `mu` too.

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace slate::core {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  // Blocks until `cond` holds or Now() reaches `deadline`; returns whether `cond` holds.
  virtual bool AwaitUntil(absl::Mutex& mu, const absl::Condition& cond,
                          absl::Time deadline) const = 0;

  // The system clock (absl::Now and absl::Mutex's own deadlines). Never destroyed.
  static const Clock& Real();
};

}  // namespace slate::core
