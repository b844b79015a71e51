/// `SHOW POOLS` → `pgbouncer_pools_*{database,user}`, one series per (database, user) pool, with
/// pgbouncer_exporter's names (docs/metric-names.md §3.2).
///
/// One difference on purpose: `pgbouncer_pools_client_maxwait_seconds` is `maxwait + maxwait_us / 1e6`.
/// pgbouncer_exporter drops `maxwait_us`, so a pool whose clients wait 0.9 s reads 0 there; here it reads
/// 0.9. `pool_mode` and `load_balance_hosts` are not exported (the pool mode is on
/// `pgbouncer_databases_*{pool_mode}`). The admin console's own `pgbouncer` pool is kept, as the peer
/// keeps it; the normalized pool model (`PoolModel`) leaves it out.
public struct PgBouncerPoolsCollector: SQLCollector {
    public let name = "pgbouncer_pools"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] { ["SHOW POOLS"] }

    public func rows(from results: [QueryResult]) -> ConnectionRows? {
        var rows = ConnectionRows()
        rows.pools = results.first.map(PoolerPool.rows) ?? []
        return rows
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        Self.table.families(results.first)
    }

    static let table = ColumnTable(
        labels: [.init("database", from: "database"), .init("user", from: "user")],
        metrics: [
            .column(["cl_active"], "pgbouncer_pools_client_active_connections",
                    help: "Client connections linked to a server connection or idle with no queries waiting (cl_active)."),
            .column(["cl_waiting"], "pgbouncer_pools_client_waiting_connections",
                    help: "Client connections that sent a query but have no server connection yet (cl_waiting)."),
            .column(["cl_active_cancel_req"], "pgbouncer_pools_client_active_cancel_connections",
                    help: "Client connections that forwarded a query cancellation and wait for the server's answer (cl_active_cancel_req)."),
            .column(["cl_waiting_cancel_req"], "pgbouncer_pools_client_waiting_cancel_connections",
                    help: "Client connections whose query cancellation is not forwarded to the server yet (cl_waiting_cancel_req)."),
            .column(["sv_active"], "pgbouncer_pools_server_active_connections",
                    help: "Server connections linked to a client (sv_active)."),
            .column(["sv_active_cancel"], "pgbouncer_pools_server_active_cancel_connections",
                    help: "Server connections currently forwarding a cancel request (sv_active_cancel)."),
            .column(["sv_being_canceled"], "pgbouncer_pools_server_being_canceled_connections",
                    help: "Server connections waiting for in-flight cancel requests to finish before they can become idle (sv_being_canceled)."),
            .column(["sv_idle"], "pgbouncer_pools_server_idle_connections",
                    help: "Server connections unused and immediately usable for client queries (sv_idle)."),
            .column(["sv_used"], "pgbouncer_pools_server_used_connections",
                    help: "Server connections idle longer than server_check_delay, needing server_check_query before reuse (sv_used)."),
            .column(["sv_tested"], "pgbouncer_pools_server_testing_connections",
                    help: "Server connections running server_reset_query or server_check_query (sv_tested)."),
            .column(["sv_login"], "pgbouncer_pools_server_login_connections",
                    help: "Server connections currently logging in (sv_login)."),
            ColumnTable.Metric(
                "pgbouncer_pools_client_maxwait_seconds",
                help: "How long the oldest waiting client has waited, seconds with microsecond precision (maxwait + maxwait_us).",
                merge: .max, value: maxWait),
        ])

    /// `maxwait` (whole seconds) plus `maxwait_us` (the microsecond part) when the console has it.
    static func maxWait(_ row: QueryResult.Row) -> Double? {
        guard let seconds = row.double("maxwait") else { return nil }
        return seconds + (row.double("maxwait_us") ?? 0) / 1_000_000
    }
}
