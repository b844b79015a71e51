/// Server identity: version, recovery state and postmaster start time.
///
/// Runs first in every round: its `server_version_num` tells the other collectors which column names
/// the server has (e.g. `total_exec_time` from PostgreSQL 13 on).
public struct ServerInfoCollector: SQLCollector {
    public let name = "server"
    public init() {}

    public static let query = """
        SELECT current_setting('server_version_num') AS server_version_num, \
        current_setting('server_version') AS server_version, \
        pg_is_in_recovery() AS in_recovery, \
        extract(epoch FROM pg_postmaster_start_time()) AS start_time, \
        extract(epoch FROM pg_conf_load_time()) AS conf_load_time
        """

    public func statements(for server: ServerFacts) -> [String] { [Self.query] }

    /// Reads the version number and which configuration is loaded out of the result, for the runner
    /// to pass to later collectors.
    public func facts(from results: [QueryResult]) -> ServerFacts? {
        guard let row = results.first?.namedRows.first, let number = row.double("server_version_num") else { return nil }
        let configuration = row["conf_load_time"].map { "\(row.label("start_time"))/\($0)" }
        return ServerFacts(versionNumber: Int(number), configuration: configuration)
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let row = results.first?.namedRows.first else { throw CollectorError("server info query returned no row") }
        var families = [
            MetricFamily(
                "pg_version_info", help: "PostgreSQL server version (value is always 1).",
                samples: [Sample([Label("version", row.label("server_version")),
                                  Label("server_version_num", row.label("server_version_num"))], 1)]),
        ]
        if let number = row.double("server_version_num") {
            families.append(MetricFamily("pg_server_version_num", help: "PostgreSQL server_version_num.", value: number))
        }
        if let recovery = row.double("in_recovery") {
            families.append(MetricFamily("pg_in_recovery", help: "1 if the server is a standby in recovery.", value: recovery))
        }
        if let start = row.double("start_time") {
            families.append(MetricFamily(
                "pg_postmaster_start_time_seconds", help: "Time the postmaster started, seconds since the epoch.",
                value: start))
        }
        return families
    }
}
