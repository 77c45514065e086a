#include "server/core/destination_report.h"

#include "absl/strings/ascii.h"

#include "server/common/log.h"
#include "server/core/interfaces.h"

namespace slate::core {

DestinationReport::DestinationReport(StatusBoard& board, uint64_t key, std::string name,
                                     const Clock& clock)
    : board_(board), key_(key), name_(std::move(name)), clock_(clock), log_(log::Get("engine")) {}

void DestinationReport::SetState(DestinationState state, int64_t position,
                                 const std::function<void(DestinationStatus&)>& more) {
  const DestinationState old = state_;
  state_ = state;
  const absl::Time now = clock_.Now();
  board_.UpdateDestination(key_, [&](DestinationStatus& d) {
    if (d.state != state) d.state_since = now;
    d.state = state;
    if (more) more(d);
  });
  if (old != state) {
    log::Info(*log_, "destination state",
              {{"destination", name_},
               {"from", StateName(old)},
               {"to", StateName(state)},
               {"position", position}});
  }
}

void DestinationReport::Position(int64_t position) {
  board_.UpdateDestination(key_, [&](DestinationStatus& d) { d.position = position; });
}

void DestinationReport::PassStarted() {
  board_.UpdateSource([](SourceStatus& s) { ++s.passes_total; });
}

void DestinationReport::OldestMissing(int64_t ts) {
  board_.UpdateDestination(key_, [&](DestinationStatus& d) { d.oldest_missing = EventTime(ts); });
}

void DestinationReport::Committed(int64_t position, int64_t next_oldest_ts, int64_t events,
                                  int64_t bytes, absl::Time now) {
  events_total_ += events;
  board_.UpdateDestination(key_, [&](DestinationStatus& d) {
    d.position = position;
    if (next_oldest_ts != 0) d.oldest_missing = EventTime(next_oldest_ts);
    d.events_total = events_total_;
    d.bytes_total += bytes;
    ++d.batches_total;
    d.last_batch_time = now;
    d.last_heartbeat = now;
  });
  board_.NoteBatch(key_, now, events_total_);
}

void DestinationReport::Heartbeat(absl::Time now) {
  board_.UpdateDestination(key_, [&](DestinationStatus& d) {
    d.retries = 0;
    d.last_heartbeat = now;
  });
}

void DestinationReport::Synced(int64_t position) {
  SetState(DestinationState::kInSync, position, [](DestinationStatus& d) {
    d.hole_at = 0;
    d.oldest_missing = absl::InfinitePast();
  });
}

void DestinationReport::AtHole(int64_t position, int64_t hole_at, absl::Time hole_since,
                               int64_t next_ts) {
  SetState(DestinationState::kWaitingAtHole, position, [&](DestinationStatus& d) {
    d.hole_at = hole_at;
    d.hole_since = hole_since;
    if (next_ts != 0) d.oldest_missing = EventTime(next_ts);
  });
}

void DestinationReport::Error(const absl::Status& status, int64_t position, absl::Time now,
                              absl::Time retry_at, bool connecting) {
  const std::string text = log::StatusText(status);
  board_.UpdateDestination(key_, [&](DestinationStatus& d) {
    ++d.errors_by_kind[absl::AsciiStrToLower(absl::StatusCodeToString(status.code()))];
  });
  const bool final = retry_at == absl::InfinitePast();
  const DestinationState state = final        ? DestinationState::kFailed
                                 : connecting ? DestinationState::kConnecting
                                              : DestinationState::kRetrying;
  SetState(state, position, [&](DestinationStatus& d) {
    d.last_error = text;
    d.last_error_time = now;
    if (final) return;
    ++d.retries;
    ++d.retries_total;
    d.next_retry = retry_at;
  });
}

void DestinationReport::Paused(const LaneControl& control, int64_t position) {
  const bool was = state_ == DestinationState::kPaused;
  SetState(DestinationState::kPaused, position);  // the pause fields are the engine's
  if (!was) {
    log::Info(*log_, "destination paused",
              {{"destination", name_}, {"position", position}, {"by", control.paused_by}});
  }
}

void DestinationReport::Resumed(int64_t position) {
  log::Info(*log_, "destination resumed", {{"destination", name_}, {"position", position}});
}

DestinationStatus DestinationReport::Snapshot(absl::Time now) const {
  return board_.Destination(key_, now);
}

void DestinationReport::Phase(const BulkPhase& phase) {
  std::string old;
  board_.UpdateDestination(key_, [&](DestinationStatus& d) {
    old = d.phase;
    d.phase = phase.phase;
    d.indexes_building = phase.building;
    d.indexes_built = phase.built;
    d.indexes_total = phase.total;
  });
  if (old != phase.phase) {
    log::Info(*log_, "destination phase",
              {{"destination", name_},
               {"from", old.empty() ? std::string("none") : old},
               {"to", phase.phase.empty() ? std::string("none") : phase.phase}});
  }
}

}  // namespace slate::core
