/// Selected `pg_settings`, named as postgres_exporter names them (`pg_settings_<name>[_seconds|_bytes]`).
///
/// Only the settings dashboards and rules use are read: the connection limits the saturation rules
/// divide by, and the timeouts and sizes an operator checks during an incident. `statement_timeout` and
/// `lock_timeout` are left out: poolwatch sets them on its own session, so it would only see its own values.
///
/// Runs again only when the configuration changes (`onlyChangesWithConfiguration`): `pg_settings`
/// computes all of the server's ~350 settings before it filters, about 1–2 ms a read, which was half
/// of poolwatch's PostgreSQL time per round on an idle server. Its rows also give diagnosis the settings
/// its advice quotes (`idle_in_transaction_session_timeout`, `max_connections`).
public struct SettingsCollector: SQLCollector {
    public let name = "settings"
    public var onlyChangesWithConfiguration: Bool { true }
    public init() {}

    public static let settingNames = [
        "max_connections", "superuser_reserved_connections", "reserved_connections",
        "idle_in_transaction_session_timeout",
        "max_locks_per_transaction", "shared_buffers", "work_mem", "track_activity_query_size",
        "pg_stat_statements.max", "max_prepared_transactions", "max_worker_processes",
    ]

    public func statements(for server: ServerFacts) -> [String] {
        let list = Self.settingNames.map { "'\($0)'" }.joined(separator: ",")
        return ["SELECT name, setting, unit, vartype FROM pg_settings WHERE name IN (\(list)) ORDER BY name"]
    }

    /// The settings as PostgreSQL shows them (value and unit, e.g. `0ms`), for diagnosis.
    public func rows(from results: [QueryResult]) -> ConnectionRows? {
        guard let result = results.first else { return nil }
        var rows = ConnectionRows()
        for row in result.namedRows { rows.settings[row.label("name")] = row.label("setting") + row.label("unit") }
        return rows
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        var families: [MetricFamily] = []
        for row in result.namedRows {
            guard let settingName = row["name"], let setting = row["setting"] else { continue }
            guard let (suffix, value) = Self.normalize(setting: setting, unit: row["unit"], vartype: row.label("vartype"))
            else { continue }
            let metric = "pg_settings_" + settingName.replacingDots() + suffix
            families.append(MetricFamily(metric, help: "Server setting \(settingName).", value: value))
        }
        return families
    }

    /// Converts a setting to base units like postgres_exporter: time units to seconds (`_seconds`),
    /// memory units to bytes (`_bytes`); `-1` (disabled) is kept as is. Returns nil for non-numeric settings.
    public static func normalize(setting: String, unit: String?, vartype: String) -> (suffix: String, value: Double)? {
        switch vartype {
        case "bool": return ("", setting == "on" ? 1 : 0)
        case "integer", "real": break
        default: return nil
        }
        guard let raw = Double(setting) else { return nil }
        guard let unit, !unit.isEmpty else { return ("", raw) }
        let timeFactors: [String: Double] = ["us": 1e-6, "ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400]
        let byteFactors: [String: Double] = [
            "B": 1, "kB": 1024, "MB": 1024 * 1024, "GB": 1024 * 1024 * 1024, "TB": 1024 * 1024 * 1024 * 1024,
            "8kB": 8192, "16kB": 16384, "32kB": 32768, "16MB": 16 * 1024 * 1024,
        ]
        if let factor = timeFactors[unit] { return ("_seconds", raw == -1 ? -1 : raw * factor) }
        if let factor = byteFactors[unit] { return ("_bytes", raw == -1 ? -1 : raw * factor) }
        return ("", raw)
    }
}

extension String {
    func replacingDots() -> String { String(map { $0 == "." ? "_" : $0 }) }
}
