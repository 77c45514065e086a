#!/usr/bin/env bash
# The local demo: installs the dependencies (if missing), builds, starts three throwaway
# PostgreSQL 15 clusters in a temp dir (a source and two destinations), makes them slate
# databases with `slatectl init-db`, starts slate-replicator on them, inserts sample events
# through insert_events and shows them arriving: counts every second, `slatectl status` every 5. Ctrl-C stops everything and removes the temp dir.
# Usage: ./deploy/demo.sh     (as root, or a user with sudo)
# Environment: DEMO_EVENTS_PER_TICK (default 25), DEMO_TICKS (default: until Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

./deploy/install-deps.sh
BUILD_DIR=${SLATE_BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" -j2 --target slatectl slate-replicator
SLATECTL=$ROOT/$BUILD_DIR/client/slatectl
REPLICATOR=$ROOT/$BUILD_DIR/server/slate-replicator

PG_BIN=${SLATE_PG_BINDIR:-/usr/lib/postgresql/15/bin}
WORK=$(mktemp -d /tmp/slate-demo-XXXXXX)
chmod 755 "$WORK"
AS_PG=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$WORK"     # PostgreSQL refuses to run as root
  AS_PG=(runuser -u postgres --)
fi

REPLICATOR_PID=""
cleanup() {
  trap - EXIT INT TERM
  echo
  echo "demo: stopping"
  if [ -n "$REPLICATOR_PID" ] && kill -0 "$REPLICATOR_PID" 2>/dev/null; then
    kill -INT "$REPLICATOR_PID" 2>/dev/null || true
    wait "$REPLICATOR_PID" 2>/dev/null || true
  fi
  for name in source dest1 dest2; do
    [ -f "$WORK/$name/postmaster.pid" ] &&
      "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/$name" -m fast -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
  echo "demo: stopped, $WORK removed"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

free_port() {
  local p=$1
  while (echo >/dev/tcp/127.0.0.1/"$p") 2>/dev/null; do p=$((p + 1)); done
  echo "$p"
}

declare -A PORT
next=25432  # below the ephemeral range (32768-60999): no TIME_WAIT leftovers there
for name in source dest1 dest2; do
  PORT[$name]=$(free_port $next)
  next=$((PORT[$name] + 1))
  "${AS_PG[@]}" "$PG_BIN/initdb" -D "$WORK/$name" -U postgres -A trust -E UTF8 --locale=C \
    --no-sync >/dev/null
  if ! "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/$name" -l "$WORK/$name.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p ${PORT[$name]} -k $WORK" start >/dev/null; then
    echo "demo: PostgreSQL '$name' did not start; its log:" >&2
    cat "$WORK/$name.log" >&2
    exit 1
  fi
  echo "demo: PostgreSQL '$name' on 127.0.0.1:${PORT[$name]}"
done

"$SLATECTL" init-db --table-type source --host 127.0.0.1 --port "${PORT[source]}" \
  --user postgres --new-database events_source
for d in dest1 dest2; do
  "$SLATECTL" init-db --table-type destination --host 127.0.0.1 --port "${PORT[$d]}" \
    --user postgres --new-database events_replica
done

psql_on() {  # psql_on NAME SQL
  psql -X -q -t -A -h 127.0.0.1 -p "${PORT[$1]}" -U postgres -d "$([ "$1" = source ] &&
    echo events_source || echo events_replica)" -c "$2"
}

cat >"$WORK/config.json" <<JSON
{
  "maxEventsPerWrite": 10000,
  "connectTimeout": 5000,
  "eventSource": { "host": "127.0.0.1", "port": ${PORT[source]},
                   "databaseName": "events_source", "user": "postgres" },
  "replicationDestinations": [
    { "name": "replica1", "host": "127.0.0.1", "port": ${PORT[dest1]}, "databaseName": "events_replica",
      "user": "postgres" },
    { "name": "replica2", "host": "127.0.0.1", "port": ${PORT[dest2]}, "databaseName": "events_replica",
      "user": "postgres" }
  ]
}
JSON
CONTROL_PORT=$(free_port 25051)
METRICS_PORT=$(free_port 25466)
export SLATE_SERVER=127.0.0.1:$CONTROL_PORT
echo "demo: config in $WORK/config.json; replicator log in $WORK/replicator.log"
"$REPLICATOR" -c "$WORK/config.json" --log-format text --listen "$SLATE_SERVER" \
  --metrics-listen "127.0.0.1:$METRICS_PORT" >"$WORK/replicator.log" 2>&1 &
REPLICATOR_PID=$!
for _ in $(seq 1 100); do "$SLATECTL" health >/dev/null 2>&1 && break; sleep 0.1; done
echo "demo: control API on $SLATE_SERVER, metrics on http://127.0.0.1:$METRICS_PORT/metrics; in another shell:"
echo "      SLATE_SERVER=$SLATE_SERVER $SLATECTL status --watch"
echo

per_tick=${DEMO_EVENTS_PER_TICK:-25}
ticks=${DEMO_TICKS:-0}
n=0
echo "demo: inserting $per_tick events a second through insert_events; Ctrl-C to stop"
printf '%-8s %10s %10s %10s\n' time source dest1 dest2
while [ "$ticks" -eq 0 ] || [ "$n" -lt "$ticks" ]; do
  n=$((n + 1))
  values=""
  for k in $(seq 1 "$per_tick"); do
    values+="${values:+, }(\$1[$k], \$2, '{\"entityName\": \"demo\", \"entityId\": $n, \"operation\": \"tick\", \"k\": $k}')"
  done
  psql_on source "SELECT insert_events(\$v\$$values\$v\$)" >/dev/null
  if ! kill -0 "$REPLICATOR_PID" 2>/dev/null; then
    echo "demo: slate-replicator exited; its log:"; tail -n 20 "$WORK/replicator.log"; exit 1
  fi
  sleep 1
  printf '%-8s %10s %10s %10s\n' "$(date +%H:%M:%S)" "$(psql_on source 'SELECT count(*) FROM events')" \
    "$(psql_on dest1 'SELECT count(*) FROM events')" "$(psql_on dest2 'SELECT count(*) FROM events')"
  if [ $((n % 5)) -eq 0 ]; then
    echo; "$SLATECTL" status; echo
    printf '%-8s %10s %10s %10s\n' time source dest1 dest2
  fi
done
