#pragma once

// Read-your-writes: callers wait until destinations have committed a given id. Each destination
// loop reports the position it has committed (after the commit returned, and the position read
// when it connects); a waiter is answered from that thread the moment its last destination
// reaches the id, so an answer never precedes the commit it reports and no database is polled,
// however many wait. Deadlines are served by one timer thread.
//
// Threads: thread-safe. `done` callbacks run exactly once each, outside the lock, on the thread
// that settled them (a destination loop, the timer, the caller of Wait() when already satisfied,
// or Shutdown()'s); they must not block.

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#include "server/core/clock.h"

namespace slate::core {

struct WaitResult {
  // OK: every destination named has committed the id. DeadlineExceeded: the deadline passed
  // first. FailedPrecondition: a destination named was removed meanwhile. Unavailable: the
  // engine stopped.
  absl::Status status;
  // The named destinations' committed positions when answered (name, position), in the order
  // they were named.
  std::vector<std::pair<std::string, int64_t>> positions;
};

class PositionWaiters {
 public:
  using Done = std::function<void(WaitResult)>;

  explicit PositionWaiters(const Clock& clock);
  ~PositionWaiters();  // Shutdown()

  PositionWaiters(const PositionWaiters&) = delete;
  PositionWaiters& operator=(const PositionWaiters&) = delete;

  // Destinations come and go; a removed one settles its waiters with FailedPrecondition.
  void Add(const std::string& name);
  void Remove(const std::string& name);
  // `name` has committed `position` (positions only rise; a lower one is ignored).
  void Committed(const std::string& name, int64_t position);

  // Waits until every destination in `names` (empty: every destination now known) has committed
  // `id`, or `deadline`. NotFound (at once, `done` not called) for a name not known; otherwise
  // OK, and `done` is called once.
  absl::Status Wait(int64_t id, std::vector<std::string> names, absl::Time deadline, Done done);
  // Settles every waiter with `why` and refuses new ones with it (the engine stopped).
  void Shutdown(const absl::Status& why = absl::UnavailableError("the engine stopped"));

  size_t waiting() const;  // for tests and status
  // The position `name` last reported committed (0: none yet, or not known).
  int64_t Position(const std::string& name) const;

 private:
  struct Waiter {
    int64_t id = 0;
    std::vector<std::string> names;
    absl::Time deadline;
    Done done;
  };
  using Waiters = std::multimap<int64_t, std::shared_ptr<Waiter>>;  // by id

  WaitResult ResultLocked(const Waiter& w, absl::Status status) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool SatisfiedLocked(const Waiter& w) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops a waiter from both indexes; the next one by id.
  Waiters::iterator EraseLocked(Waiters::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void TimerLoop();

  const Clock& clock_;
  std::thread timer_;

  mutable absl::Mutex mu_;
  std::map<std::string, int64_t> positions_ ABSL_GUARDED_BY(mu_);
  Waiters waiters_ ABSL_GUARDED_BY(mu_);
  std::multimap<absl::Time, std::shared_ptr<Waiter>> by_deadline_ ABSL_GUARDED_BY(mu_);
  uint64_t deadlines_version_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Status shutdown_ ABSL_GUARDED_BY(mu_);  // not OK once shut down
  bool stop_timer_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace slate::core
