/// `SHOW POOL_VERSION` → `pgpool2_version{version}` (value 1), named and labelled as pgpool2_exporter
/// does (`version` is the numeric part, "4.3.5" of "4.3.5 (tamahomeboshi)"; the whole string when it
/// has no numeric part). Also sets `ServerFacts.versionNumber` (4.3.5 → 40305) for later collectors.
///
/// Pgpool-II 4.3 answers `SHOW POOL_VERSION` (and `SHOW POOL_PROCESSES`) with an empty result set
/// followed by the real one; `PQexec` returns the last result, which is the one mapped here.
public struct PgpoolVersionCollector: SQLCollector {
    public let name = "pgpool_version"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] { ["SHOW POOL_VERSION"] }

    public func facts(from results: [QueryResult]) -> ServerFacts? { versionFacts(results, column: "pool_version") }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let text = results.first?.namedRows.first?["pool_version"] else { return [] }
        let numeric = text.prefix { $0.isNumber || $0 == "." }
        return [MetricFamily(
            "pgpool2_version", help: "The Pgpool-II version from SHOW POOL_VERSION (value is always 1).",
            samples: [Sample([Label("version", numeric.isEmpty ? text : String(numeric))], 1)])]
    }
}
