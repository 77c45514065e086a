#!/usr/bin/env bash
# Catch-up benchmark: slate-replicator beside a raw binary COPY pipe, in one run, alternating
# A B A B on the same clusters. Three throwaway PostgreSQL 15 clusters (source, destination for
# the pipe, destination for the replicator), full slate schema, ~350-byte events in source
# transactions of 1-50 events. Prints a table with medians and the ratio to the pipe, and writes
# JSON. Not part of the test run: it takes minutes.
# Usage: tests/bench/catchup.sh [EVENTS (default 1000000)] [ROUNDS (default 2)]
# Environment: SLATE_BUILD_DIR (default build), BENCH_JSON (default build/bench-catchup.json).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
EVENTS=${1:-1000000}
ROUNDS=${2:-2}
BUILD_DIR=${SLATE_BUILD_DIR:-build}
REPLICATOR=$ROOT/$BUILD_DIR/server/slate-replicator
SLATECTL=$ROOT/$BUILD_DIR/client/slatectl
JSON_OUT=${BENCH_JSON:-$ROOT/$BUILD_DIR/bench-catchup.json}
PG_BIN=${SLATE_PG_BINDIR:-/usr/lib/postgresql/15/bin}
[ -x "$REPLICATOR" ] || { echo "build first: ./deploy/test.sh or cmake --build $BUILD_DIR" >&2; exit 2; }

WORK=$(mktemp -d /tmp/slate-bench-XXXXXX)
chmod 755 "$WORK"
AS_PG=()
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$WORK"; AS_PG=(runuser -u postgres --); fi
cleanup() {
  for n in source pipe repl; do
    [ -f "$WORK/$n/postmaster.pid" ] && "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/$n" -m fast -w stop >/dev/null 2>&1 || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

declare -A PORT
p=26432  # below the ephemeral range (32768-60999): no TIME_WAIT leftovers there
for n in source pipe repl; do
  while (echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null; do p=$((p + 1)); done
  PORT[$n]=$p; p=$((p + 1))
  "${AS_PG[@]}" "$PG_BIN/initdb" -D "$WORK/$n" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/$n" -l "$WORK/$n.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p ${PORT[$n]} -k $WORK" start >/dev/null
done
q() { psql -X -q -t -A -h 127.0.0.1 -p "${PORT[$1]}" -U postgres -d bench -c "$2"; }
"$SLATECTL" init-db --table-type source --host 127.0.0.1 --port "${PORT[source]}" --user postgres --new-database bench >/dev/null
for n in pipe repl; do
  "$SLATECTL" init-db --table-type destination --host 127.0.0.1 --port "${PORT[$n]}" --user postgres --new-database bench >/dev/null
done

echo "bench: loading $EVENTS events into the source"
q source "
DO \$fill\$
DECLARE n integer; v text; done_ bigint := 0; t integer := 0;
BEGIN
  WHILE done_ < $EVENTS LOOP
    t := t + 1;
    n := least(1 + (t * 7919) % 50, $EVENTS - done_);
    SELECT string_agg(format('(\$1[%s], \$2, %L)', k, json_build_object(
             'entityName', 'order', 'entityId', t, 'operation', 'update', 'propertyName', 'status',
             'metadata', json_build_object('command', 'bench', 'k', k),
             'value', json_build_object('amount', 1234567.89 + t, 'note', repeat('x', 180)))::text), ', ')
      INTO v FROM generate_series(1, n) AS k;
    PERFORM insert_events(v);
    done_ := done_ + n;
    IF t % 1000 = 0 THEN COMMIT; END IF;
  END LOOP;
END \$fill\$;" >/dev/null
q source "VACUUM ANALYZE events" >/dev/null
bytes=$(q source "SELECT avg(length(event::text))::int FROM events")
echo "bench: $(q source 'SELECT count(*) FROM events') events, ~$bytes bytes of JSON each"

now() { date +%s.%N; }
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
run_pipe() {
  q pipe "TRUNCATE events" >/dev/null
  local t0; t0=$(now)
  psql -X -q -h 127.0.0.1 -p "${PORT[source]}" -U postgres -d bench \
      -c "COPY (SELECT id, ts, event FROM events ORDER BY id) TO STDOUT (FORMAT binary)" |
    psql -X -q -h 127.0.0.1 -p "${PORT[pipe]}" -U postgres -d bench \
      -c "COPY events (id, ts, event) FROM STDIN (FORMAT binary)"
  calc "$(now) - $t0"
}
run_repl() {
  q repl "TRUNCATE events" >/dev/null
  cat >"$WORK/config.json" <<JSON
{"eventSource": {"host": "127.0.0.1", "port": ${PORT[source]}, "databaseName": "bench", "user": "postgres"},
 "replicationDestinations": [{"host": "127.0.0.1", "port": ${PORT[repl]}, "databaseName": "bench", "user": "postgres"}]}
JSON
  local t0; t0=$(now)
  "$REPLICATOR" -c "$WORK/config.json" --log-level warn >"$WORK/replicator.log" 2>&1 &
  local pid=$! rss=0 n
  # Done when the destination's last id is there (a probe, not max(): cheap during a COPY).
  while [ "$(q repl "SELECT count(*) FROM events WHERE id = $EVENTS")" != 1 ]; do
    n=$(awk '/VmHWM/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)
    [ -n "$n" ] && [ "$n" -gt "$rss" ] && rss=$n
    sleep 0.05
  done
  local t1; t1=$(now)
  n=$(awk '/VmHWM/ {print $2}' /proc/$pid/status); [ "$n" -gt "$rss" ] && rss=$n
  local cpu; cpu=$(awk '{printf "%.2f", ($14 + $15) / 100}' /proc/$pid/stat)
  kill -TERM $pid; wait $pid || true
  echo "$(calc "$t1 - $t0") $rss $cpu"
}

declare -a PIPE REPL RSS CPU
for r in $(seq 1 "$ROUNDS"); do
  PIPE+=("$(run_pipe)")
  read -r s rss cpu <<<"$(run_repl)"
  REPL+=("$s"); RSS+=("$rss"); CPU+=("$cpu")
  echo "bench: round $r: pipe ${PIPE[-1]} s, slate-replicator $s s (peak RSS $((rss / 1024)) MB, CPU $cpu s)"
done
# Both destinations must equal the source.
digest="SELECT md5(string_agg(id || ':' || ts || ':' || event::text, ',' ORDER BY id)) FROM events"
src=$(q source "$digest")
[ "$(q pipe "$digest")" = "$src" ] || { echo "bench: pipe destination differs!" >&2; exit 1; }
[ "$(q repl "$digest")" = "$src" ] || { echo "bench: replicator destination differs!" >&2; exit 1; }
split=$(q repl "SELECT count(*) FROM (SELECT ts FROM events GROUP BY ts HAVING count(DISTINCT xmin::text) > 1) s")
# slatectl verify over the whole table (checksums in the databases).
t0=$(now)
"$SLATECTL" verify -c "$WORK/config.json" >"$WORK/verify.out" || { cat "$WORK/verify.out"; exit 1; }
verify_s=$(calc "$(now) - $t0")
echo "bench: slatectl verify: $(cat "$WORK/verify.out") in $verify_s s"

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR % 2 ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2)}'; }
mp=$(median "${PIPE[@]}"); mr=$(median "${REPL[@]}"); mrss=$(median "${RSS[@]}"); mcpu=$(median "${CPU[@]}")
rate() { awk "BEGIN { printf \"%d\", $EVENTS / $1 }"; }
echo
printf '%-28s %10s %12s %8s %10s %8s\n' "catch-up, $EVENTS events" "seconds" "events/s" "ratio" "peak RSS" "CPU s"
printf '%-28s %10.2f %12d %8s %10s %8s\n' "binary COPY pipe (psql)" "$mp" "$(rate "$mp")" "1.00" "-" "-"
printf '%-28s %10.2f %12d %8.2f %8d MB %8s\n' "slate-replicator" "$mr" "$(rate "$mr")" "$(calc "$mp / $mr")" "$((mrss / 1024))" "$mcpu"
echo "(medians of $ROUNDS rounds; split source transactions on the destination: $split; destinations identical to the source)"
echo "slatectl verify of $EVENTS events: $verify_s s"
cat >"$JSON_OUT" <<JSON
{"events": $EVENTS, "rounds": $ROUNDS, "event_bytes": $bytes,
 "pipe_seconds": [$(IFS=,; echo "${PIPE[*]}")], "replicator_seconds": [$(IFS=,; echo "${REPL[*]}")],
 "replicator_peak_rss_kb": [$(IFS=,; echo "${RSS[*]}")], "replicator_cpu_seconds": [$(IFS=,; echo "${CPU[*]}")],
 "ratio_to_pipe": $(calc "$mp / $mr"), "split_transactions": $split, "verify_seconds": $verify_s}
JSON
echo "bench: JSON in $JSON_OUT"
