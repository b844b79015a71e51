/// `SHOW SERVERS` → `pgbouncer_servers{database,user,state}`: server connections counted per
/// (database, user, state), never one series per connection. Not exported by pgbouncer_exporter.
///
/// `SHOW POOLS` already counts servers per state, but only for the states it knows; counting the rows
/// of `SHOW SERVERS` also shows states added by newer releases and connections whose pool is gone
/// (closing after a RELOAD). States: `active`, `idle`, `used`, `tested`, `new` (logging in),
/// `active_cancel`, `being_canceled`.
public struct PgBouncerServersCollector: SQLCollector {
    public let name = "pgbouncer_servers"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] { ["SHOW SERVERS"] }

    public func rows(from results: [QueryResult]) -> ConnectionRows? {
        var rows = ConnectionRows()
        rows.servers = results.first.map(PoolerConnection.rows) ?? []
        return rows
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        let labels = ["database", "user", "state"]
        let counts = countRows(result, by: labels)
        return [counts.family(
            "pgbouncer_servers", help: "Server connections per database, user and state (rows of SHOW SERVERS).",
            labelNames: labels)].compactMap { $0 }
    }
}
