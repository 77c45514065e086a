#!/usr/bin/env python3
"""slate-replicator benchmark suite: the replicator beside a raw binary COPY pipe and PostgreSQL's
native logical replication, in one run, alternating A B A B on the same clusters.

Three throwaway PostgreSQL 15 clusters on loopback (a source and two destinations), PostgreSQL
defaults except what logical replication needs (wal_level=logical) and commit timestamps on the
source (to time commit -> arrival). The full slate schema; a deterministic data set of ~350-byte
JSON events in source transactions of 1-50 events.

Scenarios (each system measured in turn, ROUNDS times, medians reported):
  catch-up, 1 destination:  binary COPY pipe | slate-replicator (bulk bootstrap, its default for
                            an empty destination) | slate-replicator (bulk off) | logical
                            (initial sync)
  catch-up, 2 destinations: teed binary COPY pipe (one read, two writes) | slate-replicator
                            (bulk) | slate-replicator (bulk off) |
                            logical (two subscriptions)
  steady state, 1 and 2 destinations: source commit -> row committed on the destination, at a
                            given rate of source transactions (1-10 events each), p50/p95/p99/max:
                            logical | slate-replicator; beside every window the NOTIFY floor
                            (source commit -> notification at a bare listener) and the
                            replicator's CPU and sleeps (voluntary context switches) per source
                            transaction, beside what one sleep and wake-up costs on this machine
                            (tests/bench/wakeup_cost.cc, run once on the idle machine); the
                            replicator's destinations are verified first, as a long-running
                            replicator's are, and each window's replicator goes on from their
                            verification checkpoints
  highest sustained rate:   a ladder of rates; the highest at which the commit -> arrival p99
                            stays under a second: logical | slate-replicator
  memory:                   the replicator's peak RSS for the backlog above and for one
                            200,000-event source transaction
  verify-cost:              catch-up of 1 destination with continuous verification at its default
                            budget vs off (verifyIdsPerSecond 0), alternated
  repair:                   slatectl repair of a destination whose ts were all truncated to the
                            millisecond (the Node tool's), rows per second beside the catch-up rate
  seed:                     a third replica added by a reload to a running replicator whose first
                            replica is verified: bootstrapped from the source vs seeded from the
                            first replica (seedFrom), alternated; the source's database CPU
  restore:                  slatectl restore (binary COPY) vs restore_events (dblink) of the whole
                            backlog into a fresh source: time, peak memory of the client and of the
                            restoring backend
Every run ends with its destinations checked against the source (same id, ts and event bytes
everywhere) and, for the replicator, that no source transaction was split.

Run via tests/bench/run.sh (installs, builds, then runs this). Writes JSON (--json).
"""

import argparse
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PG_BIN = os.environ.get("SLATE_PG_BINDIR", "/usr/lib/postgresql/15/bin")
CLK_TCK = os.sysconf("SC_CLK_TCK")

# The catch-up's systems, in the order each round runs them: slate-replicator with its defaults
# (an empty destination of 1M events is bulk loaded), and with bulkLoadThreshold 0.
NO_BULK = "slate-replicator (bulk off)"
CATCH_UP_SYSTEMS = ("pipe", "slate-replicator", NO_BULK, "logical")

# verifyIdsPerSecond's default (server/core/options.h).
VERIFY_DEFAULT = 5000

# One ~350-byte event, as the application would write it; k = its place in the transaction.
EVENT_SQL = ("json_build_object('entityName', 'order', 'entityId', t, 'operation', 'update', "
             "'propertyName', 'status', 'metadata', json_build_object('command', 'bench', 'k', k), "
             "'value', json_build_object('amount', 1234567.89 + t, 'note', repeat('x', 180)))::text")


def log(msg):
    print(f"bench: {msg}", flush=True)


def free_port(start):
    port = start
    while True:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                port += 1


class Cluster:
    def __init__(self, name, work, port, as_pg, extra):
        self.name, self.port, self.as_pg = name, port, as_pg
        self.dir = os.path.join(work, name)
        self.logfile = os.path.join(work, f"{name}.log")
        subprocess.run(as_pg + [f"{PG_BIN}/initdb", "-D", self.dir, "-U", "postgres", "-A", "trust",
                                "-E", "UTF8", "--locale=C", "--no-sync"],
                       check=True, stdout=subprocess.DEVNULL)
        opts = f"-c listen_addresses=127.0.0.1 -p {port} -k {work} " + " ".join(
            f"-c {k}={v}" for k, v in extra.items())
        subprocess.run(as_pg + [f"{PG_BIN}/pg_ctl", "-D", self.dir, "-l", self.logfile, "-w",
                                "-o", opts, "start"], check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        subprocess.run(self.as_pg + [f"{PG_BIN}/pg_ctl", "-D", self.dir, "-m", "fast", "-w",
                                     "stop"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def psql_args(self, db):
        return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p",
                str(self.port), "-U", "postgres", "-d", db]

    def q(self, sql, db="bench"):
        out = subprocess.run(self.psql_args(db) + ["-t", "-A", "-c", sql], capture_output=True,
                             text=True)
        if out.returncode != 0:
            sys.exit(f"bench: a query on {self.name}/{db} failed: {out.stderr.strip()}\n"
                     f"{sql.strip()[:300]}")
        return out.stdout.strip()

    def session(self, db="bench"):
        return Session(self, db)

    def cpu_seconds(self):
        """CPU used by the whole cluster so far: the postmaster, its live children, and the
        children it has reaped (ended backends count in the postmaster's cutime/cstime)."""
        with open(os.path.join(self.dir, "postmaster.pid")) as f:
            pm = int(f.readline())
        total = proc_cpu(pm, children=True)
        for child in children_of(pm):
            total += proc_cpu(child)
        return total


class Session:
    """One psql kept open for many one-line queries: for polling while a system under test runs
    (a psql process and a new backend per poll cost more CPU than the 2-core machine can spare:
    measured at ~20 core-seconds over a 40 s catch-up, half a core)."""

    def __init__(self, cluster, db):
        self.cluster, self.db = cluster, db
        self.proc = subprocess.Popen(cluster.psql_args(db) + ["-t", "-A"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, bufsize=1)

    def q(self, sql):
        """The first line of `sql`'s output (one row, one column, by the caller's choice)."""
        self.proc.stdin.write(sql.strip().rstrip(";") + ";\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            sys.exit(f"bench: a query on {self.cluster.name}/{self.db} failed (psql exited "
                     f"{self.proc.wait()}): {sql.strip()[:300]}")
        return line.strip()

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def proc_cpu(pid, children=False):
    try:
        st = proc_stat(pid)
    except OSError:
        return 0.0
    # Fields after "pid (comm)": state=0 ... utime=11 stime=12 cutime=13 cstime=14
    t = int(st[11]) + int(st[12])
    if children:
        t += int(st[13]) + int(st[14])
    return t / CLK_TCK


def sleeps(pid):
    """Voluntary context switches of every thread of `pid` so far: each is one sleep (a blocking
    poll or wait) and the wake-up after it."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        total += int(line.split()[1])
        except OSError:
            pass  # a thread that ended meanwhile
    return total


def wakeup_cost(build):
    """CPU microseconds per thread sleep and wake-up on this machine, wall microseconds per
    round trip between two threads, CPU microseconds per plain system call
    (tests/bench/wakeup_cost.cc); None when the tool is not built."""
    tool = os.path.join(build, "tests", "slate_wakeup_cost")
    if not os.access(tool, os.X_OK):
        return None
    wake, trip, call = subprocess.run([tool], capture_output=True, text=True,
                                      check=True).stdout.split()
    return {"wakeup_cpu_us": float(wake), "round_trip_wall_us": float(trip),
            "syscall_cpu_us": float(call)}


def children_of(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if int(proc_stat(int(d))[1]) == pid:
                    out.append(int(d))
            except (OSError, IndexError):
                pass
    return out


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def pct(values, p):
    s = sorted(values)
    if not s:
        return float("nan")
    k = (len(s) - 1) * p / 100.0
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.join(ROOT, args.build_dir)
        self.replicator = os.path.join(self.build, "server", "slate-replicator")
        self.slatectl = os.path.join(self.build, "client", "slatectl")
        if not os.access(self.replicator, os.X_OK):
            sys.exit(f"build first: tests/bench/run.sh builds; or cmake --build {args.build_dir}")
        self.work = tempfile.mkdtemp(prefix="slate-bench-")
        os.chmod(self.work, 0o755)
        self.as_pg = []
        if os.getuid() == 0:
            shutil.chown(self.work, "postgres")
            self.as_pg = ["runuser", "-u", "postgres", "--"]
        self.clusters = []
        self.results = {"events": args.events, "rounds": args.rounds, "catch_up": {},
                        "latency": {}, "max_rate": {}, "memory": {}, "checks": {}}

    # ---- setup -------------------------------------------------------------------------------

    def start(self):
        port = 26432  # below the ephemeral range: no TIME_WAIT leftovers there
        common = {"max_wal_senders": 10, "max_replication_slots": 10,
                  "max_logical_replication_workers": 8, "max_worker_processes": 16}
        for name in ("source", "d1", "d2"):
            port = free_port(port)
            extra = dict(common)
            if name == "source":
                extra.update({"wal_level": "logical", "track_commit_timestamp": "on"})
            self.clusters.append(Cluster(name, self.work, port, self.as_pg, extra))
            port += 1
        self.src, self.d1, self.d2 = self.clusters
        self.ctl(["init-db", "--table-type", "source", "--host", "127.0.0.1", "--port",
                  str(self.src.port), "--user", "postgres", "--new-database", "bench"])
        for d in (self.d1, self.d2):
            # "bench" is written by the pipe and the replicator, "logical" by subscriptions (so
            # the two never trip over each other's rows when they alternate).
            for db in ("bench", "logical"):
                self.ctl(["init-db", "--table-type", "destination", "--host", "127.0.0.1",
                          "--port", str(d.port), "--user", "postgres", "--new-database", db])
        self.src.q("CREATE PUBLICATION bench_pub FOR TABLE events")

    def ctl(self, argv):
        subprocess.run([self.slatectl] + argv, check=True, stdout=subprocess.DEVNULL)

    def stop(self):
        for c in self.clusters:
            c.stop()
        if not self.args.keep:
            shutil.rmtree(self.work, ignore_errors=True)

    def load(self, events, max_per_tx=50, seed=0):
        """Appends `events` events in source transactions of 1..max_per_tx events."""
        self.src.q(f"""
DO $fill$
DECLARE n integer; v text; done_ bigint := 0; t integer := {seed};
BEGIN
  WHILE done_ < {events} LOOP
    t := t + 1;
    -- bigint: t * 7919 passes 2^31 near 7M events
    n := least(1 + (t::bigint * 7919) % {max_per_tx}, {events} - done_);
    SELECT string_agg(format('($1[%s], $2, %L)', k, {EVENT_SQL}), ', ')
      INTO v FROM generate_series(1, n) AS k;
    PERFORM insert_events(v);
    done_ := done_ + n;
    IF t % 1000 = 0 THEN COMMIT; END IF;
  END LOOP;
END $fill$;""")

    def source_max(self):
        return int(self.src.q("SELECT coalesce(max(id), 0) FROM events"))

    # ---- checks ------------------------------------------------------------------------------

    # count, then an md5 of the md5s of 100,000-id chunks (one string_agg of every row would pass
    # PostgreSQL's 1 GB limit at 10M events).
    DIGEST = ("SELECT coalesce(sum(c), 0) || ' ' || coalesce(md5(string_agg(h, ',' ORDER BY g)), '') "
              "FROM (SELECT (id - 1) / 100000 AS g, count(*) AS c, md5(string_agg(id || ':' || "
              "(extract(epoch FROM ts) * 1000000)::bigint || ':' || event::text, ',' ORDER BY id)) "
              "AS h FROM events GROUP BY 1) chunks")

    def check_same(self, what, dests, whole_tx=True):
        src = self.src.q(self.DIGEST)
        for cluster, db in dests:
            got = cluster.q(self.DIGEST, db)
            if got != src:
                sys.exit(f"bench: {what}: {cluster.name}/{db} differs from the source "
                         f"({got} vs {src})")
            if whole_tx:
                split = int(cluster.q(
                    "SELECT count(*) FROM (SELECT ts FROM events GROUP BY ts "
                    "HAVING count(DISTINCT xmin::text) > 1) s", db))
                if split:
                    sys.exit(f"bench: {what}: {split} source transactions split on "
                             f"{cluster.name}/{db}")
        self.results["checks"][what] = "identical, no split transaction"

    # ---- systems -----------------------------------------------------------------------------

    def wait_for_id(self, dests, target, proc=None, timeout=900):
        """Polls a primary-key probe (cheap even during a COPY) until every destination has
        `target`; samples the replicator's peak RSS meanwhile."""
        deadline = time.monotonic() + timeout
        pending = [c.session(db) for c, db in dests]
        while pending:
            if proc is not None and proc.poll() is not None:
                sys.exit(f"bench: slate-replicator exited ({proc.returncode}); see "
                         f"{self.work}/replicator.log")
            for s in pending:
                if s.q(f"SELECT count(*) FROM events WHERE id = {target}") == "1":
                    s.close()
            pending = [s for s in pending if s.proc.returncode is None]
            if pending:
                if time.monotonic() > deadline:
                    sys.exit(f"bench: timed out waiting for id {target}")
                time.sleep(0.02)

    def config(self, dests, path, extra=None):
        cfg = {"eventSource": {"host": "127.0.0.1", "port": self.src.port, "databaseName": "bench",
                               "user": "postgres"},
               "replicationDestinations": [
                   {"host": "127.0.0.1", "port": c.port, "databaseName": db, "user": "postgres"}
                   for c, db in dests]}
        if self.args.parallel_writes:
            cfg["parallelWrites"] = self.args.parallel_writes
        cfg.update(extra or {})
        with open(path, "w") as f:
            json.dump(cfg, f)
        return path

    def start_replicator(self, dests, listen="none", extra=None, log_level=None):
        path = self.config(dests, os.path.join(self.work, "config.json"), extra)
        logf = open(os.path.join(self.work, "replicator.log"), "a")
        return subprocess.Popen([self.replicator, "-c", path, "--log-level",
                                 log_level or self.args.log_level,
                                 "--listen", listen, "--metrics-listen", "none"],
                                stdout=logf, stderr=subprocess.STDOUT)

    def wait_latency(self):
        """Read-your-writes: insert, take the id, WaitForPosition (tests/bench/wait_latency.cc),
        with 2 destinations and --idle-waiters other waits outstanding."""
        tool = os.path.join(self.build, "tests", "slate_wait_bench")
        if not os.access(tool, os.X_OK):
            sys.exit(f"build it first: cmake --build {self.args.build_dir} --target slate_wait_bench")
        dests = [(self.d1, "bench"), (self.d2, "bench")]
        for c, db in dests:
            c.q(self.ARRIVAL, db)
        port = free_port(26051)
        proc = self.start_replicator(dests, listen=f"127.0.0.1:{port}")
        self.wait_for_id(dests, self.source_max(), proc)
        conn = lambda c, db: f"host=127.0.0.1 port={c.port} user=postgres dbname={db}"  # noqa: E731
        log(f"wait latency: {self.args.wait_samples} waits, {self.args.idle_waiters} idle waiters")
        out = subprocess.run([tool, "--server", f"127.0.0.1:{port}", "--source",
                              conn(self.src, "bench"), "--dest", conn(self.d1, "bench"),
                              "--dest", conn(self.d2, "bench"), "--samples",
                              str(self.args.wait_samples), "--idle-waiters",
                              str(self.args.idle_waiters)],
                             check=True, capture_output=True, text=True)
        r = json.loads(out.stdout)
        r["peak_rss_kb"] = peak_rss_kb(proc.pid)
        self.results["wait"] = r
        self.stop_replicator(proc)
        for c, db in dests:
            c.q("DROP TRIGGER note_arrival ON events; TRUNCATE arrival", db)

    def stop_replicator(self, proc):
        proc.send_signal(signal.SIGTERM)
        if proc.wait(timeout=60) != 0:
            sys.exit(f"bench: slate-replicator exited {proc.returncode}; see {self.work}/replicator.log")

    def truncate(self, dests):
        """Empties `dests`, then checkpoints every cluster (as pgbench does before a run), so no
        timed run pays for flushing the dirty buffers of the load or of the run before it."""
        for c, db in dests:
            c.q("TRUNCATE events", db)
        for c in self.clusters:
            c.q("CHECKPOINT")

    def cluster_cpu(self):
        return sum(c.cpu_seconds() for c in self.clusters)

    def cpu_mark(self):
        return (self.cluster_cpu(), self.src.cpu_seconds())

    def cpu_since(self, mark):
        """PostgreSQL CPU seconds since `mark`: all three clusters, and the source's share."""
        return {"db_cpu_seconds": self.cluster_cpu() - mark[0],
                "source_db_cpu_seconds": self.src.cpu_seconds() - mark[1]}

    def run_pipe(self, dests):
        self.truncate(dests)
        n = self.source_max()
        out = self.src.psql_args("bench") + [
            "-c", "COPY (SELECT id, ts, event FROM events ORDER BY id) TO STDOUT (FORMAT binary)"]
        ins = [c.psql_args(db) + ["-c", "COPY events (id, ts, event) FROM STDIN (FORMAT binary)"]
               for c, db in dests]
        mark, t0 = self.cpu_mark(), time.monotonic()
        if len(ins) == 1:
            src = subprocess.Popen(out, stdout=subprocess.PIPE)
            dst = subprocess.Popen(ins[0], stdin=src.stdout)
            src.stdout.close()
            ok = dst.wait() == 0 and src.wait() == 0
        else:
            # One read teed to every destination.
            fifos = [os.path.join(self.work, f"tee{i}") for i in range(1, len(ins))]
            for f in fifos:
                if not os.path.exists(f):
                    os.mkfifo(f)
            cmd = " & ".join(" ".join(map(sh_quote, a)) + f" < {f}" for a, f in zip(ins[1:], fifos))
            cmd += " & " + " ".join(map(sh_quote, out)) + " | tee " + " ".join(fifos) + " | " + \
                " ".join(map(sh_quote, ins[0])) + "; wait"
            ok = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd]).returncode == 0
        secs = time.monotonic() - t0
        if not ok:
            sys.exit("bench: the COPY pipe failed")
        self.wait_for_id(dests, n)
        return {"seconds": secs, **self.cpu_since(mark)}

    INDEX_SET = ("SELECT string_agg(c.relname || ': ' || pg_get_indexdef(i.indexrelid) || "
                 "CASE WHEN i.indisvalid THEN '' ELSE ' INVALID' END, ' | ' ORDER BY c.relname) "
                 "FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                 "WHERE i.indrelid = 'events'::regclass")

    def wait_for_indexes(self, dests, proc):
        """A bulk load is over when its record (slate_replicator_pending_indexes) is gone."""
        pending = [c.session(db) for c, db in dests]
        while pending:
            if proc.poll() is not None:
                sys.exit(f"bench: slate-replicator exited ({proc.returncode}); see "
                         f"{self.work}/replicator.log")
            for s in pending:
                if s.q("SELECT to_regclass('slate_replicator_pending_indexes') IS NULL") == "t":
                    s.close()
            pending = [s for s in pending if s.proc.returncode is None]
            if pending:
                time.sleep(0.02)

    def bulk_phases(self, log_offset, started):
        """A bulk load's phases from the replicator's info lines since `log_offset`: seconds from
        the start to the index builds (the load), and the builds' own seconds, per destination."""
        from datetime import datetime, timezone
        phases = {}
        with open(os.path.join(self.work, "replicator.log")) as f:
            f.seek(log_offset)
            for line in f:
                try:
                    e = json.loads(line)
                except ValueError:
                    continue
                t = datetime.strptime(e["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                    tzinfo=timezone.utc).timestamp()
                d = phases.setdefault(e.get("destination", "?"), {})
                if e["message"] == "building the indexes set aside" and "load_seconds" not in d:
                    d["load_seconds"] = t - started
                elif e["message"].startswith("indexes built"):
                    d["build_seconds"] = e["seconds"]
        return {k: v for k, v in phases.items() if v}

    def run_replicator(self, dests, extra=None):
        self.truncate(dests)
        n = self.source_max()
        indexes = {(c.name, db): c.q(self.INDEX_SET, db) for c, db in dests}
        log_offset = self.log_size()
        started = time.time()
        mark, t0 = self.cpu_mark(), time.monotonic()
        proc = self.start_replicator(dests, extra=extra, log_level="info")
        self.wait_for_id(dests, n, proc)
        self.wait_for_indexes(dests, proc)
        secs = time.monotonic() - t0
        for c, db in dests:
            if c.q(self.INDEX_SET, db) != indexes[(c.name, db)]:
                sys.exit(f"bench: {c.name}/{db} does not have its index set back after the run")
        rss, cpu = peak_rss_kb(proc.pid), proc_cpu(proc.pid)
        db_cpu = self.cpu_since(mark)
        self.stop_replicator(proc)
        phases = self.bulk_phases(log_offset, started)
        return {"seconds": secs, "peak_rss_kb": rss, "cpu_seconds": cpu, **db_cpu,
                **({"bulk_phases": phases} if phases else {})}

    def subscribe(self, cluster, name, copy_data):
        cluster.q(f"CREATE SUBSCRIPTION {name} CONNECTION 'host=127.0.0.1 port={self.src.port} "
                  f"user=postgres dbname=bench' PUBLICATION bench_pub WITH (copy_data = {copy_data})",
                  "logical")

    def unsubscribe(self, cluster, name):
        cluster.q(f"DROP SUBSCRIPTION IF EXISTS {name}", "logical")

    def run_logical(self, dests):
        self.truncate(dests)
        n = self.source_max()
        mark, t0 = self.cpu_mark(), time.monotonic()
        for i, (c, _) in enumerate(dests):
            self.subscribe(c, f"sync{i}", "true")
        self.wait_for_id(dests, n)
        secs = time.monotonic() - t0
        db_cpu = self.cpu_since(mark)
        for i, (c, _) in enumerate(dests):
            self.unsubscribe(c, f"sync{i}")
        return {"seconds": secs, **db_cpu}

    # ---- scenarios ---------------------------------------------------------------------------

    def catch_up(self):
        for ndest in self.args.catch_up_destinations:
            bench = [(self.d1, "bench"), (self.d2, "bench")][:ndest]
            logical = [(self.d1, "logical"), (self.d2, "logical")][:ndest]
            runs = {system: [] for system in CATCH_UP_SYSTEMS}
            for r in range(1, self.args.rounds + 1):
                for system in CATCH_UP_SYSTEMS:
                    if system == "pipe":
                        res = self.run_pipe(bench)
                    elif system == "slate-replicator":
                        res = self.run_replicator(bench)
                    elif system == NO_BULK:
                        res = self.run_replicator(bench, extra={"bulkLoadThreshold": 0})
                    else:
                        res = self.run_logical(logical)
                    self.check_same(f"catch-up {ndest} destination(s), {system}, round {r}",
                                    logical if system == "logical" else bench,
                                    whole_tx=system != "pipe" and system != "logical")
                    runs[system].append(res)
                    extra = ""
                    if "peak_rss_kb" in res:
                        extra = (f", peak RSS {res['peak_rss_kb'] // 1024} MB, "
                                 f"CPU {res['cpu_seconds']:.2f} s")
                    for dest, ph in res.get("bulk_phases", {}).items():
                        extra += (f"; {dest}: load {ph.get('load_seconds', 0):.2f} s, index "
                                  f"builds {ph.get('build_seconds', 0):.2f} s")
                    log(f"catch-up, {ndest} destination(s), round {r}: {system} "
                        f"{res['seconds']:.2f} s{extra}")
            self.results["catch_up"][f"{ndest}"] = runs

    def wait_log(self, offset, pred, proc, timeout=900):
        """Waits for a replicator log line after byte `offset` for which pred(entry) holds."""
        path = os.path.join(self.work, "replicator.log")
        deadline = time.monotonic() + timeout
        while True:
            with open(path) as f:
                f.seek(offset)
                for line in f:
                    try:
                        if pred(json.loads(line)):
                            return
                    except ValueError:
                        continue
            if proc.poll() is not None:
                sys.exit(f"bench: slate-replicator exited ({proc.returncode}); see {path}")
            if time.monotonic() > deadline:
                sys.exit(f"bench: timed out waiting for a log line in {path}")
            time.sleep(0.05)

    def log_size(self):
        path = os.path.join(self.work, "replicator.log")
        return os.path.getsize(path) if os.path.exists(path) else 0

    SEED_VERIFY = 20000  # the seed scenario's verifyIdsPerSecond (to verify the seed sooner)

    def seed(self):
        """A replica added by a reload, bootstrapped from the source vs from a verified seed."""
        seed, new = (self.d1, "bench"), (self.d2, "bench")
        self.truncate([seed, new])
        n = self.source_max()
        path = os.path.join(self.work, "seed.json")
        db = lambda c, d: {"host": "127.0.0.1", "port": c.port, "databaseName": d,  # noqa: E731
                           "user": "postgres"}

        def write(with_new, seeded):
            dests = [dict(db(*seed), name="replica1")]
            if with_new:
                dests.append(dict(db(*new), name="replica3", **({"seedFrom": "replica1"}
                                                                 if seeded else {})))
            cfg = {"eventSource": db(self.src, "bench"), "replicationDestinations": dests,
                   "verifyIdsPerSecond": self.SEED_VERIFY, "verifyPassInterval": 0}
            with open(path + ".tmp", "w") as f:
                json.dump(cfg, f)
            os.replace(path + ".tmp", path)

        write(False, False)
        logf = open(os.path.join(self.work, "replicator.log"), "a")
        offset = self.log_size()
        proc = subprocess.Popen([self.replicator, "-c", path, "--log-level", "info", "--listen",
                                 "none", "--metrics-listen", "none"],
                                stdout=logf, stderr=subprocess.STDOUT)
        log(f"seed: replica1 catches up and is verified ({n:,} ids at {self.SEED_VERIFY:,}/s)")
        self.wait_log(offset, lambda e: e.get("message") == "verification pass complete" and
                      e.get("destination") == "replica1" and e.get("verified_position") == n, proc)
        indexes = new[0].q(self.INDEX_SET, new[1])
        runs = {"from the source": [], "seeded": []}
        for r in range(1, self.args.rounds + 1):
            for system, seeded in (("from the source", False), ("seeded", True)):
                offset = self.log_size()
                mark, cpu0, t0 = self.cpu_mark(), proc_cpu(proc.pid), time.monotonic()
                write(True, seeded)
                proc.send_signal(signal.SIGHUP)
                self.wait_for_id([new], n, proc)
                self.wait_for_indexes([new], proc)
                secs = time.monotonic() - t0
                res = {"seconds": secs, "cpu_seconds": proc_cpu(proc.pid) - cpu0,
                       **self.cpu_since(mark)}
                if new[0].q(self.INDEX_SET, new[1]) != indexes:
                    sys.exit("bench: seed: replica3 does not have its index set back")
                self.check_same(f"seed, {system}, round {r}", [new])
                # Off again, emptied for the next run.
                offset = self.log_size()
                write(False, False)
                proc.send_signal(signal.SIGHUP)
                self.wait_log(offset, lambda e: e.get("message") == "destination removed" and
                              e.get("destination") == "replica3", proc)
                self.truncate([new])
                runs[system].append(res)
                log(f"seed, round {r}: {system} {secs:.2f} s, source DB CPU "
                    f"{res['source_db_cpu_seconds']:.2f} s, all DB CPU "
                    f"{res['db_cpu_seconds']:.2f} s, replicator CPU {res['cpu_seconds']:.2f} s")
        res_rss = peak_rss_kb(proc.pid)
        self.stop_replicator(proc)
        self.results["seed"] = {"runs": runs, "verify_ids_per_second": self.SEED_VERIFY,
                                "peak_rss_kb": res_rss, "events": n}

    def generate(self, rate, seconds, max_per_tx=10):
        """Commits `rate` source transactions per second (1..max_per_tx events each) for
        `seconds`, from one session, paced by the clock. Returns (first id, last id, achieved
        transactions per second)."""
        first = self.source_max() + 1
        total = int(rate * seconds)
        t0 = time.monotonic()
        self.src.q(f"""
DO $gen$
DECLARE n integer; v text; t integer; start timestamptz := clock_timestamp(); lag float8;
BEGIN
  FOR t IN 1..{total} LOOP
    n := 1 + (t * 7919) % {max_per_tx};
    SELECT string_agg(format('($1[%s], $2, %L)', k, {EVENT_SQL}), ', ')
      INTO v FROM generate_series(1, n) AS k;
    PERFORM insert_events(v);
    COMMIT;
    lag := extract(epoch FROM start + t * interval '{1.0 / rate} seconds' - clock_timestamp());
    IF lag > 0 THEN PERFORM pg_sleep(lag); END IF;
  END LOOP;
END $gen$;""")
        elapsed = time.monotonic() - t0
        return first, self.source_max(), total / elapsed

    ARRIVAL = """
CREATE TABLE IF NOT EXISTS arrival (id bigint, at timestamptz);
CREATE OR REPLACE FUNCTION note_arrival() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN INSERT INTO public.arrival VALUES (NEW.id, clock_timestamp()); RETURN NULL; END$$;
DROP TRIGGER IF EXISTS note_arrival ON events;
-- Deferred: fires as the inserting transaction commits, which is when the row becomes visible.
CREATE CONSTRAINT TRIGGER note_arrival AFTER INSERT ON events
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION note_arrival();
-- Also for the logical apply worker (session_replication_role = replica; search_path empty).
ALTER TABLE events ENABLE ALWAYS TRIGGER note_arrival;
TRUNCATE arrival;"""

    def commits(self, first, last):
        """(first id, last id) of each source transaction in [first, last] -> its commit time."""
        commits = {}
        for line in self.src.q(
                "SELECT min(id), max(id), extract(epoch FROM pg_xact_commit_timestamp(xmin)) "
                f"FROM events WHERE id BETWEEN {first} AND {last} GROUP BY xmin::text, "
                "pg_xact_commit_timestamp(xmin)").splitlines():
            lo, hi, at = line.split("|")
            commits[(int(lo), int(hi))] = float(at)
        return commits

    def start_floor(self):
        """The bare listener (tests/bench/notify_floor.cc), listening once this returns."""
        tool = os.path.join(self.build, "tests", "slate_notify_floor")
        if not os.access(tool, os.X_OK):
            sys.exit(f"build it first: cmake --build {self.args.build_dir} --target "
                     "slate_notify_floor")
        p = subprocess.Popen([tool, f"host=127.0.0.1 port={self.src.port} user=postgres "
                              "dbname=bench"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True)
        if p.stdout.readline().strip() != "ready":
            sys.exit("bench: the NOTIFY floor listener did not start")
        return p

    def floor_latencies(self, listener, first, last):
        """Per source transaction: its commit -> its notifications reaching the bare listener
        (ms)."""
        out, _ = listener.communicate(input="")
        heard = {}
        for line in out.splitlines():
            i, at = line.split()
            heard[int(i)] = float(at)
        lat = []
        for (lo, hi), at in self.commits(first, last).items():
            if any(i not in heard for i in range(lo, hi + 1)):
                sys.exit(f"bench: the bare listener missed notifications of ids {lo}-{hi}")
            lat.append((max(heard[i] for i in range(lo, hi + 1)) - at) * 1000.0)
        return lat

    def latencies(self, dests, first, last):
        """Per source transaction: its source commit time -> the time its last row was committed
        on the slowest destination, in milliseconds."""
        commits = self.commits(first, last)
        arrived = {}
        for c, db in dests:
            for line in c.q(f"SELECT id, extract(epoch FROM at) FROM arrival "
                            f"WHERE id BETWEEN {first} AND {last}", db).splitlines():
                i, at = line.split("|")
                arrived[int(i)] = max(arrived.get(int(i), 0.0), float(at))
        out = []
        for (lo, hi), at in commits.items():
            if any(i not in arrived for i in range(lo, hi + 1)):
                sys.exit(f"bench: ids {lo}-{hi} never arrived")
            out.append((max(arrived[i] for i in range(lo, hi + 1)) - at) * 1000.0)
        return out

    def steady_window(self, system, ndest, rate, seconds):
        """One measured window: `system` replicates while the generator runs at `rate`."""
        bench = [(self.d1, "bench"), (self.d2, "bench")][:ndest]
        logical = [(self.d1, "logical"), (self.d2, "logical")][:ndest]
        dests = logical if system == "logical" else bench
        for c, db in dests:
            c.q(self.ARRIVAL, db)
        n = self.source_max()
        proc = None
        if system == "logical":
            for i, (c, _) in enumerate(dests):
                c.q(f"ALTER SUBSCRIPTION live{i} ENABLE", "logical")
        else:
            proc = self.start_replicator(dests)
        self.wait_for_id(dests, n, proc)  # whatever the other system's window left to copy
        # A second of the same load first, unmeasured: the system is running and warm (a
        # subscription's apply worker starts some time after ENABLE).
        _, warm, _ = self.generate(rate, 1)
        self.wait_for_id(dests, warm, proc)
        cpu0 = proc_cpu(proc.pid) if proc else 0.0
        sleeps0 = sleeps(proc.pid) if proc else 0
        listener = self.start_floor()
        first, last, achieved = self.generate(rate, seconds)
        self.wait_for_id(dests, last, proc, timeout=600)
        floor = self.floor_latencies(listener, first, last)
        res = {"achieved_tx_per_second": achieved, "floor_p50_ms": pct(floor, 50),
               "floor_p99_ms": pct(floor, 99)}
        if proc:
            res["cpu_seconds"] = proc_cpu(proc.pid) - cpu0
            res["sleeps"] = sleeps(proc.pid) - sleeps0
            res["peak_rss_kb"] = peak_rss_kb(proc.pid)
            self.stop_replicator(proc)
        else:
            for i, (c, _) in enumerate(dests):
                c.q(f"ALTER SUBSCRIPTION live{i} DISABLE", "logical")
        lat = self.latencies(dests, first, last)
        for c, db in dests:
            c.q("DROP TRIGGER note_arrival ON events; TRUNCATE arrival", db)
        res.update({"transactions": len(lat), "p50_ms": pct(lat, 50), "p95_ms": pct(lat, 95),
                    "p99_ms": pct(lat, 99), "max_ms": max(lat)})
        return res

    def prepare_live_subscriptions(self):
        # Logical destinations: a subscription each that first copies the table, then streams;
        # disabled between its windows (its slot keeps what comes meanwhile).
        everything = self.source_max()
        for i, c in enumerate((self.d1, self.d2)):
            self.unsubscribe(c, f"live{i}")
            c.q("TRUNCATE events", "logical")
            self.subscribe(c, f"live{i}", "true")
        self.wait_for_id([(self.d1, "logical"), (self.d2, "logical")], everything)
        for i, c in enumerate((self.d1, self.d2)):
            c.q(f"ALTER SUBSCRIPTION live{i} DISABLE", "logical")
        self.level_replicator_destinations(verified=True)

    CHECKPOINT_SQL = ("SELECT CASE WHEN to_regclass('slate_replicator_verification') IS NULL "
                      "THEN 0 ELSE (SELECT coalesce(max(proven_through), 0) FROM "
                      "slate_replicator_verification WHERE last_full_pass IS NOT NULL) END")

    def level_replicator_destinations(self, verified=False):
        """Brings both of the replicator's destinations level with the source. `verified`: and
        waits for continuous verification's checkpoint in each to cover everything, as a
        replicator that has run a while has (the steady windows' replicators start from it, so
        they measure the live path, not a first pass over the whole history)."""
        dests = [(self.d1, "bench"), (self.d2, "bench")]
        proc = self.start_replicator(dests, extra={"verifyIdsPerSecond": 1000000} if verified
                                     else None)
        n = self.source_max()
        self.wait_for_id(dests, n, proc)
        if verified:
            log(f"steady state: the destinations verified up to {n:,} first (their checkpoints)")
            deadline = time.monotonic() + 900
            while any(int(c.q(self.CHECKPOINT_SQL, db) or 0) < n for c, db in dests):
                if proc.poll() is not None or time.monotonic() > deadline:
                    sys.exit("bench: the destinations' verification did not reach the head")
                time.sleep(0.2)
        self.stop_replicator(proc)

    def final_check(self):
        self.level_replicator_destinations()
        logical = [(self.d1, "logical"), (self.d2, "logical")]
        live = [i for i, c in enumerate((self.d1, self.d2))
                if c.q(f"SELECT count(*) FROM pg_subscription WHERE subname = 'live{i}'",
                       "logical") == "1"]
        for i in live:
            logical[i][0].q(f"ALTER SUBSCRIPTION live{i} ENABLE", "logical")
        self.wait_for_id([logical[i] for i in live], self.source_max())
        self.check_same("end of run, every destination",
                        [(self.d1, "bench"), (self.d2, "bench")], whole_tx=True)
        if live:
            self.check_same("end of run, logical destinations", [logical[i] for i in live],
                            whole_tx=False)
        # slatectl verify: the same comparison by checksums inside the databases.
        path = self.config([(self.d1, "bench"), (self.d2, "bench")],
                           os.path.join(self.work, "verify.json"))
        t0 = time.monotonic()
        out = subprocess.run([self.slatectl, "verify", "-c", path], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"bench: slatectl verify failed: {out.stdout}{out.stderr}")
        self.results["verify"] = {"events": self.source_max(), "destinations": 2,
                                  "seconds": time.monotonic() - t0}

    def steady(self):
        rate, secs = self.args.rate, self.args.latency_seconds
        for ndest in (1, 2):
            runs = {"logical": [], "slate-replicator": []}
            for r in range(1, self.args.rounds + 1):
                for system in ("logical", "slate-replicator"):
                    res = self.steady_window(system, ndest, rate, secs)
                    runs[system].append(res)
                    log(f"steady state {rate} tx/s, {ndest} destination(s), round {r}: {system} "
                        f"p50 {res['p50_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms, "
                        f"max {res['max_ms']:.1f} ms ({res['transactions']} transactions at "
                        f"{res['achieved_tx_per_second']:.0f}/s); NOTIFY floor p50 "
                        f"{res['floor_p50_ms']:.2f} ms, p99 {res['floor_p99_ms']:.2f} ms")
            self.results["latency"][f"{ndest}"] = {"rate_tx_per_second": rate, "runs": runs}

    def max_rate(self):
        secs = self.args.ladder_seconds
        out = {}
        for system in ("logical", "slate-replicator"):
            best, steps = 0, []
            for rate in self.args.ladder:
                res = self.steady_window(system, 1, rate, secs)
                ok = res["p99_ms"] < 1000.0
                steps.append({"rate": rate, "achieved": res["achieved_tx_per_second"],
                              "p99_ms": res["p99_ms"], "max_ms": res["max_ms"], "bounded": ok})
                log(f"ladder: {system} at {rate} tx/s (achieved {res['achieved_tx_per_second']:.0f}):"
                    f" p99 {res['p99_ms']:.1f} ms, max {res['max_ms']:.1f} ms")
                if not ok:
                    break
                best = max(best, res["achieved_tx_per_second"])
                if res["achieved_tx_per_second"] < 0.9 * rate:
                    break  # the generator's own limit: nothing higher can be offered
            out[system] = {"highest_bounded_tx_per_second": best, "steps": steps}
        self.results["max_rate"] = out

    def big_transaction(self):
        """Peak RSS of a fresh replicator that copies one 200,000-event source transaction."""
        dests = [(self.d1, "bench")]
        n0 = self.source_max()
        self.src.q(f"""
DO $big$
DECLARE v text; t integer := -1;
BEGIN
  FOR b IN 1..{self.args.big_tx // 5000} LOOP
    SELECT string_agg(format('($1[%s], $2, %L)', k, {EVENT_SQL}), ', ')
      INTO v FROM generate_series(1, 5000) AS k;
    PERFORM insert_events(v);
  END LOOP;
END $big$;""")
        n = self.source_max()
        proc = self.start_replicator(dests)
        t0 = time.monotonic()
        self.wait_for_id(dests, n, proc)
        secs = time.monotonic() - t0
        rss = peak_rss_kb(proc.pid)
        self.stop_replicator(proc)
        self.check_same("one big source transaction", dests)
        self.results["memory"]["big_transaction"] = {"events": n - n0, "peak_rss_kb": rss,
                                                     "seconds": secs}
        log(f"one {n - n0}-event source transaction: peak RSS {rss // 1024} MB, {secs:.2f} s")

    def big_event(self):
        """Peak RSS of a fresh replicator that copies one 1 MB event (into a destination that has
        everything before it)."""
        dests = [(self.d1, "bench")]
        self.src.q("SELECT insert_events(format('($1[1], $2, %L)', json_build_object('entityName', "
                   "'blob', 'value', repeat('y', 1048576))::text))")
        n = self.source_max()
        proc = self.start_replicator(dests)
        self.wait_for_id(dests, n, proc)
        rss = peak_rss_kb(proc.pid)
        self.stop_replicator(proc)
        self.check_same("one 1 MB event", dests)
        self.results["memory"]["big_event"] = {"bytes": 1048576, "peak_rss_kb": rss}
        log(f"one 1 MB event: peak RSS {rss // 1024} MB")

    def verify_cost(self):
        """Catch-up of one destination with continuous verification at its default budget, and
        with it off, alternated."""
        dests = [(self.d1, "bench")]
        runs = {"verify on (default)": [], "verify off": []}
        for r in range(1, self.args.rounds + 1):
            for name, extra in (("verify off", {"verifyIdsPerSecond": 0}),
                                ("verify on (default)", None)):
                res = self.run_replicator(dests, extra)
                self.check_same(f"verify cost, {name}, round {r}", dests)
                runs[name].append(res)
                log(f"verify cost, round {r}: {name} {res['seconds']:.2f} s, "
                    f"DB CPU {res['db_cpu_seconds']:.1f} s")
        # The checksum work itself, without a catch-up beside it: one slatectl verify of the
        # destination (the same queries the background verifier runs, in larger ranges).
        path = self.config(dests, os.path.join(self.work, "verify1.json"))
        mark, t0 = self.cpu_mark(), time.monotonic()
        subprocess.run([self.slatectl, "verify", "-c", path], check=True, capture_output=True)
        runs["checksum pass"] = {"ids": self.source_max(), "seconds": time.monotonic() - t0,
                                 **self.cpu_since(mark)}
        self.results["verify_cost"] = runs

    def dest_name(self, cluster, db):
        return f"127.0.0.1:{cluster.port}/{db}"

    def repair_rate(self):
        """slatectl repair of d1 after every ts was truncated to the millisecond."""
        self.level_replicator_destinations()
        dests = [(self.d1, "bench")]
        self.d1.q("UPDATE events SET ts = date_trunc('milliseconds', ts)")
        self.d1.q("VACUUM ANALYZE events")
        truncated = int(self.src.q(
            "SELECT count(*) FROM events WHERE ts <> date_trunc('milliseconds', ts)"))
        path = self.config(dests, os.path.join(self.work, "repair.json"))
        log(f"repair: {truncated:,} rows with ts truncated to the millisecond")
        # The reading half alone: verify finds and classifies every one of them.
        t0 = time.monotonic()
        subprocess.run([self.slatectl, "verify", "-c", path], capture_output=True)
        compare = time.monotonic() - t0
        t0 = time.monotonic()
        out = subprocess.run([self.slatectl, "repair", "-c", path, "--destination",
                              self.dest_name(self.d1, "bench"), "--server",
                              f"127.0.0.1:{free_port(26061)}", "-o", "json"],
                             capture_output=True, text=True)
        secs = time.monotonic() - t0
        if out.returncode != 0:
            sys.exit(f"bench: slatectl repair failed: {out.stdout}{out.stderr}")
        r = json.loads(out.stdout)
        self.check_same("after slatectl repair", dests)
        self.results["repair"] = {"rows": r["repaired"], "seconds": secs,
                                  "rows_per_second": r["repaired"] / secs,
                                  "verify_seconds": compare}
        log(f"repair: {r['repaired']:,} rows in {secs:.2f} s ({r['repaired'] / secs:,.0f}/s)")

    def sample_backend(self, cluster, appname, proc):
        """Until `proc` ends: the peak RssAnon (kB) of `cluster`'s backend with `appname`
        (private memory: shared buffers excluded). Returns (peak, exit code, rusage of proc)."""
        peak, pid = 0, None
        while True:
            done, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if done:
                return peak, os.waitstatus_to_exitcode(status), usage
            if pid is None:
                got = cluster.q("SELECT pid FROM pg_stat_activity WHERE application_name = "
                                f"'{appname}' AND backend_type = 'client backend' LIMIT 1",
                                "postgres")
                pid = int(got) if got else None
            if pid is not None:
                try:
                    with open(f"/proc/{pid}/status") as f:
                        for line in f:
                            if line.startswith("RssAnon:"):
                                peak = max(peak, int(line.split()[1]))
                except OSError:
                    pass
            time.sleep(0.05)

    def restore(self):
        """The backlog restored into a fresh source from d1: slatectl restore vs restore_events."""
        self.level_replicator_destinations()
        backup = (self.d1, "bench")
        want = self.d1.q(self.DIGEST)
        runs = {"slatectl restore": [], "restore_events": []}
        for r in range(1, self.args.rounds + 1):
            for system in ("restore_events", "slatectl restore"):
                db = f"restored{r}{'c' if system == 'slatectl restore' else 'e'}"
                self.src.q(f"DROP DATABASE IF EXISTS {db}", "postgres")
                self.ctl(["init-db", "--table-type", "source", "--host", "127.0.0.1", "--port",
                          str(self.src.port), "--user", "postgres", "--new-database", db])
                env = dict(os.environ)
                t0 = time.monotonic()
                if system == "slatectl restore":
                    cfg = {"eventSource": {"host": "127.0.0.1", "port": self.src.port,
                                           "databaseName": db, "user": "postgres"},
                           "replicationDestinations": [
                               {"host": "127.0.0.1", "port": backup[0].port,
                                "databaseName": "bench", "user": "postgres"}]}
                    path = os.path.join(self.work, "restore.json")
                    with open(path, "w") as f:
                        json.dump(cfg, f)
                    proc = subprocess.Popen([self.slatectl, "restore", "-c", path, "--from",
                                             self.dest_name(*backup), "-o", "json"],
                                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                    appname = "slatectl restore"
                else:
                    env["PGAPPNAME"] = "bench restore_events"
                    proc = subprocess.Popen(self.src.psql_args(db) + [
                        "-c", f"SELECT * FROM restore_events('127.0.0.1:{backup[0].port}', "
                        "'bench', 'postgres', '')"], env=env, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE)
                    appname = "bench restore_events"
                backend_kb, code, usage = self.sample_backend(self.src, appname, proc)
                secs = time.monotonic() - t0
                if code != 0:
                    sys.exit(f"bench: {system} failed: {proc.stdout.read()} {proc.stderr.read()}")
                got = self.src.q(self.DIGEST, db)
                if got != want:
                    sys.exit(f"bench: {system} restored something else ({got} vs {want})")
                res = {"seconds": secs, "backend_peak_anon_kb": backend_kb,
                       "client_peak_rss_kb": usage.ru_maxrss}
                runs[system].append(res)
                log(f"restore, round {r}: {system} {secs:.2f} s, restoring backend peak "
                    f"{backend_kb // 1024} MB private, client peak RSS {usage.ru_maxrss // 1024} MB")
                self.src.q(f"DROP DATABASE {db}", "postgres")
        self.results["restore"] = runs

    # ---- report ------------------------------------------------------------------------------

    def report(self):
        res, n = self.results, self.args.events
        med = lambda runs, k: statistics.median(r[k] for r in runs)  # noqa: E731
        lines = []
        if res["catch_up"]:
            lines.append(f"Catch-up of {n:,} events (medians of {self.args.rounds} rounds)")
            lines.append(f"| destinations | system | seconds | events/s | vs pipe | rounds vs pipe |"
                         f" peak RSS | CPU s | DB CPU s | of it, source |")
            lines.append("|---|---|---:|---:|---:|---|---:|---:|---:|---:|")
        for nd, runs in res["catch_up"].items():
            pipe = med(runs["pipe"], "seconds")
            for system in CATCH_UP_SYSTEMS:
                s = med(runs[system], "seconds")
                name = {"pipe": "binary COPY pipe" + (" (teed)" if nd == "2" else ""),
                        "slate-replicator": "slate-replicator (bulk bootstrap)",
                        "logical": "logical replication (initial sync)"}.get(system, system)
                rss = f"{med(runs[system], 'peak_rss_kb') / 1024:.0f} MB" \
                    if "peak_rss_kb" in runs[system][0] else "-"
                cpu = f"{med(runs[system], 'cpu_seconds'):.2f}" \
                    if "cpu_seconds" in runs[system][0] else "-"
                each = ", ".join(f"{p['seconds'] / r['seconds']:.2f}"
                                 for p, r in zip(runs["pipe"], runs[system]))
                lines.append(f"| {nd} | {name} | {s:.2f} | {n / s:,.0f} | {pipe / s:.2f}x | {each} |"
                             f" {rss} |"
                             f" {cpu} | {med(runs[system], 'db_cpu_seconds'):.1f} |"
                             f" {med(runs[system], 'source_db_cpu_seconds'):.1f} |")
        for nd, lat in res["latency"].items():
            runs = lat["runs"]
            lines.append("")
            lines.append(f"Steady state, {lat['rate_tx_per_second']} source transactions/s of "
                         f"1-10 events, {nd} destination(s): source commit -> committed on the "
                         f"destination (ms; medians of {self.args.rounds} windows of "
                         f"{self.args.latency_seconds} s)")
            lines.append("| system | p50 | p95 | p99 | max | vs logical p50 | vs logical p99 |"
                         " p50 over the NOTIFY floor | CPU s | CPU us per tx per destination |"
                         " sleeps per tx |")
            lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
            lp50, lp99 = med(runs["logical"], "p50_ms"), med(runs["logical"], "p99_ms")
            every = runs["logical"] + runs["slate-replicator"]
            lines.append(f"| NOTIFY floor (a bare listener beside every window) |"
                         f" {med(every, 'floor_p50_ms'):.2f} | - | {med(every, 'floor_p99_ms'):.2f}"
                         f" | - | - | - | - | - | - | - |")
            for system in ("logical", "slate-replicator"):
                r = runs[system]
                cpu = f"{med(r, 'cpu_seconds'):.2f}" if "cpu_seconds" in r[0] else "-"
                per_tx = slept = "-"
                if "cpu_seconds" in r[0]:
                    us = statistics.median(x["cpu_seconds"] / x["transactions"] for x in r)
                    per_tx = f"{us / int(nd) * 1e6:.0f}"
                if "sleeps" in r[0]:
                    slept = f"{statistics.median(x['sleeps'] / x['transactions'] for x in r):.1f}"
                margin = statistics.median(x["p50_ms"] - x["floor_p50_ms"] for x in r)
                lines.append(f"| {system} | {med(r, 'p50_ms'):.2f} | {med(r, 'p95_ms'):.2f} |"
                             f" {med(r, 'p99_ms'):.2f} | {med(r, 'max_ms'):.2f} |"
                             f" {med(r, 'p50_ms') / lp50:.2f}x | {med(r, 'p99_ms') / lp99:.2f}x |"
                             f" {margin:+.2f} ms | {cpu} | {per_tx} | {slept} |")
        wake = res["machine"].get("wakeup")
        if res["latency"] and wake:
            lines.append(f"(This machine: a thread's sleep and wake-up costs "
                         f"{wake['wakeup_cpu_us']:.0f} us of CPU, a round trip between two "
                         f"threads {wake['round_trip_wall_us']:.0f} us, a plain system call "
                         f"{wake['syscall_cpu_us']:.2f} us: tests/bench/wakeup_cost.cc.)")
        if res["max_rate"]:
            lines.append("")
            lines.append("Highest sustained rate, 1 destination (p99 commit -> arrival < 1 s over "
                         f"{self.args.ladder_seconds} s; ladder {self.args.ladder} tx/s of 1-10 "
                         "events; one generator session)")
            for system, r in res["max_rate"].items():
                top = r["steps"][-1]
                limit = "lag grew" if not top["bounded"] else \
                    ("the generator's limit" if top["achieved"] < 0.9 * top["rate"] else
                     "top of the ladder")
                lines.append(f"- {system}: {r['highest_bounded_tx_per_second']:,.0f} tx/s "
                             f"(stopped by {limit})")
        w = res.get("wait")
        if w:
            lines.append("")
            lines.append(f"Read-your-writes, {w['samples']} waits (insert_events, then "
                         f"WaitForPosition for its id; 2 destinations; {w['idle_waiters']} other "
                         "waits outstanding)")
            lines.append(f"- answer after the destination commit it reports: p50 "
                         f"{w['after_commit_p50_ms']:.2f} ms, p99 {w['after_commit_p99_ms']:.2f} ms"
                         f" (min {w['after_commit_min_ms']:.2f})")
            lines.append(f"- answer after the source commit returned: p50 "
                         f"{w['end_to_end_p50_ms']:.2f} ms, p99 {w['end_to_end_p99_ms']:.2f} ms")
            lines.append(f"- in a quiet 10 s before / with / after the idle waiters: database "
                         f"transactions {w['quiet_10s_commits_without_waiters']} / "
                         f"{w['quiet_10s_commits_with_waiters']} / "
                         f"{w['quiet_10s_commits_after_waiters']} (autovacuum included), the "
                         f"replicator's copy passes {w['quiet_10s_passes_without_waiters']} / "
                         f"{w['quiet_10s_passes_with_waiters']} / "
                         f"{w['quiet_10s_passes_after_waiters']}; replicator peak RSS "
                         f"{w['peak_rss_kb'] / 1024:.0f} MB")
        mem = res["memory"].get("big_transaction")
        if mem:
            lines.append(f"- slate-replicator peak RSS copying one {mem['events']:,}-event source "
                         f"transaction: {mem['peak_rss_kb'] / 1024:.0f} MB")
        be = res["memory"].get("big_event")
        if be:
            lines.append(f"- slate-replicator peak RSS copying one 1 MB event: "
                         f"{be['peak_rss_kb'] / 1024:.0f} MB")
        vc = res.get("verify_cost")
        if vc:
            on, off = med(vc["verify on (default)"], "seconds"), med(vc["verify off"], "seconds")
            lines.append("")
            lines.append(f"Continuous verification's cost: catch-up of {n:,} events into 1 "
                         f"destination, verification at its default budget vs off (medians of "
                         f"{self.args.rounds} rounds)")
            lines.append(f"- off {off:.2f} s, on {on:.2f} s: {100 * (on - off) / off:+.1f}% "
                         f"(DB CPU {med(vc['verify off'], 'db_cpu_seconds'):.1f} s vs "
                         f"{med(vc['verify on (default)'], 'db_cpu_seconds'):.1f} s)")
            cp = vc.get("checksum pass")
            if cp:
                per_id = cp["db_cpu_seconds"] / cp["ids"]
                lines.append(f"- the checksums alone: {cp['ids']:,} ids in {cp['seconds']:.2f} s, "
                             f"{per_id * 1e6:.2f} us of database CPU per id (both sides); at the "
                             f"default {VERIFY_DEFAULT:,} ids/s that is "
                             f"{per_id * VERIFY_DEFAULT:.3f} CPU cores while a destination is in "
                             f"sync (during a catch-up it yields: the A/B above)")
        rp = res.get("repair")
        if rp:
            rate = ""
            cu_runs = (res["catch_up"].get("1", {}).get("slate-replicator")
                       or (vc or {}).get("verify on (default)"))
            if cu_runs:
                cu = n / med(cu_runs, "seconds")
                rate = f", beside a catch-up rate of {cu:,.0f} events/s into 1 destination"
            lines.append(f"- slatectl repair of {rp['rows']:,} ms-truncated rows: "
                         f"{rp['seconds']:.2f} s, {rp['rows_per_second']:,.0f} rows/s{rate}; "
                         f"slatectl verify finding and classifying them all takes "
                         f"{rp['verify_seconds']:.2f} s of it")
        sd = res.get("seed")
        if sd:
            src = sd["runs"]["from the source"]
            lines.append("")
            lines.append(f"A third replica of {sd['events']:,} events added by a reload, its first "
                         f"replica verified (verifyIdsPerSecond {sd['verify_ids_per_second']:,}; medians "
                         f"of {self.args.rounds} rounds)")
            lines.append("| bootstrap | seconds | source DB CPU s | all DB CPU s | replicator CPU s |")
            lines.append("|---|---:|---:|---:|---:|")
            for system in ("from the source", "seeded"):
                r = sd["runs"][system]
                lines.append(f"| {system} | {med(r, 'seconds'):.2f} |"
                             f" {med(r, 'source_db_cpu_seconds'):.2f} |"
                             f" {med(r, 'db_cpu_seconds'):.1f} | {med(r, 'cpu_seconds'):.2f} |")
            seeded = sd["runs"]["seeded"]
            lines.append(f"- the source's database CPU, seeded vs from the source: "
                         f"{med(seeded, 'source_db_cpu_seconds'):.2f} s vs "
                         f"{med(src, 'source_db_cpu_seconds'):.2f} s (the new replica's own "
                         f"continuous verification waits for its catch-up in both); replicator "
                         f"peak RSS {sd['peak_rss_kb'] / 1024:.0f} MB")
        rs = res.get("restore")
        if rs:
            lines.append("")
            lines.append(f"Restore of {n:,} events into a fresh source (medians of "
                         f"{self.args.rounds} rounds)")
            lines.append("| method | seconds | restoring backend peak (private) | client peak RSS |")
            lines.append("|---|---:|---:|---:|")
            for system in ("slatectl restore", "restore_events"):
                r = rs[system]
                lines.append(f"| {system} | {med(r, 'seconds'):.2f} |"
                             f" {med(r, 'backend_peak_anon_kb') / 1024:.0f} MB |"
                             f" {med(r, 'client_peak_rss_kb') / 1024:.0f} MB |")
        v = res.get("verify")
        if v:
            lines.append(f"- slatectl verify of {v['events']:,} events on {v['destinations']} "
                         f"destinations: {v['seconds']:.2f} s")
        lines.append("")
        lines.append("Checks: every destination identical to the source (id, ts, event bytes) "
                     "after every run; no source transaction split by slate-replicator.")
        text = "\n".join(lines)
        print()
        print(text)
        res["table_markdown"] = text
        with open(self.args.json, "w") as f:
            json.dump(res, f, indent=1)
        log(f"JSON in {self.args.json}")


def sh_quote(s):
    return "'" + s.replace("'", "'\\''") + "'"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--events", type=int, default=1000000, help="catch-up backlog (default 1M)")
    p.add_argument("--rounds", type=int, default=2, help="A/B rounds per scenario (default 2)")
    p.add_argument("--rate", type=int, default=200, help="steady-state source tx/s (default 200)")
    p.add_argument("--latency-seconds", type=int, default=20, help="steady window (default 20)")
    p.add_argument("--ladder", type=lambda s: [int(x) for x in s.split(",")],
                   default=[500, 1000, 2000, 4000, 8000], help="rates for the max-rate ladder")
    p.add_argument("--ladder-seconds", type=int, default=10)
    p.add_argument("--big-tx", type=int, default=200000, help="events in the one big transaction")
    p.add_argument("--wait-samples", type=int, default=500, help="read-your-writes waits")
    p.add_argument("--idle-waiters", type=int, default=2000,
                   help="waits outstanding meanwhile (for an id far ahead)")
    p.add_argument("--only", default="catch-up,steady,max-rate,memory,wait,verify-cost,repair,"
                   "seed,restore",
                   help="comma-separated scenarios to run")
    p.add_argument("--catch-up-destinations", type=lambda s: [int(x) for x in s.split(",")],
                   default=[1, 2], help="the catch-up's destination counts (default 1,2)")
    p.add_argument("--parallel-writes", type=int, default=0,
                   help="the replicator's parallelWrites (default: its own default)")
    p.add_argument("--log-level", default="warn",
                   help="the replicator's --log-level (its log: <work dir>/replicator.log)")
    p.add_argument("--keep", action="store_true", help="keep the work dir (clusters stopped)")
    p.add_argument("--build-dir", default=os.environ.get("SLATE_BUILD_DIR", "build"))
    p.add_argument("--json", default=None, help="default <build dir>/bench.json")
    args = p.parse_args()
    args.json = args.json or os.path.join(ROOT, args.build_dir, "bench.json")
    only = set(args.only.split(","))
    b = Bench(args)
    try:
        b.start()
        log(f"loading {args.events:,} events into the source")
        b.load(args.events)
        b.src.q("VACUUM ANALYZE events")
        b.results["event_bytes"] = int(b.src.q("SELECT avg(length(event::text))::int FROM events"))
        log(f"{b.source_max():,} events, ~{b.results['event_bytes']} bytes of JSON each; "
            f"work dir {b.work}")
        b.results["machine"] = machine()
        b.results["machine"]["wakeup"] = wakeup_cost(b.build)
        if "catch-up" in only:
            b.catch_up()
        if "steady" in only or "max-rate" in only:
            b.prepare_live_subscriptions()
        if "steady" in only:
            b.steady()
        if "max-rate" in only:
            b.max_rate()
        if "memory" in only:
            b.big_transaction()
            b.big_event()
        if "wait" in only:
            b.wait_latency()
        if "verify-cost" in only:
            b.verify_cost()
        if "repair" in only:
            b.repair_rate()
        if "seed" in only:
            b.seed()
        if "restore" in only:
            b.restore()
        b.final_check()
        b.report()
    finally:
        b.stop()


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    mem = 0
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // (1024 * 1024)
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "memory_gib": mem,
            "postgres": subprocess.run([f"{PG_BIN}/postgres", "--version"], capture_output=True,
                                       text=True).stdout.strip()}


if __name__ == "__main__":
    main()
