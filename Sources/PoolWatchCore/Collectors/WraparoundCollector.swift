/// Transaction-ID and multixact wraparound per database, from `pg_database` (every database, including
/// those that refuse connections: template0 must be frozen too).
///
/// The age families keep postgres_exporter's names, `_seconds` suffix included, although the values are
/// transaction counts (as in its `collector/pg_database_wraparound.go`): existing dashboards keep
/// working. The ratios are what a rule needs: 1 means autovacuum must force an anti-wraparound vacuum
/// (`autovacuum_freeze_max_age`, `autovacuum_multixact_freeze_max_age`); the limit ratio reaches 1 at
/// 2^31, where PostgreSQL stops assigning transaction IDs.
public struct WraparoundCollector: SQLCollector {
    public let name = "database_wraparound"
    public static let wraparoundLimit = 2_147_483_648.0
    public init() {}

    public func statements(for server: ServerFacts) -> [String] {
        ["""
        SELECT datname, age(datfrozenxid) AS xid_age, mxid_age(datminmxid) AS mxid_age, \
        current_setting('autovacuum_freeze_max_age')::float8 AS freeze_max_age, \
        current_setting('autovacuum_multixact_freeze_max_age')::float8 AS multixact_freeze_max_age \
        FROM pg_database ORDER BY datname
        """]
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        let rows = result.namedRows
        func family(_ metric: String, _ help: String, _ value: (QueryResult.Row) -> Double?) -> MetricFamily {
            MetricFamily(metric, help: help, samples: rows.compactMap { row in
                value(row).map { Sample([Label("datname", row.label("datname"))], $0) }
            })
        }
        func ratio(_ row: QueryResult.Row, _ age: String, _ limit: String) -> Double? {
            guard let age = row.double(age), let limit = row.double(limit), limit > 0 else { return nil }
            return age / limit
        }
        return [
            family("pg_database_wraparound_age_datfrozenxid_seconds",
                   "age(datfrozenxid): transactions since the database was last frozen (a count, despite the suffix).") { $0.double("xid_age") },
            family("pg_database_wraparound_age_datminmxid_seconds",
                   "mxid_age(datminmxid): multixacts since the database was last frozen (a count, despite the suffix).") { $0.double("mxid_age") },
            family("pg_database_wraparound_freeze_max_age_ratio",
                   "The larger of age(datfrozenxid)/autovacuum_freeze_max_age and mxid_age(datminmxid)/autovacuum_multixact_freeze_max_age.") { row in
                [ratio(row, "xid_age", "freeze_max_age"), ratio(row, "mxid_age", "multixact_freeze_max_age")].compactMap { $0 }.max()
            },
            family("pg_database_wraparound_limit_ratio",
                   "The larger of the two ages over 2^31, where PostgreSQL stops assigning IDs to prevent wraparound.") { row in
                [row.double("xid_age"), row.double("mxid_age")].compactMap { $0 }.max().map { $0 / Self.wraparoundLimit }
            },
        ]
    }
}
