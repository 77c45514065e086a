#pragma once

// The stall watchdog: a thread that interrupts the connections of an engine thread that has been
// inside one database call, without a sign of progress, for longer than the stall timeout. A
// blackholed peer never answers and TCP keepalives cannot tell (a proxy or a frozen backend still
// acknowledges), so only the caller's own clock can.
//
// Threads: each watched thread marks its calls with a BusyScope and its progress with Tick() on
// its own Activity (lock-free). Watch() and Unwatch() may be called at any time (destinations come
// and go); the watchdog thread runs from Start() until Stop(), and calls the interrupt callbacks
// (which must be thread-safe, as EventSource/EventSink/WakeupSource::Interrupt are) from its own
// thread, under its lock: after Unwatch() returns, that callback is never called again.

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "server/core/clock.h"

namespace slate::core {

// Progress of one watched thread.
class Activity {
 public:
  void Tick() { ticks_.fetch_add(1, std::memory_order_relaxed); }

 private:
  friend class BusyScope;
  friend class StallWatchdog;
  std::atomic<bool> busy_{false};   // inside a database call
  std::atomic<uint64_t> ticks_{0};  // bumped on every sign of progress
};

// Marks the thread busy in database calls for one scope.
class BusyScope {
 public:
  explicit BusyScope(Activity& a) : a_(a) {
    a_.Tick();
    a_.busy_.store(true);
  }
  ~BusyScope() {
    a_.busy_.store(false);
    a_.Tick();
  }
  BusyScope(const BusyScope&) = delete;
  BusyScope& operator=(const BusyScope&) = delete;

 private:
  Activity& a_;
};

class StallWatchdog {
 public:
  // `timeout` zero: Start() starts no thread (nothing is ever interrupted).
  StallWatchdog(const Clock& clock, absl::Duration timeout);
  ~StallWatchdog();  // Stop()

  // Registers a thread by name with what interrupts its calls; the Activity lives until
  // Unwatch(it) or the watchdog's end.
  Activity& Watch(std::string name, std::function<void()> interrupt);
  void Unwatch(const Activity& activity);
  void Start();
  void Stop();

 private:
  struct Watched {
    std::string name;
    std::function<void()> interrupt;
    Activity activity;
    uint64_t last_ticks = 0;  // the watchdog thread's view
    absl::Time last_change;
  };
  void Loop();

  const Clock& clock_;
  const absl::Duration timeout_;
  std::thread thread_;

  absl::Mutex mu_;
  std::vector<std::unique_ptr<Watched>> watched_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slate::core
