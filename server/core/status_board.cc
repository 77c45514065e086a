#include "server/core/status_board.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace slate::core {
namespace {
constexpr absl::Duration kRateWindow = absl::Seconds(10);
}  // namespace

absl::string_view StateName(DestinationState state) {
  switch (state) {
    case DestinationState::kStarting:
      return "starting";
    case DestinationState::kConnecting:
      return "connecting";
    case DestinationState::kCatchingUp:
      return "catching_up";
    case DestinationState::kInSync:
      return "in_sync";
    case DestinationState::kRetrying:
      return "retrying";
    case DestinationState::kWaitingAtHole:
      return "waiting_at_hole";
    case DestinationState::kFailed:
      return "failed";
    case DestinationState::kStopped:
      return "stopped";
    case DestinationState::kPaused:
      return "paused";
    case DestinationState::kDiverged:
      return "diverged";
  }
  return "unknown";
}

Readiness AssessReadiness(const EngineStatus& status, absl::Time now,
                          absl::Duration heartbeat_timeout) {
  Readiness r;
  if (status.stopping) {
    r.reason = "stopping";
    return r;
  }
  if (status.standby) {
    r.reason = absl::StrCat(
        "standby (active: ", status.active_instance.empty() ? "unknown" : status.active_instance,
        ")");
    return r;
  }
  for (const DestinationStatus& d : status.destinations) {
    if (d.state == DestinationState::kFailed) {
      r.reason = absl::StrCat("destination ", d.name, " failed: ", d.last_error);
      return r;
    }
    if (d.last_heartbeat == absl::InfinitePast()) {
      r.reason = absl::StrCat("destination ", d.name, " has not completed a pass yet (",
                              StateName(d.state), ")");
      return r;
    }
    if (now - d.last_heartbeat > heartbeat_timeout) {
      r.reason = absl::StrCat(
          "destination ", d.name, " has had no heartbeat for ",
          absl::FormatDuration(absl::Trunc(now - d.last_heartbeat, absl::Seconds(1))), " (",
          StateName(d.state), d.last_error.empty() ? "" : absl::StrCat(": ", d.last_error), ")");
      return r;
    }
  }
  r.ready = true;
  return r;
}

bool Ended(DestinationState state) {
  return state == DestinationState::kFailed || state == DestinationState::kStopped;
}

bool AllDestinationsEnded(const EngineStatus& status) {
  return !status.destinations.empty() &&
         std::all_of(status.destinations.begin(), status.destinations.end(),
                     [](const DestinationStatus& d) { return Ended(d.state); });
}

bool AllDestinationsFailed(const EngineStatus& status) {
  return !status.destinations.empty() &&
         std::all_of(
             status.destinations.begin(), status.destinations.end(),
             [](const DestinationStatus& d) { return d.state == DestinationState::kFailed; });
}

StatusBoard::StatusBoard(const Clock& clock, const Signals& signals, SourceStatus source)
    : clock_(clock), signals_(signals) {
  status_.start_time = clock_.Now();
  status_.source = std::move(source);
}

int StatusBoard::IndexLocked(uint64_t key) const {
  for (size_t i = 0; i < keys_.size(); ++i) {
    if (keys_[i] == key) return static_cast<int>(i);
  }
  return -1;
}

void StatusBoard::AddDestination(uint64_t key, DestinationStatus status) {
  absl::MutexLock lock(&mu_);
  keys_.push_back(key);
  status_.destinations.push_back(std::move(status));
  rate_samples_.emplace_back();
  ++version_;
}

void StatusBoard::RemoveDestination(uint64_t key) {
  absl::MutexLock lock(&mu_);
  const int i = IndexLocked(key);
  if (i < 0) return;
  keys_.erase(keys_.begin() + i);
  status_.destinations.erase(status_.destinations.begin() + i);
  rate_samples_.erase(rate_samples_.begin() + i);
  ++version_;
}

void StatusBoard::UpdateDestination(uint64_t key,
                                    const std::function<void(DestinationStatus&)>& fn) {
  absl::MutexLock lock(&mu_);
  const int i = IndexLocked(key);
  if (i < 0) return;
  fn(status_.destinations[static_cast<size_t>(i)]);
  ++version_;
}

void StatusBoard::UpdateSource(const std::function<void(SourceStatus&)>& fn) {
  absl::MutexLock lock(&mu_);
  fn(status_.source);
  ++version_;
}

void StatusBoard::Touch() {
  absl::MutexLock lock(&mu_);
  ++version_;
}

void StatusBoard::NoteBatch(uint64_t key, absl::Time when, int64_t events_total) {
  absl::MutexLock lock(&mu_);
  const int i = IndexLocked(key);
  if (i < 0) return;
  auto& samples = rate_samples_[static_cast<size_t>(i)];
  samples.emplace_back(when, events_total);
  while (samples.size() > 2 && samples[1].first < when - kRateWindow) samples.pop_front();
}

EngineStatus StatusBoard::Snapshot() const { return Snapshot(clock_.Now()); }

EngineStatus StatusBoard::Snapshot(absl::Time now) const {
  // The signals first (their own lock), then the board's: never both at once.
  const KnownHead head = signals_.head();
  const bool stopping = signals_.stopping();
  absl::MutexLock lock(&mu_);
  return SnapshotLocked(now, head, stopping);
}

DestinationStatus StatusBoard::Destination(uint64_t key, absl::Time now) const {
  const KnownHead head = signals_.head();
  const bool stopping = signals_.stopping();
  absl::MutexLock lock(&mu_);
  const int i = IndexLocked(key);
  if (i < 0) return DestinationStatus{};
  return SnapshotLocked(now, head, stopping).destinations[static_cast<size_t>(i)];
}

EngineStatus StatusBoard::SnapshotLocked(absl::Time now, const KnownHead& head,
                                         bool stopping) const {
  EngineStatus out = status_;
  out.stopping = stopping;
  out.source.max_id = head.max_id;
  out.source.newest_event_time = head.newest_event_time;
  for (size_t i = 0; i < out.destinations.size(); ++i) {
    DestinationStatus& d = out.destinations[i];
    if (d.diverged &&
        (d.state == DestinationState::kCatchingUp || d.state == DestinationState::kInSync)) {
      d.state = DestinationState::kDiverged;
    }
    d.lag_events = std::max<int64_t>(0, out.source.max_id - d.position);
    d.lag_seconds = d.lag_events == 0 || d.oldest_missing == absl::InfinitePast()
                        ? 0
                        : std::max(0.0, absl::ToDoubleSeconds(now - d.oldest_missing));
    // Rate: events committed within the window, over the window (or since the first sample).
    const auto& samples = rate_samples_[i];
    d.events_per_second = 0;
    if (!samples.empty() && samples.back().first >= now - kRateWindow) {
      auto first = std::find_if(samples.begin(), samples.end(),
                                [&](const auto& s) { return s.first >= now - kRateWindow; });
      if (first != samples.begin()) --first;  // the sample just before the window: its base
      const double span = absl::ToDoubleSeconds(now - std::max(first->first, now - kRateWindow));
      const int64_t events = samples.back().second - first->second;
      if (span > 0.001 && events > 0) d.events_per_second = static_cast<double>(events) / span;
    }
  }
  return out;
}

bool StatusBoard::Await(const std::function<bool(const EngineStatus&)>& pred,
                        absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  uint64_t version = 0;
  {
    absl::MutexLock lock(&mu_);
    version = version_;
  }
  while (true) {
    if (pred(Snapshot())) return true;
    if (absl::Now() >= deadline) return false;
    AwaitChange(&version, deadline - absl::Now());
  }
}

void StatusBoard::AwaitChange(uint64_t* version, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  const uint64_t seen = *version;
  auto changed = [this, seen]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return version_ != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  *version = version_;
}

}  // namespace slate::core
