/// `SHOW DATABASES` → `pgbouncer_databases_*{name,host,port,database,force_user,pool_mode}`, one series
/// per configured database entry, with pgbouncer_exporter's names and labels (docs/metric-names.md §3.4).
///
/// `pgbouncer_databases_reserve_pool` reads `reserve_pool_size` (PgBouncer 1.24+) or `reserve_pool`
/// (before): the 1.24 rename made the peer's series vanish silently (pgbouncer_exporter#220).
/// PgBouncer prints the *effective* pool_size and reserve pool here (the database's own setting or
/// the global default), which is what the pool model's size limit needs. Beyond the peer we also
/// export `min_pool_size` and, from 1.24 on, `max_client_connections` / `current_client_connections`.
/// NULL labels (no `host` for the console, no `force_user`, no `pool_mode` override) read as "".
public struct PgBouncerDatabasesCollector: SQLCollector {
    public let name = "pgbouncer_databases"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] { ["SHOW DATABASES"] }

    public func rows(from results: [QueryResult]) -> ConnectionRows? {
        var rows = ConnectionRows()
        for row in results.first?.namedRows ?? [] {
            if let size = row.double("pool_size") { rows.poolSizes[row.label("name")] = Int(size) }
        }
        return rows
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        Self.table.families(results.first)
    }

    static let labelColumns = ["name", "host", "port", "database", "force_user", "pool_mode"]

    static let table = ColumnTable(
        labels: labelColumns.map { ColumnTable.LabelColumn($0, from: $0) },
        metrics: [
            .column(["pool_size"], "pgbouncer_databases_pool_size",
                    help: "Maximum number of server connections per pool of this database (pool_size)."),
            .column(["reserve_pool_size", "reserve_pool"], "pgbouncer_databases_reserve_pool",
                    help: "Additional server connections a pool of this database may open when clients wait too long (reserve_pool_size; reserve_pool before 1.24)."),
            .column(["min_pool_size"], "pgbouncer_databases_min_pool_size",
                    help: "Minimum number of server connections kept per pool of this database (min_pool_size)."),
            .column(["max_connections"], "pgbouncer_databases_max_connections",
                    help: "Maximum number of server connections for this database (max_db_connections; 0 = unlimited)."),
            .column(["current_connections"], "pgbouncer_databases_current_connections",
                    help: "Current number of server connections for this database."),
            .column(["max_client_connections"], "pgbouncer_databases_max_client_connections",
                    help: "Maximum number of client connections for this database (max_db_client_connections; 0 = unlimited; PgBouncer 1.24+)."),
            .column(["current_client_connections"], "pgbouncer_databases_current_client_connections",
                    help: "Current number of client connections for this database (PgBouncer 1.24+)."),
            .column(["paused"], "pgbouncer_databases_paused", help: "1 if this database is currently paused, else 0."),
            .column(["disabled"], "pgbouncer_databases_disabled", help: "1 if this database is currently disabled, else 0."),
        ])
}
