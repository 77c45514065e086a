#pragma once

// What one destination's loop reports: its entry on the StatusBoard (state, position, counters,
// errors, heartbeat) and the log lines of its state changes. Writing only: the loop never reads
// its status back (it owns its position and state itself).
//
// Threads: used by its destination loop's thread only; the board it writes is thread-safe.

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include <spdlog/spdlog.h>

#include "server/core/clock.h"
#include "server/core/signals.h"
#include "server/core/status_board.h"

namespace slate::core {

// A bulk load's phase, as DestinationStatus shows it (bulk_load.h); empty phase: none.
struct BulkPhase {
  std::string phase;
  std::vector<std::string> building;
  int64_t built = 0;
  int64_t total = 0;
};

class DestinationReport {
 public:
  DestinationReport(StatusBoard& board, uint64_t key, std::string name, const Clock& clock);

  const std::string& name() const { return name_; }
  spdlog::logger& log() { return *log_; }
  DestinationState state() const { return state_; }

  // Moves to `state` (logged when it changes, with the position) and applies `more`.
  void SetState(DestinationState state, int64_t position,
                const std::function<void(DestinationStatus&)>& more = nullptr);
  void Position(int64_t position);
  // A pass begins (counted on the source's row: passes over every destination).
  void PassStarted();
  // The first event this destination lacks has this ts (the oldest open batch's first row).
  void OldestMissing(int64_t ts);
  // A batch committed: position, counters, the rate window, a heartbeat.
  void Committed(int64_t position, int64_t next_oldest_ts, int64_t events, int64_t bytes,
                 absl::Time now);
  // A pass ended well: the retry count is reset, and the loop shows a sign of life.
  void Heartbeat(absl::Time now);
  void Synced(int64_t position);  // in sync: no hole, nothing missing
  // Waiting at a hole. Lag ages with the oldest event the destination lacks that the source shows:
  // the first one after the hole, at `next_ts` (the missing ones have no ts to show).
  void AtHole(int64_t position, int64_t hole_at, absl::Time hole_since, int64_t next_ts);
  // An error, by kind; `retry_at` InfinitePast for a final failure. `connecting`: it has never
  // connected yet, so it stays `connecting` (with the error and the next retry) while retrying.
  void Error(const absl::Status& status, int64_t position, absl::Time now, absl::Time retry_at,
             bool connecting = false);
  // The state `paused` (`control` says by what, for the log), and the log line of a resume; the
  // pause fields of the status are the engine's (Engine::ShowPause).
  void Paused(const LaneControl& control, int64_t position);
  void Resumed(int64_t position);
  // A bulk load's phase (logged when it changes).
  void Phase(const BulkPhase& phase);
  // The destination's own row of the board, with lag and rate (for progress lines).
  DestinationStatus Snapshot(absl::Time now) const;

 private:
  StatusBoard& board_;
  const uint64_t key_;
  const std::string name_;
  const Clock& clock_;
  std::shared_ptr<spdlog::logger> log_;
  DestinationState state_ = DestinationState::kStarting;
  int64_t events_total_ = 0;
};

}  // namespace slate::core
