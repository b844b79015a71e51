# Pgpool-II helpers for scripts/lib.sh (to be merged there). Source it after lib.sh; do not run it.
#
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
