#pragma once

// One active instance, any number of standbys, never a split: the election loop over a
// LeaderLock (interfaces.h). A standby tries the lock every `retry`; the instance that takes it
// becomes active (on_active starts its engine). The active confirms the lock every
// `confirm_every`; when a confirmation fails it fences itself at once (on_standby stops every
// write) and becomes a standby again. So an active never writes longer than one confirmation
// interval (plus the bounded Confirm call) after it lost the means to prove its lock, while the
// server releases the lock of a vanished active only later (its session's idle timeout).
//
// Threads: Run() on the election's own thread until Stop() (from any thread). The callbacks run
// on that thread; on_standby must return only when nothing writes any more. state() is
// thread-safe.

#include <functional>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "server/core/clock.h"
#include "server/core/interfaces.h"

namespace slate::core {

enum class Role { kStandby, kActive };

// What the election knows, copied under one lock.
struct ElectionState {
  Role role = Role::kStandby;
  std::string holder;      // while a standby: who is active (empty when unknown or nobody)
  std::string last_error;  // of the lock's session; cleared when it answers again
  absl::Time next_retry = absl::InfinitePast();     // when the next attempt is due after an error
  absl::Time last_takeover = absl::InfinitePast();  // when this instance last became active
};

struct ElectionOptions {
  absl::Duration retry = absl::Milliseconds(500);           // a standby's tries of the lock
  absl::Duration confirm_every = absl::Milliseconds(1000);  // the active's confirmations
};

struct ElectionCallbacks {
  std::function<void()> on_active;   // became active: start writing
  std::function<void()> on_standby;  // lost the lock (or stopping): stop writing, then return
};

class Election {
 public:
  Election(ElectionOptions options, std::unique_ptr<LeaderLock> lock, const Clock& clock,
           ElectionCallbacks callbacks);

  // Until Stop(); an active instance ends as a standby (on_standby runs, the lock is released).
  void Run();
  void Stop();

  ElectionState state() const;

 private:
  bool SleepFor(absl::Duration d);  // false when stopping
  bool stopping() const;
  void Lost(const absl::Status& error, bool was_active);
  void SetRole(Role role);

  const ElectionOptions options_;
  std::unique_ptr<LeaderLock> lock_;
  const Clock& clock_;
  const ElectionCallbacks callbacks_;

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  ElectionState state_ ABSL_GUARDED_BY(mu_);
};

}  // namespace slate::core
