#!/usr/bin/env python3
"""The measuring half of scripts/bench (which installs, builds and starts the servers, then runs this
with the virtualenv's Python, which has psycopg2).

Each run starts poolwatch, postgres_exporter and the pgbouncer exporter against the same PostgreSQL and
PgBouncer, with a pgbench load running through PgBouncer, and walks the scale points; each exporter is
measured on the same work at each point, one after the other. Runs are repeated and the tables show the
median of each figure. Nothing here asserts: it prints numbers and ratios.
"""
import http.client
import os
import re
import signal
import statistics
import subprocess
import sys
import time

import psycopg2

BIN = os.environ["PW_BENCH_BIN_PATH"]
MICRO = os.environ["PW_BENCH_MICRO_PATH"]
PG_PORT = int(os.environ["PW_PG_PORT"])
PGB_PORT = int(os.environ["PW_PGB_PORT"])
TMP = os.environ["PW_TMP"]
OUT = os.environ["PW_BENCH_OUT"]
QUICK = os.environ.get("PW_BENCH_QUICK") == "1"
RUNS = 1 if QUICK else int(os.environ.get("PW_BENCH_RUNS", "3"))
VENV_BIN = os.path.dirname(sys.executable)
CLK_TCK = os.sysconf("SC_CLK_TCK")

POOL_POINTS = [10, 100] if QUICK else [10, 100, 1000]
STATEMENT_POINTS = [100, 1000] if QUICK else [100, 1000, 5000]
BACKEND_POINTS = [50] if QUICK else [50, 150]
SEQUENTIAL = 100          # sequential scrapes per latency figure
SEQUENTIAL_BUDGET = 60.0  # ... unless an exporter takes longer than this in all
LONG_SCRAPES = 200 if QUICK else 1000
WRK_SECONDS = 3

ROLES = {"poolwatch": "pw_bench_poolwatch", "postgres_exporter": "pw_bench_pgexp", "pgbouncer_exporter": "pw_bench_pgbexp"}


def log(*parts):
    print("==>", *parts, file=sys.stderr, flush=True)


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

class Exporter:
    """One exporter process, scraped over one keep-alive connection like Prometheus does."""

    def __init__(self, name, argv, env=None, covers=()):
        self.name, self.argv, self.env, self.covers = name, argv, env, covers
        self.port = None
        self.proc = None

    def start(self, port):
        self.port = port
        env = dict(os.environ)
        env.update(self.env or {})
        self.logfile = open(f"{TMP}/{self.name}.log", "ab")
        self.proc = subprocess.Popen(self.argv(port), env=env, stdout=self.logfile, stderr=subprocess.STDOUT)
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                status, _ = self.scrape()
                if status == 200:
                    return
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

    def scrape(self, gzip=False):
        headers = {"Accept-Encoding": "gzip"} if gzip else {}
        try:
            self.conn.request("GET", "/metrics", headers=headers)
            response = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            # The Python exporter answers HTTP/1.0 and closes; reconnect like Prometheus would.
            self.conn.close()
            self.conn.request("GET", "/metrics", headers=headers)
            response = self.conn.getresponse()
        return response.status, response.read()

    def rss_mib(self, field="VmRSS"):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024

    def anon_mib(self):
        """The anonymous part of RSS (heap, stacks): RSS without the mapped code and data of the binary
        and its libraries, which are clean file pages the kernel can drop and share."""
        return self.rss_mib("RssAnon")

    def cpu_seconds(self):
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def write_peer_files():
    # postgres_exporter 0.11 has no pg_stat_statements collector; the documented way is a queries.yaml.
    # Debian's example still uses the pre-13 column names, so this is that example for PostgreSQL 13+.
    with open(f"{TMP}/queries.yaml", "w") as f:
        f.write("""pg_stat_statements:
  query: "SELECT t2.rolname, t3.datname, queryid, calls, total_exec_time / 1000 as total_time_seconds, min_exec_time / 1000 as min_time_seconds, max_exec_time / 1000 as max_time_seconds, mean_exec_time / 1000 as mean_time_seconds, stddev_exec_time / 1000 as stddev_time_seconds, rows, shared_blks_hit, shared_blks_read, shared_blks_dirtied, shared_blks_written, local_blks_hit, local_blks_read, local_blks_dirtied, local_blks_written, temp_blks_read, temp_blks_written, blk_read_time / 1000 as blk_read_time_seconds, blk_write_time / 1000 as blk_write_time_seconds FROM pg_stat_statements t1 JOIN pg_roles t2 ON (t1.userid=t2.oid) JOIN pg_database t3 ON (t1.dbid=t3.oid)"
  master: true
  metrics:
    - rolname: {usage: "LABEL", description: "Name of user"}
    - datname: {usage: "LABEL", description: "Name of database"}
    - queryid: {usage: "LABEL", description: "Query ID"}
    - calls: {usage: "COUNTER", description: "Number of times executed"}
    - total_time_seconds: {usage: "COUNTER", description: "Total time spent in the statement"}
    - min_time_seconds: {usage: "GAUGE", description: "Minimum time spent in the statement"}
    - max_time_seconds: {usage: "GAUGE", description: "Maximum time spent in the statement"}
    - mean_time_seconds: {usage: "GAUGE", description: "Mean time spent in the statement"}
    - stddev_time_seconds: {usage: "GAUGE", description: "Population standard deviation of time spent in the statement"}
    - rows: {usage: "COUNTER", description: "Total number of rows retrieved or affected by the statement"}
    - shared_blks_hit: {usage: "COUNTER", description: "Total number of shared block cache hits"}
    - shared_blks_read: {usage: "COUNTER", description: "Total number of shared blocks read"}
    - shared_blks_dirtied: {usage: "COUNTER", description: "Total number of shared blocks dirtied"}
    - shared_blks_written: {usage: "COUNTER", description: "Total number of shared blocks written"}
    - local_blks_hit: {usage: "COUNTER", description: "Total number of local block cache hits"}
    - local_blks_read: {usage: "COUNTER", description: "Total number of local blocks read"}
    - local_blks_dirtied: {usage: "COUNTER", description: "Total number of local blocks dirtied"}
    - local_blks_written: {usage: "COUNTER", description: "Total number of local blocks written"}
    - temp_blks_read: {usage: "COUNTER", description: "Total number of temp blocks read"}
    - temp_blks_written: {usage: "COUNTER", description: "Total number of temp blocks written"}
    - blk_read_time_seconds: {usage: "COUNTER", description: "Time spent reading blocks"}
    - blk_write_time_seconds: {usage: "COUNTER", description: "Time spent writing blocks"}
""")
    with open(f"{TMP}/pgbouncer-exporter.yml", "w") as f:
        f.write(f"""exporter_host: 127.0.0.1
exporter_port: PORT
pgbouncers:
  - dsn: postgresql://{ROLES['pgbouncer_exporter']}@127.0.0.1:{PGB_PORT}/pgbouncer
    connect_timeout: 5
""")


def poolwatch_config(port):
    path = f"{TMP}/poolwatch-bench.yml"
    with open(path, "w") as f:
        f.write(f"""listen_address: 127.0.0.1:{port}
targets:
  - name: pg
    kind: postgres
    dsn: "host=127.0.0.1 port={PG_PORT} user={ROLES['poolwatch']} dbname=postgres"
    interval: 2s
    statements: {{enabled: true}}
  - name: bouncer
    kind: pgbouncer
    dsn: "host=127.0.0.1 port={PGB_PORT} user={ROLES['poolwatch']} dbname=pgbouncer"
    interval: 2s
alerting:
  state_dir: {TMP}/poolwatch-state
""")
    return [BIN, "--config", path, "--log-level", "warning"]


def pgbouncer_exporter_argv(port):
    path = f"{TMP}/pgbouncer-exporter-{port}.yml"
    with open(f"{TMP}/pgbouncer-exporter.yml") as f:
        text = f.read().replace("PORT", str(port))
    with open(path, "w") as f:
        f.write(text)
    return [f"{VENV_BIN}/pgbouncer-exporter", "--config", path, "--log-level", "WARNING"]


def exporters():
    return [
        Exporter("poolwatch", poolwatch_config, covers=("postgres", "pgbouncer")),
        Exporter("postgres_exporter",
                 lambda port: ["prometheus-postgres-exporter", f"--web.listen-address=127.0.0.1:{port}",
                               f"--extend.query-path={TMP}/queries.yaml", "--log.level=warn"],
                 env={"DATA_SOURCE_NAME": f"postgresql://{ROLES['postgres_exporter']}@127.0.0.1:{PG_PORT}/postgres?sslmode=disable"},
                 covers=("postgres",)),
        Exporter("pgbouncer_exporter", pgbouncer_exporter_argv, covers=("pgbouncer",)),
    ]


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


def poolwatch_statements(kind):
    """The statements of one poolwatch round against `kind`, from `poolwatch sql` (PostgreSQL 15, PgBouncer 1.18)."""
    target = "pg" if kind == "postgres" else "bouncer"
    version = {"postgres": 150000, "pgbouncer": 11800}[kind]
    out = subprocess.run([BIN, "sql", "--config", f"{TMP}/poolwatch-bench.yml", "--target", target,
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
LAST_RE = re.compile(rb'poolwatch_last_collection_timestamp_seconds\{target="pg"\} (\S+)')


def measure(exporter, servers, throughput=True):
    """Latency, size, CPU, SQL and logins of `exporter` at the current point."""
    result = {}
    _, plain = exporter.scrape()
    _, gz = exporter.scrape(gzip=True)
    result["families"], result["series"] = series_and_families(plain)
    result["plain_kib"], result["gzip_kib"] = len(plain) / 1024, len(gz) / 1024

    sql_before, logins_before, cpu_before = servers.sql_by_role(), servers.logins(), exporter.cpu_seconds()
    times = []
    started = time.perf_counter()
    while len(times) < SEQUENTIAL and time.perf_counter() - started < SEQUENTIAL_BUDGET:
        t = time.perf_counter()
        exporter.scrape()
        times.append((time.perf_counter() - t) * 1000)
    window = time.perf_counter() - started
    n = len(times)
    sql_after, logins_after, cpu_after = servers.sql_by_role(), servers.logins(), exporter.cpu_seconds()
    calls = sql_after[exporter.name][0] - sql_before[exporter.name][0]
    pg_ms = sql_after[exporter.name][1] - sql_before[exporter.name][1]
    times.sort()
    result.update(
        scrapes=n, p50_ms=statistics.median(times), p99_ms=times[min(n - 1, int(n * 0.99))],
        cpu_ms_per_scrape=(cpu_after - cpu_before) * 1000 / n,
        logins_per_scrape=(logins_after[exporter.name] - logins_before[exporter.name]) / n,
        window_s=window)
    if exporter.name == "poolwatch":
        # Rounds run on their own clock, not per scrape: their cost is measured over whole rounds.
        result.update(round_cost(exporter, servers))
    else:
        result.update(sql_per_scrape=calls / n, pg_ms_per_scrape=pg_ms / n)
    if throughput:
        result["rps"] = wrk(exporter.port)
    result["rss_mib"], result["anon_mib"] = exporter.rss_mib(), exporter.anon_mib()
    return result


def round_of(exporter):
    """The finish time of poolwatch's last PostgreSQL round and the durations (ms) of both targets' last rounds."""
    body = exporter.scrape()[1]
    return LAST_RE.search(body).group(1), {t.decode(): float(v) * 1000 for t, v in ROUND_RE.findall(body)}


def round_cost(exporter, servers, rounds=3):
    """poolwatch's SQL statements, PostgreSQL time and round durations over `rounds` whole rounds."""
    last, _ = round_of(exporter)
    while round_of(exporter)[0] == last:
        time.sleep(0.02)
    before, durations = servers.sql_by_role()["poolwatch"], {"pg": [], "bouncer": []}
    for _ in range(rounds):
        last, _ = round_of(exporter)
        while True:
            time.sleep(0.02)
            now, latest = round_of(exporter)
            if now != last:
                break
        for target, ms in latest.items():
            durations[target].append(ms)
    after = servers.sql_by_role()["poolwatch"]
    return dict(sql_per_round=(after[0] - before[0]) / rounds, pg_ms_per_round=(after[1] - before[1]) / rounds,
                round_pg_ms=statistics.median(durations["pg"]), round_bouncer_ms=statistics.median(durations["bouncer"]))


def wrk(port):
    # With Accept-Encoding: gzip, as Prometheus scrapes (the Python exporter ignores it).
    out = subprocess.run(["wrk", "-t2", "-c10", f"-d{WRK_SECONDS}s", "--timeout", "30s", "-H", "Accept-Encoding: gzip",
                          f"http://127.0.0.1:{port}/metrics"],
                         capture_output=True, text=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return float(match.group(1)) if match else float("nan")


def poolwatch_sql_per_scrape(exporter, servers):
    """SQL statements poolwatch sends because of scrapes: a burst of scrapes between two rounds."""
    # Wait for a round to finish, then scrape hard for 0.5 s (rounds are 2 s apart).
    _, body = exporter.scrape()
    first = LAST_RE.search(body).group(1)
    while LAST_RE.search(exporter.scrape()[1]).group(1) == first:
        time.sleep(0.01)
    before = servers.sql_by_role()["poolwatch"][0]
    n, started = 0, time.perf_counter()
    while time.perf_counter() - started < 0.5:
        exporter.scrape()
        n += 1
    after_body = exporter.scrape()[1]
    same_round = LAST_RE.search(after_body).group(1) != first
    after = servers.sql_by_role()["poolwatch"][0]
    return (after - before) / n if same_round else float("nan"), n


# --- the scale points ------------------------------------------------------------------------------

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


def one_run(run, servers, floors):
    log(f"run {run + 1} of {RUNS}")
    results = {}
    state = {"opened": 0}
    all_exporters = exporters()
    for exporter in all_exporters:
        exporter.start(free_port())
    by_name = {e.name: e for e in all_exporters}
    time.sleep(5)  # a few poolwatch rounds; every exporter answered once
    open_pools(POOL_POINTS[0], state)
    try:
        # Base point: every figure, for every exporter.
        for e in all_exporters:
            results[("base", e.name, "warm_rss")], results[("base", e.name, "warm_anon")] = e.rss_mib(), e.anon_mib()
        for e in all_exporters:
            log(f"base: {e.name}")
            results[("base", e.name)] = measure(e, servers)
        results[("base", "poolwatch", "sql_per_scrape")] = poolwatch_sql_per_scrape(by_name["poolwatch"], servers)[0]
        for e in all_exporters:
            log(f"base: {e.name}: {LONG_SCRAPES} gzip scrapes")
            started = time.perf_counter()
            for _ in range(LONG_SCRAPES):
                e.scrape(gzip=True)
            results[("base", e.name, "long_s")] = time.perf_counter() - started
            results[("base", e.name, "long_rss")], results[("base", e.name, "long_anon")] = e.rss_mib(), e.anon_mib()

        for pools in POOL_POINTS:
            open_pools(pools, state)
            time.sleep(4.5)  # two poolwatch rounds see them all
            for name in ("poolwatch", "pgbouncer_exporter"):
                log(f"{pools} pools: {name}")
                results[("pools", pools, name)] = measure(by_name[name], servers)
            if run == 0:
                # (No `with conn:` here: psycopg2 2.9 sends BEGIN there, which the console refuses.)
                conn = pg(dbname="pgbouncer", port=PGB_PORT)
                floors[("pools", pools)] = timed_run(conn, poolwatch_statements("pgbouncer"))
                conn.close()

        for count in STATEMENT_POINTS:
            make_statements(servers, count)
            time.sleep(4.5)
            for name in ("poolwatch", "postgres_exporter"):
                log(f"{count} statements: {name}")
                results[("statements", count, name)] = measure(by_name[name], servers)
            results[("statements", count, "entries")] = servers.statement_entries()
            if run == 0:
                floors[("statements", count)] = timed_run(servers.admin, poolwatch_statements("postgres"))

        for count in BACKEND_POINTS:
            held = hold_backends(count)
            time.sleep(4.5)
            for name in ("poolwatch", "postgres_exporter"):
                log(f"{count} idle backends: {name}")
                results[("backends", count, name)] = measure(by_name[name], servers)
            if run == 0:
                floors[("backends", count)] = timed_run(servers.admin, poolwatch_statements("postgres"))
            for c in held:
                c.close()
    finally:
        for exporter in all_exporters:
            exporter.stop()
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
    pw, pe, pb = "poolwatch", "postgres_exporter", "pgbouncer_exporter"
    m = lambda key, field=None: median_of(runs, key, field)

    rows = []
    for name in (pw, pe, pb):
        rows.append([name, fmt(m(("base", name), "families"), 0), fmt(m(("base", name), "series"), 0),
                     fmt(m(("base", name), "plain_kib"), 1), fmt(m(("base", name), "gzip_kib"), 1),
                     fmt(m(("base", name), "p50_ms"), 3), fmt(m(("base", name), "p99_ms"), 3),
                     fmt(m(("base", name), "rps"), 0), fmt(m(("base", name), "cpu_ms_per_scrape"), 3)])
    out.append(table("Base point (10 pools, pgbench load): size, latency, throughput, CPU per scrape",
                     ["exporter", "families", "series", "plain KiB", "gzip KiB", "p50 ms", "p99 ms", "wrk req/s", "CPU ms/scrape"], rows))
    p50 = {n: m(("base", n), "p50_ms") for n in (pw, pe, pb)}
    rps = {n: m(("base", n), "rps") for n in (pw, pe, pb)}
    out.append(f"poolwatch / postgres_exporter: scrape p50 {fmt(ratio(p50[pw], p50[pe]), 4)} (1/{fmt(ratio(p50[pe], p50[pw]), 0)}),"
               f" throughput {fmt(ratio(rps[pw], rps[pe]), 0)}x; poolwatch / pgbouncer exporter: scrape p50 1/{fmt(ratio(p50[pb], p50[pw]), 0)},"
               f" throughput {fmt(ratio(rps[pw], rps[pb]), 0)}x\n")

    rows = []
    for name in (pw, pe, pb):
        base = ("base", name)
        sql = m(("base", "poolwatch", "sql_per_scrape")) if name == pw else m(base, "sql_per_scrape")
        rows.append([name, fmt(sql, 2), fmt(m(base, "logins_per_scrape"), 2),
                     fmt(m(base, "sql_per_round"), 1) if name == pw else "-",
                     fmt(m(base, "pg_ms_per_round"), 3) if name == pw else fmt(m(base, "pg_ms_per_scrape"), 3)])
    out.append(table("Cost to the database (pg_stat_statements and the servers' connection logs, by the exporter's role)",
                     ["exporter", "SQL per scrape", "logins per scrape", "SQL per round", "PostgreSQL ms per round (poolwatch) / per scrape (peers)"], rows))
    out.append(f"PostgreSQL time: poolwatch per round / postgres_exporter per scrape = "
               f"{fmt(ratio(m(('base', pw), 'pg_ms_per_round'), m(('base', pe), 'pg_ms_per_scrape')), 3)}\n")

    rows = []
    for name in (pw, pe, pb):
        rows.append([name, fmt(m(("base", name, "warm_rss")), 1), fmt(m(("base", name, "long_rss")), 1),
                     fmt(m(("base", name, "warm_anon")), 1), fmt(m(("base", name, "long_anon")), 1),
                     fmt(m(("base", name, "long_s")), 2)])
    out.append(table(f"Memory: MiB after warm-up and after {LONG_SCRAPES} gzip scrapes (RSS, and its anonymous part: heap and stacks)",
                     ["exporter", "RSS warm", f"RSS after {LONG_SCRAPES}", "anon warm", f"anon after {LONG_SCRAPES}",
                      f"{LONG_SCRAPES} scrapes took s"], rows))

    rows = []
    for pools in POOL_POINTS:
        a, b = ("pools", pools, pw), ("pools", pools, pb)
        rows.append([pools, fmt(m(a, "series"), 0), fmt(m(b, "series"), 0), fmt(m(a, "round_bouncer_ms"), 1),
                     fmt(floors.get(("pools", pools), float("nan")) * 1000, 1),
                     fmt(m(a, "p50_ms"), 3), fmt(m(b, "p50_ms"), 2), "1/" + fmt(ratio(m(b, "p50_ms"), m(a, "p50_ms")), 0),
                     fmt(m(a, "rps"), 0), fmt(m(b, "rps"), 1), fmt(m(a, "rss_mib"), 1), fmt(m(b, "rss_mib"), 1),
                     fmt(m(a, "anon_mib"), 1), fmt(m(b, "anon_mib"), 1), fmt(m(b, "logins_per_scrape"), 2)])
    out.append(table("PgBouncer pools: poolwatch vs prometheus-pgbouncer-exporter",
                     ["pools", "pw series", "peer series", "pw round ms", "floor ms (same SHOWs, one session)", "pw p50 ms",
                      "peer p50 ms", "p50 ratio", "pw req/s", "peer req/s", "pw RSS", "peer RSS", "pw anon", "peer anon", "peer logins/scrape"], rows))

    rows = []
    for count in STATEMENT_POINTS:
        a, b = ("statements", count, pw), ("statements", count, pe)
        rows.append([count, fmt(m(("statements", count, "entries")), 0), fmt(m(a, "series"), 0), fmt(m(b, "series"), 0),
                     fmt(m(a, "round_pg_ms"), 1), fmt(floors.get(("statements", count), float("nan")) * 1000, 1),
                     fmt(m(a, "pg_ms_per_round"), 2), fmt(m(b, "pg_ms_per_scrape"), 2),
                     fmt(m(a, "p50_ms"), 3), fmt(m(b, "p50_ms"), 1), "1/" + fmt(ratio(m(b, "p50_ms"), m(a, "p50_ms")), 0),
                     fmt(m(a, "rss_mib"), 1), fmt(m(b, "rss_mib"), 1), fmt(m(a, "anon_mib"), 1), fmt(m(b, "anon_mib"), 1)])
    out.append(table("pg_stat_statements entries: poolwatch (top-N) vs postgres_exporter (queries.yaml)",
                     ["statements", "entries", "pw series", "peer series", "pw round ms", "floor ms", "pw PG ms/round",
                      "peer PG ms/scrape", "pw p50 ms", "peer p50 ms", "p50 ratio", "pw RSS", "peer RSS", "pw anon", "peer anon"], rows))

    rows = []
    for count in BACKEND_POINTS:
        a, b = ("backends", count, pw), ("backends", count, pe)
        rows.append([count, fmt(m(a, "series"), 0), fmt(m(b, "series"), 0), fmt(m(a, "round_pg_ms"), 1),
                     fmt(floors.get(("backends", count), float("nan")) * 1000, 1), fmt(m(a, "pg_ms_per_round"), 2),
                     fmt(m(b, "pg_ms_per_scrape"), 2), fmt(m(a, "p50_ms"), 3), fmt(m(b, "p50_ms"), 1),
                     "1/" + fmt(ratio(m(b, "p50_ms"), m(a, "p50_ms")), 0), fmt(m(a, "rss_mib"), 1), fmt(m(b, "rss_mib"), 1),
                     fmt(m(a, "anon_mib"), 1), fmt(m(b, "anon_mib"), 1)])
    out.append(table("Idle backends: poolwatch vs postgres_exporter",
                     ["idle backends", "pw series", "peer series", "pw round ms", "floor ms", "pw PG ms/round",
                      "peer PG ms/scrape", "pw p50 ms", "peer p50 ms", "p50 ratio", "pw RSS", "peer RSS", "pw anon", "peer anon"], rows))

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
    try:
        for run in range(RUNS):
            runs.append(one_run(run, servers, floors))
    finally:
        load.terminate()
        load.wait()
    log("micro-benchmarks")
    micro = subprocess.run([MICRO], capture_output=True, text=True, check=True).stdout
    text = report(runs, floors, micro, header)
    print(text)
    with open(OUT, "w") as f:
        f.write(text)
    log(f"written to {OUT}")


if __name__ == "__main__":
    main()
