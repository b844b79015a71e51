/// `SHOW CLIENTS` → `pgbouncer_client_connections{database,user,application_name,state}`, as
/// pgbouncer_exporter 0.12 names it: client connections counted per group, never one series per
/// connection.
///
/// `application_name` is set by clients, so its cardinality is bounded the way `ActivityCollector`
/// bounds it: the `topApplications` names with the most connections keep their name, every other
/// name becomes `other`. States: `active`, `waiting`, `active_cancel_req`, `waiting_cancel_req` (and
/// `idle` in newer releases). The console session poolwatch itself uses is counted too (database
/// `pgbouncer`).
public struct PgBouncerClientsCollector: SQLCollector {
    public let name = "pgbouncer_clients"
    public var topApplications: Int

    public init(topApplications: Int = 10) {
        self.topApplications = topApplications
    }

    public func statements(for server: ServerFacts) -> [String] { ["SHOW CLIENTS"] }

    public func rows(from results: [QueryResult]) -> ConnectionRows? {
        var rows = ConnectionRows()
        rows.clients = results.first.map(PoolerConnection.rows) ?? []
        return rows
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        let labels = ["database", "user", "application_name", "state"]
        let counts = countRows(result, by: labels).bounded(labelAt: 2, top: topApplications)
        return [counts.family(
            "pgbouncer_client_connections",
            help: "Client connections per database, user, application_name (top names, the rest as other) and state.",
            labelNames: labels)].compactMap { $0 }
    }
}
