/// `SHOW POOL_PROCESSES` → Pgpool-II's child processes: `pgpool2_frontend_processes`,
/// `pgpool2_frontend_used{username,database}`, `pgpool2_frontend_used_ratio`.
///
/// Names follow pgpool2_exporter except one: the peer's `pgpool2_frontend_total` is a gauge, and a gauge
/// ending in `_total` fails `promtool check metrics` ("non-counter metrics should not have _total
/// suffix"), so poolwatch calls it `pgpool2_frontend_processes`. Queries written against the peer need
/// `pgpool2_frontend_total` → `pgpool2_frontend_processes`.
///
/// The result has one row per child process (`num_init_children` of them). A child serves one client
/// at a time for the client's whole session; its row names the `database` and `username` while a client
/// is connected and is empty while it waits for a connection, so "used" = both non-empty, as the peer
/// counts it. Clients beyond the last free child queue in the kernel's listen backlog, invisible here;
/// a ratio of 1 is therefore the saturation signal. The session poolwatch itself uses occupies one
/// child and is counted. No ratio sample when there are no rows (the peer would export NaN).
public struct PgpoolProcessesCollector: SQLCollector {
    public let name = "pgpool_processes"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] { ["SHOW POOL_PROCESSES"] }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        let total = Double(result.rows.count)
        let used = countRows(result, by: ["username", "database"]) { row in
            !row.label("username").isEmpty && !row.label("database").isEmpty
        }
        let usedCount = used.values.values.reduce(0, +)
        var families = [MetricFamily(
            "pgpool2_frontend_processes",
            help: "Pgpool-II child processes, i.e. frontend connection slots (pgpool2_exporter: pgpool2_frontend_total).",
            value: total)]
        if let family = used.family(
            "pgpool2_frontend_used", help: "Child processes serving a client, per username and database.",
            labelNames: ["username", "database"])
        {
            families.append(family)
        }
        if total > 0 {
            families.append(MetricFamily(
                "pgpool2_frontend_used_ratio", help: "Share of child processes serving a client (used / total).",
                value: usedCount / total))
        }
        return families
    }
}
