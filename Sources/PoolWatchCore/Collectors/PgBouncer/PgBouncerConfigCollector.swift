/// `SHOW CONFIG` → `pgbouncer_config_*`: the limits and timeouts dashboards and the pool model divide
/// and compare by.
///
/// The result is one row per setting. Older releases return 3 columns (`key, value, changeable`),
/// newer ones 4 (`key, value, default, changeable`); reading `key` and `value` by name covers both.
/// pgbouncer_exporter exports only `max_client_conn` → `pgbouncer_config_max_client_connections` and
/// `max_user_connections`; poolwatch keeps those names and adds the pool sizes, the connection caps,
/// the timeouts (in seconds, `_seconds`) and `pgbouncer_config_pool_mode_info{pool_mode}`. A setting the
/// running release does not have (e.g. `max_db_client_connections` before 1.24) gives no sample.
public struct PgBouncerConfigCollector: SQLCollector {
    public let name = "pgbouncer_config"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] { ["SHOW CONFIG"] }

    static let counts: [(key: String, metric: String, help: String)] = [
        ("max_client_conn", "max_client_connections", "Maximum number of client connections (max_client_conn)."),
        ("max_user_connections", "max_user_connections",
         "Maximum number of server connections per user (max_user_connections; 0 = unlimited)."),
        ("default_pool_size", "default_pool_size",
         "Server connections allowed per (database, user) pool unless the database sets pool_size (default_pool_size)."),
        ("min_pool_size", "min_pool_size", "Minimum number of server connections kept per pool (min_pool_size)."),
        ("reserve_pool_size", "reserve_pool_size",
         "Additional server connections a pool may open when a client waited reserve_pool_timeout (reserve_pool_size)."),
        ("max_db_connections", "max_db_connections",
         "Maximum number of server connections per database (max_db_connections; 0 = unlimited)."),
        ("max_db_client_connections", "max_db_client_connections",
         "Maximum number of client connections per database (max_db_client_connections; 0 = unlimited; PgBouncer 1.24+)."),
        ("max_user_client_connections", "max_user_client_connections",
         "Maximum number of client connections per user (max_user_client_connections; 0 = unlimited; PgBouncer 1.24+)."),
        ("max_prepared_statements", "max_prepared_statements",
         "Prepared statements tracked per connection in transaction pooling (max_prepared_statements; 0 = off; PgBouncer 1.21+)."),
    ]

    static let durations: [(key: String, metric: String, help: String)] = [
        ("reserve_pool_timeout", "reserve_pool_timeout_seconds",
         "How long a client waits before the pool may use the reserve pool, seconds."),
        ("query_wait_timeout", "query_wait_timeout_seconds",
         "How long a client may wait for a server connection before it is disconnected, seconds (0 = forever)."),
        ("query_timeout", "query_timeout_seconds", "Queries running longer are cancelled, seconds (0 = off)."),
        ("idle_transaction_timeout", "idle_transaction_timeout_seconds",
         "Clients idle in transaction longer are disconnected, seconds (0 = off)."),
        ("client_idle_timeout", "client_idle_timeout_seconds", "Idle clients are disconnected after, seconds (0 = off)."),
        ("server_idle_timeout", "server_idle_timeout_seconds", "Idle server connections are closed after, seconds (0 = off)."),
        ("server_lifetime", "server_lifetime_seconds", "Server connections are closed after this age once released, seconds."),
    ]

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        let settings = try keyValueRows(result, key: "key", value: "value", command: "SHOW CONFIG")
        var families: [MetricFamily] = []
        for entry in Self.counts {
            guard let text = settings[entry.key], let value = Double(text) else { continue }
            families.append(MetricFamily("pgbouncer_config_" + entry.metric, help: entry.help, value: value))
        }
        for entry in Self.durations {
            guard let text = settings[entry.key], let value = Self.seconds(text) else { continue }
            families.append(MetricFamily("pgbouncer_config_" + entry.metric, help: entry.help, value: value))
        }
        if let mode = settings["pool_mode"], !mode.isEmpty {
            families.append(MetricFamily(
                "pgbouncer_config_pool_mode_info", help: "The default pool_mode (value is always 1).",
                samples: [Sample([Label("pool_mode", mode)], 1)]))
        }
        return families
    }

    /// A duration setting as seconds. SHOW CONFIG prints plain seconds ("120", "0.5"); a value with a
    /// unit, as pgbouncer.ini accepts it ("500ms", "2min"), is converted too. Nil if unreadable.
    static func seconds(_ text: String) -> Double? {
        let trimmed = text.trimmingSpaces()
        if let plain = Double(trimmed) { return plain }
        let number = trimmed.prefix { $0.isNumber || $0 == "." }
        let unit = trimmed.dropFirst(number.count).trimmingSpaces()
        guard let value = Double(number) else { return nil }
        switch unit {
        case "us": return value / 1_000_000
        case "ms": return value / 1000
        case "s": return value
        case "min": return value * 60
        case "h": return value * 3600
        case "d": return value * 86400
        default: return nil
        }
    }
}
