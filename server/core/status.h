#pragma once

// What the engine reports: plain value types, copied out of the StatusBoard. The control plane
// serves these; the engine never reads them back to make decisions (it decides from
// server/core/signals.h and its own loop state).

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace slate::core {

enum class DestinationState {
  kStarting,       // not yet tried
  kConnecting,     // connecting, taking the writer lock, reading the position; before the first
                   // connect also while retrying (last_error, next_retry)
  kCatchingUp,     // copying a backlog
  kInSync,         // everything the source had at the last pass is written
  kRetrying,       // an error; waiting to reconnect (next_retry)
  kWaitingAtHole,  // the source lacks id hole_at while later ids exist; held, not skipped
  kFailed,         // an invariant is broken; this destination stopped (last_error says why)
  kStopped,        // stopped on request
  kPaused,         // paused on request (paused_since, paused_by): connected, copying nothing
  kDiverged,       // copying (catching up or in sync), but continuous verification found rows
                   // that differ from the source (diverged_at, diverged_class): shown in place
                   // of catching_up / in_sync, never written by the loop
};

absl::string_view StateName(DestinationState state);

// Every state, for exporters that list them all.
inline constexpr DestinationState kAllStates[] = {
    DestinationState::kStarting, DestinationState::kConnecting, DestinationState::kCatchingUp,
    DestinationState::kInSync,   DestinationState::kRetrying,   DestinationState::kWaitingAtHole,
    DestinationState::kFailed,   DestinationState::kStopped,    DestinationState::kPaused,
    DestinationState::kDiverged};

struct DestinationStatus {
  std::string name;
  std::string dsn;  // masked: never a password
  DestinationState state = DestinationState::kStarting;
  absl::Time state_since;
  int64_t position = 0;          // highest id written
  int64_t lag_events = 0;        // source max id - position (filled by Snapshot)
  double lag_seconds = 0;        // age of the oldest event it lacks; 0 in sync (by Snapshot)
  double events_per_second = 0;  // over the last 10 s (filled by Snapshot)
  int64_t events_total = 0;      // copied by this process
  int64_t bytes_total = 0;
  int64_t batches_total = 0;
  absl::Time last_batch_time = absl::InfinitePast();
  std::string last_error;
  absl::Time last_error_time = absl::InfinitePast();
  int64_t retries = 0;  // consecutive failed attempts (0 after a success)
  int64_t retries_total = 0;
  absl::Time next_retry = absl::InfinitePast();
  int64_t hole_at = 0;  // first missing id while waiting at a hole, else 0
  absl::Time hole_since = absl::InfinitePast();
  // The ts of the first event it lacks, when known (for lag_seconds).
  absl::Time oldest_missing = absl::InfinitePast();
  // The replication loop's last sign of life: a batch committed, or a pass that ended in sync or
  // at a hole. Readiness is judged by it.
  absl::Time last_heartbeat = absl::InfinitePast();
  // Errors by kind: the lower-case canonical code ("unavailable", "failed_precondition", ...).
  std::map<std::string, int64_t> errors_by_kind;
  // While paused (whatever the state shows meanwhile, e.g. retrying): since when, and what asked.
  bool paused = false;
  absl::Time paused_since = absl::InfinitePast();
  std::string paused_by;
  // Continuous verification (continuous_verify.h), when enabled: ids 1..verified_position
  // compared with the source in the current pass; when the last pass from id 1 ended (and how many
  // ended); diverged: rows differ (the lowest differing id found, its class as verify.h names
  // it, how many rows); the error that holds it back, if any.
  bool verify_enabled = false;
  int64_t verified_position = 0;
  absl::Time last_full_verify = absl::InfinitePast();
  int64_t verify_passes = 0;
  bool diverged = false;
  int64_t diverged_at = 0;
  std::string diverged_class;
  int64_t differing_rows = 0;
  std::string verify_error;
  bool verify_waits_for_catch_up = false;
  // Bulk bootstrap (bulk_load.h): "" (none), "bulk_loading" (copying while its secondary indexes
  // are set aside) or "building_indexes"; the indexes being built now; of those set aside, how
  // many are built and how many in all.
  std::string phase;
  std::vector<std::string> indexes_building;
  int64_t indexes_built = 0;
  int64_t indexes_total = 0;
  // Seeding (seeded_source.h): the destination its backlog is read from ("": none), and how many
  // rows came from it in this run.
  std::string seed_from;
  int64_t seed_rows = 0;
};

struct SourceStatus {
  std::string dsn;  // masked
  bool listening = false;
  int64_t max_id = 0;  // highest id known committed (passes and notifications)
  absl::Time newest_event_time = absl::InfinitePast();  // ts of the newest event read
  int64_t notifications_total = 0;
  int64_t malformed_notifications_total = 0;
  int64_t passes_total = 0;
  std::string last_error;
  absl::Time last_error_time = absl::InfinitePast();
  absl::Time next_retry = absl::InfinitePast();  // while not listening: the next attempt
};

// Readiness: the replicator is doing its job, not merely running. Ready when it is active (not a
// standby), no stop has begun and every destination has a heartbeat younger than
// `heartbeat_timeout` (so it has not failed,
// and is not stuck retrying or in a call that does not return). `reason` says why not.
struct Readiness {
  bool ready = false;
  std::string reason;
};

struct EngineStatus;
Readiness AssessReadiness(const EngineStatus& status, absl::Time now,
                          absl::Duration heartbeat_timeout);

struct EngineStatus {
  absl::Time start_time;
  bool stopping = false;
  // Filled by the process (server/replicator.h), not the engine: this instance's role among
  // those of its config, who is active while it is a standby, and when it last took over.
  bool standby = false;
  std::string active_instance;
  absl::Time last_takeover = absl::InfinitePast();
  int64_t reloads_applied = 0;  // config reloads that went through (or were kept, on a standby)
  int64_t reloads_refused = 0;  // refused: an invalid file or a failed check
  SourceStatus source;
  std::vector<DestinationStatus> destinations;
};

// A destination that will not copy again in this process: failed, or stopped on request.
bool Ended(DestinationState state);
// Every destination has ended (and there is at least one).
bool AllDestinationsEnded(const EngineStatus& status);
// Every destination has failed (and there is at least one): the process can do nothing more.
bool AllDestinationsFailed(const EngineStatus& status);

}  // namespace slate::core
