#!/usr/bin/env python3
"""The measuring half of scripts/bench (which installs, builds and starts the servers, then runs this
with the virtualenv's Python, which has psycopg2).

Each run walks four dimensions, each from a clean state (fresh exporter processes, PgBouncer reloaded
with only the aliases the dimension needs, pg_stat_statements reset), with a pgbench load running through
PgBouncer all along:
  base        10 pools: poolwatch with both targets, postgres_exporter, the pgbouncer exporter, and the
              Swift floor (poolwatch-floor: Hummingbird serving a static body, built like poolwatch)
  pools       10 / 100 / 1,000 pools (as many PgBouncer aliases, each opened once): poolwatch with the
              PgBouncer target only vs the pgbouncer exporter
  statements  100 / 1,000 / 5,000 pg_stat_statements entries: poolwatch with the PostgreSQL target only vs
              postgres_exporter at the same coverage (its default collectors plus the queries.yaml below)
  backends    50 / 150 idle backends: the same pair
At each point: scrape latency and throughput, CPU and SQL per scrape, RSS (total, anonymous, file) after
1,000 scrapes (or as many as fit in a few seconds for a slow peer: the count is printed); at the first
and last pool points and the last statements point, CPU seconds per hour of normal operation.

Time is scaled by SCALE (15): poolwatch's interval is 1 s instead of 15 s (its 5-minute collectors run
every 20 s), and two scrapers each scrape every 1 s, as an HA Prometheus pair does every 15 s. CPU per
hour is CPU per such 1-second cycle x 240 cycles per hour. Runs are repeated and the tables show the
median of each figure. Nothing here asserts: it prints numbers and ratios.
"""
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time

import psycopg2

BIN = os.environ["PW_BENCH_BIN_PATH"]
MICRO = os.environ["PW_BENCH_MICRO_PATH"]
FLOOR = os.environ["PW_BENCH_FLOOR_PATH"]
PG_PORT = int(os.environ["PW_PG_PORT"])
PGB_PORT = int(os.environ["PW_PGB_PORT"])
PGB_INI = os.environ["PW_PGB_DIR"] + "/pgbouncer.ini"
TMP = os.environ["PW_TMP"]
OUT = os.environ["PW_BENCH_OUT"]
QUICK = os.environ.get("PW_BENCH_QUICK") == "1"
RUNS = 1 if QUICK else int(os.environ.get("PW_BENCH_RUNS", "3"))
VENV_BIN = os.path.dirname(sys.executable)
CLK_TCK = os.sysconf("SC_CLK_TCK")

POOL_POINTS = [10, 100] if QUICK else [10, 100, 1000]
STATEMENT_POINTS = [100, 1000] if QUICK else [100, 1000, 5000]
BACKEND_POINTS = [50] if QUICK else [50, 150]
CPU_POOL_POINTS = (POOL_POINTS[0], POOL_POINTS[-1])
CPU_STATEMENT_POINTS = (STATEMENT_POINTS[-1],)
SEQUENTIAL = 100          # sequential scrapes per latency figure
SEQUENTIAL_BUDGET = 2.0 if QUICK else 5.0  # ... unless an exporter takes longer than this in all
LONG_SCRAPES = 200 if QUICK else 1000  # RSS is read after this many scrapes at a point ...
LONG_BUDGET = 3.0 if QUICK else 8.0  # ... or this many seconds of scraping, for a slow peer (the base point always waits for all)
WRK_SECONDS = 1 if QUICK else 2
SCALE = 15                # 1 s of the bench stands for 15 s of operation
INTERVAL = 15 / SCALE     # poolwatch's interval and the scrapers' period, seconds
SLOW_INTERVAL = 300 / SCALE  # database_sizes and table_stats (5 minutes by default)
STATEMENTS_INTERVAL = 30 / SCALE  # statements.interval (30 s by default)
CPU_WINDOW = 4.0 if QUICK else 10.0  # seconds of bench time per CPU figure (x SCALE of operation) ...
CPU_WINDOW_SLOW = CPU_WINDOW if QUICK else SLOW_INTERVAL  # ... with the 5-minute collectors: one whole period of them

ROLES = {"poolwatch": "pw_bench_poolwatch", "postgres_exporter": "pw_bench_pgexp", "pgbouncer_exporter": "pw_bench_pgbexp"}


BENCH_STARTED = time.perf_counter()


def log(*parts):
    print(f"==> {time.perf_counter() - BENCH_STARTED:5.0f} s", *parts, file=sys.stderr, flush=True)


def together(calls):
    """Runs the callables at once, one thread each, and returns their results in order. For figures that
    do not depend on latency (memory after N scrapes, CPU time per process), so they take the time of the
    slowest exporter instead of the sum."""
    results = [None] * len(calls)
    def run(i):
        results[i] = calls[i]()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg(dbname="postgres", port=PG_PORT, user="postgres"):
    conn = psycopg2.connect(host="127.0.0.1", port=port, user=user, dbname=dbname)
    conn.autocommit = True
    return conn


# --- the exporters -------------------------------------------------------------------------------

def http_get(conn, headers):
    conn.request("GET", "/metrics", headers=headers)
    response = conn.getresponse()
    return response.status, response.read()


class Exporter:
    """One exporter process, scraped over one keep-alive connection like Prometheus does."""

    def __init__(self, name, argv, env=None, peer=True):
        self.name, self.argv, self.env, self.peer = name, argv, env, peer
        self.port = None
        self.proc = None
        self.scrapes = 0  # since the current point began (see `new_point`)

    def start(self):
        self.port = free_port()
        env = dict(os.environ)
        env.update(self.env or {})
        self.logfile = open(f"{TMP}/{self.name}.log", "ab")
        self.proc = subprocess.Popen(self.argv(self.port), env=env, stdout=self.logfile, stderr=subprocess.STDOUT)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                status, _ = self.scrape()
                if status == 200:
                    return self
            except OSError:
                self.conn.close()
            time.sleep(0.2)
        raise SystemExit(f"{self.name} did not answer /metrics within 60 s; see {TMP}/{self.name}.log")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.conn.close()

    def new_point(self):
        self.scrapes = 0

    def scrape(self, gzip=True):
        """One scrape; with Accept-Encoding: gzip unless told otherwise, as Prometheus scrapes."""
        headers = {"Accept-Encoding": "gzip"} if gzip else {}
        self.scrapes += 1
        try:
            return http_get(self.conn, headers)
        except (http.client.HTTPException, OSError):
            # The Python exporter answers HTTP/1.0 and closes; reconnect like Prometheus would.
            self.conn.close()
            return http_get(self.conn, headers)

    def status_mib(self, field):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024

    def memory(self):
        """RSS in MiB: total, anonymous (heap, stacks: what the process itself allocated) and file pages
        (the mapped code and data of the binary and its libraries: clean pages the kernel can drop and
        share), split by where the file pages come from."""
        split = memory_split(self.proc.pid)
        split.update(rss=self.status_mib("VmRSS"), anon=self.status_mib("RssAnon"), file=self.status_mib("RssFile"))
        return split

    def cpu_seconds(self):
        """CPU time of the whole process. Two sources: the per-thread run times (nanoseconds, but only of
        threads alive now) and the process's tick counts (10 ms, but including threads that exited: the
        Python exporter starts one per request). The precise one unless threads exited with CPU time."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = (int(fields[11]) + int(fields[12])) / CLK_TCK
        ns = 0
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            try:
                with open(f"/proc/{self.proc.pid}/task/{task}/schedstat") as f:
                    ns += int(f.read().split()[0])
            except OSError:
                pass
        return ticks, ns / 1e9


def cpu_delta(before, after):
    ticks, precise = after[0] - before[0], after[1] - before[1]
    return ticks if ticks - precise > 2 / CLK_TCK else precise


def memory_split(pid):
    """File-backed RSS of `pid` in MiB by origin: the executable itself (for the Python exporter, the
    interpreter), the language runtime (Swift's libraries, or libpython and Python's extension modules;
    postgres_exporter is one static Go binary) and other shared libraries."""
    exe = os.path.realpath(f"/proc/{pid}/exe")
    split = {"binary": 0, "runtime": 0, "libs": 0}
    path = None
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if re.match(r"^[0-9a-f]+-[0-9a-f]+$", parts[0]):
                path = parts[5] if len(parts) > 5 and parts[5].startswith("/") else None
            elif path and parts[0] in ("Rss:", "Anonymous:"):
                kib = int(parts[1]) * (1 if parts[0] == "Rss:" else -1)
                if path == exe:
                    split["binary"] += kib
                elif "/lib/swift/" in path or "libpython" in path or "/lib-dynload/" in path or "/site-packages/" in path:
                    split["runtime"] += kib
                else:
                    split["libs"] += kib
    return {k: v / 1024 for k, v in split.items()}


def write_peer_files():
    # postgres_exporter 0.11 has no pg_stat_statements collector; the documented way is a queries.yaml.
    # Debian's example queries.yaml (/usr/share/doc/prometheus-postgres-exporter/examples) also has the
    # table statistics, the replication lag and the postmaster start time that poolwatch collects: those
    # entries as shipped, and its pg_stat_statements entry with the column names of PostgreSQL 13+.
    # (Its pg_process_idle histogram is left out: poolwatch has no counterpart.) With its default
    # collectors (pg_stat_database, pg_stat_bgwriter, pg_database sizes, locks, pg_stat_activity,
    # pg_stat_replication, replication slots, settings) this is poolwatch's PostgreSQL coverage.
    table_columns = ["seq_scan", "seq_tup_read", "idx_scan", "idx_tup_fetch", "n_tup_ins", "n_tup_upd", "n_tup_del",
                     "n_tup_hot_upd", "n_live_tup", "n_dead_tup", "n_mod_since_analyze", "last_vacuum", "last_autovacuum",
                     "last_analyze", "last_autoanalyze", "vacuum_count", "autovacuum_count", "analyze_count", "autoanalyze_count"]
    gauges = {"n_live_tup", "n_dead_tup", "n_mod_since_analyze", "last_vacuum", "last_autovacuum", "last_analyze", "last_autoanalyze"}
    select = ", ".join(f"COALESCE({c}, '1970-01-01Z') as {c}" if c.startswith("last_") else c for c in table_columns)
    tables = "\n".join(f'    - {c}: {{usage: "{"GAUGE" if c in gauges else "COUNTER"}", description: "{c}"}}' for c in table_columns)
    statio_columns = ["heap_blks_read", "heap_blks_hit", "idx_blks_read", "idx_blks_hit", "toast_blks_read", "toast_blks_hit",
                      "tidx_blks_read", "tidx_blks_hit"]
    statio = "\n".join(f'    - {c}: {{usage: "COUNTER", description: "{c}"}}' for c in statio_columns)
    with open(f"{TMP}/queries.yaml", "w") as f:
        f.write(f"""pg_replication:
  query: "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 ELSE GREATEST (0, EXTRACT(EPOCH FROM (now() - pg_last_xact_replay_timestamp()))) END AS lag"
  master: true
  metrics:
    - lag: {{usage: "GAUGE", description: "Replication lag behind master in seconds"}}
pg_postmaster:
  query: "SELECT pg_postmaster_start_time as start_time_seconds from pg_postmaster_start_time()"
  master: true
  metrics:
    - start_time_seconds: {{usage: "GAUGE", description: "Time at which postmaster started"}}
pg_stat_user_tables:
  query: "SELECT current_database() datname, schemaname, relname, {select} FROM pg_stat_user_tables"
  metrics:
    - datname: {{usage: "LABEL", description: "Name of current database"}}
    - schemaname: {{usage: "LABEL", description: "Name of the schema that this table is in"}}
    - relname: {{usage: "LABEL", description: "Name of this table"}}
{tables}
pg_statio_user_tables:
  query: "SELECT current_database() datname, schemaname, relname, {", ".join(statio_columns)} FROM pg_statio_user_tables"
  metrics:
    - datname: {{usage: "LABEL", description: "Name of current database"}}
    - schemaname: {{usage: "LABEL", description: "Name of the schema that this table is in"}}
    - relname: {{usage: "LABEL", description: "Name of this table"}}
{statio}
pg_stat_statements:
  query: "SELECT t2.rolname, t3.datname, queryid, calls, total_exec_time / 1000 as total_time_seconds, min_exec_time / 1000 as min_time_seconds, max_exec_time / 1000 as max_time_seconds, mean_exec_time / 1000 as mean_time_seconds, stddev_exec_time / 1000 as stddev_time_seconds, rows, shared_blks_hit, shared_blks_read, shared_blks_dirtied, shared_blks_written, local_blks_hit, local_blks_read, local_blks_dirtied, local_blks_written, temp_blks_read, temp_blks_written, blk_read_time / 1000 as blk_read_time_seconds, blk_write_time / 1000 as blk_write_time_seconds FROM pg_stat_statements t1 JOIN pg_roles t2 ON (t1.userid=t2.oid) JOIN pg_database t3 ON (t1.dbid=t3.oid)"
  master: true
  metrics:
    - rolname: {{usage: "LABEL", description: "Name of user"}}
    - datname: {{usage: "LABEL", description: "Name of database"}}
    - queryid: {{usage: "LABEL", description: "Query ID"}}
    - calls: {{usage: "COUNTER", description: "Number of times executed"}}
    - total_time_seconds: {{usage: "COUNTER", description: "Total time spent in the statement"}}
    - min_time_seconds: {{usage: "GAUGE", description: "Minimum time spent in the statement"}}
    - max_time_seconds: {{usage: "GAUGE", description: "Maximum time spent in the statement"}}
    - mean_time_seconds: {{usage: "GAUGE", description: "Mean time spent in the statement"}}
    - stddev_time_seconds: {{usage: "GAUGE", description: "Population standard deviation of time spent in the statement"}}
    - rows: {{usage: "COUNTER", description: "Total number of rows retrieved or affected by the statement"}}
    - shared_blks_hit: {{usage: "COUNTER", description: "Total number of shared block cache hits"}}
    - shared_blks_read: {{usage: "COUNTER", description: "Total number of shared blocks read"}}
    - shared_blks_dirtied: {{usage: "COUNTER", description: "Total number of shared blocks dirtied"}}
    - shared_blks_written: {{usage: "COUNTER", description: "Total number of shared blocks written"}}
    - local_blks_hit: {{usage: "COUNTER", description: "Total number of local block cache hits"}}
    - local_blks_read: {{usage: "COUNTER", description: "Total number of local blocks read"}}
    - local_blks_dirtied: {{usage: "COUNTER", description: "Total number of local blocks dirtied"}}
    - local_blks_written: {{usage: "COUNTER", description: "Total number of local blocks written"}}
    - temp_blks_read: {{usage: "COUNTER", description: "Total number of temp blocks read"}}
    - temp_blks_written: {{usage: "COUNTER", description: "Total number of temp blocks written"}}
    - blk_read_time_seconds: {{usage: "COUNTER", description: "Time spent reading blocks"}}
    - blk_write_time_seconds: {{usage: "COUNTER", description: "Time spent writing blocks"}}
""")
    with open(f"{TMP}/pgbouncer-exporter.yml", "w") as f:
        f.write(f"""exporter_host: 127.0.0.1
exporter_port: PORT
pgbouncers:
  - dsn: postgresql://{ROLES['pgbouncer_exporter']}@127.0.0.1:{PGB_PORT}/pgbouncer
    connect_timeout: 5
""")


POOLWATCH_TARGETS = {
    "pg": f"""  - name: pg
    kind: postgres
    dsn: "host=127.0.0.1 port={PG_PORT} user={ROLES['poolwatch']} dbname=postgres"
    interval: {INTERVAL:g}s
    statements: {{enabled: true, interval: {STATEMENTS_INTERVAL:g}s}}
    database_sizes: {SLOW_INTERVAL:g}s
    table_stats: {{interval: {SLOW_INTERVAL:g}s}}
""",
    "bouncer": f"""  - name: bouncer
    kind: pgbouncer
    dsn: "host=127.0.0.1 port={PGB_PORT} user={ROLES['poolwatch']} dbname=pgbouncer"
    interval: {INTERVAL:g}s
""",
}


def poolwatch_config(path, targets):
    def argv(port):
        with open(path, "w") as f:
            f.write(f"listen_address: 127.0.0.1:{port}\ntargets:\n" + "".join(POOLWATCH_TARGETS[t] for t in targets)
                    + f"alerting:\n  state_dir: {TMP}/poolwatch-state-{port}\n")
        return [BIN, "--config", path, "--log-level", "warning"]
    return argv


def pgbouncer_exporter_argv(port):
    path = f"{TMP}/pgbouncer-exporter-{port}.yml"
    with open(f"{TMP}/pgbouncer-exporter.yml") as f:
        text = f.read().replace("PORT", str(port))
    with open(path, "w") as f:
        f.write(text)
    return [f"{VENV_BIN}/pgbouncer-exporter", "--config", path, "--log-level", "WARNING"]


def poolwatch(*targets):
    path = f"{TMP}/poolwatch-bench-{'-'.join(targets)}.yml"
    exporter = Exporter("poolwatch", poolwatch_config(path, targets), peer=False)
    exporter.config = path
    return exporter


def postgres_exporter():
    return Exporter("postgres_exporter",
                    lambda port: ["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{port}",
                                  f"--extend.query-path={TMP}/queries.yaml", "--log.level=warn"],
                    env={"DATA_SOURCE_NAME": f"postgresql://{ROLES['postgres_exporter']}@127.0.0.1:{PG_PORT}/postgres?sslmode=disable"})


def pgbouncer_exporter():
    return Exporter("pgbouncer_exporter", pgbouncer_exporter_argv)


def floor():
    return Exporter("floor", lambda port: [FLOOR, str(port)], peer=False)


# --- what the servers say about the exporters ---------------------------------------------------------

class Servers:
    def __init__(self):
        self.admin = pg()

    def sql_by_role(self):
        """Top-level statements and their execution time (ms) per exporter role, from pg_stat_statements."""
        with self.admin.cursor() as cur:
            cur.execute("""SELECT r.rolname, coalesce(sum(s.calls), 0), coalesce(sum(s.total_exec_time), 0)
                           FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
                           WHERE s.toplevel AND r.rolname LIKE 'pw_bench_%' GROUP BY 1""")
            rows = {name: (int(calls), float(ms)) for name, calls, ms in cur.fetchall()}
        return {exporter: rows.get(role, (0, 0.0)) for exporter, role in ROLES.items()}

    @staticmethod
    def logins():
        """Logins per exporter role so far: PostgreSQL's and PgBouncer's connection log lines."""
        counts = dict.fromkeys(ROLES, 0)
        for path, pattern in ((f"{TMP}/postgres.log", "connection authorized: user={}"),
                              (f"{TMP}/pgbouncer/pgbouncer.log", "login attempt: db=pgbouncer user={}")):
            try:
                text = open(path, errors="replace").read()
            except OSError:
                continue
            for exporter, role in ROLES.items():
                counts[exporter] += len(re.findall(re.escape(pattern.format(role)) + r"\b", text))
        return counts

    def poolwatch_statements_by_time(self, limit=6):
        """poolwatch's statements since the last reset, most expensive first: (ms per call, share of its
        PostgreSQL time, calls, text)."""
        with self.admin.cursor() as cur:
            cur.execute("""SELECT s.total_exec_time / s.calls, s.total_exec_time / sum(s.total_exec_time) OVER (), s.calls,
                                  regexp_replace(s.query, '\\s+', ' ', 'g')
                           FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid
                           WHERE s.toplevel AND r.rolname = %s AND s.calls > 0 ORDER BY s.total_exec_time DESC""",
                        (ROLES["poolwatch"],))
            return cur.fetchall()[:limit]

    def statement_entries(self):
        with self.admin.cursor() as cur:
            cur.execute("SELECT count(*) FROM pg_stat_statements")
            return cur.fetchone()[0]


def timed_run(conn, statements, repeat=5):
    """Median seconds to run `statements` once each in an open session (no login): the floor."""
    times = []
    with conn.cursor() as cur:
        for _ in range(repeat):
            t = time.perf_counter()
            for sql in statements:
                cur.execute(sql)
                if cur.description:
                    cur.fetchall()
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def poolwatch_statements(kind, exporter):
    """The statements of one poolwatch round against `kind`, from `poolwatch sql` (PostgreSQL 15, PgBouncer 1.18)."""
    target = "pg" if kind == "postgres" else "bouncer"
    version = {"postgres": 150000, "pgbouncer": 11800}[kind]
    out = subprocess.run([BIN, "sql", "--config", exporter.config, "--target", target,
                          "--version-number", str(version)], capture_output=True, text=True, check=True).stdout
    text = "\n".join(line for line in out.splitlines() if not line.startswith("--"))
    return [statement.strip() for statement in text.split(";\n") if statement.strip()]


# --- one measurement -------------------------------------------------------------------------------

def series_and_families(body):
    text = body.decode(errors="replace")
    lines = text.splitlines()
    return (sum(1 for l in lines if l.startswith("# TYPE")),
            sum(1 for l in lines if l and not l.startswith("#")))


ROUND_RE = re.compile(rb'poolwatch_collection_duration_seconds\{target="(\w+)"\} (\S+)')
LAST_RE = re.compile(rb'poolwatch_last_collection_timestamp_seconds\{target="(\w+)"\} (\S+)')


def measure(exporter, servers):
    """Size, latency, throughput, CPU, SQL and logins of `exporter` at the current point."""
    result = {}
    _, plain = exporter.scrape(gzip=False)
    _, gz = exporter.scrape()
    result["families"], result["series"] = series_and_families(plain)
    result["plain_kib"], result["gzip_kib"] = len(plain) / 1024, len(gz) / 1024

    sql_before, logins_before, cpu_before = servers.sql_by_role(), servers.logins(), exporter.cpu_seconds()
    times = []
    started = time.perf_counter()
    while len(times) < SEQUENTIAL and time.perf_counter() - started < SEQUENTIAL_BUDGET:
        t = time.perf_counter()
        exporter.scrape()
        times.append((time.perf_counter() - t) * 1000)
    n = len(times)
    sql_after, logins_after, cpu_after = servers.sql_by_role(), servers.logins(), exporter.cpu_seconds()
    times.sort()
    result.update(
        scrapes=n, p50_ms=statistics.median(times), p99_ms=times[min(n - 1, int(n * 0.99))],
        cpu_ms_per_scrape=cpu_delta(cpu_before, cpu_after) * 1000 / n,
        logins_per_scrape=(logins_after[exporter.name] - logins_before[exporter.name]) / n)
    if exporter.name == "poolwatch":
        # Rounds run on their own clock, not per scrape: their cost is measured over whole rounds.
        result.update(round_cost(exporter, servers))
    else:
        calls = sql_after[exporter.name][0] - sql_before[exporter.name][0]
        pg_ms = sql_after[exporter.name][1] - sql_before[exporter.name][1]
        result.update(sql_per_scrape=calls / n, pg_ms_per_scrape=pg_ms / n)
    result["rps"] = wrk(exporter)
    return result


def long_scrapes(exporter, budget):
    """Scrapes `exporter` (gzip, one connection) until it has served LONG_SCRAPES at this point or
    `budget` seconds passed, then reads its memory. Returns the memory and the scrape count."""
    started = time.perf_counter()
    while exporter.scrapes < LONG_SCRAPES and (budget is None or time.perf_counter() - started < budget):
        exporter.scrape()
    result = exporter.memory()
    result["scrapes"] = exporter.scrapes
    return result


def last_rounds(exporter):
    """The finish times of poolwatch's last rounds and their durations (ms), by target."""
    body = exporter.scrape()[1]
    import gzip
    body = gzip.decompress(body)
    return ({t.decode(): v for t, v in LAST_RE.findall(body)}, {t.decode(): float(v) * 1000 for t, v in ROUND_RE.findall(body)})


def round_cost(exporter, servers, rounds=6):
    """poolwatch's SQL statements, PostgreSQL time and round durations over `rounds` whole rounds of
    its first target: pg_stat_statements is read every STATEMENTS_INTERVAL (every other round at this
    speed), so six rounds hold three reads and the figures are per round, amortized (the 5-minute
    collectors may fall into them too: see the CPU table for their amortized figure)."""
    def finished():
        rounds = last_rounds(exporter)[0]
        return rounds.get("pg", rounds.get("bouncer"))
    last = finished()
    while finished() == last:
        time.sleep(0.02)
    before, durations = servers.sql_by_role()["poolwatch"], {}
    for _ in range(rounds):
        last = finished()
        while finished() == last:
            time.sleep(0.02)
        for target, ms in last_rounds(exporter)[1].items():
            durations.setdefault(target, []).append(ms)
    after = servers.sql_by_role()["poolwatch"]
    return dict(sql_per_round=(after[0] - before[0]) / rounds, pg_ms_per_round=(after[1] - before[1]) / rounds,
                **{f"round_{t}_ms": statistics.median(v) for t, v in durations.items()})


def wrk(exporter):
    # With Accept-Encoding: gzip, as Prometheus scrapes (the Python exporter ignores it).
    out = subprocess.run(["wrk", "-t2", "-c10", f"-d{WRK_SECONDS}s", "--timeout", "30s", "-H", "Accept-Encoding: gzip",
                          f"http://127.0.0.1:{exporter.port}/metrics"],
                         capture_output=True, text=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    served = re.search(r"(\d+) requests in", out)
    exporter.scrapes += int(served.group(1)) if served else 0
    # No request finished within the run (a scrape slower than WRK_SECONDS x 10 connections): n/a.
    return float(match.group(1)) if match and served and int(served.group(1)) > 0 else float("nan")


def poolwatch_sql_per_scrape(exporter, servers):
    """SQL statements poolwatch sends because of scrapes: a burst of scrapes between two rounds of its
    PostgreSQL target (PgBouncer's SHOW commands are not in pg_stat_statements, so its rounds do not count)."""
    def pg_round():
        return last_rounds(exporter)[0].get("pg")
    first = pg_round()
    while pg_round() == first:
        time.sleep(0.01)
    first = pg_round()
    before = servers.sql_by_role()["poolwatch"][0]
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < INTERVAL / 4:
        exporter.scrape()
        n += 1
    same_round = pg_round() == first
    after = servers.sql_by_role()["poolwatch"][0]
    return (after - before) / n if same_round else float("nan")


def cpu_per_hour(exporter, servers, window):
    """CPU seconds per hour of normal operation (interval 15 s, two scrapers every 15 s), measured over
    `window` seconds at SCALE: two scraper threads, half a period apart, each scraping every INTERVAL
    (or at once when the previous scrape ran late: a slow peer then gets fewer cycles, and the figure is
    per cycle done). Also the PostgreSQL time per hour and per cycle, from pg_stat_statements."""
    done = [0, 0]
    stop = time.perf_counter() + window

    def scraper(index):
        conn = http.client.HTTPConnection("127.0.0.1", exporter.port, timeout=120)
        due = time.perf_counter() + index * INTERVAL / 2
        while True:
            now = time.perf_counter()
            if due > now:
                time.sleep(due - now)
            if time.perf_counter() >= stop:
                break
            try:
                http_get(conn, {"Accept-Encoding": "gzip"})
            except (http.client.HTTPException, OSError):
                conn.close()
                http_get(conn, {"Accept-Encoding": "gzip"})
            done[index] += 1
            due += INTERVAL
        conn.close()

    sql_before, cpu_before, started = servers.sql_by_role()[ROLES_OF(exporter)], exporter.cpu_seconds(), time.perf_counter()
    threads = [threading.Thread(target=scraper, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    cpu, sql_after = cpu_delta(cpu_before, exporter.cpu_seconds()), servers.sql_by_role()[ROLES_OF(exporter)]
    exporter.scrapes += sum(done)
    # poolwatch works on its own clock: a cycle is INTERVAL of time. A peer works per scrape: a cycle is two scrapes.
    cycles = elapsed / INTERVAL if not exporter.peer else sum(done) / 2
    pg_ms = sql_after[1] - sql_before[1]
    return dict(cpu_s_per_hour=cpu / cycles * 240, pg_s_per_hour=pg_ms / 1000 / cycles * 240,
                pg_ms_per_cycle=pg_ms / cycles, cpu_cycles=cycles, cpu_window_s=elapsed)


def ROLES_OF(exporter):
    return exporter.name if exporter.name in ROLES else "poolwatch"


# --- the scale points ------------------------------------------------------------------------------

def set_aliases(count):
    """PgBouncer's [databases]: `postgres` (pgbench's) plus db0 .. db<count-1>, each with pool_size=1 on
    the same PostgreSQL; RELOAD drops the aliases (and their pools) that are no longer listed."""
    with open(PGB_INI) as f:
        text = f.read()
    head, rest = text.split("[pgbouncer]", 1)
    lines = [l for l in head.splitlines() if not re.match(r"^db\d+ = ", l)]
    aliases = [f"db{i} = host=127.0.0.1 port={PG_PORT} dbname=postgres pool_size=1" for i in range(count)]
    with open(PGB_INI, "w") as f:
        f.write("\n".join(lines + aliases) + "\n\n[pgbouncer]" + rest)
    conn = pg(dbname="pgbouncer", port=PGB_PORT)
    conn.cursor().execute("RELOAD")
    conn.close()


def open_pools(upto, state):
    while state["opened"] < upto:
        conn = psycopg2.connect(host="127.0.0.1", port=PGB_PORT, user="postgres", dbname=f"db{state['opened']}")
        conn.cursor().execute("SELECT 1")
        conn.close()
        state["opened"] += 1


def make_statements(servers, count):
    """Resets pg_stat_statements and runs `count` distinct statements (distinct query ids: the jumble
    sees the number of targets and of AND-ed terms)."""
    with servers.admin.cursor() as cur:
        cur.execute("SELECT pg_stat_statements_reset()")
        made = 0
        for targets in range(1, 200):
            for terms in range(0, 50):
                if made >= count:
                    break
                cur.execute("SELECT " + ", ".join(["1"] * targets) + " WHERE " + " AND ".join(["true"] * (terms + 1)))
                made += 1


def reset_statements(servers):
    with servers.admin.cursor() as cur:
        cur.execute("SELECT pg_stat_statements_reset()")


def hold_backends(count):
    conns = [pg() for _ in range(count)]
    for c in conns:
        c.cursor().execute("SELECT 1")
    return conns


def pgbench_load():
    subprocess.run(["pgbench", "-i", "-q", "-s", "1", "-h", "127.0.0.1", "-p", str(PG_PORT), "-U", "postgres", "postgres"],
                   check=True, capture_output=True)
    # Rate-limited so the load is steady and leaves the 2 cores for the exporters.
    return subprocess.Popen(["pgbench", "-n", "-c", "4", "-j", "1", "-R", "100", "-T", "100000", "-h", "127.0.0.1",
                             "-p", str(PGB_PORT), "-U", "postgres", "postgres"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def settle():
    """Two poolwatch rounds see the new state."""
    time.sleep(2 * INTERVAL + 0.3)


class Running:
    """Starts exporters for one dimension and stops them at the end, whatever happens."""

    def __init__(self, *exporters):
        self.exporters = exporters

    def __enter__(self):
        for e in self.exporters:
            e.start()
        settle()
        return self.exporters

    def __exit__(self, *_):
        for e in self.exporters:
            e.stop()


def point(results, key, exporters, servers, cpu=False, long_budget=LONG_BUDGET):
    """Every figure of one scale point: latency and throughput exporter after exporter, then CPU per hour
    and memory after LONG_SCRAPES scrapes for all of them at once."""
    name = " ".join(map(str, key))
    for e in exporters:
        e.new_point()
    for e in exporters:
        log(f"{name}: {e.name}")
        results[key + (e.name,)] = measure(e, servers) if e.name != "floor" else {}
    measured = [e for e in exporters if e.name != "floor"]
    if cpu:
        window = CPU_WINDOW_SLOW if key[0] == "statements" else CPU_WINDOW
        log(f"{name}: CPU per hour, {window:g} s")
        # One exporter at a time: at 5,000 statements postgres_exporter's scrapes keep both cores busy
        # (about 1 s of CPU each), which slowed poolwatch's own statements twofold when measured together.
        for e in measured:
            results[key + (e.name,)].update(cpu_per_hour(e, servers, window))
    log(f"{name}: memory after {LONG_SCRAPES} scrapes")
    for e, memory in zip(exporters, together([lambda e=e: long_scrapes(e, long_budget) for e in exporters])):
        results[key + (e.name, "memory")] = memory


def one_run(run, servers, floors):
    log(f"run {run + 1} of {RUNS}")
    results = {}

    # Base: the whole sidecar (both targets) beside each peer and the Swift floor; every scrape counted.
    set_aliases(POOL_POINTS[0])
    reset_statements(servers)
    open_pools(POOL_POINTS[0], {"opened": 0})
    with Running(poolwatch("pg", "bouncer"), postgres_exporter(), pgbouncer_exporter(), floor()) as exporters:
        for e in exporters:
            results[("base", e.name, "warm")] = e.memory()
        point(results, ("base",), exporters, servers, long_budget=None)
        results[("base", "poolwatch", "sql_per_scrape")] = poolwatch_sql_per_scrape(exporters[0], servers)
        if run == 0:
            floors[("pw_statements", "base")] = servers.poolwatch_statements_by_time()

    # Pools: PgBouncer with as many aliases as pools at each point, poolwatch with its PgBouncer target only.
    set_aliases(POOL_POINTS[0])
    state = {"opened": 0}
    with Running(poolwatch("bouncer"), pgbouncer_exporter()) as exporters:
        for pools in POOL_POINTS:
            set_aliases(pools)
            open_pools(pools, state)
            settle()
            point(results, ("pools", pools), exporters, servers, cpu=pools in CPU_POOL_POINTS)
            if run == 0:
                # (No `with conn:` here: psycopg2 2.9 sends BEGIN there, which the console refuses.)
                conn = pg(dbname="pgbouncer", port=PGB_PORT)
                floors[("pools", pools)] = timed_run(conn, poolwatch_statements("pgbouncer", exporters[0]))
                conn.close()
    set_aliases(0)

    # Statements and backends: poolwatch with its PostgreSQL target only, postgres_exporter at the same coverage.
    with Running(poolwatch("pg"), postgres_exporter()) as exporters:
        for count in STATEMENT_POINTS:
            make_statements(servers, count)
            settle()
            point(results, ("statements", count), exporters, servers, cpu=count in CPU_STATEMENT_POINTS)
            results[("statements", count, "entries")] = servers.statement_entries()
            if run == 0:
                floors[("statements", count)] = timed_run(servers.admin, poolwatch_statements("postgres", exporters[0]))
                floors[("pw_statements", count)] = servers.poolwatch_statements_by_time()

    reset_statements(servers)
    with Running(poolwatch("pg"), postgres_exporter()) as exporters:
        for count in BACKEND_POINTS:
            held = hold_backends(count)
            settle()
            point(results, ("backends", count), exporters, servers)
            if run == 0:
                floors[("backends", count)] = timed_run(servers.admin, poolwatch_statements("postgres", exporters[0]))
            for c in held:
                c.close()
    return results


# --- the report ------------------------------------------------------------------------------------

def median_of(runs, key, field=None):
    values = []
    for r in runs:
        value = r.get(key)
        if value is None:
            continue
        value = value.get(field) if field else value
        if value is not None and value == value:  # not NaN
            values.append(value)
    return statistics.median(values) if values else float("nan")


def ratio(a, b):
    return a / b if b and b == b and a == a else float("nan")


def fmt(value, digits=2):
    if value != value:
        return "n/a"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def table(title, header, rows):
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(header)]
    lines = [f"## {title}", "",
             "| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths)) + " |",
             "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    lines += ["| " + " | ".join(str(c).ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def report(runs, floors, micro, header_line):
    out = [header_line, ""]
    pw, pe, pb, fl = "poolwatch", "postgres_exporter", "pgbouncer_exporter", "floor"
    m = lambda key, field=None: median_of(runs, key, field)
    inv = lambda a, b: "1/" + fmt(ratio(b, a), 0) if a == a and b == b and a and b and a < b else fmt(ratio(a, b), 2)

    rows = []
    for name in (pw, pe, pb):
        b = ("base", name)
        rows.append([name, fmt(m(b, "families"), 0), fmt(m(b, "series"), 0), fmt(m(b, "plain_kib"), 1), fmt(m(b, "gzip_kib"), 1),
                     fmt(m(b, "p50_ms"), 3), fmt(m(b, "p99_ms"), 3), fmt(m(b, "rps"), 0), fmt(m(b, "cpu_ms_per_scrape"), 3)])
    out.append(table("Base point (10 pools, pgbench load; poolwatch with both targets): size, gzip scrape latency, throughput, CPU per scrape",
                     ["exporter", "families", "series", "plain KiB", "gzip KiB", "p50 ms", "p99 ms", "wrk req/s", "CPU ms/scrape"], rows))
    p50 = {n: m(("base", n), "p50_ms") for n in (pw, pe, pb)}
    rps = {n: m(("base", n), "rps") for n in (pw, pe, pb)}
    out.append(f"poolwatch / postgres_exporter: scrape p50 {inv(p50[pw], p50[pe])}, throughput {fmt(ratio(rps[pw], rps[pe]), 0)}x; "
               f"poolwatch / pgbouncer exporter: scrape p50 {inv(p50[pw], p50[pb])}, throughput {fmt(ratio(rps[pw], rps[pb]), 0)}x\n")

    rows = []
    for name in (pw, pe, pb):
        b = ("base", name)
        sql = m(("base", pw, "sql_per_scrape")) if name == pw else m(b, "sql_per_scrape")
        rows.append([name, fmt(sql, 2), fmt(m(b, "logins_per_scrape"), 2), fmt(m(b, "sql_per_round"), 1) if name == pw else "-",
                     fmt(m(b, "pg_ms_per_round"), 3) if name == pw else fmt(m(b, "pg_ms_per_scrape"), 3)])
    out.append(table("Cost to the database at the base point (pg_stat_statements and the servers' connection logs, by the exporter's role)",
                     ["exporter", "SQL per scrape", "logins per scrape", "SQL per round", "PostgreSQL ms per round (poolwatch) / per scrape (peers)"], rows))
    out.append(f"PostgreSQL time: poolwatch per round / postgres_exporter per scrape = "
               f"{fmt(ratio(m(('base', pw), 'pg_ms_per_round'), m(('base', pe), 'pg_ms_per_scrape')), 3)} "
               f"(whole rounds; the 5-minute collectors amortized: see the CPU and PostgreSQL time per hour table)\n")
    for where, title in ((("pw_statements", "base"), "the base point"),
                         (("pw_statements", STATEMENT_POINTS[-1]), f"{STATEMENT_POINTS[-1]:,} statements")):
        rows = [[fmt(ms, 3), f"{share * 100:.0f}%", calls, text[:110]] for ms, share, calls, text in floors.get(where, [])]
        if rows:
            out.append(table(f"poolwatch's most expensive statements at {title} (first run, pg_stat_statements)",
                             ["ms per call", "share of its PostgreSQL time", "calls", "statement"], rows))

    rows = []
    mem = lambda key, field: m(key + ("memory",), field)
    for name in (pw, fl, pe, pb):
        b = ("base", name)
        rows.append([name if name != fl else "floor (Hummingbird, static body)", fmt(m(b + ("warm",), "rss"), 1), fmt(mem(b, "rss"), 1),
                     fmt(mem(b, "anon"), 1), fmt(mem(b, "file"), 1), fmt(mem(b, "binary"), 1), fmt(mem(b, "runtime"), 1),
                     fmt(mem(b, "libs"), 1), fmt(mem(b, "scrapes"), 0)])
    pair = {f: mem(("base", pe), f) + mem(("base", pb), f) for f in ("rss", "anon", "file", "binary", "runtime", "libs")}
    rows.append(["postgres_exporter + pgbouncer exporter", "", fmt(pair["rss"], 1), fmt(pair["anon"], 1), fmt(pair["file"], 1),
                 fmt(pair["binary"], 1), fmt(pair["runtime"], 1), fmt(pair["libs"], 1), ""])
    out.append(table(f"Memory at the base point, MiB: RSS after warm-up and after {LONG_SCRAPES} gzip scrapes, and what it is after them "
                     "(anonymous: heap and stacks; file: binary, language runtime, other libraries)",
                     ["process", "RSS warm", f"RSS after {LONG_SCRAPES}", "anon", "file", "binary", "runtime", "other libs", "scrapes"], rows))
    rss = {n: mem(("base", n), "rss") for n in (pw, fl, pe, pb)}
    anon = {n: mem(("base", n), "anon") for n in (pw, fl, pe, pb)}
    out.append(f"RSS poolwatch / postgres_exporter {fmt(ratio(rss[pw], rss[pe]), 2)}, / pgbouncer exporter {fmt(ratio(rss[pw], rss[pb]), 2)}, "
               f"/ both peers {fmt(ratio(rss[pw], pair['rss']), 2)}; poolwatch above the Swift floor: RSS +{fmt(rss[pw] - rss[fl], 1)} MiB, "
               f"anonymous +{fmt(anon[pw] - anon[fl], 1)} MiB\n")

    def memory_cells(a, b):
        return [fmt(mem(a, "rss"), 1), fmt(mem(b, "rss"), 1), fmt(ratio(mem(a, "rss"), mem(b, "rss")), 2),
                fmt(mem(a, "anon"), 1), fmt(mem(b, "anon"), 1), fmt(mem(b, "scrapes"), 0)]
    memory_header = ["pw RSS", "peer RSS", "RSS ratio", "pw anon", "peer anon", "peer scrapes"]

    rows = []
    for pools in POOL_POINTS:
        a, b = ("pools", pools, pw), ("pools", pools, pb)
        rows.append([pools, fmt(m(a, "series"), 0), fmt(m(b, "series"), 0), fmt(m(a, "round_bouncer_ms"), 1),
                     fmt(floors.get(("pools", pools), float("nan")) * 1000, 1),
                     fmt(m(a, "p50_ms"), 3), fmt(m(b, "p50_ms"), 2), inv(m(a, "p50_ms"), m(b, "p50_ms")),
                     fmt(m(a, "rps"), 0), fmt(m(b, "rps"), 1)] + memory_cells(a, b) + [fmt(m(b, "logins_per_scrape"), 2)])
    out.append(table("PgBouncer pools: poolwatch (PgBouncer target only) vs prometheus-pgbouncer-exporter (memory: after "
                     f"{LONG_SCRAPES} scrapes at the point, or as many as the peer served in {LONG_BUDGET:g} s more)",
                     ["pools", "pw series", "peer series", "pw round ms", "floor ms (same SHOWs, one session)", "pw p50 ms",
                      "peer p50 ms", "p50 ratio", "pw req/s", "peer req/s"] + memory_header + ["peer logins/scrape"], rows))

    rows = []
    for count in STATEMENT_POINTS:
        a, b = ("statements", count, pw), ("statements", count, pe)
        rows.append([count, fmt(m(("statements", count, "entries")), 0), fmt(m(a, "series"), 0), fmt(m(b, "series"), 0),
                     fmt(m(a, "round_pg_ms"), 1), fmt(floors.get(("statements", count), float("nan")) * 1000, 1),
                     fmt(m(a, "pg_ms_per_round"), 2), fmt(m(b, "pg_ms_per_scrape"), 2), fmt(ratio(m(a, "pg_ms_per_round"), m(b, "pg_ms_per_scrape")), 2),
                     fmt(m(a, "p50_ms"), 3), fmt(m(b, "p50_ms"), 1), inv(m(a, "p50_ms"), m(b, "p50_ms"))] + memory_cells(a, b))
    out.append(table("pg_stat_statements entries: poolwatch (PostgreSQL target only, top-N) vs postgres_exporter (defaults + queries.yaml)",
                     ["statements", "entries", "pw series", "peer series", "pw round ms", "floor ms", "pw PG ms/round",
                      "peer PG ms/scrape", "PG ratio", "pw p50 ms", "peer p50 ms", "p50 ratio"] + memory_header, rows))

    rows = []
    for count in BACKEND_POINTS:
        a, b = ("backends", count, pw), ("backends", count, pe)
        rows.append([count, fmt(m(a, "series"), 0), fmt(m(b, "series"), 0), fmt(m(a, "round_pg_ms"), 1),
                     fmt(floors.get(("backends", count), float("nan")) * 1000, 1), fmt(m(a, "pg_ms_per_round"), 2),
                     fmt(m(b, "pg_ms_per_scrape"), 2), fmt(ratio(m(a, "pg_ms_per_round"), m(b, "pg_ms_per_scrape")), 2),
                     fmt(m(a, "p50_ms"), 3), fmt(m(b, "p50_ms"), 1), inv(m(a, "p50_ms"), m(b, "p50_ms"))] + memory_cells(a, b))
    out.append(table("Idle backends: poolwatch (PostgreSQL target only) vs postgres_exporter",
                     ["idle backends", "pw series", "peer series", "pw round ms", "floor ms", "pw PG ms/round",
                      "peer PG ms/scrape", "PG ratio", "pw p50 ms", "peer p50 ms", "p50 ratio"] + memory_header, rows))

    rows = []
    cpu_points = [("pools", p, pb) for p in CPU_POOL_POINTS] + [("statements", c, pe) for c in CPU_STATEMENT_POINTS]
    for dim, value, peer in cpu_points:
        a, b = (dim, value, pw), (dim, value, peer)
        rows.append([f"{value:,} {dim}", peer, fmt(m(a, "cpu_s_per_hour"), 1), fmt(m(b, "cpu_s_per_hour"), 1),
                     inv(m(a, "cpu_s_per_hour"), m(b, "cpu_s_per_hour")),
                     fmt(m(a, "pg_s_per_hour"), 2) if dim == "statements" else "-", fmt(m(b, "pg_s_per_hour"), 2) if dim == "statements" else "-",
                     fmt(m(a, "pg_ms_per_cycle"), 2) if dim == "statements" else "-", fmt(m(b, "pg_ms_per_cycle") / 2, 2) if dim == "statements" else "-",
                     fmt(ratio(m(a, "pg_ms_per_cycle"), m(b, "pg_ms_per_cycle") / 2), 2) if dim == "statements" else "-",
                     f"{fmt(m(a, 'cpu_cycles'), 0)} / {fmt(m(b, 'cpu_cycles'), 0)}"])
    out.append(table(f"CPU and PostgreSQL time per hour of normal operation (interval 15 s, two scrapers every 15 s), measured at "
                     f"{SCALE}x speed: poolwatch's interval {INTERVAL:g} s and its 5-minute collectors every {SLOW_INTERVAL:g} s, "
                     f"two scrapers every {INTERVAL:g} s; per 1-s cycle x 240",
                     ["point", "peer", "pw CPU s/h", "peer CPU s/h", "CPU ratio", "pw PG s/h", "peer PG s/h",
                      "pw PG ms/round (5-min collectors amortized)", "peer PG ms/scrape", "PG ratio", "cycles pw / peer"], rows))

    out.append("## Micro-benchmarks (release build, medians)\n\n" + micro)
    return "\n".join(out)


def main():
    write_peer_files()
    servers = Servers()
    pg_version = servers.admin.server_version
    pgb_version = subprocess.run(["pgbouncer", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    pe_version = subprocess.run(["prometheus-postgres-exporter", "--version"], capture_output=True, text=True)
    pe_version = (pe_version.stdout + pe_version.stderr).splitlines()[0]
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "unknown CPU")
    header = (f"# poolwatch bench — {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores ({cpu}), "
              f"PostgreSQL {pg_version // 10000}.{pg_version % 10000}, {pgb_version}; peers: {pe_version}, "
              f"prometheus-pgbouncer-exporter 2.1.2; medians of {RUNS} run(s)")
    load = pgbench_load()
    runs, floors = [], {}
    started = time.perf_counter()
    try:
        for run in range(RUNS):
            runs.append(one_run(run, servers, floors))
    finally:
        load.terminate()
        load.wait()
    log("micro-benchmarks")
    micro = subprocess.run([MICRO] + (["--iterations", "10"] if QUICK else []), capture_output=True, text=True, check=True).stdout
    text = report(runs, floors, micro, header)
    text += f"\nThe measuring part took {(time.perf_counter() - started) / 60:.1f} minutes ({RUNS} run(s){', PW_BENCH_QUICK=1' if QUICK else ''}).\n"
    print(text)
    with open(OUT, "w") as f:
        f.write(text)
    log(f"written to {OUT}")


if __name__ == "__main__":
    main()
