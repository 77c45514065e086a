#include "tests/support/fake_clock.h"

namespace slate::testing {

FakeClock::FakeClock(absl::Time start) : now_ns_(absl::ToUnixNanos(start)) {}

absl::Time FakeClock::Now() const { return absl::FromUnixNanos(now_ns_.load()); }

bool FakeClock::AwaitUntil(absl::Mutex& mu, const absl::Condition& cond,
                           absl::Time deadline) const {
  std::multiset<absl::Time>::iterator mine;
  {
    absl::MutexLock lock(&mu_);  // lock order: the caller's mu, then this clock's
    mine = deadlines_.insert(deadline);
  }
  bool holds = false;
  while (true) {
    holds = cond.Eval();
    if (holds || Now() >= deadline) break;
    mu.AwaitWithTimeout(cond, absl::Milliseconds(1));  // re-check the fake time
  }
  absl::MutexLock lock(&mu_);
  deadlines_.erase(mine);
  return holds;
}

void FakeClock::Advance(absl::Duration d) { now_ns_.fetch_add(absl::ToInt64Nanoseconds(d)); }

bool FakeClock::AdvanceToNextDeadline() {
  absl::MutexLock lock(&mu_);
  for (absl::Time t : deadlines_) {
    if (t == absl::InfiniteFuture()) break;
    if (t > Now()) {
      now_ns_.store(absl::ToUnixNanos(t));
      return true;
    }
  }
  return false;
}

int FakeClock::waiters() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(deadlines_.size());
}

}  // namespace slate::testing
