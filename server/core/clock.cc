#include "server/core/clock.h"

#include "absl/time/clock.h"

namespace slate::core {
namespace {

class RealClock : public Clock {
 public:
  absl::Time Now() const override { return absl::Now(); }
  bool AwaitUntil(absl::Mutex& mu, const absl::Condition& cond,
                  absl::Time deadline) const override {
    return mu.AwaitWithDeadline(cond, deadline);
  }
};

}  // namespace

const Clock& Clock::Real() {
  static const RealClock* const clock = new RealClock();
  return *clock;
}

}  // namespace slate::core
