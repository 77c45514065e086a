#pragma once

// The engine reaches databases only through these interfaces; server/postgres/ implements them
// with libpq, tests implement them with fakes (tests/support/fakes.h). Implementations are used
// by one thread at a time and need not be thread-safe, except Interrupt(): the engine's stall
// watchdog calls it from its own thread while another call may block, and that call must then
// fail promptly (Unavailable); the next Connect() starts afresh. Every error is an absl::Status
// with a canonical code (server/postgres/pg_status.h says which):
//   Unavailable        connection lost or refused: reconnect with backoff;
//   Aborted            the batch was rolled back (a conflict): redo it;
//   Unknown            the commit's outcome is unknown: re-read the position;
//   FailedPrecondition a database refused (SQL error, lock held by another replicator): retry;
//   DataLoss           an invariant is broken (destination ahead of the source, a row present
//                      that should not be): the destination stops;
//   InvalidArgument    (a start-up check, DestinationSetup::startup_check) a definitive answer
//                      such as a wrong password or a missing schema: the destination stops.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace slate::core {

// One event row on the copy path. The engine reads id and ts (to order and batch); `encoded` is
// the row exactly as the source produced it and goes to the sink untouched: event bytes are
// never parsed.
struct EventRow {
  int64_t id = 0;
  int64_t ts = 0;  // microseconds; only compared for equality (one source transaction, one ts)
  absl::string_view encoded;
};

// A database's first event (lowest id), read for identity checks: the only place event text is
// looked at, and only to compare it.
struct FirstEvent {
  int64_t id = 0;
  int64_t ts_unix_micros = 0;
  std::string event_text;  // jsonb's canonical text
};

// The source's newest committed event.
struct SourceHead {
  int64_t max_id = 0;                                   // 0 when empty
  absl::Time newest_event_time = absl::InfinitePast();  // its ts; InfinitePast when empty
};

// Microseconds since the Unix epoch for an EventRow::ts (PostgreSQL counts from 2000-01-01).
inline absl::Time EventTime(int64_t ts) {
  return absl::FromUnixMicros(ts + int64_t{946684800} * 1000000);
}

// One streaming read of the source's events, in id order.
class RowReader {
 public:
  virtual ~RowReader() = default;
  // Reads the next row into *row; false at the end. row->encoded stays valid until the next call.
  virtual absl::StatusOr<bool> Next(EventRow* row) = 0;
};

class EventSource {
 public:
  virtual ~EventSource() = default;
  virtual absl::Status Connect() = 0;
  virtual void Close() = 0;
  virtual void Interrupt() = 0;  // thread-safe; see above
  // The highest committed id and its ts.
  virtual absl::StatusOr<SourceHead> Head() = 0;
  // The event with the lowest id; nullopt when empty.
  virtual absl::StatusOr<std::optional<FirstEvent>> First() = 0;
  // Rows with after_id < id (<= up_to_id unless it is 0), in id order. `expected_rows` is the
  // caller's guess (0: unknown); a small read may take a cheaper path than a large one. Abandoning
  // the reader early (destroying it) is allowed. ReadAfter may just send the read: its result is
  // then awaited at the first Next(), where its errors show, so the caller can start other work
  // meanwhile.
  virtual absl::StatusOr<std::unique_ptr<RowReader>> ReadAfter(int64_t after_id, int64_t up_to_id,
                                                               int64_t expected_rows) = 0;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Connects and takes the writer's lock: a second replicator on the same destination gets
  // FailedPrecondition naming the holder.
  virtual absl::Status Connect() = 0;
  virtual void Close() = 0;
  virtual void Interrupt() = 0;  // thread-safe; see above
  // The highest id written (0 when empty).
  virtual absl::StatusOr<int64_t> Position() = 0;
  // Confirms the connection is alive (a pass with nothing to copy does, so an idle destination
  // that went away is noticed).
  virtual absl::Status Ping() = 0;
  // The event with the lowest id; nullopt when empty.
  virtual absl::StatusOr<std::optional<FirstEvent>> First() = 0;
  // Opens a transaction after checking, inside it, that the position is still `position` (Aborted
  // when it moved, e.g. an in-doubt commit that did happen).
  virtual absl::Status BeginBatch(int64_t position) = 0;
  // Sends what BeginBatch(position) sends without waiting for the answer, so the destination
  // works while the caller reads the source; the next BeginBatch(position) completes it, an
  // AbortBatch() cancels it. A sink may do nothing here.
  virtual absl::Status SendBeginBatch(int64_t position) = 0;
  // Opens a transaction for the rows after `position` while another sink of the same destination
  // still has the batch ending at `position` open (parallel writes). Its rows are not visible yet,
  // so the position is checked in CommitBatch, which the caller calls only after that batch
  // committed: batches commit strictly in id order, and a crash never leaves a hole.
  virtual absl::Status BeginFollowingBatch(int64_t position) = 0;
  virtual absl::Status Write(const EventRow& row) = 0;
  // Sends the end of the batch without waiting for the destination to apply it, so another sink
  // can be fed meanwhile. Optional (CommitBatch ends the batch itself). After EndBatch a batch
  // opened by BeginBatch may commit on its own (its commit is already on the wire): an
  // AbortBatch then cannot be sure to undo it, and the caller re-reads the position.
  virtual absl::Status EndBatch() = 0;
  // Commits the open batch; returns the bytes written in it.
  virtual absl::StatusOr<int64_t> CommitBatch() = 0;
  // Rolls back the open batch, if any. Never fails: a broken connection rolls back by itself.
  virtual void AbortBatch() = 0;
};

// A destination's secondary indexes, set aside for a bulk load and built again afterwards
// (bulk_load.h). The record of what was set aside lives in the destination itself, written in the
// same transaction as the drop, so any instance, after any crash, finds and finishes the job.
// One session each; a bulk load uses several to build in parallel.
class DestinationIndexes {
 public:
  virtual ~DestinationIndexes() = default;
  virtual absl::Status Connect() = 0;
  virtual void Close() = 0;
  virtual void Interrupt() = 0;  // thread-safe; see above
  // The indexes set aside and not built yet, by name, in the order they are to be built; empty
  // when none are (the record, if an empty one is left, is removed).
  virtual absl::StatusOr<std::vector<std::string>> Pending() = 0;
  // In one transaction: records the definition of every secondary index of events (every index
  // that does not back a constraint: the primary key stays) and drops them. Returns their names
  // (empty: there were none). PermissionDenied, with nothing changed, when this user may not
  // (not the owner of events, or no CREATE on its schema).
  virtual absl::StatusOr<std::vector<std::string>> SetAside() = 0;
  // In one transaction: builds the pending index `name` from its recorded definition and strikes
  // it from the record, so a crash leaves it either built and struck or neither. An index of
  // that name already there (built by hand) is only struck.
  virtual absl::Status Build(const std::string& name) = 0;
};

// The source's notification channel (LISTEN eventsinsert).
class WakeupSource {
 public:
  virtual ~WakeupSource() = default;
  virtual absl::Status Connect() = 0;  // connects and LISTENs
  virtual void Close() = 0;
  virtual void Interrupt() = 0;  // thread-safe; see above
  // A round trip on the connection, so a connection that went silent is noticed.
  virtual absl::Status Ping() = 0;
  // Waits up to `timeout` and returns every payload that arrived (empty on timeout).
  // Unavailable when the connection was lost.
  virtual absl::StatusOr<std::vector<std::string>> Wait(absl::Duration timeout) = 0;
};

// The leader lock: instances with the same config elect one active among them through the
// source database itself (a session advisory lock on a dedicated, unpooled session). The lock
// lives as long as that session.
class LeaderLock {
 public:
  virtual ~LeaderLock() = default;
  virtual absl::Status Connect() = 0;
  virtual void Close() = 0;      // ends the session, and with it the lock
  virtual void Interrupt() = 0;  // thread-safe; see above
  // Takes the lock if it is free; true when this session holds it.
  virtual absl::StatusOr<bool> TryTake() = 0;
  // A round trip on the lock's session, bounded in time: OK while the session (and so the lock)
  // is alive; an error means the lock can no longer be confirmed.
  virtual absl::Status Confirm() = 0;
  // Who holds the lock ("application_name 'slate-replicator/12@host', backend pid 7, client
  // 10.0.0.5"), empty when nobody does.
  virtual absl::StatusOr<std::string> Holder() = 0;
};

// Opens a new, unconnected DestinationIndexes on one destination.
using DestinationIndexesFactory = std::function<std::unique_ptr<DestinationIndexes>()>;

}  // namespace slate::core
