/// `SHOW VERSION` → `pgbouncer_version_info{version}` (value 1), as pgbouncer_exporter names it.
///
/// Runs first in a PgBouncer round: the version it reads becomes `ServerFacts.versionNumber`
/// (major × 10000 + minor × 100 + patch, so 1.18.0 → 11800), which tells later collectors which
/// commands the console has (`SHOW STATS_TOTALS` from 1.8 on). PgBouncer releases that answer
/// `SHOW VERSION` with a NOTICE instead of a row give no sample and leave the version unknown (0).
public struct PgBouncerVersionCollector: SQLCollector {
    public let name = "pgbouncer_version"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] { ["SHOW VERSION"] }

    public func facts(from results: [QueryResult]) -> ServerFacts? { versionFacts(results, column: "version") }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let text = results.first?.namedRows.first?["version"] else { return [] }
        return [MetricFamily(
            "pgbouncer_version_info", help: "The PgBouncer version string from SHOW VERSION (value is always 1).",
            samples: [Sample([Label("version", text)], 1)])]
    }
}
