#pragma once

// Bulk bootstrap of an empty destination: copying a large backlog into a table without its
// secondary indexes and building them afterwards (one sort each) costs a fraction of maintaining
// them row by row, which is most of a catch-up's work. This is how bulk copiers (pg_restore,
// pgcopydb) get their speed; here it is done for a live replica, crash-safely.
//
// - Begin: before the first batch of a destination at position 0 with at least
//   bulk_load_threshold events to copy, its secondary indexes are set aside
//   (DestinationIndexes::SetAside: definitions recorded in the destination and indexes dropped in
//   one transaction). The primary key stays: the position probes and duplicate safety rely on it.
//   A user that may not (not the owner of events) gets one info line and the normal path.
// - Load: passes copy as always (phase `bulk_loading`).
// - Build: when a pass has copied what the source had, the loop builds the indexes still set
//   aside (phase `building_indexes`), in up to index_build_sessions parallel sessions, each index
//   built and struck from the record in one transaction; then passes copy the tail with indexes.
// - Crash-safety follows from the record: after any crash, restart or failover, the next connect
//   (of this or another instance) reads what is still set aside and goes on from there; an index
//   build under way when it died rolled back and is built again.
//
// Threads: used by its destination loop's thread; the builds run on threads of their own, which
// end before BuildAll() returns.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

#include "server/core/destination_report.h"
#include "server/core/interfaces.h"
#include "server/core/options.h"
#include "server/core/signals.h"

namespace slate::core {

// Whether a destination at `position` with `backlog` events to copy is loaded in bulk.
bool ShouldBulkLoad(int64_t threshold, int64_t position, int64_t backlog);

class BulkLoad {
 public:
  // `factory` empty: never in bulk (the destination's adapter cannot).
  BulkLoad(const EngineOptions& options, DestinationIndexesFactory factory, Signals& signals,
           uint64_t lane, DestinationReport& report);

  // After each connect: what a bulk load of this or an earlier run left to build.
  absl::Status Resume();
  // Before a pass from `position` with `backlog` events to copy: sets the indexes aside when the
  // destination should be loaded in bulk (once per connect; never while indexes are pending).
  absl::Status MaybeBegin(int64_t position, int64_t backlog);
  // Indexes are set aside: the loop builds them once the backlog is copied.
  bool loading() const { return !pending_.empty(); }
  // Builds every index set aside, up to index_build_sessions at a time; heartbeats meanwhile.
  // False when a stop (or the lane's end) came first: builds under way were interrupted and roll
  // back. On error, the indexes built so far stay built; the rest stay pending.
  absl::StatusOr<bool> BuildAll(int64_t position);

 private:
  void ShowPhase(const std::vector<std::string>& building, int64_t built);
  absl::StatusOr<std::vector<std::string>> WithSession(
      const std::function<absl::StatusOr<std::vector<std::string>>(DestinationIndexes&)>& f);

  const EngineOptions& options_;
  const DestinationIndexesFactory factory_;
  Signals& signals_;
  const uint64_t lane_;
  DestinationReport& report_;

  std::vector<std::string> pending_;  // set aside, not built yet
  int64_t total_ = 0;                 // set aside by this bulk load, as far as this run knows
  bool considered_ = false;           // MaybeBegin decided since the last Resume()
};

}  // namespace slate::core
