#include "server/core/hole_policy.h"

namespace slate::core {

HoleDecision DecideHole(const HoleState& state, const PassResult& pass, int64_t position,
                        absl::Time now, absl::Duration skip_after) {
  HoleDecision d;
  if (pass.end != PassEnd::kHole) {
    d.action = state.at != 0 ? HoleAction::kFilled : HoleAction::kNone;
    return d;  // next: no hole, no bound, no skip
  }
  d.next = state;
  d.next.skip_to = 0;
  if (pass.bounded_retry_up_to > position) {
    // Commit the whole transactions before the one the hole is in, at once.
    d.next.bounded_up_to = pass.bounded_retry_up_to;
    d.action = HoleAction::kRetryNow;
    return d;
  }
  d.next.bounded_up_to = 0;
  if (state.at != pass.hole_first_missing) {
    d.next.at = pass.hole_first_missing;
    d.next.since = now;
    d.new_hole = true;
  }
  if (skip_after > absl::ZeroDuration()) {
    if (now - d.next.since >= skip_after) {
      d.next.skip_to = pass.hole_next_present;
      d.next.at = 0;
      d.skipping = true;
      d.action = HoleAction::kRetryNow;
      return d;
    }
    d.wait = d.next.since + skip_after - now;
  }
  d.action = HoleAction::kWait;
  return d;
}

}  // namespace slate::core
