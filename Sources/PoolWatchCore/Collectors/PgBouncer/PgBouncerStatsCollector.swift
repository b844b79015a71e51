/// Cumulative traffic per database → `pgbouncer_stats_totals_*{database}` counters, with
/// pgbouncer_exporter's names (docs/metric-names.md §3.3); times are microseconds on the console and
/// seconds here.
///
/// Runs `SHOW STATS_TOTALS` when the version collector found PgBouncer ≥ 1.8, and `SHOW STATS`
/// otherwise (older releases, or a version that could not be read): `SHOW STATS` exists in every
/// release and carries the same totals as `total_*` columns (`total_requests` before 1.8,
/// `total_query_count` … after), so each metric accepts both spellings and the `avg_*` columns are
/// ignored. Columns added later (`server_assignment_count` 1.23, `client_parse_count`,
/// `server_parse_count`, `bind_count` 1.24) simply give no sample on older releases.
public struct PgBouncerStatsCollector: SQLCollector {
    public let name = "pgbouncer_stats"
    public init() {}

    /// PgBouncer 1.8.0 as a `ServerFacts.versionNumber`.
    static let statsTotalsVersion = 10800

    public func statements(for server: ServerFacts) -> [String] {
        [server.versionNumber >= Self.statsTotalsVersion ? "SHOW STATS_TOTALS" : "SHOW STATS"]
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        Self.table.families(results.first)
    }

    static let table = ColumnTable(
        labels: [.init("database", from: "database")],
        metrics: [
            counter(["query_count", "total_query_count"], "queries_pooled_total", help: "SQL queries pooled."),
            counter(["query_time", "total_query_time"], "queries_duration_seconds_total",
                    help: "Seconds PgBouncer was actively connected to PostgreSQL, executing queries.", divisor: microseconds),
            counter(["bytes_received", "total_received"], "received_bytes_total",
                    help: "Bytes of network traffic received by PgBouncer from clients."),
            counter(["requests", "total_requests"], "queries_total",
                    help: "SQL requests pooled (PgBouncer before 1.8 only)."),
            counter(["bytes_sent", "total_sent"], "sent_bytes_total",
                    help: "Bytes of network traffic sent by PgBouncer to clients."),
            counter(["wait_time", "total_wait_time"], "client_wait_seconds_total",
                    help: "Seconds clients spent waiting for a server connection.", divisor: microseconds),
            counter(["xact_count", "total_xact_count"], "sql_transactions_pooled_total", help: "SQL transactions pooled."),
            counter(["xact_time", "total_xact_time"], "server_in_transaction_seconds_total",
                    help: "Seconds PgBouncer was connected to PostgreSQL in a transaction, idle in transaction or executing queries.",
                    divisor: microseconds),
            counter(["server_assignment_count", "total_server_assignment_count"], "server_assignments_total",
                    help: "Times a server connection was assigned to a client (PgBouncer 1.23+)."),
            counter(["client_parse_count", "total_client_parse_count"], "client_parses_total",
                    help: "Prepared-statement Parse messages received from clients (PgBouncer 1.24+)."),
            counter(["server_parse_count", "total_server_parse_count"], "server_parses_total",
                    help: "Prepared-statement Parse messages sent by PgBouncer to PostgreSQL (PgBouncer 1.24+)."),
            counter(["bind_count", "total_bind_count"], "binds_total",
                    help: "Prepared statements readied for execution with a Bind message (PgBouncer 1.24+)."),
        ])

    static let microseconds: Double = 1_000_000

    static func counter(_ columns: [String], _ suffix: String, help: String, divisor: Double = 1) -> ColumnTable.Metric {
        .column(columns, "pgbouncer_stats_totals_" + suffix, help: help, type: .counter, divisor: divisor)
    }
}
