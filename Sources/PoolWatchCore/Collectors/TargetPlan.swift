/// What differs between the libpq-speaking target kinds: how to connect, what to run, what "up" is called.
public struct TargetPlan: Sendable {
    /// The family that says whether the target answers (`pg_up`, `pgbouncer_up`, `pgpool2_up`).
    public var upMetric: String
    public var upHelp: String
    /// Extra libpq parameters placed *after* the DSN, so they override it.
    public var enforcedParameters: [(String, String)]
    public var collectors: [any SQLCollector]
    /// Recognizes, in the error of the first collector, a server that answers but is not of this kind,
    /// and says so (nil: an ordinary collector failure).
    public var identityFailure: @Sendable (String) -> String?
    /// Builds families that need the results of several collectors (e.g. the normalized pool model);
    /// called once per successful round with everything collected.
    public var combine: @Sendable ([MetricFamily]) -> [MetricFamily]
    /// What runs in other databases over short-lived connections (kind postgres; nil: nothing).
    public var visits: DatabaseVisitPlan?

    public init(
        upMetric: String, upHelp: String, enforcedParameters: [(String, String)], collectors: [any SQLCollector],
        identityFailure: @escaping @Sendable (String) -> String? = { _ in nil },
        combine: @escaping @Sendable ([MetricFamily]) -> [MetricFamily] = { _ in [] },
        visits: DatabaseVisitPlan? = nil
    ) {
        self.visits = visits
        self.identityFailure = identityFailure
        self.upMetric = upMetric
        self.upHelp = upHelp
        self.enforcedParameters = enforcedParameters
        self.collectors = collectors
        self.combine = combine
    }

    /// The plan for `kind: postgres`: server-side timeouts on the session, and the PostgreSQL collectors.
    public static func postgres(_ target: TargetConfig) -> TargetPlan {
        let options = "-c statement_timeout=\(target.statementTimeout.milliseconds) -c lock_timeout=\(target.lockTimeout.milliseconds)"
        var collectors: [any SQLCollector] = [
            ServerInfoCollector(),
            SettingsCollector(),
            ActivityCollector(topApplications: target.activity.topApplications),
            DatabaseCollector(),
            BackendsCollector(includeQuery: target.statements.includeQuery, queryLength: target.statements.queryLength),
            StandbyCollector(),
            ReplicationCollector(),
            ReplicationSlotsCollector(),
            WraparoundCollector(),
            CheckpointerCollector(),
        ]
        if let interval = target.databaseSizeInterval { collectors.append(DatabaseSizeCollector(interval: interval)) }
        if let interval = target.tableStatsInterval {
            collectors.append(TableStatsCollector(limit: target.tableStatsLimit, interval: interval))
        }
        if target.statements.enabled {
            collectors.append(StatementsCollector(
                limit: target.statements.limit, slowThreshold: target.statements.slowThreshold,
                includeQuery: target.statements.includeQuery, queryLength: target.statements.queryLength,
                interval: target.statements.interval))
        }
        // Last: a slow or failing custom query must not delay or fail the built-in collectors. Queries with
        // `databases:` run in those databases instead (DatabaseVisitPlan.swift).
        collectors += target.queries.filter { $0.databases == nil }.map { CustomQueryCollector($0) as any SQLCollector }
        return TargetPlan(
            upMetric: "pg_up", upHelp: "1 if poolwatch could connect to PostgreSQL and run its queries in the last round.",
            enforcedParameters: commonParameters(target) + [("options", options)],
            collectors: collectors,
            identityFailure: { message in
                // PgBouncer's console answers a SELECT with "invalid command"; PgBouncer refuses the
                // `options` startup parameter that carries poolwatch's statement_timeout.
                guard message.contains("invalid command") || message.contains("unsupported startup parameter") else { return nil }
                return "not a PostgreSQL server (it answered: \(message)); kind: postgres needs PostgreSQL itself, not a pooler"
            },
            visits: DatabaseVisitPlan(target: target))
    }

    /// The libpq parameters every kind gets. PgBouncer's console refuses `options` ("unsupported startup
    /// parameter"), so only PostgreSQL gets server-side timeouts; the others rely on `collection_timeout`
    /// and `PQcancel`.
    static func commonParameters(_ target: TargetConfig) -> [(String, String)] {
        [
            ("application_name", "poolwatch"),
            ("connect_timeout", "\(max(1, Int(target.connectTimeout.seconds.rounded(.up))))"),
            ("client_encoding", "UTF8"),
        ]
    }

    /// The plan for `kind: pgbouncer`: the admin console (the DSN names `dbname=pgbouncer`).
    public static func pgbouncer(_ target: TargetConfig) -> TargetPlan {
        TargetPlan(
            upMetric: "pgbouncer_up", upHelp: "1 if poolwatch could connect to the PgBouncer admin console in the last round.",
            enforcedParameters: commonParameters(target),
            collectors: [
                PgBouncerVersionCollector(),  // first: its version picks SHOW STATS_TOTALS or SHOW STATS
                PgBouncerPoolsCollector(), PgBouncerStatsCollector(), PgBouncerDatabasesCollector(),
                PgBouncerListsCollector(), PgBouncerConfigCollector(), PgBouncerMemCollector(),
                PgBouncerServersCollector(), PgBouncerClientsCollector(topApplications: target.activity.topApplications),
            ],
            identityFailure: { wrongConsole($0, expected: "a PgBouncer admin console", hint: "dbname=pgbouncer on PgBouncer's port") },
            combine: { PoolModel.families(from: $0) })
    }

    /// The plan for `kind: pgpool`: Pgpool-II answers the `SHOW POOL_*` commands itself.
    public static func pgpool(_ target: TargetConfig) -> TargetPlan {
        TargetPlan(
            upMetric: "pgpool2_up", upHelp: "1 if poolwatch could connect to Pgpool-II in the last round.",
            enforcedParameters: commonParameters(target),
            collectors: [PgpoolVersionCollector(), PgpoolNodesCollector(), PgpoolProcessesCollector()],
            identityFailure: { wrongConsole($0, expected: "Pgpool-II", hint: "Pgpool-II's port") },
            combine: { PoolModel.families(from: $0) })
    }

    /// PostgreSQL answers a pooler's `SHOW` command it does not know with "unrecognized configuration
    /// parameter": the DSN reaches PostgreSQL (or, through Pgpool-II, its backend), not the console.
    static func wrongConsole(_ message: String, expected: String, hint: String) -> String? {
        guard message.contains("unrecognized configuration parameter") else { return nil }
        return "not \(expected) (it answered: \(message)); the dsn must name \(hint)"
    }
}
