# Shared shell functions for scripts/test, scripts/demo and scripts/bench: install what is missing,
# start PostgreSQL (with pg_stat_statements) and PgBouncer on free loopback ports in a temp dir as the
# `postgres` user (both refuse to run as root), and stop everything again.
# Source it; do not run it.

PW_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PW_APT_PACKAGES="libpq-dev libcurl4-openssl-dev libyaml-dev pkg-config zlib1g-dev postgresql postgresql-contrib pgbouncer pgpool2 prometheus curl python3 ca-certificates chromium openssl"

pw_log() { printf '==> %s\n' "$*" >&2; }

# Installs the Debian packages the project needs, only if something is missing.
pw_install_deps() {
    local missing=""
    for pkg in $PW_APT_PACKAGES "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
    done
    if [ -n "$missing" ]; then
        if [ "$(id -u)" != 0 ]; then
            echo "missing packages:$missing (run as root, or install them)" >&2
            return 1
        fi
        pw_log "installing:$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # The postgresql package would start a cluster of its own on 5432; we start ours by hand.
        apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
    # Debian's packages start their own services on install; ours run on other ports, leave theirs alone.
    if ! command -v swift >/dev/null 2>&1; then
        echo "swift is not on PATH (expected the Swift 6 toolchain, e.g. /opt/swift/usr/bin)" >&2
        return 1
    fi
}

pw_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1; }

# Runs a command as the postgres user when we are root, else as ourselves.
pw_as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pw_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Creates PW_TMP, the one directory everything we start lives in.
pw_make_tmp() {
    PW_TMP=$(mktemp -d /tmp/poolwatch.XXXXXX)
    chmod 755 "$PW_TMP"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PW_TMP"
    export PW_TMP
}

# Starts PostgreSQL on a free loopback port with pg_stat_statements; exports PGHOST, PGPORT, PGUSER.
# Extra postgresql.conf lines come from $PW_PG_EXTRA.
pw_start_postgres() {
    local bin; bin=$(pw_pg_bin)
    PW_PG_PORT=${PW_PG_PORT:-$(pw_free_port)}
    PW_PGDATA="$PW_TMP/pgdata"
    pw_as_pg "$bin/initdb" -D "$PW_PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$PW_TMP/initdb.log" 2>&1 \
        || { cat "$PW_TMP/initdb.log" >&2; return 1; }
    cat >>"$PW_PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PW_PG_PORT
unix_socket_directories = '$PW_TMP'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
track_io_timing = on
max_connections = ${PW_PG_MAX_CONNECTIONS:-200}
fsync = off
logging_collector = off
${PW_PG_EXTRA:-}
CONF
    pw_as_pg "$bin/pg_ctl" -D "$PW_PGDATA" -l "$PW_TMP/postgres.log" -w -t 60 start >/dev/null \
        || { cat "$PW_TMP/postgres.log" >&2; return 1; }
    export PGHOST=127.0.0.1 PGPORT=$PW_PG_PORT PGUSER=postgres PGDATABASE=postgres
    export PW_PG_PORT PW_PGDATA
    psql -qAtX -c "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
    pw_log "PostgreSQL on 127.0.0.1:$PW_PG_PORT (data in $PW_PGDATA)"
}

pw_stop_postgres() {
    [ -n "${PW_PGDATA:-}" ] && [ -f "$PW_PGDATA/postmaster.pid" ] \
        && pw_as_pg "$(pw_pg_bin)/pg_ctl" -D "$PW_PGDATA" -m fast -w stop >/dev/null 2>&1 || true
}

# Starts a streaming standby of the PostgreSQL on $PW_PG_PORT in directory $1 (created; must not exist),
# with its own physical slot ($2) on the primary: pg_basebackup -R -C as the postgres user, as
# replication tests and the live observability check need. Exports PW_STANDBY_PORT, PW_STANDBY_DATA,
# PW_STANDBY_SLOT. Stop it with pw_stop_standby, which also drops the slot (a shared primary would
# otherwise retain WAL for it forever).
pw_start_standby() {
    local bin; bin=$(pw_pg_bin)
    PW_STANDBY_DATA="$1"
    PW_STANDBY_SLOT="$2"
    PW_STANDBY_PORT=$(pw_free_port)
    mkdir -p "$PW_STANDBY_DATA" && chmod 700 "$PW_STANDBY_DATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$PW_STANDBY_DATA" "$(dirname "$PW_STANDBY_DATA")"
    pw_as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$PW_PG_PORT" -U postgres -D "$PW_STANDBY_DATA" -R -X stream \
        -C -S "$PW_STANDBY_SLOT" >"$PW_STANDBY_DATA.basebackup.log" 2>&1 || { cat "$PW_STANDBY_DATA.basebackup.log" >&2; return 1; }
    cat >>"$PW_STANDBY_DATA/postgresql.auto.conf" <<CONF
port = $PW_STANDBY_PORT
unix_socket_directories = '$(dirname "$PW_STANDBY_DATA")'
primary_conninfo = 'host=127.0.0.1 port=$PW_PG_PORT user=postgres application_name=pw_standby'
CONF
    pw_as_pg "$bin/pg_ctl" -D "$PW_STANDBY_DATA" -l "$PW_STANDBY_DATA.log" -w -t 60 start >/dev/null \
        || { cat "$PW_STANDBY_DATA.log" >&2; return 1; }
    export PW_STANDBY_PORT PW_STANDBY_DATA PW_STANDBY_SLOT
    pw_log "standby of 127.0.0.1:$PW_PG_PORT on 127.0.0.1:$PW_STANDBY_PORT (slot $PW_STANDBY_SLOT)"
}

pw_stop_standby() {
    [ -n "${PW_STANDBY_DATA:-}" ] && [ -f "$PW_STANDBY_DATA/postmaster.pid" ] \
        && pw_as_pg "$(pw_pg_bin)/pg_ctl" -D "$PW_STANDBY_DATA" -m fast -w stop >/dev/null 2>&1
    [ -n "${PW_STANDBY_SLOT:-}" ] && psql -h 127.0.0.1 -p "$PW_PG_PORT" -U postgres -d postgres -qAtX \
        -c "SELECT pg_drop_replication_slot('$PW_STANDBY_SLOT')" >/dev/null 2>&1
    return 0
}

# Starts PgBouncer in front of PostgreSQL. Extra pgbouncer.ini [pgbouncer] lines come from $PW_PGB_EXTRA,
# extra [databases] lines from $PW_PGB_DATABASES, extra stats users (trusted, no password) from $PW_PGB_USERS.
pw_start_pgbouncer() {
    PW_PGB_PORT=${PW_PGB_PORT:-$(pw_free_port)}
    local dir="$PW_TMP/pgbouncer"
    mkdir -p "$dir"
    local user
    : >"$dir/userlist.txt"
    for user in postgres ${PW_PGB_USERS:-}; do echo "\"$user\" \"\"" >>"$dir/userlist.txt"; done
    cat >"$dir/pgbouncer.ini" <<INI
[databases]
postgres = host=127.0.0.1 port=$PW_PG_PORT dbname=postgres
${PW_PGB_DATABASES:-}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $PW_PGB_PORT
unix_socket_dir = $dir
auth_type = trust
auth_file = $dir/userlist.txt
admin_users = postgres
stats_users = postgres${PW_PGB_USERS:+, ${PW_PGB_USERS// /, }}
pool_mode = ${PW_PGB_POOL_MODE:-transaction}
default_pool_size = ${PW_PGB_POOL_SIZE:-2}
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
logfile = $dir/pgbouncer.log
pidfile = $dir/pgbouncer.pid
${PW_PGB_EXTRA:-}
INI
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
    pw_as_pg pgbouncer -d "$dir/pgbouncer.ini" || { cat "$dir/pgbouncer.log" >&2; return 1; }
    for _ in $(seq 50); do
        psql -h 127.0.0.1 -p "$PW_PGB_PORT" -U postgres -d pgbouncer -qAtX -c "SHOW VERSION" >/dev/null 2>&1 && break
        sleep 0.1
    done
    export PW_PGB_PORT PW_PGB_DIR="$dir"
    pw_log "PgBouncer on 127.0.0.1:$PW_PGB_PORT"
}

pw_stop_pgbouncer() {
    [ -n "${PW_PGB_DIR:-}" ] && [ -f "$PW_PGB_DIR/pgbouncer.pid" ] && kill "$(cat "$PW_PGB_DIR/pgbouncer.pid")" 2>/dev/null || true
}

# pw_start_pgpool starts Pgpool-II (Debian package pgpool2, binary `pgpool`) in front of the PostgreSQL
# that pw_start_postgres started (127.0.0.1:$PW_PG_PORT), in $PW_TMP/pgpool, as the postgres user, on a
# free loopback port. One backend in streaming-replication mode, so SHOW POOL_NODES reports it as
# `primary`; no health check, no watchdog, no pool_hba (the backend trusts loopback).
# Exports PW_PGPOOL_PORT, PW_PGPOOL_PCP_PORT, PW_PGPOOL_DIR and PW_PGPOOL_PID_FILE; pw_cleanup (lib.sh)
# stops it through the pid file, pw_stop_pgpool does it alone.
# Tunables: PW_PGPOOL_CHILDREN (num_init_children, default 4), PW_PGPOOL_MAX_POOL (default 2),
# extra pgpool.conf lines in $PW_PGPOOL_EXTRA.
pw_start_pgpool() {
    PW_PGPOOL_PORT=${PW_PGPOOL_PORT:-$(pw_free_port)}
    PW_PGPOOL_PCP_PORT=${PW_PGPOOL_PCP_PORT:-$(pw_free_port)}
    local dir="$PW_TMP/pgpool"
    mkdir -p "$dir/oiddir"
    # Pgpool-II 4.4 renamed socket_dir / pcp_socket_dir; an unknown key is an error at start-up.
    local version socket_key pcp_socket_key
    version=$(pgpool --version 2>&1 | sed -n 's/.*version \([0-9]*\)\.\([0-9]*\).*/\1\2/p')
    if [ "${version:-0}" -ge 44 ]; then
        socket_key=unix_socket_directories pcp_socket_key=pcp_unix_socket_directories
    else
        socket_key=socket_dir pcp_socket_key=pcp_socket_dir
    fi
    cat >"$dir/pgpool.conf" <<CONF
backend_clustering_mode = 'streaming_replication'
listen_addresses = '127.0.0.1'
port = $PW_PGPOOL_PORT
$socket_key = '$dir'
pcp_listen_addresses = '127.0.0.1'
pcp_port = $PW_PGPOOL_PCP_PORT
$pcp_socket_key = '$dir'
wd_ipc_socket_dir = '$dir'
pid_file_name = '$dir/pgpool.pid'
logdir = '$dir'
memqcache_oiddir = '$dir/oiddir'
backend_hostname0 = '127.0.0.1'
backend_port0 = $PW_PG_PORT
backend_weight0 = 1
backend_flag0 = 'DISALLOW_TO_FAILOVER'
backend_application_name0 = 'server0'
num_init_children = ${PW_PGPOOL_CHILDREN:-4}
max_pool = ${PW_PGPOOL_MAX_POOL:-2}
enable_pool_hba = off
pool_passwd = ''
load_balance_mode = on
sr_check_period = 0
sr_check_user = 'postgres'
health_check_period = 0
failover_on_backend_error = off
use_watchdog = off
log_destination = 'stderr'
logging_collector = off
${PW_PGPOOL_EXTRA:-}
CONF
    : >"$dir/pcp.conf"
    : >"$dir/pool_hba.conf"
    [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$dir"
    # -n keeps it in the foreground of this background job so its log goes to our file; -D forgets
    # node states remembered from an earlier run (pgpool_status).
    pw_as_pg pgpool -n -D -f "$dir/pgpool.conf" -F "$dir/pcp.conf" -a "$dir/pool_hba.conf" >"$dir/pgpool.log" 2>&1 &
    local launcher=$!
    PW_PGPOOL_PID_FILE="$dir/pgpool.pid"
    export PW_PGPOOL_PORT PW_PGPOOL_PCP_PORT PW_PGPOOL_DIR="$dir" PW_PGPOOL_PID_FILE
    for _ in $(seq 100); do
        if psql -h 127.0.0.1 -p "$PW_PGPOOL_PORT" -U postgres -d postgres -qAtX -c "SHOW POOL_VERSION" >/dev/null 2>&1; then
            pw_log "Pgpool-II on 127.0.0.1:$PW_PGPOOL_PORT (pcp $PW_PGPOOL_PCP_PORT)"
            return 0
        fi
        kill -0 "$launcher" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/pgpool.log" >&2
    pw_stop_pgpool
    return 1
}

# Stops the Pgpool-II started by pw_start_pgpool (fast shutdown: SIGINT) and waits for it to exit.
pw_stop_pgpool() {
    [ -n "${PW_PGPOOL_PID_FILE:-}" ] && [ -f "$PW_PGPOOL_PID_FILE" ] || return 0
    # Pgpool-II writes its pid file NUL-terminated; strip the NUL so bash does not warn.
    local pid; pid=$(tr -d '\0\n' <"$PW_PGPOOL_PID_FILE")
    kill -INT "$pid" 2>/dev/null || return 0
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

# Stops everything started through these functions and removes PW_TMP.
pw_cleanup() {
    local pid
    for pid in ${PW_PIDS:-}; do kill "$pid" 2>/dev/null || true; done
    for pid in ${PW_PIDS:-}; do wait "$pid" 2>/dev/null || true; done
    pw_stop_pgbouncer
    pw_stop_pgpool
    pw_stop_postgres
    [ -n "${PW_TMP:-}" ] && [ -z "${PW_KEEP_TMP:-}" ] && rm -rf "$PW_TMP"
    return 0
}
