/// `pg_database_size` per database, on a slow interval of its own.
///
/// The size walks every file of the database, so on a server with thousands of databases or files it
/// is the most expensive statement poolwatch runs; it is therefore run at most every `interval` seconds
/// (default 5 minutes; `database_sizes: off` leaves it out), and the last sizes are served between runs.
/// A database the monitoring role may not connect to (without pg_read_all_stats) would make
/// `pg_database_size` fail the whole statement, so such databases are skipped (no sample).
public struct DatabaseSizeCollector: SQLCollector {
    public let name = "database_size"
    public var interval: Duration?

    public init(interval: Duration = .seconds(300)) { self.interval = interval }

    public func statements(for server: ServerFacts) -> [String] {
        ["""
        SELECT datname, pg_database_size(oid) AS size_bytes FROM pg_database \
        WHERE datallowconn AND (has_database_privilege(oid, 'CONNECT') OR pg_has_role('pg_read_all_stats', 'MEMBER')) \
        ORDER BY datname
        """]
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        return [MetricFamily("pg_database_size_bytes", help: "Disk space used by the database, bytes.",
                             samples: result.namedRows.compactMap { row in
                                 row.double("size_bytes").map { Sample([Label("datname", row.label("datname"))], $0) }
                             })]
    }
}
