/// The normalized pool model: one set of `poolwatch_pool_*` families for every pool kind, so one
/// dashboard and one alert set cover PgBouncer and Pgpool-II alike.
///
/// A pure function over the families of one successful collection round (wire it as the target plan's
/// `combine` hook). It reads only families the collectors already produced, so it costs no query.
/// Every sample carries `kind`, `pool`, `database`, `user` (and `state` where noted); a value that
/// cannot be derived gives no sample rather than a guessed 0.
///
/// ## PgBouncer (`kind="pgbouncer"`, `pool="<database>/<user>"`)
/// One pool per `SHOW POOLS` row, except the admin console's own `pgbouncer` database.
/// - `poolwatch_pool_clients{state}`: `active` = cl_active, `waiting` = cl_waiting (the cancel-request
///   pseudo clients are left out).
/// - `poolwatch_pool_servers{state}`: `active` = sv_active, `idle` = sv_idle, `used` = sv_used,
///   `other` = sv_tested + sv_login + sv_active_cancel + sv_being_canceled.
/// - `poolwatch_pool_size_limit`: the most server connections the pool can open:
///   `min(pool_size + reserve_pool, max_db_connections if > 0, max_user_connections if > 0)`, where
///   `pool_size` and `reserve_pool` come from the database's `SHOW DATABASES` row (PgBouncer prints the
///   effective values there: the database's own setting or the global default), falling back to
///   `default_pool_size` and `reserve_pool_size` from `SHOW CONFIG` when the row is missing;
///   `max_db_connections` is the row's `max_connections`, falling back to the global setting;
///   `max_user_connections` is the global setting (per-user overrides in `[users]` are not visible
///   without SHOW USERS). The database and user caps are shared by all pools of that database or user,
///   so the limits of several pools may add up to more than the cap.
/// - `poolwatch_pool_utilization_ratio` = sv_active / limit: the share of the limit linked to clients.
///   In transaction pooling a server is linked only for the duration of a transaction, in session
///   pooling for the client's whole session; in both, idle, used (awaiting a check), tested and logging-in
///   servers are not "in use". Not clamped (it exceeds 1 when max_db_connections was lowered under
///   load); no sample when the limit is 0 or unknown.
/// - `poolwatch_pool_wait_seconds_max` = maxwait + maxwait_us / 1e6 (the longest current wait).
/// - `poolwatch_pool_saturated` = 1 when clients wait and the pool can neither hand out nor open a
///   server connection: `cl_waiting > 0 && sv_idle == 0 && sv_active + sv_used + sv_tested + sv_login +
///   sv_being_canceled >= limit`. PgBouncer counts every server connection of the pool (also those
///   being tested or logging in) against the pool size before it opens a new one, so all of them are
///   counted here. The reserve pool is part of the limit: a pool that waits for `reserve_pool_timeout`
///   before using its reserve is not yet saturated.
///
/// ## Pgpool-II (`kind="pgpool"`, `pool="all"`, `database=""`, `user=""`)
/// Pgpool-II has no per-(database, user) limit: its `num_init_children` child processes are shared by
/// every database and user, each serving one client for the client's whole session and keeping that
/// client's backend connection meanwhile. So an instance is one pool:
/// - clients `active` = servers `active` = children serving a client (the sum of `pgpool2_frontend_used`);
///   clients queued in the listen backlog are invisible, so there is no `waiting` sample, and no idle
///   server count (cached backend connections of free children are not listed by SHOW POOL_PROCESSES);
/// - `size_limit` = `pgpool2_frontend_processes` (the number of children);
/// - `utilization_ratio` = active / limit;
/// - `saturated` = 1 when every child serves a client (the next client waits in the backlog);
/// - no `wait_seconds_max` (Pgpool-II does not report waits).
/// The session poolwatch uses occupies one child and is counted.
///
/// ## Application pools (`kind="http_json"` or `kind="app_metrics"`, `pool` as the application names it)
/// Built by ``appPoolFamilies(kind:pools:)`` from ``AppPool`` values the application collectors read:
/// clients `active` = servers `active` = connections in use, clients `waiting` = requests waiting for a
/// connection, servers `idle`, `size_limit` = the pool's maximum, `utilization_ratio` = active / max,
/// `saturated` when requests wait and every connection is in use. Applications know more than a pooler
/// does about the work on their connections, so these kinds may also fill (each only when the source
/// reports it; a figure the source lacks is absent, never 0):
/// - `poolwatch_pool_acquire_duration_seconds{quantile}`: time to get a connection, at the quantiles the
///   source reports (0.5, 0.95, 0.99), typed `summary` with quantile samples only (the source's own
///   window, or for a histogram the increase since the previous round);
/// - `poolwatch_pool_queries_total` (counter) when the source counts queries, otherwise
///   `poolwatch_pool_queries_per_second` (gauge: the source's own rate). Rules and dashboards use
///   `rate()` of the counter or the gauge as is; never both for one pool from one source;
/// - `poolwatch_pool_query_errors_total` / `poolwatch_pool_query_errors_per_second`, the same way;
/// - `poolwatch_pool_query_duration_seconds{quantile}`: query latency quantiles;
/// - `poolwatch_pool_slow_queries_total`: queries the application counted as slow (its own threshold);
/// - `poolwatch_pool_timeouts_total`: connection requests that gave up waiting for a connection.
public enum PoolModel {
    public static func families(from input: [MetricFamily]) -> [MetricFamily] {
        let index = FamilyIndex(input)
        var output = Output()
        pgbouncerPools(index, into: &output)
        pgpoolPool(index, into: &output)
        return output.families
    }

    // MARK: PgBouncer

    /// The `SHOW POOLS` columns the model reads, by the family each one became.
    static let poolColumns: [(family: String, column: String)] = [
        ("pgbouncer_pools_client_active_connections", "cl_active"),
        ("pgbouncer_pools_client_waiting_connections", "cl_waiting"),
        ("pgbouncer_pools_server_active_connections", "sv_active"),
        ("pgbouncer_pools_server_active_cancel_connections", "sv_active_cancel"),
        ("pgbouncer_pools_server_being_canceled_connections", "sv_being_canceled"),
        ("pgbouncer_pools_server_idle_connections", "sv_idle"),
        ("pgbouncer_pools_server_used_connections", "sv_used"),
        ("pgbouncer_pools_server_testing_connections", "sv_tested"),
        ("pgbouncer_pools_server_login_connections", "sv_login"),
        ("pgbouncer_pools_client_maxwait_seconds", "maxwait"),
    ]

    /// The name of PgBouncer's admin console database, whose pseudo pool is not a real pool.
    static let adminDatabase = "pgbouncer"

    static func pgbouncerPools(_ index: FamilyIndex, into output: inout Output) {
        // Pools in first-seen order, each with its columns by position in `poolColumns` (a dictionary
        // keyed by column name per pool was a third of a 1,000-pool round).
        var order: [[String]] = []
        var slots: [[String]: Int] = [:]
        var columns: [[Double?]] = []
        for (position, (family, _)) in poolColumns.enumerated() {
            for sample in index.samples(family) {
                let key = [sample.label("database") ?? "", sample.label("user") ?? ""]
                guard key[0] != adminDatabase else { continue }
                let slot: Int
                if let existing = slots[key] {
                    slot = existing
                } else {
                    slot = order.count
                    slots[key] = slot
                    order.append(key)
                    columns.append([Double?](repeating: nil, count: poolColumns.count))
                }
                columns[slot][position] = sample.value
            }
        }
        for (slot, key) in order.enumerated() {
            let pool = PoolRow(values: columns[slot])
            let labels = [Label("kind", "pgbouncer"), Label("pool", key[0] + "/" + key[1]),
                          Label("database", key[0]), Label("user", key[1])]
            output.clients(labels, active: pool["cl_active"], waiting: pool["cl_waiting"])
            let otherColumns = ["sv_tested", "sv_login", "sv_active_cancel", "sv_being_canceled"]
            let other = otherColumns.contains { pool[$0] != nil } ? otherColumns.reduce(0) { $0 + (pool[$1] ?? 0) } : nil
            output.servers(labels, active: pool["sv_active"], idle: pool["sv_idle"], used: pool["sv_used"], other: other)
            let limit = pgbouncerLimit(database: key[0], index)
            output.limit(labels, limit)
            if let limit, limit > 0, let active = pool["sv_active"] {
                output.utilization(labels, active / limit)
            }
            if let wait = pool["maxwait"] { output.waitMax(labels, wait) }
            if let limit, let waiting = pool["cl_waiting"], let idle = pool["sv_idle"] {
                let occupied = ["sv_active", "sv_used", "sv_tested", "sv_login", "sv_being_canceled"]
                    .reduce(0) { $0 + (pool[$1] ?? 0) }
                output.saturated(labels, waiting > 0 && idle == 0 && occupied >= limit)
            }
        }
    }

    /// One pool's `SHOW POOLS` values, read by column name.
    struct PoolRow {
        var values: [Double?]

        /// Position of each column of `poolColumns`.
        static let positions: [String: Int] = Dictionary(
            uniqueKeysWithValues: poolColumns.enumerated().map { ($0.element.column, $0.offset) })

        subscript(_ column: String) -> Double? { Self.positions[column].flatMap { values[$0] } }
    }

    /// The effective server-connection limit of a pool of `database` (formula in the type's doc).
    static func pgbouncerLimit(database: String, _ index: FamilyIndex) -> Double? {
        func fromDatabase(_ family: String) -> Double? {
            index.databaseValue(family, name: database)
        }
        guard let poolSize = fromDatabase("pgbouncer_databases_pool_size") ?? index.value("pgbouncer_config_default_pool_size")
        else { return nil }
        let reserve = fromDatabase("pgbouncer_databases_reserve_pool") ?? index.value("pgbouncer_config_reserve_pool_size") ?? 0
        var limit = poolSize + reserve
        let caps = [
            fromDatabase("pgbouncer_databases_max_connections") ?? index.value("pgbouncer_config_max_db_connections"),
            index.value("pgbouncer_config_max_user_connections"),
        ]
        for case let cap? in caps where cap > 0 { limit = min(limit, cap) }
        return limit
    }

    // MARK: Pgpool-II

    static func pgpoolPool(_ index: FamilyIndex, into output: inout Output) {
        guard let total = index.value("pgpool2_frontend_processes") else { return }
        let used = index.samples("pgpool2_frontend_used").reduce(0) { $0 + $1.value }
        let labels = [Label("kind", "pgpool"), Label("pool", "all"), Label("database", ""), Label("user", "")]
        output.clients(labels, active: used, waiting: nil)
        output.servers(labels, active: used, idle: nil, used: nil, other: nil)
        output.limit(labels, total)
        if total > 0 {
            output.utilization(labels, used / total)
            output.saturated(labels, used >= total)
        }
    }

    // MARK: Application pools

    /// One application pool as its collector read it; nil means "the source does not report it".
    public struct AppPool: Sendable, Equatable {
        public var name: String
        public var database: String
        public var user: String
        public var active: Double?
        public var idle: Double?
        public var waiting: Double?
        public var max: Double?
        public var waitSecondsMax: Double?
        /// Quantile (0.5, 0.95, 0.99) → seconds.
        public var acquireSeconds: [Double: Double] = [:]
        public var queriesTotal: Double?
        public var queriesPerSecond: Double?
        public var queryErrorsTotal: Double?
        public var queryErrorsPerSecond: Double?
        /// Quantile → seconds.
        public var querySeconds: [Double: Double] = [:]
        public var slowQueriesTotal: Double?
        public var timeoutsTotal: Double?

        public init(name: String, database: String = "", user: String = "", active: Double? = nil, idle: Double? = nil,
                    waiting: Double? = nil, max: Double? = nil) {
            self.name = name
            self.database = database
            self.user = user
            self.active = active
            self.idle = idle
            self.waiting = waiting
            self.max = max
        }
    }

    /// A number an application pool source can report, by the configuration key that maps it (the same
    /// keys for `http_json` fields and `app_metrics` mappings).
    public enum Figure: String, CaseIterable, Sendable, Hashable {
        case active, idle, waiting, max
        case waitSecondsMax = "wait_seconds_max"
        case acquireP50 = "acquire_p50", acquireP95 = "acquire_p95", acquireP99 = "acquire_p99"
        case queriesTotal = "queries_total", queriesPerSecond = "queries_per_second"
        case queryErrorsTotal = "query_errors_total", queryErrorsPerSecond = "query_errors_per_second"
        case queryP50 = "query_p50", queryP95 = "query_p95", queryP99 = "query_p99"
        case slowQueriesTotal = "slow_queries_total"
        case timeoutsTotal = "timeouts_total"

        /// The figures http_json maps besides its original fields (active … timeouts_total).
        public static let extended: [Figure] = [
            .acquireP50, .acquireP95, .acquireP99, .queriesTotal, .queriesPerSecond, .queryErrorsTotal, .queryErrorsPerSecond,
            .queryP50, .queryP95, .queryP99, .slowQueriesTotal,
        ]

        /// The quantile of a latency figure, and whether it is acquire (true) or query (false) latency.
        public var latencyQuantile: (quantile: Double, acquire: Bool)? {
            switch self {
            case .acquireP50: (0.5, true)
            case .acquireP95: (0.95, true)
            case .acquireP99: (0.99, true)
            case .queryP50: (0.5, false)
            case .queryP95: (0.95, false)
            case .queryP99: (0.99, false)
            default: nil
            }
        }

        /// Stores `value` in its place in `pool`.
        public func set(_ value: Double, in pool: inout AppPool) {
            switch self {
            case .active: pool.active = value
            case .idle: pool.idle = value
            case .waiting: pool.waiting = value
            case .max: pool.max = value
            case .waitSecondsMax: pool.waitSecondsMax = value
            case .acquireP50, .acquireP95, .acquireP99: pool.acquireSeconds[latencyQuantile!.quantile] = value
            case .queryP50, .queryP95, .queryP99: pool.querySeconds[latencyQuantile!.quantile] = value
            case .queriesTotal: pool.queriesTotal = value
            case .queriesPerSecond: pool.queriesPerSecond = value
            case .queryErrorsTotal: pool.queryErrorsTotal = value
            case .queryErrorsPerSecond: pool.queryErrorsPerSecond = value
            case .slowQueriesTotal: pool.slowQueriesTotal = value
            case .timeoutsTotal: pool.timeoutsTotal = value
            }
        }
    }

    /// The normalized families of application pools of `kind` (rules in the type's doc).
    public static func appPoolFamilies(kind: TargetKind, pools: [AppPool]) -> [MetricFamily] {
        var output = Output()
        for pool in pools {
            let labels = [Label("kind", kind.rawValue), Label("pool", pool.name), Label("database", pool.database),
                          Label("user", pool.user)]
            output.clients(labels, active: pool.active, waiting: pool.waiting)
            output.servers(labels, active: pool.active, idle: pool.idle, used: nil, other: nil)
            output.limit(labels, pool.max)
            if let active = pool.active, let max = pool.max, max > 0 { output.utilization(labels, active / max) }
            if let wait = pool.waitSecondsMax { output.waitMax(labels, wait) }
            if let active = pool.active, let max = pool.max, let waiting = pool.waiting {
                output.saturated(labels, waiting > 0 && active >= max)
            }
            output.appFigures(labels, pool)
        }
        return output.families
    }

    /// `value` × `scale`, dividing by the reciprocal when the scale is one over a whole number (0.001 for
    /// milliseconds), so 3.1 ms reads 0.0031 rather than 0.0031000000000000003.
    public static func scaled(_ value: Double, _ scale: Double) -> Double {
        let reciprocal = 1 / scale
        if scale < 1, abs(reciprocal - reciprocal.rounded()) < 1e-9 { return value / reciprocal.rounded() }
        return value * scale
    }

    /// `0.99` as the `quantile` label value, the way Prometheus clients write it.
    static func quantileLabel(_ quantile: Double) -> String { GoFloatFormat.value(quantile) }

    // MARK: Plumbing

    /// Samples by family name.
    struct FamilyIndex {
        private var byName: [String: [Sample]] = [:]
        /// `pgbouncer_databases_*` values by family, then by the `name` label (the first row wins), so the
        /// per-pool limit lookup is O(1): a linear search made 1,000 pools cost a million comparisons.
        private var databases: [String: [String: Double]] = [:]

        init(_ families: [MetricFamily]) {
            for family in families { byName[family.name, default: []].append(contentsOf: family.samples) }
            for name in Self.databaseFamilies {
                guard let samples = byName[name] else { continue }
                var values: [String: Double] = [:]
                for sample in samples {
                    guard let database = sample.label("name"), values[database] == nil else { continue }
                    values[database] = sample.value
                }
                databases[name] = values
            }
        }

        /// The `pgbouncer_databases_*` families `pgbouncerLimit` reads.
        static let databaseFamilies = [
            "pgbouncer_databases_pool_size", "pgbouncer_databases_reserve_pool", "pgbouncer_databases_max_connections",
        ]

        func databaseValue(_ family: String, name: String) -> Double? { databases[family]?[name] }

        func samples(_ name: String) -> [Sample] { byName[name] ?? [] }

        /// The value of an unlabelled family (its first sample).
        func value(_ name: String) -> Double? { byName[name]?.first?.value }
    }

    /// The model's families, filled pool by pool; families without samples are dropped at the end.
    struct Output {
        var clientsFamily = MetricFamily(
            "poolwatch_pool_clients", help: "Client connections of the pool by state (active, waiting).")
        var serversFamily = MetricFamily(
            "poolwatch_pool_servers", help: "Server connections of the pool by state (active, idle, used, other).")
        var limitFamily = MetricFamily(
            "poolwatch_pool_size_limit", help: "Most server connections the pool can open (effective limit, see docs).")
        var utilizationFamily = MetricFamily(
            "poolwatch_pool_utilization_ratio", help: "Server connections in use divided by the pool's size limit (not clamped).")
        var waitFamily = MetricFamily(
            "poolwatch_pool_wait_seconds_max", help: "How long the oldest waiting client of the pool has waited, seconds.")
        var saturatedFamily = MetricFamily(
            "poolwatch_pool_saturated", help: "1 when clients wait and the pool can neither hand out nor open a server connection.")

        var acquireFamily = MetricFamily(
            "poolwatch_pool_acquire_duration_seconds",
            help: "Time to acquire a connection from the application's pool at the quantile in the label, seconds.", type: .summary)
        var queriesFamily = MetricFamily(
            "poolwatch_pool_queries_total", help: "Queries the application ran through the pool (when the source counts them).",
            type: .counter)
        var queriesRateFamily = MetricFamily(
            "poolwatch_pool_queries_per_second", help: "Queries per second through the pool, as the source computes it (when it has no counter).")
        var errorsFamily = MetricFamily(
            "poolwatch_pool_query_errors_total", help: "Queries through the pool that failed (when the source counts them).", type: .counter)
        var errorsRateFamily = MetricFamily(
            "poolwatch_pool_query_errors_per_second",
            help: "Failed queries per second through the pool, as the source computes it (when it has no counter).")
        var queryDurationFamily = MetricFamily(
            "poolwatch_pool_query_duration_seconds", help: "Query latency through the pool at the quantile in the label, seconds.",
            type: .summary)
        var slowFamily = MetricFamily(
            "poolwatch_pool_slow_queries_total", help: "Queries the application counted as slow (by its own threshold).", type: .counter)
        var timeoutsFamily = MetricFamily(
            "poolwatch_pool_timeouts_total", help: "Connection requests that gave up waiting for a connection from the pool.", type: .counter)

        var families: [MetricFamily] {
            [clientsFamily, serversFamily, limitFamily, utilizationFamily, waitFamily, saturatedFamily, acquireFamily, queriesFamily,
             queriesRateFamily, errorsFamily, errorsRateFamily, queryDurationFamily, slowFamily, timeoutsFamily]
                .filter { !$0.samples.isEmpty }
        }

        /// The application-only figures of `pool`; quantiles in ascending order.
        mutating func appFigures(_ labels: [Label], _ pool: AppPool) {
            for (quantile, value) in pool.acquireSeconds.sorted(by: { $0.key < $1.key }) {
                Self.add(&acquireFamily, labels + [Label("quantile", quantileLabel(quantile))], value)
            }
            Self.add(&queriesFamily, labels, pool.queriesTotal)
            Self.add(&queriesRateFamily, labels, pool.queriesPerSecond)
            Self.add(&errorsFamily, labels, pool.queryErrorsTotal)
            Self.add(&errorsRateFamily, labels, pool.queryErrorsPerSecond)
            for (quantile, value) in pool.querySeconds.sorted(by: { $0.key < $1.key }) {
                Self.add(&queryDurationFamily, labels + [Label("quantile", quantileLabel(quantile))], value)
            }
            Self.add(&slowFamily, labels, pool.slowQueriesTotal)
            Self.add(&timeoutsFamily, labels, pool.timeoutsTotal)
        }

        mutating func clients(_ labels: [Label], active: Double?, waiting: Double?) {
            Self.add(&clientsFamily, labels, state: "active", active)
            Self.add(&clientsFamily, labels, state: "waiting", waiting)
        }

        mutating func servers(_ labels: [Label], active: Double?, idle: Double?, used: Double?, other: Double?) {
            Self.add(&serversFamily, labels, state: "active", active)
            Self.add(&serversFamily, labels, state: "idle", idle)
            Self.add(&serversFamily, labels, state: "used", used)
            Self.add(&serversFamily, labels, state: "other", other)
        }

        mutating func limit(_ labels: [Label], _ value: Double?) { Self.add(&limitFamily, labels, value) }
        mutating func utilization(_ labels: [Label], _ value: Double) { Self.add(&utilizationFamily, labels, value) }
        mutating func waitMax(_ labels: [Label], _ value: Double) { Self.add(&waitFamily, labels, value) }
        mutating func saturated(_ labels: [Label], _ flag: Bool) { Self.add(&saturatedFamily, labels, flag ? 1 : 0) }

        private static func add(_ family: inout MetricFamily, _ labels: [Label], state: String? = nil, _ value: Double?) {
            guard let value else { return }
            family.samples.append(Sample(state.map { labels + [Label("state", $0)] } ?? labels, value))
        }
    }
}
