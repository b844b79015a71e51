import Testing

@testable import PoolWatchCore

/// Which database a visit runs which collector in, and how visit results and outcomes become families
/// (the runner, with real servers, is tested in Tests/PoolWatchIntegrationTests/DatabaseVisitTests.swift).
@Suite struct DatabaseVisitPlanTests {
    func target(tables: DatabaseSelection?, queries: [CustomQuery] = [], tableStats: Duration? = .seconds(300)) -> TargetConfig {
        var target = TargetConfig(name: "pg", kind: .postgres)
        target.tableStatsDatabases = tables
        target.tableStatsInterval = tableStats
        target.queries = queries
        target.connectionBudget = 2
        return target
    }

    func query(_ name: String, databases: [String]?, interval: Duration? = nil) -> CustomQuery {
        var query = CustomQuery(name: name, sql: "SELECT 1 AS n")
        query.gauges = ["n"]
        query.databases = databases
        query.interval = interval
        return query
    }

    @Test func nothingToVisitWithoutDatabases() {
        #expect(DatabaseVisitPlan(target: target(tables: nil, queries: [query("q", databases: nil)])) == nil)
        // table_stats off: its databases are not visited either.
        #expect(DatabaseVisitPlan(target: target(tables: .list(["a"]), tableStats: nil)) == nil)
    }

    @Test func visitsGroupJobsByDatabaseAndLeaveTheOwnTablesToTheTargetConnection() throws {
        let plan = try #require(DatabaseVisitPlan(target: target(
            tables: .list(["app", "postgres", "billing"]),
            queries: [query("here", databases: nil), query("jobs", databases: ["postgres", "app"], interval: .seconds(60))])))
        #expect(plan.connectionBudget == 2)
        #expect(plan.jobs.map(\.collector.name) == ["stat_user_tables", "query_jobs"])
        #expect(plan.jobs.map(\.interval) == [.seconds(300), .seconds(60)])
        #expect(plan.maxDatabases == nil)
        #expect(plan.visits(due: [0, 1], own: "postgres", listed: nil) == [
            .init(datname: "app", jobs: [0, 1]), .init(datname: "billing", jobs: [0]), .init(datname: "postgres", jobs: [1]),
        ])
        #expect(plan.visits(due: [1], own: "postgres", listed: nil).map(\.datname) == ["app", "postgres"])
    }

    @Test func allUsesTheListingAndNothingWhenItFailed() throws {
        let plan = try #require(DatabaseVisitPlan(target: target(tables: .all(max: 2))))
        #expect(plan.maxDatabases == 2)
        let statement = DatabaseVisitPlan.listStatement(max: 2)
        #expect(statement.contains("LIMIT 2") && statement.contains("NOT datistemplate") && statement.contains("datallowconn"))
        #expect(statement.contains("has_database_privilege(oid, 'CONNECT')") && statement.contains("datname <> current_database()"))
        let listing = QueryResult(columns: ["datname", "databases"], rows: [["a", "5"], ["b", "5"]])
        let found = DatabaseVisitPlan.listed(listing)
        #expect(found.names == ["a", "b"] && found.beyondCap == 3)
        #expect(DatabaseVisitPlan.listed(QueryResult(columns: ["datname", "databases"], rows: [])).beyondCap == 0)
        #expect(plan.visits(due: [0], own: "postgres", listed: found.names).map(\.datname) == ["a", "b"])
        #expect(plan.visits(due: [0], own: "postgres", listed: nil).isEmpty)
    }

    @Test func visitedSeriesCarryDatnameUnlessTheQueryHasItsOwn() throws {
        var own = query("own", databases: ["a"])
        own.sql = "SELECT current_database() AS datname, 1 AS n"
        own.labels = ["datname"]
        let plan = try #require(DatabaseVisitPlan(target: target(tables: nil, queries: [query("jobs", databases: ["a"]), own])))
        let results = [QueryResult(columns: [], rows: []), QueryResult(columns: ["n"], rows: [["4"]]), QueryResult(columns: [], rows: [])]
        let families = try plan.families(job: 0, results: results, server: .init(versionNumber: 150000), datname: "app")
        #expect(families.first { $0.name == "jobs_n" }?.samples == [Sample([Label("datname", "app")], 4)])
        #expect(families.first { $0.name == "poolwatch_query_truncated" }?.samples.first?.labels
                == [Label("datname", "app"), Label("query", "jobs")])
        let ownResults = [QueryResult(columns: [], rows: []), QueryResult(columns: ["datname", "n"], rows: [["elsewhere", "1"]]),
                          QueryResult(columns: [], rows: [])]
        let kept = try plan.families(job: 1, results: ownResults, server: .init(versionNumber: 150000), datname: "app")
        #expect(kept.first { $0.name == "own_n" }?.samples == [Sample([Label("datname", "elsewhere")], 1)])
    }

    @Test func statusFamiliesPerDatabaseAndCollector() {
        let families = DatabaseVisitPlan.statusFamilies([
            .init(datname: "b", collector: "stat_user_tables", success: false, duration: 0.5, error: "database \"b\" does not exist"),
            .init(datname: "a", collector: "query_jobs", success: true, duration: 0.2),
            .init(datname: "a", collector: "stat_user_tables", success: true, duration: 0.2),
        ], budget: 2, open: 1, beyondCap: 3)
        func samples(_ name: String) -> [Sample] { families.first { $0.name == name }?.samples ?? [] }
        #expect(samples("poolwatch_database_visit_success") == [
            Sample([Label("datname", "a"), Label("collector", "query_jobs")], 1),
            Sample([Label("datname", "a"), Label("collector", "stat_user_tables")], 1),
            Sample([Label("datname", "b"), Label("collector", "stat_user_tables")], 0),
        ])
        #expect(samples("poolwatch_database_visit_duration_seconds") == [Sample([Label("datname", "a")], 0.2), Sample([Label("datname", "b")], 0.5)])
        #expect(samples("poolwatch_database_visit_connection_budget") == [Sample(2)])
        #expect(samples("poolwatch_database_visit_connections") == [Sample(1)])
        #expect(samples("poolwatch_database_visit_databases_beyond_cap") == [Sample(3)])
        #expect(DatabaseVisitPlan.statusFamilies([], budget: 1, open: 0, beyondCap: nil)
            .allSatisfy { $0.name != "poolwatch_database_visit_databases_beyond_cap" })
        // No error text in any label: it stays in the log.
        #expect(families.allSatisfy { $0.samples.allSatisfy { $0.labels.allSatisfy { !$0.value.contains("exist") } } })
    }
}
