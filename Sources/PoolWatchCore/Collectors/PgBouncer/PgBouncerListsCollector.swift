/// `SHOW LISTS` → unlabelled gauges named as pgbouncer_exporter names them (`pgbouncer_databases`,
/// `pgbouncer_free_clients`, `pgbouncer_cached_dns_names`, …; docs/metric-names.md §3.4).
///
/// The result is one row per list (`list`, `items`), not one column per list. Unknown lists (and
/// `dns_pending`, documented as unused) are ignored, so a new PgBouncer release adds nothing silently
/// misnamed.
public struct PgBouncerListsCollector: SQLCollector {
    public let name = "pgbouncer_lists"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] { ["SHOW LISTS"] }

    static let lists: [(list: String, metric: String, help: String)] = [
        ("databases", "pgbouncer_databases", "Count of databases."),
        ("users", "pgbouncer_users", "Count of users."),
        ("pools", "pgbouncer_pools", "Count of pools."),
        ("free_clients", "pgbouncer_free_clients", "Count of free clients (disconnected, memory kept for reuse)."),
        ("used_clients", "pgbouncer_used_clients", "Count of used clients."),
        ("login_clients", "pgbouncer_login_clients", "Count of clients in login state."),
        ("free_servers", "pgbouncer_free_servers", "Count of free servers (disconnected, memory kept for reuse)."),
        ("used_servers", "pgbouncer_used_servers", "Count of used servers."),
        ("dns_names", "pgbouncer_cached_dns_names", "Count of DNS names in the cache."),
        ("dns_zones", "pgbouncer_cached_dns_zones", "Count of DNS zones in the cache."),
        ("dns_queries", "pgbouncer_in_flight_dns_queries", "Count of in-flight DNS queries."),
    ]

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        let items = try keyValueRows(result, key: "list", value: "items", command: "SHOW LISTS")
        return Self.lists.compactMap { entry in
            items[entry.list].flatMap(Double.init).map { MetricFamily(entry.metric, help: entry.help, value: $0) }
        }
    }
}
