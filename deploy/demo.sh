#!/usr/bin/env bash
# The local demo: installs the dependencies (if missing), builds, starts four throwaway
# PostgreSQL 15 clusters in a temp dir (a source and three destinations), makes them slate
# databases with `slatectl init-db`, starts slate-replicator on the source and two of them, and
# inserts sample events through insert_events every second (counts shown each tick). Then the
# story of what it is for: the replicator is stopped (`slatectl stop`) while a backlog
# (DEMO_BACKLOG events) lands on the source; started again, `slatectl status` shows the catch-up
# with its progress bar and ETA; it is killed with -9 mid-catch-up and restarted (nothing lost,
# nothing duplicated); a third destination is added with
# `slatectl reload`; replica2 is paused and resumed; `slatectl verify` proves every destination
# identical; an old row of replica1 is changed by hand, continuous verification shows it
# diverged, and once the row is put back, equal again. Then live inserts go on, with the status every 5 s. Ctrl-C stops everything and
# removes the temp dir.
# Usage: ./deploy/demo.sh     (as root, or a user with sudo)
# Environment: DEMO_EVENTS_PER_TICK (default 25), DEMO_BACKLOG (default 200000),
#              DEMO_TICKS (default: until Ctrl-C; the whole story takes about a minute).
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
  for name in source dest1 dest2 dest3; do
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
for name in source dest1 dest2 dest3; do
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
for d in dest1 dest2 dest3; do
  "$SLATECTL" init-db --table-type destination --host 127.0.0.1 --port "${PORT[$d]}" \
    --user postgres --new-database events_replica
done

psql_on() {  # psql_on NAME SQL
  psql -X -q -t -A -h 127.0.0.1 -p "${PORT[$1]}" -U postgres -d "$([ "$1" = source ] &&
    echo events_source || echo events_replica)" -c "$2"
}

write_config() {  # write_config DEST...: the config file with these destinations
  local dests="" d
  for d in "$@"; do
    dests+="${dests:+,
}    { \"name\": \"replica${d#dest}\", \"host\": \"127.0.0.1\", \"port\": ${PORT[$d]},
      \"databaseName\": \"events_replica\", \"user\": \"postgres\" }"
  done
  cat >"$WORK/config.json" <<JSON
{
  "maxEventsPerWrite": 10000,
  "connectTimeout": 5000,
  // Continuous verification faster than its defaults (10000 ids/s, a pass a day), so the demo
  // shows a tampered row found within seconds.
  "verifyIdsPerSecond": 200000,
  "verifyPassInterval": 5000,
  "eventSource": { "host": "127.0.0.1", "port": ${PORT[source]},
                   "databaseName": "events_source", "user": "postgres" },
  "replicationDestinations": [
$dests
  ]
}
JSON
}
write_config dest1 dest2
CONTROL_PORT=$(free_port 25051)
METRICS_PORT=$(free_port 25466)
export SLATE_SERVER=127.0.0.1:$CONTROL_PORT
start_replicator() {
  "$REPLICATOR" -c "$WORK/config.json" --log-format text --listen "$SLATE_SERVER" \
    --metrics-listen "127.0.0.1:$METRICS_PORT" >>"$WORK/replicator.log" 2>&1 &
  REPLICATOR_PID=$!
  for _ in $(seq 1 100); do "$SLATECTL" health >/dev/null 2>&1 && break; sleep 0.1; done
}
echo "demo: config in $WORK/config.json; replicator log in $WORK/replicator.log"
start_replicator
echo "demo: control API on $SLATE_SERVER, metrics on http://127.0.0.1:$METRICS_PORT/metrics; in another shell:"
echo "      SLATE_SERVER=$SLATE_SERVER $SLATECTL status --watch"
echo

status_has() {  # status_has PATTERN: the JSON status matches
  "$SLATECTL" status -o json 2>/dev/null | grep -q "$1"
}
all_in_sync() {  # all_in_sync N: N destinations, every one in sync
  local json
  json=$("$SLATECTL" status -o json 2>/dev/null) || return 1
  [ "$(grep -o 'STATE_IN_SYNC' <<<"$json" | wc -l)" -eq "$1" ]
}
header() { printf '%-8s %10s %10s %10s %10s\n' time source replica1 replica2 replica3; }
step() { echo; echo "demo: $*"; }

per_tick=${DEMO_EVENTS_PER_TICK:-25}
backlog=${DEMO_BACKLOG:-200000}
ticks=${DEMO_TICKS:-0}
n=0
phase=live_start
phase_tick=0
echo "demo: inserting $per_tick events a second through insert_events; Ctrl-C to stop"
header
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
  printf '%-8s %10s %10s %10s %10s\n' "$(date +%H:%M:%S)" "$(psql_on source 'SELECT count(*) FROM events')" \
    "$(psql_on dest1 'SELECT count(*) FROM events')" "$(psql_on dest2 'SELECT count(*) FROM events')" \
    "$(psql_on dest3 'SELECT count(*) FROM events')"
  since=$((n - phase_tick))
  next_phase() { phase=$1; phase_tick=$n; }
  case $phase in
    live_start)
      if [ "$n" -ge 3 ]; then
        step "the replicator stops for an upgrade (slatectl stop) while the application writes on: a backlog of $backlog events (about 350 bytes each) lands on the source"
        "$SLATECTL" stop
        wait "$REPLICATOR_PID" 2>/dev/null || true
        # What insert_events does, without parsing a text of 1000 tuples: the id lock, the next
        # ids, one ts per transaction of 1000 (the notify trigger fires as for any insert).
        psql_on source "DO \$fill\$ DECLARE next_id bigint; BEGIN
            FOR t IN 1..$(((backlog + 999) / 1000)) LOOP
              LOCK TABLE id IN ACCESS EXCLUSIVE MODE;
              SELECT id.id INTO next_id FROM id; UPDATE id SET id = next_id + 1000;
              INSERT INTO events (id, ts, event) SELECT next_id + k - 1, transaction_timestamp(),
                json_build_object('entityName', 'backlog', 'entityId', t, 'k', k,
                                  'note', repeat('payload ', 38))
                FROM generate_series(1, 1000) AS k;
              COMMIT;
            END LOOP; END \$fill\$" >/dev/null
        step "the replicator starts again and catches up (progress bar and ETA in slatectl status)"
        start_replicator
        for _ in $(seq 1 50); do status_has STATE_CATCHING_UP && break; sleep 0.1; done
        sleep 0.5
        echo; "$SLATECTL" status
        step "kill -9 of the replicator in the middle of the catch-up, and a restart: it goes on from each destination's committed position"
        kill -9 "$REPLICATOR_PID"; wait "$REPLICATOR_PID" 2>/dev/null || true
        start_replicator
        sleep 0.5
        echo; "$SLATECTL" status; echo; header
        next_phase restarted
      fi ;;
    restarted)
      echo; "$SLATECTL" status; echo; header
      if all_in_sync 2; then
        step "caught up after the restart; adding a third destination with slatectl reload"
        write_config dest1 dest2 dest3
        "$SLATECTL" reload
        next_phase adding
      fi ;;
    adding)
      if all_in_sync 3; then
        step "replica3 is in sync; pausing replica2 (slatectl pause)"
        "$SLATECTL" pause replica2 --reason "demo maintenance"
        next_phase paused
      fi ;;
    paused)
      if [ "$since" -ge 3 ]; then
        echo; "$SLATECTL" status
        step "resuming replica2 (slatectl resume)"
        "$SLATECTL" resume replica2
        next_phase resumed
      fi ;;
    resumed)
      if all_in_sync 3; then
        step "every destination in sync; proving them identical (slatectl verify --up-to-position)"
        "$SLATECTL" verify -c "$WORK/config.json" --up-to-position
        step "an old row of replica1 is changed by hand (id 42): continuous verification finds it by its next pass, while copying goes on"
        psql_on dest1 "UPDATE events SET event = event || '{\"tampered\": true}' WHERE id = 42"
        echo; header
        next_phase tampered
      fi ;;
    tampered)
      if status_has STATE_DIVERGED; then
        echo; "$SLATECTL" status
        step "the row is put back as the source has it; the next pass finds replica1 equal again"
        row=$(psql_on source "SELECT event::text FROM events WHERE id = 42")
        psql_on dest1 "UPDATE events SET event = \$e\$$row\$e\$::jsonb WHERE id = 42"
        echo; header
        next_phase mended
      fi ;;
    mended)
      if all_in_sync 3; then
        echo; "$SLATECTL" status
        step "the story is done; live inserts go on (status every 5 s), Ctrl-C to stop"
        echo; header
        next_phase live
      fi ;;
    live)
      if [ $((since % 5)) -eq 0 ]; then
        echo; "$SLATECTL" status; echo
        header
      fi ;;
  esac
done
