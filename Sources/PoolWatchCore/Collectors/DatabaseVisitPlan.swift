/// What a postgres target reads in databases other than its DSN's: table statistics
/// (`table_stats.databases`) and custom queries with `databases:`. `pg_stat_user_tables` and a query's
/// tables exist per database, and a PostgreSQL connection sees only its own database, so these run over
/// short-lived connections, one database at a time, at most `connection_budget` open at once (the
/// runner is Sources/PoolWatchCollection/DatabaseVisitor.swift). Everything here is pure: which database runs
/// which collector, and how results and visit outcomes become families.
///
/// A visit's series carry `datname` (the visited database), so one family holds the tables or rows of
/// every database; a query that selects its own `datname` column keeps it.
public struct DatabaseVisitPlan: Sendable {
    /// One collector run in a selection of databases, every `interval`.
    public struct Job: Sendable {
        public var collector: any SQLCollector
        public var databases: DatabaseSelection
        public var interval: Duration
        /// True for table statistics: the DSN's database is read on the target's own connection
        /// (TableStatsCollector in every round's plan), so a visit would only duplicate its series.
        public var skipsOwnDatabase: Bool
    }

    public var jobs: [Job]
    public var connectionBudget: Int

    /// The interval of a query with `databases:` and no `interval` of its own: visiting databases every
    /// round would open connections every 15 seconds; table statistics default to this interval too.
    public static let defaultInterval: Duration = .seconds(300)

    /// The collector name of the listing of `databases: all` in `poolwatch_database_visit_success`.
    public static let listName = "database_list"

    /// The plan of `target`, or nil when it visits no other database.
    public init?(target: TargetConfig) {
        var jobs: [Job] = []
        if let interval = target.tableStatsInterval, let selection = target.tableStatsDatabases {
            jobs.append(Job(collector: TableStatsCollector(limit: target.tableStatsLimit, interval: interval),
                            databases: selection, interval: interval, skipsOwnDatabase: true))
        }
        for query in target.queries {
            guard let databases = query.databases else { continue }
            jobs.append(Job(collector: CustomQueryCollector(query), databases: .list(databases),
                            interval: query.interval ?? Self.defaultInterval, skipsOwnDatabase: false))
        }
        guard !jobs.isEmpty else { return nil }
        self.jobs = jobs
        self.connectionBudget = max(1, target.connectionBudget)
    }

    /// The cap of `databases: all`, when a job lists all databases (nil: none does, nothing is listed).
    public var maxDatabases: Int? {
        jobs.compactMap { job -> Int? in
            if case .all(let max) = job.databases { return max }
            return nil
        }.max()
    }

    /// Lists the databases `databases: all` visits, run in the DSN's database: those that accept
    /// connections and that the role may connect to, without templates and without the DSN's own, the
    /// first `max` by name, with how many there are in all.
    public static func listStatement(max: Int) -> String {
        """
        SELECT datname, count(*) OVER () AS databases FROM pg_database \
        WHERE datallowconn AND NOT datistemplate AND datname <> current_database() \
        AND has_database_privilege(oid, 'CONNECT') ORDER BY datname LIMIT \(Swift.max(1, max))
        """
    }

    /// The names the listing returned, and how many it found beyond them (over `max_databases`).
    public static func listed(_ result: QueryResult) -> (names: [String], beyondCap: Int) {
        let rows = result.namedRows
        let names = rows.compactMap { $0["datname"] }
        let total = rows.first?.double("databases").map(Int.init) ?? names.count
        return (names, Swift.max(0, total - names.count))
    }

    /// One database to visit and the jobs (indices into ``jobs``) to run there.
    public struct Visit: Sendable, Equatable {
        public var datname: String
        public var jobs: [Int]
    }

    /// Which databases a sweep visits for the `due` jobs, by name: explicit lists as given, `all` as
    /// `listed` (nil: the listing failed, so those jobs visit nothing this time), without the DSN's own
    /// database (`own`) for jobs that read it on the target's connection.
    public func visits(due: [Int], own: String, listed: [String]?) -> [Visit] {
        var byDatabase: [String: [Int]] = [:]
        for index in due where jobs.indices.contains(index) {
            let job = jobs[index]
            let names: [String]
            switch job.databases {
            case .list(let given): names = given
            case .all: names = listed ?? []
            }
            for name in names where !(job.skipsOwnDatabase && name == own) {
                if byDatabase[name]?.contains(index) != true { byDatabase[name, default: []].append(index) }
            }
        }
        return byDatabase.keys.sorted().map { Visit(datname: $0, jobs: byDatabase[$0]!) }
    }

    /// The families of job `index` from its results in database `datname`.
    public func families(job index: Int, results: [QueryResult], server: ServerFacts, datname: String) throws -> [MetricFamily] {
        Self.labelled(try jobs[index].collector.map(results, server: server), datname: datname)
    }

    /// Puts `datname` first on every sample that lacks it (a query's own `datname` column wins).
    public static func labelled(_ families: [MetricFamily], datname: String) -> [MetricFamily] {
        families.map { family in
            var copy = family
            copy.samples = family.samples.map { sample in
                sample.label("datname") != nil ? sample : Sample([Label("datname", datname)] + sample.labels, sample.value)
            }
            return copy
        }
    }

    /// How one collector did in the last visit of one database.
    public struct Outcome: Sendable, Equatable {
        public var datname: String
        public var collector: String
        public var success: Bool
        /// Seconds the whole visit took (connect, statements, close).
        public var duration: Double
        public var error: String?

        public init(datname: String, collector: String, success: Bool, duration: Double, error: String? = nil) {
            self.datname = datname
            self.collector = collector
            self.success = success
            self.duration = duration
            self.error = error
        }
    }

    /// The visits' own families: per database and collector whether the last visit worked, per database
    /// how long it took, the budget, the connections open now, and the databases left over the cap.
    public static func statusFamilies(_ outcomes: [Outcome], budget: Int, open: Int, beyondCap: Int?) -> [MetricFamily] {
        let sorted = outcomes.sorted { ($0.datname, $0.collector) < ($1.datname, $1.collector) }
        var durations: [String: Double] = [:]
        for outcome in sorted { durations[outcome.datname] = max(durations[outcome.datname] ?? 0, outcome.duration) }
        var families = [
            MetricFamily(
                "poolwatch_database_visit_success",
                help: "1 if the collector ran in the database in its last visit over a short-lived connection (table_stats.databases, queries[].databases).",
                samples: sorted.map { Sample([Label("datname", $0.datname), Label("collector", $0.collector)], $0.success ? 1 : 0) }),
            MetricFamily(
                "poolwatch_database_visit_duration_seconds", help: "Seconds the last visit of the database took: connect, statements, close.",
                samples: durations.keys.sorted().map { Sample([Label("datname", $0)], durations[$0]!) }),
            MetricFamily(
                "poolwatch_database_visit_connection_budget",
                help: "connection_budget: the most short-lived connections to other databases open at once.", value: Double(budget)),
            MetricFamily(
                "poolwatch_database_visit_connections", help: "Short-lived connections to other databases open when the round ended.",
                value: Double(open)),
        ]
        if let beyondCap {
            families.append(MetricFamily(
                "poolwatch_database_visit_databases_beyond_cap",
                help: "Databases table_stats.databases: all found beyond max_databases, and did not visit.", value: Double(beyondCap)))
        }
        return families
    }
}
