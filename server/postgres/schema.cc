#include "server/postgres/schema.h"

#include "absl/strings/str_cat.h"

namespace slate::pg {
namespace {

// Every database: the events table and its indexes.
constexpr char kEventsSql[] = R"sql(
CREATE TABLE events (
  id bigint NOT NULL,
  ts timestamp with time zone NOT NULL,
  event jsonb NOT NULL,
  CONSTRAINT events_pkey PRIMARY KEY (id)
);
CREATE INDEX events_ts ON events (ts);
CREATE INDEX events_event_entityname ON events ((event #>> '{entityName}'));
CREATE INDEX events_event_operation ON events ((event #>> '{operation}'));
CREATE INDEX events_event_propertyname ON events ((event #>> '{propertyName}'));
CREATE INDEX events_event_entityid ON events ((event #>> '{entityId}'));
CREATE INDEX events_event_metadata_command ON events ((event #>> '{metadata,command}'));
)sql";

// A source only: the id counter, insert_events, the triggers and restore_events.
constexpr char kSourceSql[] = R"sql(
CREATE TABLE id (id bigint NOT NULL PRIMARY KEY);
INSERT INTO id (id) VALUES (1);

-- insertValues is a list of row tuples "($1[1], $2, '<event>'), ($1[2], $2, '<event>'), ...":
-- ids are bound to the next n ids, ts to the transaction's timestamp. The lock on table id is
-- held until commit, so ids are handed out and committed strictly in order, with no gaps.
CREATE FUNCTION insert_events(insertValues text) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  next_id bigint;
  insert_ts timestamp with time zone;
  ks integer[];
  n integer;
  inserted bigint;
BEGIN
  LOCK TABLE id IN ACCESS EXCLUSIVE MODE;
  insert_ts := transaction_timestamp();
  SELECT array_agg(r.m[1]::integer ORDER BY r.ord) INTO ks
    FROM regexp_matches(insertValues, '\(\s*\$1\[(\d+)\]\s*,\s*\$2\s*,', 'g') WITH ORDINALITY AS r(m, ord);
  n := coalesce(array_length(ks, 1), 0);
  IF n = 0 THEN
    RAISE EXCEPTION 'insert_events: insertValues must be row tuples ($1[k], $2, <event>) with k = 1..n'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF ks <> ARRAY(SELECT generate_series(1, n)) THEN
    RAISE EXCEPTION 'insert_events: ids must be written $1[1] .. $1[%] in order, found %', n, ks
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT id.id INTO next_id FROM id;
  UPDATE id SET id = next_id + n;
  -- Each tuple's "$1[k]" becomes "<next_id - 1> + k": subscripting an n-element array parameter
  -- n times copies it each time (quadratic memory: a 60,000-event call needed gigabytes). Only
  -- the tuple heads matched above are rewritten; text inside events is untouched (a match there
  -- would have broken the 1..n sequence, or the row count below).
  EXECUTE 'INSERT INTO events (id, ts, event) VALUES ' ||
          regexp_replace(insertValues, '\(\s*\$1\[(\d+)\]\s*,\s*\$2\s*,',
                         '(' || (next_id - 1) || ' + \1, $2,', 'g')
    USING next_id, insert_ts;
  GET DIAGNOSTICS inserted = ROW_COUNT;
  IF inserted <> n THEN
    RAISE EXCEPTION 'insert_events: % rows given but % ids written as $1[k]', inserted, n
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  RETURN n;
END
$fn$;

-- A wake-up for replicators. The payload carries the id but not the event, so events of any
-- size can be inserted (NOTIFY payloads must stay under 8000 bytes).
CREATE FUNCTION notify_event_insert() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('eventsinsert', json_build_object('table', TG_TABLE_NAME, 'id', NEW.id)::text);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER notify_insert AFTER INSERT ON events
  FOR EACH ROW EXECUTE FUNCTION notify_event_insert();

CREATE FUNCTION filter_sql_command() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'cannot perform SQL command on events table: %', TG_OP;
END
$fn$;
CREATE TRIGGER check_sql_command BEFORE UPDATE OR DELETE OR TRUNCATE ON events
  FOR EACH STATEMENT EXECUTE FUNCTION filter_sql_command();

CREATE EXTENSION IF NOT EXISTS dblink;

-- Disaster recovery: fills an empty, freshly initialised source from a backup (a destination).
-- fromHost may carry a port as "host:port" (an extension of the original signature).
CREATE FUNCTION restore_events(fromHost text, fromDatabase text, fromDatabaseUser text,
                               fromDatabasePassword text,
                               OUT rows_restored bigint, OUT next_insert_id bigint)
LANGUAGE plpgsql AS $fn$
DECLARE
  conn text;
  kv record;
  host_part text := fromHost;
  port_part text;
  local_count bigint;
  local_max bigint;
  backup_count bigint;
  backup_max bigint;
  after_count bigint;
  after_max bigint;
BEGIN
  LOCK TABLE id IN ACCESS EXCLUSIVE MODE;
  SELECT count(*) INTO local_count FROM events;
  IF local_count <> 0 THEN
    RAISE EXCEPTION 'restore_events: this database already has % events; restore only into an empty, freshly initialised source', local_count;
  END IF;
  IF fromHost ~ '^[^:]+:[0-9]+$' THEN
    host_part := split_part(fromHost, ':', 1);
    port_part := split_part(fromHost, ':', 2);
  END IF;
  -- libpq connection-string quoting: 'value', with backslash and quote escaped by a backslash.
  conn := '';
  FOR kv IN SELECT * FROM (VALUES ('host', host_part), ('port', port_part), ('dbname', fromDatabase),
                                  ('user', fromDatabaseUser), ('password', fromDatabasePassword))
                         AS p(k, v)
            WHERE coalesce(p.v, '') <> '' LOOP
    conn := conn || kv.k || '=''' || replace(replace(kv.v, '\', '\\'), '''', '\''') || ''' ';
  END LOOP;

  SELECT c, m INTO backup_count, backup_max
    FROM dblink(conn, 'SELECT count(*), max(id) FROM events') AS t(c bigint, m bigint);
  IF backup_count < 1 OR backup_max IS NULL OR backup_count <> backup_max THEN
    RAISE EXCEPTION 'restore_events: the backup has % events and max id %; it must have count = max(id) >= 1', backup_count, backup_max;
  END IF;

  INSERT INTO events (id, ts, event)
    SELECT t.id, t.ts, t.event
      FROM dblink(conn, 'SELECT id, ts, event FROM events ORDER BY id')
        AS t(id bigint, ts timestamp with time zone, event jsonb);
  GET DIAGNOSTICS rows_restored = ROW_COUNT;

  SELECT c, m INTO after_count, after_max
    FROM dblink(conn, 'SELECT count(*), max(id) FROM events') AS t(c bigint, m bigint);
  SELECT count(*), max(id) INTO local_count, local_max FROM events;
  IF local_count <> backup_count OR local_max <> backup_max OR after_count <> backup_count
     OR after_max <> backup_max THEN
    RAISE EXCEPTION 'restore_events: the backup changed during the restore (% events before, % after, % restored); run it again', backup_count, after_count, local_count;
  END IF;

  next_insert_id := backup_max + 1;
  UPDATE id SET id = next_insert_id;
END
$fn$;
)sql";

}  // namespace

absl::StatusOr<TableType> ParseTableType(absl::string_view name) {
  if (name == "source") return TableType::kSource;
  if (name == "destination") return TableType::kDestination;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown table type '", name, "': use source or destination"));
}

absl::string_view TableTypeName(TableType type) {
  return type == TableType::kSource ? "source" : "destination";
}

std::string SchemaSql(TableType type) {
  return type == TableType::kSource ? absl::StrCat(kEventsSql, kSourceSql) : kEventsSql;
}

absl::Status ValidateNewDatabaseName(absl::string_view name) {
  constexpr char kFix[] =
      "use 1 to 63 lower-case letters, digits, '_' or '$', starting with a letter or '_'";
  if (name.empty() || name.size() > 63) {
    return absl::InvalidArgumentError(
        absl::StrCat("database name '", name, "' has ", name.size(), " bytes: ", kFix));
  }
  const char first = name.front();
  if (!((first >= 'a' && first <= 'z') || first == '_')) {
    return absl::InvalidArgumentError(absl::StrCat(
        "database name '", name, "' must start with a lower-case letter or '_': ", kFix));
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '$')) {
      return absl::InvalidArgumentError(
          absl::StrCat("database name '", name, "' contains '", std::string(1, c), "': ", kFix));
    }
  }
  return absl::OkStatus();
}

}  // namespace slate::pg
