#!/usr/bin/env bash
# Container test: builds the image from deploy/Dockerfile with podman (no Docker engine here;
# ../shared/CONTAINERS.md), runs it with host networking against throwaway PostgreSQL clusters,
# checks slatectl status and health from outside the container, the image's HEALTHCHECK, JSON
# logs, a non-root user, then `podman stop` (SIGTERM) mid-batch: exit 0 inside the 10 s grace
# period (a SIGKILL after it would exit 137), destinations consistent.
# Usage: tests/container/run.sh BUILD_DIR     (as root; installs podman, buildah, debootstrap)
# Exit 77 (skipped) when it cannot run here: not root and podman missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BUILD_DIR=$(cd "${1:?usage: run.sh BUILD_DIR}" && pwd)
SLATECTL=$BUILD_DIR/client/slatectl
PG_BIN=${SLATE_PG_BINDIR:-/usr/lib/postgresql/15/bin}
IMAGE=localhost/slate-replicator:test
NAME=slate-container-test-$$
say() { echo "container-test: $*"; }

if ! command -v podman >/dev/null || ! command -v debootstrap >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then say "podman missing and not root: skipped"; exit 77; fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    podman buildah debootstrap runc >/dev/null
fi

# Podman's own configuration, per CONTAINERS.md (runc, cgroupfs, ulimits this sandbox allows).
SCRATCH=${SLATE_PODMAN_DIR:-/var/tmp/slate-podman}
mkdir -p "$SCRATCH/tmp"
cat >"$SCRATCH/storage.conf" <<CONF
[storage]
driver = "overlay"
runroot = "$SCRATCH/run"
graphroot = "$SCRATCH/graph"
CONF
cat >"$SCRATCH/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
tmp_dir = "$SCRATCH/tmp"
CONF
export CONTAINERS_STORAGE_CONF=$SCRATCH/storage.conf CONTAINERS_CONF=$SCRATCH/containers.conf

# No registry: make debian:bookworm-slim from Debian's packages (kept for later runs).
if ! podman image exists docker.io/library/debian:bookworm-slim; then
  say "making the base image with debootstrap"
  mirror=$(grep -h -m1 -oE '^URIs: *\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' || true)
  [ -n "$mirror" ] || mirror=$(grep -h -m1 -oE '^deb +\S+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}')
  rootfs=$(mktemp -d /var/tmp/slate-rootfs-XXXXXX)
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$SCRATCH/debootstrap.log" 2>&1 ||
    { tail -20 "$SCRATCH/debootstrap.log"; exit 1; }
  cp /etc/apt/sources.list.d/* "$rootfs/etc/apt/sources.list.d/" 2>/dev/null || true
  [ -z "$(ls /etc/apt/sources.list.d/ 2>/dev/null)" ] || rm -f "$rootfs/etc/apt/sources.list"
  tar -C "$rootfs" -c . | podman import - docker.io/library/debian:bookworm-slim >/dev/null
  rm -rf "$rootfs"
fi

say "building $IMAGE from deploy/Dockerfile"
podman build --format docker --network=host --pull=never --ignorefile deploy/Dockerfile.dockerignore \
  -f deploy/Dockerfile -t "$IMAGE" . >"$SCRATCH/build.log" 2>&1 || { tail -40 "$SCRATCH/build.log"; exit 1; }
say "image size: $(podman image inspect "$IMAGE" --format '{{.Size}}' | awk '{printf "%d MB", $1/1e6}')"
[ "$(podman image inspect "$IMAGE" --format '{{.Config.User}}')" = "10001:10001" ] ||
  { say "FAIL: the image does not run as the non-root user"; exit 1; }

# PostgreSQL: a source and two destinations (one cluster), as the test fixture does.
WORK=$(mktemp -d /tmp/slate-container-XXXXXX)
chmod 755 "$WORK"
AS_PG=()
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$WORK"; AS_PG=(runuser -u postgres --); fi
cleanup() {
  podman rm -f "$NAME" >/dev/null 2>&1 || true
  "${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { local p=$1; while (echo >/dev/tcp/127.0.0.1/"$p") 2>/dev/null; do p=$((p + 1)); done; echo "$p"; }
PG_PORT=$(free_port 27432); CTL_PORT=$(free_port 27051); METRICS_PORT=$(free_port 27466)
"${AS_PG[@]}" "$PG_BIN/initdb" -D "$WORK/pg" -U postgres -A trust -E UTF8 --locale=C --no-sync >/dev/null
"${AS_PG[@]}" "$PG_BIN/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k $WORK -c fsync=off" start >/dev/null
for db in source:events_source destination:replica1 destination:replica2; do
  "$SLATECTL" init-db --table-type "${db%%:*}" --host 127.0.0.1 --port "$PG_PORT" --user postgres \
    --new-database "${db#*:}" >/dev/null
done
q() { psql -X -q -t -A -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$1" -c "$2"; }
q events_source "DO \$\$ BEGIN FOR t IN 1..1500 LOOP PERFORM insert_events((SELECT string_agg(
  format('(\$1[%s], \$2, %L)', k, json_build_object('t', t, 'k', k, 'pad', repeat('x', 300))::text), ', ')
  FROM generate_series(1, 40) k)); COMMIT; END LOOP; END \$\$" >/dev/null
TOTAL=$(q events_source "SELECT count(*) FROM events")

cat >"$WORK/config.json" <<JSON
{
  "eventSource": {"host": "127.0.0.1", "port": $PG_PORT, "databaseName": "events_source",
                  "user": "postgres", "passwordEnv": "SLATE_SOURCE_PASSWORD"},
  "replicationDestinations": [
    {"name": "replica1", "host": "127.0.0.1", "port": $PG_PORT, "databaseName": "replica1", "user": "postgres"},
    {"name": "replica2", "host": "127.0.0.1", "port": $PG_PORT, "databaseName": "replica2", "user": "postgres"}]
}
JSON
chmod 644 "$WORK/config.json"

say "running the container ($TOTAL events to catch up)"
podman run -d --name "$NAME" --network=host --pull=never \
  -v "$WORK/config.json:/etc/slate-replicator/config.json:ro" \
  -e SLATE_SOURCE_PASSWORD=container-secret -e SLATE_SERVER="127.0.0.1:$CTL_PORT" \
  "$IMAGE" -c /etc/slate-replicator/config.json --listen "127.0.0.1:$CTL_PORT" \
  --metrics-listen "127.0.0.1:$METRICS_PORT" >/dev/null 2>"$WORK/podman-run.err"
export SLATE_SERVER=127.0.0.1:$CTL_PORT
for _ in $(seq 1 300); do "$SLATECTL" health >/dev/null 2>&1 && break; sleep 0.1; done
"$SLATECTL" health | grep -qx SERVING || { say "FAIL: not healthy"; podman logs "$NAME" | tail; exit 1; }
podman healthcheck run "$NAME" 2>/dev/null || { say "FAIL: the image's HEALTHCHECK failed"; exit 1; }
say "the image's HEALTHCHECK (slatectl health inside the container) passes"
for _ in $(seq 1 600); do
  [ "$("$SLATECTL" status -o json | grep -o '"position":"[0-9]*"' | sort -u)" = "\"position\":\"$TOTAL\"" ] && break
  sleep 0.1
done
"$SLATECTL" status
"$SLATECTL" status -o json | grep -q "\"position\":\"$TOTAL\"" || { say "FAIL: not caught up"; exit 1; }
curl_metrics=$(exec 3<>/dev/tcp/127.0.0.1/"$METRICS_PORT"; printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3; cat <&3)
echo "$curl_metrics" | grep -q "slate_replicator_destination_position{destination=\"replica1\"} $TOTAL" ||
  { say "FAIL: metrics do not show the position"; exit 1; }
podman logs "$NAME" >"$WORK/container.log" 2>&1
grep -v '^{"time":"[^"]*","level":"[a-z]*","component":"[a-z]*","message":' "$WORK/container.log" &&
  { say "FAIL: log lines that are not structured JSON (above)"; exit 1; }
grep -q container-secret "$WORK/container.log" && { say "FAIL: a secret reached the log"; exit 1; }
[ "$(podman exec "$NAME" id -u)" = 10001 ] || { say "FAIL: runs as root"; exit 1; }

# docker stop mid-batch: one 60,000-event source transaction (one destination batch that takes
# a while), then SIGTERM with the default 10 s grace period as soon as it is being copied.
q events_source "SELECT insert_events((SELECT string_agg(format('(\$1[%s], \$2, %L)', k,
  json_build_object('k', k, 'pad', repeat('y', 300))::text), ', ') FROM generate_series(1, 60000) k))" >/dev/null
for _ in $(seq 1 200); do
  "$SLATECTL" status -o json | grep -q STATE_CATCHING_UP && break
  sleep 0.02
done
start=$(date +%s.%N)
podman stop -t 10 "$NAME" >/dev/null 2>&1
took=$(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $start }")
code=$(podman inspect "$NAME" --format '{{.State.ExitCode}}')
say "stopped in $took s with exit code $code"
[ "$code" = 0 ] || { podman logs "$NAME" | tail -5; say "FAIL: exit code $code"; exit 1; }
# No timing threshold: past the 10 s grace period podman sends SIGKILL (exit 137), so exit 0
# already proves the stop finished inside it.
podman logs "$NAME" >"$WORK/container.log" 2>&1
grep -q '"message":"slate-replicator stopped"' "$WORK/container.log" || { say "FAIL: no clean stop in the log"; exit 1; }
for db in replica1 replica2; do
  holes=$(q "$db" "SELECT count(*) - coalesce(max(id), 0) FROM events")
  split=$(q "$db" "SELECT count(*) FROM (SELECT ts FROM events GROUP BY ts HAVING count(DISTINCT xmin::text) > 1) s")
  [ "$holes" = 0 ] && [ "$split" = 0 ] || { say "FAIL: $db inconsistent (holes $holes, split $split)"; exit 1; }
  n=$(q "$db" "SELECT count(*) FROM events")
  [ "$n" = "$TOTAL" ] || [ "$n" = $((TOTAL + 60000)) ] || { say "FAIL: $db has $n events"; exit 1; }
  say "$db: $n events, whole transactions only"
done
say "PASS"
