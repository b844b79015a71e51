/// Maps an application's pool-stats document (HikariCP-, pgx- or OpenTelemetry-like; docs/metric-names.md §5)
/// to metric families. Pure: the runner fetches the document, this turns bytes into families.
///
/// Per pool, labelled `pool`, `database`, `user` (empty when not configured):
/// - `poolwatch_app_pool_connections{state="active|idle"}`, `poolwatch_app_pool_pending`,
///   `poolwatch_app_pool_max`, and when configured `poolwatch_app_pool_acquire_seconds` and the counter
///   `poolwatch_app_pool_timeouts_total`;
/// - the normalized pool model with `kind="http_json"` in front: `poolwatch_pool_clients{state="active|waiting"}`
///   (active = connections in use, waiting = requests waiting for one), `poolwatch_pool_servers{state="active|idle"}`,
///   `poolwatch_pool_size_limit` (= max), `poolwatch_pool_utilization_ratio` (= active / max; absent when
///   max is 0), `poolwatch_pool_saturated` (1 when requests wait and every connection is in use), and
///   `poolwatch_pool_wait_seconds_max` only when `fields.wait_seconds_max` is configured: an application's
///   average acquire time is not a longest wait, so it is never passed off as one;
/// - the application figures of the model (``PoolModel/Figure/extended``: acquire and query latency
///   quantiles, queries and errors as counters or rates, slow queries) and `poolwatch_pool_timeouts_total`,
///   each only when its field is configured and the document has a value.
///
/// Only the first `maxPools` pools of the document are read; `poolwatch_app_pool_pools_dropped` says how
/// many more there were.
///
/// The document must be complete and well-typed: bad JSON, a missing or null required field, a value of
/// the wrong type or two pools with the same labels fail the whole round with a message that names the
/// JSON path, rather than export half a picture. An optional field whose value is `null` is skipped.
public struct HTTPJSONPoolCollector: Sendable {
    public let mapping: HTTPJSONPoolMapping
    public let maxPools: Int

    public init(mapping: HTTPJSONPoolMapping, maxPools: Int = HTTPJSONTargetConfig.defaultMaxPools) {
        self.mapping = mapping
        self.maxPools = maxPools
    }

    /// One pool's numbers, as read from the document.
    public struct Pool: Sendable, Equatable {
        public var name: String
        public var database: String
        public var user: String
        public var active: Double
        public var idle: Double
        public var waiting: Double
        public var max: Double
        public var acquireSeconds: Double?
        public var waitSecondsMax: Double?
        public var timeoutsTotal: Double?
        /// The ``PoolModel/Figure/extended`` figures the mapping names and the document has (scaled).
        public var extended: [PoolModel.Figure: Double] = [:]
    }

    /// Parses `body` as JSON and maps it.
    public func map(body: [UInt8]) throws(CollectorError) -> [MetricFamily] {
        let document: JSONValue
        do {
            document = try JSONValue.parse(body)
        } catch {
            throw CollectorError("the response is not valid JSON: \(error.description)")
        }
        let read = try read(document)
        return families(for: read.pools) + [MetricFamily(
            "poolwatch_app_pool_pools_dropped",
            help: "Pools of the last document beyond max_pools, not exported (the first max_pools in document order are).",
            value: Double(read.dropped))]
    }

    /// Reads the pools out of `document` (at most `maxPools`).
    public func pools(in document: JSONValue) throws(CollectorError) -> [Pool] {
        try read(document).pools
    }

    /// The first `maxPools` pools of `document`, and how many more it has.
    public func read(_ document: JSONValue) throws(CollectorError) -> (pools: [Pool], dropped: Int) {
        var selected: [(path: [JSONPath.Segment], value: JSONValue)]
        do {
            selected = try mapping.items.select(in: document)
        } catch {
            throw CollectorError("pools.items \(mapping.items): \(error.message)")
        }
        // Without a wildcard, an array's elements are the pools (`$.pools` means `$.pools[*]`).
        if mapping.items.isSingular, selected.count == 1, case let .array(elements) = selected[0].value {
            let base = selected[0].path
            selected = elements.enumerated().map { (base + [.index($0.offset)], $0.element) }
        }
        let dropped = Swift.max(0, selected.count - maxPools)
        selected.removeLast(dropped)
        var pools: [Pool] = []
        var seen: [[String]: String] = [:]
        for (segments, item) in selected {
            let pool = try readPool(item, at: segments)
            let identity = [pool.name, pool.database, pool.user]
            let here = JSONPath(segments: segments).description
            if let first = seen[identity] {
                throw CollectorError("pools \(first) and \(here) have the same labels (pool=\"\(pool.name)\", database=\"\(pool.database)\", "
                    + "user=\"\(pool.user)\"); map pools.name, database or user to something that tells them apart")
            }
            seen[identity] = here
            pools.append(pool)
        }
        return (pools, dropped)
    }

    private func readPool(_ item: JSONValue, at base: [JSONPath.Segment]) throws(CollectorError) -> Pool {
        func lookup(_ path: JSONPath, key: String) throws(CollectorError) -> JSONValue {
            switch path.lookup(in: item) {
            case let .found(value):
                return value
            case let .missing(resolved, problem):
                let reached = JSONPath(segments: base + path.segments.prefix(resolved))
                throw CollectorError("pools.\(key): \(reached) \(problem)")
            }
        }
        func absolute(_ path: JSONPath) -> String { JSONPath(segments: base + path.segments).description }

        func number(_ path: JSONPath, key: String, scale: Double = 1) throws(CollectorError) -> Double {
            switch try lookup(path, key: key) {
            case let .number(value): return PoolModel.scaled(value, scale)
            case let other: throw CollectorError("pools.\(key): \(absolute(path)) is \(other.kindDescription), expected a number")
            }
        }
        func optionalNumber(_ path: JSONPath?, key: String, scale: Double = 1) throws(CollectorError) -> Double? {
            guard let path else { return nil }
            if case .null = try lookup(path, key: key) { return nil }
            return try number(path, key: key, scale: scale)
        }
        func label(_ source: HTTPJSONPoolMapping.LabelSource, key: String) throws(CollectorError) -> String {
            switch source {
            case let .literal(text): return text
            case let .path(path):
                switch try lookup(path, key: key) {
                case let .string(text): return text
                case let .number(value): return Self.formatLabel(value)
                case let .bool(value): return value ? "true" : "false"
                case let other: throw CollectorError("pools.\(key): \(absolute(path)) is \(other.kindDescription), expected a string")
                }
            }
        }

        var extended: [PoolModel.Figure: Double] = [:]
        for (figure, path) in mapping.extended.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            let scale = figure.latencyQuantile.map { $0.acquire ? mapping.acquireLatencyScale : mapping.queryLatencyScale } ?? 1
            if let value = try optionalNumber(path, key: "fields.\(figure.rawValue)", scale: scale) { extended[figure] = value }
        }
        return Pool(
            name: try label(mapping.name, key: "name"),
            database: try label(mapping.database, key: "database"),
            user: try label(mapping.user, key: "user"),
            active: try number(mapping.active, key: "fields.active"),
            idle: try number(mapping.idle, key: "fields.idle"),
            waiting: try number(mapping.waiting, key: "fields.waiting"),
            max: try number(mapping.max, key: "fields.max"),
            acquireSeconds: try optionalNumber(mapping.acquireSeconds, key: "fields.acquire_seconds", scale: mapping.acquireSecondsScale),
            waitSecondsMax: try optionalNumber(mapping.waitSecondsMax, key: "fields.wait_seconds_max", scale: mapping.waitSecondsMaxScale),
            timeoutsTotal: try optionalNumber(mapping.timeoutsTotal, key: "fields.timeouts_total"),
            extended: extended)
    }

    /// `3` rather than `3.0` for pool ids published as numbers.
    static func formatLabel(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return "\(value)"
    }

    /// The families for `pools`, in a fixed order; a family no pool has a value for is left out.
    /// The normalized families are built by ``PoolModel/Output``, so their HELP text and label order
    /// are the same for every pool kind.
    public func families(for pools: [Pool]) -> [MetricFamily] {
        func labels(_ pool: Pool) -> [Label] {
            [Label("pool", pool.name), Label("database", pool.database), Label("user", pool.user)]
        }
        func family(_ name: String, _ help: String, type: MetricType = .gauge, _ samples: (Pool) -> [Sample]) -> MetricFamily {
            MetricFamily(name, help: help, type: type, samples: pools.flatMap(samples))
        }

        let app = [
            family("poolwatch_app_pool_connections", "Connections of the application's pool, by state (active: in use, idle: open and unused).") {
                [Sample(labels($0) + [Label("state", "active")], $0.active), Sample(labels($0) + [Label("state", "idle")], $0.idle)]
            },
            family("poolwatch_app_pool_pending", "Requests waiting for a connection from the application's pool.") {
                [Sample(labels($0), $0.waiting)]
            },
            family("poolwatch_app_pool_max", "Maximum size of the application's pool.") { [Sample(labels($0), $0.max)] },
            family("poolwatch_app_pool_acquire_seconds",
                   "Time to acquire a connection from the application's pool as the application reports it (often an average), seconds.") { pool in
                pool.acquireSeconds.map { [Sample(labels(pool), $0)] } ?? []
            },
            family("poolwatch_app_pool_timeouts_total", "Connection requests of the application's pool that timed out.", type: .counter) { pool in
                pool.timeoutsTotal.map { [Sample(labels(pool), $0)] } ?? []
            },
        ]

        let model = pools.map { pool in
            var app = PoolModel.AppPool(name: pool.name, database: pool.database, user: pool.user, active: pool.active,
                                        idle: pool.idle, waiting: pool.waiting, max: pool.max)
            app.waitSecondsMax = pool.waitSecondsMax
            app.timeoutsTotal = pool.timeoutsTotal
            for (figure, value) in pool.extended { figure.set(value, in: &app) }
            return app
        }
        return app.filter { !$0.samples.isEmpty } + PoolModel.appPoolFamilies(kind: .httpJSON, pools: model)
    }
}
