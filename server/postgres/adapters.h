#pragma once

// Factories for the engine's PostgreSQL adapters, one file each (source.cc, sink.cc, wakeups.cc).
// Callers never see libpq or libpqxx. Every connection is opened the one way connection.h
// describes; SQL texts live in sql.h.
//
// - The event source streams `COPY (SELECT id, ts, event ... ORDER BY id) TO STDOUT (FORMAT
//   binary)` and frames rows without decoding events. It reconnects lazily after an error.
// - The sink writes `COPY events (id, ts, event) FROM STDIN (FORMAT binary)`, one transaction per
//   batch. Connect() takes the destination's writer lock (a session advisory lock, see
//   sql.h); BeginBatch() re-checks the position inside the transaction with two primary-key
//   probes (id = position exists, id = position + 1 does not), never max(id). A batch costs two
//   round trips: BEGIN, probes, COPY and COMMIT travel as one query string.
// - The wakeup source LISTENs on eventsinsert.
// - The leader lock (leader_lock.cc) elects one active instance per config in the source.

#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"

#include "server/common/conn_params.h"
#include "server/core/interfaces.h"

namespace slate::pg {

// Reads of at most this many rows use a prepared SELECT instead of a COPY (live events).
inline constexpr int kSmallReadRows = 1000;

// `what` labels errors and logs: "source (user@host:port/db)".
std::unique_ptr<core::EventSource> NewEventSource(const ConnParams& params,
                                                  const std::string& what);
struct SinkOptions {
  // The session's synchronous_commit ("" leaves the server's). "off" is safe here: the position
  // is read back from the destination after any failure, so a commit lost in a destination crash
  // is copied again (a crash loses a suffix of commits, and batches commit in id order).
  std::string synchronous_commit = "off";
  // The writer lock is held by one session per destination; the other sessions used for
  // parallel writes write only while that session holds it.
  bool take_writer_lock = true;
  // With the writer lock, a shared lock on (group lock, group_key) marks the session as this
  // config's. When the writer lock is held by a session of the same config (a former active
  // that lost the leader lock but whose session lingers, e.g. blackholed), that session is
  // terminated: the leader lock proves it may no longer write. 0: no group, never terminate.
  int group_key = 0;
};
std::unique_ptr<core::EventSink> NewEventSink(const ConnParams& params, const std::string& what,
                                              const SinkOptions& options = {});
// A destination's secondary indexes for a bulk load (destination_indexes.cc).
struct IndexOptions {
  int64_t memory_mb = 256;  // the session's maintenance_work_mem while building
  int group_key = 0;        // as SinkOptions::group_key: a new active fences the session
};
std::unique_ptr<core::DestinationIndexes> NewDestinationIndexes(const ConnParams& params,
                                                                const std::string& what,
                                                                const IndexOptions& options);
std::unique_ptr<core::WakeupSource> NewWakeupSource(const ConnParams& params,
                                                    const std::string& what);

struct LeaderLockOptions {
  int group_key = 0;  // GroupKey(config): instances of one config share it
  // The server ends the lock's session after this long without a call from it.
  absl::Duration idle_timeout = absl::Seconds(6);
  // Every call on the session (a confirmation) fails after this long without an answer.
  absl::Duration call_limit = absl::Seconds(3);
};
std::unique_ptr<core::LeaderLock> NewLeaderLock(const ConnParams& params, const std::string& what,
                                                const LeaderLockOptions& options);

// The key shared by every instance of one config: a 31-bit hash of `instance_group` when given,
// else of the source's and the destinations' addresses (host and database lower-cased, the
// destinations in sorted order).
int GroupKey(const std::string& instance_group, const ConnParams& source,
             const std::vector<ConnParams>& destinations);

}  // namespace slate::pg
