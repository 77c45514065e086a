#pragma once

// The slate schema: the SQL that makes an empty database a slate source or destination, with the
// object names, signatures and behaviour of the original init-slate-db tool, so
// databases made by either tool are interchangeable. The one difference: a new source's
// notify_insert trigger sends {"table": ..., "id": ...} without the event, so events of any size
// can be inserted (PostgreSQL refuses NOTIFY payloads of 8000 bytes or more). The replicator
// treats every notification as a wake-up only and accepts both payloads.

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace slate::pg {

enum class TableType { kSource, kDestination };

absl::StatusOr<TableType> ParseTableType(absl::string_view name);
absl::string_view TableTypeName(TableType type);

// Statements that create the slate objects of `type` in the current, empty database. Run them in
// one transaction. The source part needs the dblink extension (Debian's postgresql-15).
std::string SchemaSql(TableType type);

// Names of the source-only objects, as validation looks for them.
inline constexpr absl::string_view kIdTable = "id";
inline constexpr absl::string_view kNotifyTrigger = "notify_insert";
inline constexpr absl::string_view kNotifyFunction = "notify_event_insert";
inline constexpr absl::string_view kCheckTrigger = "check_sql_command";
inline constexpr absl::string_view kCheckFunction = "filter_sql_command";
inline constexpr absl::string_view kInsertFunction = "insert_events";
inline constexpr absl::string_view kRestoreFunction = "restore_events";
inline constexpr absl::string_view kNotifyChannel = "eventsinsert";

// A name init-db may create: an unquoted PostgreSQL identifier in lower case (letters, digits,
// '_' and '$', not starting with a digit or '$'), at most 63 bytes. Lower case only, so the name
// a user types unquoted in SQL and the one in a config are the same database.
absl::Status ValidateNewDatabaseName(absl::string_view name);

}  // namespace slate::pg
