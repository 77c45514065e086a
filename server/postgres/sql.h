#pragma once

// Every SQL text the adapters send more than once or from more than one file, in one place.
// Internal to server/postgres/. Texts with values take them from the functions below (ids are
// integers, formatted here; nothing user-supplied is spliced in).

#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace slate::pg::sql {

// Lock keys of the destination writer lock: pg_try_advisory_lock(kWriterLockKey1,
// kWriterLockKey2), per database. 0x736c6174 is "slat".
inline constexpr int kWriterLockKey1 = 0x736c6174;
inline constexpr int kWriterLockKey2 = 1;
// The leader lock, in the source: (kLeaderLockKey1, the config's group key).
inline constexpr int kLeaderLockKey1 = 0x736c6175;
// Held shared by a destination's writer session beside the writer lock: (kGroupLockKey1, the
// group key). It tells a new leader that a stale writer belongs to its own config.
inline constexpr int kGroupLockKey1 = 0x736c6176;

// Who holds advisory lock (key1, key2) in this database: pid, application_name, client address.
inline std::string AdvisoryLockHolder(int key1, int key2) {
  return absl::StrCat(
      "SELECT a.pid, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'local') "
      "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
      "WHERE l.locktype = 'advisory' AND l.granted AND l.classid = ",
      key1, " AND l.objid = ", key2,
      " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())");
}
// Whether backend `pid` holds advisory lock (key1, key2) in this database.
inline std::string HoldsAdvisoryLock(int64_t pid, int key1, int key2) {
  return absl::StrCat(
      "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND pid = ",
      pid, " AND classid = ", key1, " AND objid = ", key2,
      " AND database = (SELECT oid FROM pg_database WHERE datname = current_database()))");
}

// An event's ts as microseconds since the Unix epoch.
inline constexpr absl::string_view kTsMicros = "(extract(epoch FROM ts) * 1000000)::bigint";
inline constexpr absl::string_view kTsMillisMicros =
    "(extract(epoch FROM date_trunc('milliseconds', ts)) * 1000000)::bigint";

// The lowest-id event (identity checks): id, ts in microseconds, event text.
inline const std::string kFirstEvent =
    absl::StrCat("SELECT id, ", kTsMicros, ", event::text FROM events ORDER BY id LIMIT 1");
// The highest-id event: id, ts in microseconds.
inline const std::string kLastEvent =
    absl::StrCat("SELECT id, ", kTsMicros, " FROM events ORDER BY id DESC LIMIT 1");
inline constexpr absl::string_view kMaxId = "SELECT coalesce(max(id), 0) FROM events";

// Session advisory locks on (key1, key2).
inline std::string TryLock(int key1, int key2) {
  return absl::StrCat("SELECT pg_try_advisory_lock(", key1, ", ", key2, ")");
}
inline std::string Lock(int key1, int key2) {  // waits (bounded by the session's lock_timeout)
  return absl::StrCat("SELECT pg_advisory_lock(", key1, ", ", key2, ")");
}
inline std::string LockShared(int key1, int key2) {
  return absl::StrCat("SELECT pg_advisory_lock_shared(", key1, ", ", key2, ")");
}
// Ends every other session holding (key1, key2) in this database; true when all could be ended.
inline std::string TerminateOtherHolders(int key1, int key2) {
  return absl::StrCat(
      "SELECT coalesce(bool_and(pg_terminate_backend(pid)), true) FROM pg_locks "
      "WHERE locktype = 'advisory' AND granted AND classid = ",
      key1, " AND objid = ", key2,
      " AND pid <> pg_backend_pid() AND database = (SELECT oid FROM pg_database WHERE datname = "
      "current_database())");
}
inline const std::string kTryWriterLock = TryLock(kWriterLockKey1, kWriterLockKey2);
// The leader lock's session: it ends itself after `idle_timeout_ms` without a call, and the
// server probes a silent peer quickly (server-side TCP keepalives).
inline std::string LeaderSessionSettings(int64_t idle_timeout_ms) {
  return absl::StrCat("SET idle_session_timeout = ", idle_timeout_ms,
                      "; SET tcp_keepalives_idle = 2; SET tcp_keepalives_interval = 1; "
                      "SET tcp_keepalives_count = 3");
}
// Who holds this database's writer lock: pid, application_name, client address.
inline const std::string kWriterLockHolder = AdvisoryLockHolder(kWriterLockKey1, kWriterLockKey2);
// The holder's columns as one phrase for messages.
inline std::string DescribeHolder(absl::string_view pid, absl::string_view application_name,
                                  absl::string_view client) {
  return absl::StrCat("backend pid ", pid, ", application_name '", application_name, "', client ",
                      client);
}

// Reads of the source.
inline std::string CopyEventsAfter(int64_t after_id, int64_t up_to_id) {
  std::string sql = absl::StrCat("COPY (SELECT id, ts, event FROM events WHERE id > ", after_id);
  if (up_to_id > 0) absl::StrAppend(&sql, " AND id <= ", up_to_id);
  absl::StrAppend(&sql, " ORDER BY id) TO STDOUT (FORMAT binary)");
  return sql;
}
inline constexpr char kSmallReadStatement[] = "slate_read_after";
inline constexpr char kSmallRead[] =
    "SELECT id, ts, event FROM events WHERE id > $1::bigint AND id <= $2::bigint ORDER BY id "
    "LIMIT $3::bigint";

// Writes to a destination.
inline constexpr char kCopyIn[] = "COPY events (id, ts, event) FROM STDIN (FORMAT binary)";
// A batch's checks (sink.cc): the row at its position is there (or it is 0) and the next is not.
// Prepared once per session, so the query string of each batch is not planned again.
inline constexpr char kBatchProbeStatement[] = "slate_batch_probe";
inline std::string PrepareBatchProbe() {
  return absl::StrCat("PREPARE ", kBatchProbeStatement,
                      "(bigint) AS SELECT $1 = 0 OR EXISTS (SELECT 1 FROM events WHERE id = $1), "
                      "EXISTS (SELECT 1 FROM events WHERE id = $1 + 1)");
}
inline std::string BatchProbe(int64_t position) {
  return absl::StrCat("EXECUTE ", kBatchProbeStatement, "(", position, ")");
}
inline std::string RowExists(int64_t id) {
  return absl::StrCat("SELECT EXISTS (SELECT 1 FROM events WHERE id = ", id, ")");
}

}  // namespace slate::pg::sql
