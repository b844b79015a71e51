/// `pg_stat_database`: transaction, block, conflict and temp-file counters per database.
///
/// Counters carry the conventional `_total` suffix (postgres_exporter's `pg_stat_database_xact_commit`
/// becomes `pg_stat_database_xact_commit_total`; the README documents the mapping).
public struct DatabaseCollector: SQLCollector {
    public let name = "stat_database"
    public init() {}

    /// (column, metric suffix, help, type)
    static let columns: [(String, String, String, MetricType)] = [
        ("numbackends", "numbackends", "Backends connected to the database.", .gauge),
        ("xact_commit", "xact_commit_total", "Transactions committed.", .counter),
        ("xact_rollback", "xact_rollback_total", "Transactions rolled back.", .counter),
        ("blks_read", "blks_read_total", "Disk blocks read.", .counter),
        ("blks_hit", "blks_hit_total", "Buffer cache hits.", .counter),
        ("tup_returned", "tup_returned_total", "Rows returned by queries.", .counter),
        ("tup_fetched", "tup_fetched_total", "Rows fetched by queries.", .counter),
        ("tup_inserted", "tup_inserted_total", "Rows inserted.", .counter),
        ("tup_updated", "tup_updated_total", "Rows updated.", .counter),
        ("tup_deleted", "tup_deleted_total", "Rows deleted.", .counter),
        ("conflicts", "conflicts_total", "Queries cancelled by recovery conflicts.", .counter),
        ("temp_files", "temp_files_total", "Temporary files created.", .counter),
        ("temp_bytes", "temp_bytes_total", "Bytes written to temporary files.", .counter),
        ("deadlocks", "deadlocks_total", "Deadlocks detected.", .counter),
    ]

    public func statements(for server: ServerFacts) -> [String] {
        let list = Self.columns.map(\.0).joined(separator: ", ")
        // The row with a NULL datname (shared catalogs, PostgreSQL 12+) is not a database.
        return ["SELECT datname, \(list) FROM pg_stat_database WHERE datname IS NOT NULL ORDER BY datname"]
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        let rows = result.namedRows
        return Self.columns.map { column, suffix, help, type in
            MetricFamily("pg_stat_database_" + suffix, help: help, type: type, samples: rows.compactMap { row in
                row.double(column).map { Sample([Label("datname", row.label("datname"))], $0) }
            })
        }
    }
}
