#pragma once

// The replication settings, with their defaults: the one place they are written. The config
// (server/config/) fills an EngineOptions from the file's keys and calls Sanitize() once; every
// later reader (engine, copy pass, adapters' wiring) takes the values as they are.

#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace slate::core {

// maxEventsPerWrite below this is raised to it (the original tool's minimum).
inline constexpr int64_t kMinEventsPerWrite = 10000;

struct EngineOptions {
  // Rows per destination transaction, extended so a source transaction is never split.
  int64_t max_events_per_write = kMinEventsPerWrite;
  absl::Duration poll_interval = absl::Seconds(5);  // a pass even without notifications
  absl::Duration initial_retry_delay = absl::Milliseconds(250);
  absl::Duration max_retry_delay = absl::Seconds(30);
  absl::Duration skip_holes_after = absl::ZeroDuration();  // zero: never skip a hole
  absl::Duration progress_interval = absl::Seconds(10);    // catch-up progress log lines
  absl::Duration listen_wait = absl::Milliseconds(250);    // listener's stop latency
  // A thread inside a database call with no progress for this long has its connections
  // interrupted (a blackholed peer never answers; keepalives cannot tell). Zero: never.
  absl::Duration stall_timeout = absl::Seconds(60);
  // How often the listener makes a round trip on its connection, so a silent one is noticed.
  absl::Duration listen_ping_interval = absl::Seconds(10);
  // Sessions writing each destination (consecutive batches, committed in id order).
  int parallel_writes = 2;
  // The destination sessions' synchronous_commit ("" keeps the server's). "off" (like a logical
  // replication subscription's default) is safe: after a destination crash the position is read
  // back and a lost tail is copied again.
  std::string synchronous_commit = "off";
  // Continuous verification (continuous_verify.h): at most this many ids per second per
  // destination compared with the source (0: off), and a new pass from id 1 this long after the
  // last one began (zero: only new rows are verified after the first pass).
  int64_t verify_ids_per_second = 5000;
  absl::Duration verify_full_pass_every = absl::Hours(24);
  // Bulk bootstrap (bulk_load.h): an empty destination with at least this many events to copy is
  // loaded without its secondary indexes, which are then built in `index_build_sessions`
  // parallel sessions with maintenance_work_mem = `index_build_memory_mb` each (0: never; a bulk
  // load an earlier run left unfinished is finished regardless).
  int64_t bulk_load_threshold = 100000;
  int index_build_sessions = 2;
  int64_t index_build_memory_mb = 256;
};

// Brings values into the ranges the engine relies on; returns one note per change, for the
// start-up log (e.g. "maxEventsPerWrite 500 raised to the minimum 10000").
std::vector<std::string> Sanitize(EngineOptions& options);

}  // namespace slate::core
