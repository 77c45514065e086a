#include "server/core/catch_up.h"

namespace slate::core {

bool CatchUpTracker::Start(absl::Time since, int64_t events_copied) {
  if (active_) return false;
  active_ = true;
  start_ = since;
  start_events_ = events_copied;
  last_progress_ = since;
  return true;
}

std::optional<CatchUpSummary> CatchUpTracker::Finish(absl::Time now, int64_t events_copied) {
  if (!active_) return std::nullopt;
  active_ = false;
  const int64_t copied = events_copied - start_events_;
  if (copied <= 0) return std::nullopt;
  CatchUpSummary s;
  s.events = copied;
  s.seconds = absl::ToDoubleSeconds(now - start_);
  s.events_per_second = s.seconds > 0 ? static_cast<double>(copied) / s.seconds : 0.0;
  return s;
}

bool CatchUpTracker::ProgressDue(absl::Time now, absl::Duration interval) {
  if (!active_ || now - last_progress_ < interval) return false;
  last_progress_ = now;
  return true;
}

}  // namespace slate::core
