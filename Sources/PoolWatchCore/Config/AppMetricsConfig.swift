
/// What a `kind: app_metrics` target scrapes and how its Prometheus text maps to pools.
///
/// ```yaml
/// - name: orders-java
///   kind: app_metrics
///   url: http://127.0.0.1:8080/actuator/prometheus   # or url_file / url_env; headers as for http_json
///   interval: 15s
///   collection_timeout: 5s
///   max_response_bytes: 4MiB                          # default 4MiB: application /metrics pages are large
///   max_pools: 200
///   preset: hikaricp                                  # hikaricp | pgxpool | db_pool_rs; optional with mapping
///   prefix: db_pool_rs                                # db_pool_rs only: the exporter's configured prefix
///   pool_label: pool                                  # the label that names the pool (default: pool)
///   database_value: orders                            # or database_label: db (default: empty)
///   user_value: orders_rw                             # or user_label: user (default: empty)
///   mapping:                                          # adds to or replaces the preset's entries
///     active: my_pool_busy                            # a family; or {family: my_pool_busy, scale: 1}
///     query_seconds: {family: my_query_seconds}       # a histogram or summary: quantiles 0.5, 0.95, 0.99
/// ```
public struct AppMetricsTargetConfig: Sendable, Equatable {
    public var url: Secret
    public var displayURL: String
    public var headers: [HTTPJSONHeader]
    public var maxResponseBytes: Int
    public var maxPools: Int
    public var mapping: AppMetricsMapping

    public static let defaultMaxResponseBytes = 4 << 20

    public init(url: Secret, displayURL: String, headers: [HTTPJSONHeader] = [], maxResponseBytes: Int = defaultMaxResponseBytes,
                maxPools: Int = HTTPJSONTargetConfig.defaultMaxPools, mapping: AppMetricsMapping) {
        self.url = url
        self.displayURL = displayURL
        self.headers = headers
        self.maxResponseBytes = maxResponseBytes
        self.maxPools = maxPools
        self.mapping = mapping
    }
}

extension AppMetricsTargetConfig {
    /// See ``HTTPJSONTargetConfig/cleartextCredentialWarning``.
    public var cleartextCredentialWarning: String? {
        HTTPJSONTargetConfig.cleartextCredentialWarning(url: url, displayURL: displayURL, headers: headers)
    }
}

/// Which series of an application's `/metrics` fill which figure of the pool model.
public struct AppMetricsMapping: Sendable, Equatable {
    /// A pool label read from a series label, or given literally.
    public enum LabelSource: Sendable, Equatable {
        case label(String)
        case literal(String)
    }

    /// A family whose value (summed over the pool's series; the largest for a latency quantile) times
    /// `scale` is the figure.
    public struct ValueSource: Sendable, Equatable {
        public var family: String
        public var scale: Double
        public init(_ family: String, scale: Double = 1) {
            self.family = family
            self.scale = scale
        }
    }

    /// The label whose value names the pool; a series without it belongs to pool `default`.
    public var poolLabel: String
    public var database: LabelSource
    public var user: LabelSource
    public var values: [PoolModel.Figure: ValueSource]
    /// A histogram (`_bucket` series) or summary (`quantile` series) of acquire times → quantiles.
    public var acquireSeconds: ValueSource?
    /// The same for query latency.
    public var querySeconds: ValueSource?

    public init(poolLabel: String = "pool", database: LabelSource = .literal(""), user: LabelSource = .literal(""),
                values: [PoolModel.Figure: ValueSource] = [:], acquireSeconds: ValueSource? = nil, querySeconds: ValueSource? = nil) {
        self.poolLabel = poolLabel
        self.database = database
        self.user = user
        self.values = values
        self.acquireSeconds = acquireSeconds
        self.querySeconds = querySeconds
    }

    /// Every family the mapping reads.
    public var families: [String] {
        values.values.map(\.family) + [acquireSeconds?.family, querySeconds?.family].compactMap { $0 }
    }
}

/// The built-in mappings for pool libraries whose metric names are fixed.
public enum AppMetricsPreset: String, Sendable, CaseIterable {
    case hikaricp
    case pgxpool
    case dbPoolRs = "db_pool_rs"

    public static let defaultDBPoolRsPrefix = "db_pool_rs"

    /// The preset's mapping; `prefix` applies to `db_pool_rs` only.
    public func mapping(prefix: String = defaultDBPoolRsPrefix) -> AppMetricsMapping {
        typealias V = AppMetricsMapping.ValueSource
        switch self {
        case .hikaricp:
            // HikariCP's MicrometerMetricsTracker publishes `hikaricp.connections.*` meters tagged `pool`;
            // Micrometer's Prometheus registry turns them into these names (timers in seconds, counters
            // with `_total`). `acquire` is a timer: a summary when percentiles are configured, a histogram
            // with `_bucket` series when percentile histograms are.
            return AppMetricsMapping(
                poolLabel: "pool",
                values: [
                    .active: V("hikaricp_connections_active"), .idle: V("hikaricp_connections_idle"),
                    .waiting: V("hikaricp_connections_pending"), .max: V("hikaricp_connections_max"),
                    .timeoutsTotal: V("hikaricp_connections_timeout_total"),
                ],
                acquireSeconds: V("hikaricp_connections_acquire_seconds"))
        case .pgxpool:
            // IBM/pgxpoolprometheus publishes pgxpool.Stat() under these names, with the constant labels the
            // application passes (name the pool with one and set pool_label). pgxpool has no waiting count
            // and no latency distribution (only a total acquire duration), so those figures stay absent.
            // Acquires canceled by their context are the requests that gave up waiting: timeouts.
            return AppMetricsMapping(
                poolLabel: "pool",
                values: [
                    .active: V("pgxpool_acquired_conns"), .idle: V("pgxpool_idle_conns"), .max: V("pgxpool_max_conns"),
                    .timeoutsTotal: V("pgxpool_canceled_acquire_count"),
                ])
        case .dbPoolRs:
            // db-pool-rs's exporter (issue 19: `<prefix>_connection_utilization`, `<prefix>_query_latency_p99`
            // in ms, `<prefix>_queries_total`, `<prefix>_query_errors_total`; the other names as in
            // Tests/PoolWatchCoreTests/Fixtures/app-metrics/db-pool-rs.prom). Latencies are milliseconds.
            // It has counters for queries and errors, so its per-second gauges are not read.
            let p = prefix
            return AppMetricsMapping(
                poolLabel: "pool",
                values: [
                    .active: V("\(p)_active_connections"), .idle: V("\(p)_idle_connections"),
                    .waiting: V("\(p)_waiting_queue_length"), .max: V("\(p)_max_connections"),
                    .acquireP99: V("\(p)_acquire_latency_p99", scale: 0.001),
                    .queryP50: V("\(p)_query_latency_p50", scale: 0.001), .queryP99: V("\(p)_query_latency_p99", scale: 0.001),
                    .queriesTotal: V("\(p)_queries_total"), .queryErrorsTotal: V("\(p)_query_errors_total"),
                    .slowQueriesTotal: V("\(p)_slow_queries_total"), .timeoutsTotal: V("\(p)_acquire_timeouts_total"),
                ])
        }
    }
}

extension ConfigLoader {
    /// Target keys only `kind: app_metrics` accepts (besides the endpoint keys it shares with http_json).
    static let appMetricsTargetKeys = ["preset", "prefix", "pool_label", "database_label", "database_value", "user_label",
                                       "user_value", "mapping"]

    /// Parses the `app_metrics` part of a target; for other kinds reports its keys as misplaced.
    func parseAppMetrics(_ fields: [String: Node], kind: TargetKind, path: String, reader: inout NodeReader) -> AppMetricsTargetConfig? {
        guard kind == .appMetrics else {
            for key in Self.appMetricsTargetKeys where fields[key] != nil {
                reader.fail("\(path).\(key)", "applies only to kind app_metrics, not \(kind.rawValue)")
            }
            return nil
        }
        let errorsBefore = reader.errors.count
        if fields["pools"] != nil {
            reader.fail("\(path).pools", "applies only to kind http_json; app_metrics uses preset and mapping")
        }
        let endpoint = parseHTTPEndpoint(fields, kind: kind, path: path, defaultMaxBytes: AppMetricsTargetConfig.defaultMaxResponseBytes,
                                         reader: &reader)

        var preset: AppMetricsPreset?
        if let node = fields["preset"], let text = reader.scalar(node, path: "\(path).preset") {
            preset = reader.oneOf(text, path: "\(path).preset", AppMetricsPreset.self)
        }
        var prefix = AppMetricsPreset.defaultDBPoolRsPrefix
        if let node = fields["prefix"], let text = reader.scalar(node, path: "\(path).prefix") {
            if preset != .dbPoolRs {
                reader.fail("\(path).prefix", "applies only to preset db_pool_rs")
            } else if !PrometheusText.isMetricName(text) {
                reader.fail("\(path).prefix", "\(ConfigEcho.quoted(text)) is not a metric name prefix (letters, digits, '_', ':')")
            } else {
                prefix = text
            }
        }
        var mapping = preset?.mapping(prefix: prefix) ?? AppMetricsMapping()

        func labelName(_ key: String) -> String? {
            guard let node = fields[key], let text = reader.scalar(node, path: "\(path).\(key)") else { return nil }
            guard PrometheusText.isMetricName(text), !text.contains(":") else {
                reader.fail("\(path).\(key)", "\(ConfigEcho.quoted(text)) is not a label name")
                return nil
            }
            return text
        }
        if let name = labelName("pool_label") { mapping.poolLabel = name }
        for (key, keyPath) in [("database", \AppMetricsMapping.database), ("user", \AppMetricsMapping.user)] {
            if fields["\(key)_label"] != nil, fields["\(key)_value"] != nil {
                reader.fail("\(path).\(key)_value", "conflicts with \(path).\(key)_label: give a label or a literal value, not both")
            } else if let name = labelName("\(key)_label") {
                mapping[keyPath: keyPath] = .label(name)
            } else if let node = fields["\(key)_value"], let text = reader.scalar(node, path: "\(path).\(key)_value") {
                mapping[keyPath: keyPath] = .literal(text)
            }
        }
        if let node = fields["mapping"] {
            parseAppMetricsMapping(node, path: "\(path).mapping", into: &mapping, reader: &reader)
        } else if preset == nil {
            reader.fail("\(path).preset", "is required for kind app_metrics unless mapping is given (one of: "
                        + AppMetricsPreset.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        if mapping.values[.active] == nil, reader.errors.count == errorsBefore {
            reader.fail("\(path).mapping.active", "is required: the family of connections in use")
        }
        guard reader.errors.count == errorsBefore, let endpoint else { return nil }
        return AppMetricsTargetConfig(url: endpoint.url, displayURL: endpoint.displayURL, headers: endpoint.headers,
                                      maxResponseBytes: endpoint.maxResponseBytes, maxPools: endpoint.maxPools, mapping: mapping)
    }

    private func parseAppMetricsMapping(_ node: Node, path: String, into mapping: inout AppMetricsMapping, reader: inout NodeReader) {
        let distributions = ["acquire_seconds", "query_seconds"]
        guard let entries = reader.mapping(node, path: path, allowed: PoolModel.Figure.allCases.map(\.rawValue) + distributions)
        else { return }
        for (key, entry) in entries.sorted(by: { $0.key < $1.key }) {
            let entryPath = "\(path).\(key)"
            var family: String?
            var scale = 1.0
            if case .scalar = entry {
                family = reader.scalar(entry, path: entryPath)
            } else if let fields = reader.mapping(entry, path: entryPath, allowed: ["family", "scale"]) {
                if let f = fields["family"] { family = reader.scalar(f, path: "\(entryPath).family") } else {
                    reader.fail("\(entryPath).family", "is required: the metric family to read")
                }
                if let s = fields["scale"], let text = reader.scalar(s, path: "\(entryPath).scale") {
                    if let value = Double(text), value.isFinite, value > 0 { scale = value } else {
                        reader.fail("\(entryPath).scale", "\(ConfigEcho.quoted(text)) is not a positive number (e.g. 0.001 for milliseconds)")
                    }
                }
            }
            guard let family else { continue }
            guard PrometheusText.isMetricName(family) else {
                reader.fail(entryPath, "\(ConfigEcho.quoted(family)) is not a metric family name")
                continue
            }
            let source = AppMetricsMapping.ValueSource(family, scale: scale)
            switch key {
            case "acquire_seconds": mapping.acquireSeconds = source
            case "query_seconds": mapping.querySeconds = source
            default: mapping.values[PoolModel.Figure(rawValue: key)!] = source
            }
        }
        for (counter, rate) in [(PoolModel.Figure.queriesTotal, PoolModel.Figure.queriesPerSecond),
                                (.queryErrorsTotal, .queryErrorsPerSecond)]
        where mapping.values[counter] != nil && mapping.values[rate] != nil {
            // One answer per question (PoolModel.swift): both given is a mistake; a preset's counter plus a
            // configured rate means the configured one wins.
            if entries[rate.rawValue] != nil, entries[counter.rawValue] != nil {
                reader.fail("\(path).\(rate.rawValue)", "conflicts with \(path).\(counter.rawValue): give the counter when the application has one, else the rate")
            } else if entries[rate.rawValue] != nil {
                mapping.values[counter] = nil
            } else {
                mapping.values[rate] = nil
            }
        }
    }
}
