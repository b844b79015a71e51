import Foundation
import PoolWatchCore
import PoolWatchCurl
import PoolWatchCollection
import Synchronization
import Testing
import PoolWatchLibPQ
import PoolWatchRuntime

/// Table statistics and custom queries in databases other than the DSN's, over short-lived connections
/// under the target's connection budget (DatabaseVisitor.swift), on real servers; and the target's
/// constant labels on poolwatch's own series, in the real binary's /metrics.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 and a PostgreSQL (scripts/test)"))
struct DatabaseVisitTests {
    typealias Env = IntegrationEnvironment

    /// Databases of this test, dropped at the end (`WITH (FORCE)`: a visit may still be connected).
    final class Databases: @unchecked Sendable {
        // @unchecked: written only by the owning test, before any concurrent use.
        let names: [String]
        let dsn: (String) -> String

        init(_ count: Int, prefix: String, on cluster: PrivateCluster? = nil) throws {
            let base = Env.uniqueName(prefix)
            names = (1...count).map { "\(base)_\($0)" }
            let port = cluster.map { "\($0.port)" } ?? Env.pgPort
            let host = cluster == nil ? Env.pgHost : "127.0.0.1"
            dsn = { "host=\(host) port=\(port) user=postgres dbname=\($0)" }
            for name in names { _ = try Env.connect(dsn("postgres")).exec("CREATE DATABASE \(name)") }
        }

        func sql(_ statement: String, in database: String) throws {
            _ = try Env.connect(dsn(database)).exec(statement)
        }

        /// On a thread of the tests' own pool, never awaited: DROP DATABASE waits for every backend of
        /// the server to absorb a signal barrier, and a deinit may run on a cooperative thread.
        deinit {
            let (names, dsn) = (names, dsn("postgres"))
            Env.background.detach {
                for name in names { _ = try? Env.connect(dsn).exec("DROP DATABASE IF EXISTS \(name) WITH (FORCE)") }
            }
        }
    }

    func target(dsn: String, interval: Duration = .seconds(1)) -> TargetConfig {
        var target = Env.target(dsn: dsn, interval: interval)
        target.statements.enabled = false
        return target
    }

    /// Rounds of `collector` until the visits have reported every `datname` in `databases` (a sweep runs
    /// apart from the round that starts it, so its results show in a later round).
    func roundsUntilVisited(_ collector: LibPQTargetCollector, _ databases: [String], seconds: Double = 20) async -> TargetSnapshot {
        var last = await collector.collectRound()
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let reported = Set(last.samples("poolwatch_database_visit_success").compactMap { $0.label("datname") })
            if databases.allSatisfy(reported.contains) { return last }
            try? await Task.sleep(for: .milliseconds(200))
            last = await collector.collectRound()
        }
        return last
    }

    @Test func tablesOfASecondAndThirdDatabaseCarryTheirDatname() async throws {
        let databases = try await Env.background.run { try Databases(2, prefix: "pw_tables") }
        for (index, name) in databases.names.enumerated() {
            try await Env.background.run {
                try databases.sql("CREATE TABLE big\(index) AS SELECT g, repeat('x', 300) AS pad FROM generate_series(1, 5000) g; "
                                  + "CREATE TABLE small1 (id int); CREATE TABLE small2 (id int); ANALYZE; "
                                  + "DELETE FROM big\(index) WHERE g <= 100; SELECT count(*) FROM big\(index)", in: name)
            }
        }
        // A backend publishes its table counters when it exits, shortly after the connection closes.
        for (index, name) in databases.names.enumerated() {
            #expect(try await eventually(10) {
                try await Env.background.run {
                    try Env.connect(databases.dsn(name)).exec("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'big\(index)'")
                        .rows.first?[0].flatMap { Int($0) } ?? 0 > 0
                }
            })
        }
        var target = target(dsn: Env.dsn())
        target.tableStatsLimit = 1
        target.tableStatsDatabases = .list(databases.names + ["postgres"])
        target.labels = [Label("cluster", "visits")]
        let collector = LibPQTargetCollector(target: target, plan: .postgres(target), executor: Env.executor)
        defer { collector.close() }
        let snapshot = await roundsUntilVisited(collector, databases.names)
        #expect(snapshot.up)
        for (index, name) in databases.names.enumerated() {
            let big = ["datname": name, "schemaname": "public", "relname": "big\(index)"]
            #expect(snapshot.sum("poolwatch_database_visit_success", ["datname": name, "collector": "stat_user_tables"]) == 1,
                    "\(snapshot.samples("poolwatch_database_visit_success"))")
            #expect(snapshot.sum("pg_stat_user_tables_size_bytes", big) > 1_000_000, "\(snapshot.samples("pg_stat_user_tables_size_bytes", ["datname": name]))")
            #expect(snapshot.sum("pg_stat_user_tables_n_dead_tup", big) > 0)
            #expect(snapshot.sum("pg_stat_user_tables_seq_scan_total", big) >= 1)
            #expect(snapshot.sum("pg_stat_user_tables_tables", ["datname": name, "relname": "(other)"]) == 2)
            #expect(snapshot.samples("pg_stat_user_tables_size_bytes", ["datname": name]).count == 2, "top 1 and (other)")
        }
        // The DSN's own database is read on the target's connection, once: the visit leaves it out.
        #expect(snapshot.samples("poolwatch_database_visit_success", ["datname": "postgres"]).isEmpty)
        let keys = snapshot.samples("pg_stat_user_tables_size_bytes").map(\.labels)
        #expect(Set(keys).count == keys.count, "no series twice")
        #expect(snapshot.collectors.allSatisfy { $0.success }, "\(snapshot.collectors.filter { !$0.success })")
        // Every series of the visits carries the target's labels like the rest.
        #expect(snapshot.samples("poolwatch_database_visit_success").allSatisfy { $0.labels.prefix(2) == [Label("target", "pg"), Label("cluster", "visits")] })
        #expect(snapshot.sum("poolwatch_database_visit_connection_budget") == 1)
    }

    /// `databases: all` on a cluster of the test's own: every other database but templates, the first
    /// `max_databases` by name, the rest counted.
    @Test func allDatabasesUpToTheCap() async throws {
        let cluster = try await Env.background.run { try PrivateCluster() }
        let databases = try await Env.background.run { try Databases(3, prefix: "pw_all", on: cluster) }
        for name in databases.names { try await Env.background.run { try databases.sql("CREATE TABLE t (id int)", in: name) } }
        var target = target(dsn: cluster.dsn)
        target.tableStatsDatabases = .all(max: 2)
        let collector = LibPQTargetCollector(target: target, plan: .postgres(target), executor: Env.executor)
        defer { collector.close() }
        let snapshot = await roundsUntilVisited(collector, Array(databases.names.prefix(2)))
        let visited = Set(snapshot.samples("poolwatch_database_visit_success", ["collector": "stat_user_tables"]).compactMap { $0.label("datname") })
        #expect(visited == Set(databases.names.prefix(2)), "the first two by name; not postgres, not templates")
        #expect(snapshot.sum("poolwatch_database_visit_success", ["datname": "postgres", "collector": DatabaseVisitPlan.listName]) == 1)
        #expect(snapshot.sum("poolwatch_database_visit_databases_beyond_cap") == 1)
        #expect(snapshot.sum("pg_stat_user_tables_tables", ["datname": databases.names[0], "relname": "t"]) == 1)
        #expect(snapshot.samples("pg_stat_user_tables_tables", ["datname": databases.names[2]]).isEmpty)
    }

    /// Four databases whose visits each take 0.6 s: with `connection_budget: 1` never two visit
    /// connections at once, with 2 two at once but never three, as pg_stat_activity sees them.
    @Test(arguments: [1, 2]) func theConnectionBudgetIsNeverExceeded(budget: Int) async throws {
        let databases = try await Env.background.run { try Databases(4, prefix: "pw_budget\(budget)") }
        var target = target(dsn: Env.dsn())
        target.connectionBudget = budget
        var slow = CustomQuery(name: "slow_visit", sql: "SELECT 1 AS n FROM pg_sleep(0.6)")
        slow.gauges = ["n"]
        slow.databases = databases.names
        target.queries = [slow]
        let collector = LibPQTargetCollector(target: target, plan: .postgres(target), executor: Env.executor)
        defer { collector.close() }
        let list = databases.names.map { "'\($0)'" }.joined(separator: ", ")
        let count = "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'poolwatch' AND datname IN (\(list))"
        let observer = try Env.connect(Env.dsn())
        // Sampled on a thread of the tests' own pool until every database was visited (not for a fixed
        // window: on a loaded machine the first round alone can take seconds).
        let stop = Mutex(false)
        let sampling = Task {
            try await Env.background.run { () -> [Int] in
                var seen: [Int] = []
                let end = Date().addingTimeInterval(120)
                while !stop.withLock({ $0 }), Date() < end {
                    seen.append(Int(try observer.exec(count).rows[0][0] ?? "0") ?? 0)
                    usleep(20_000)
                }
                return seen
            }
        }
        try await Task.sleep(for: .milliseconds(100))
        let first = await collector.collectRound()
        #expect(first.up)
        #expect(!first.collectors.contains { $0.name == "query_slow_visit" }, "a query with databases: does not run on the target's connection")
        let done = await roundsUntilVisited(collector, databases.names)
        stop.withLock { $0 = true }
        let seen = try await sampling.value
        #expect(seen.max() == budget, "at most \(budget) at once, and that many when four visits wait: \(seen)")
        for name in databases.names {
            #expect(done.sum("slow_visit_n", ["datname": name]) == 1, "\(done.samples("poolwatch_database_visit_success"))")
        }
        #expect(done.sum("poolwatch_database_visit_connections") == 0, "every visit connection is closed")
        #expect(done.samples("poolwatch_database_visit_duration_seconds").allSatisfy { $0.value >= 0.6 })
    }

    /// A visit whose backend freezes (SIGSTOP: the cancel cannot reach it) is abandoned at
    /// collection_timeout but keeps its budget slot until the backend answers: with a budget of 1 the
    /// next database is not visited meanwhile, and reported as such. Rounds stay up and fast; once the
    /// backend runs again the slot comes back and the next sweep visits both. On a cluster of the
    /// test's own: while one backend is stopped, DROP DATABASE anywhere on its server waits for it.
    @Test func anAbandonedVisitKeepsItsSlotUntilTheServerAnswers() async throws {
        let cluster = try await Env.background.run { try PrivateCluster() }
        let databases = try await Env.background.run { try Databases(2, prefix: "pw_frozen", on: cluster) }
        let (first, second) = (databases.names[0], databases.names[1])
        // The first database's visit sleeps 5 s (time to find and stop its backend) until the row goes.
        try await Env.background.run {
            try databases.sql("CREATE TABLE slow_once (s int); INSERT INTO slow_once VALUES (5)", in: first)
            try databases.sql("CREATE TABLE slow_once (s int)", in: second)
        }
        var target = target(dsn: cluster.dsn, interval: .seconds(2))
        var slow = CustomQuery(name: "frozen_visit", sql: "SELECT 1 AS n FROM pg_sleep(coalesce((SELECT max(s) FROM slow_once), 0))")
        slow.gauges = ["n"]
        slow.databases = databases.names
        slow.interval = .seconds(1)
        target.queries = [slow]
        let collector = LibPQTargetCollector(target: target, plan: .postgres(target), executor: Env.executor)
        defer { collector.close() }
        let observer = try Env.connect(cluster.dsn)
        @Sendable func backends(_ database: String) throws -> [pid_t] {
            try observer.exec("SELECT pid FROM pg_stat_activity WHERE application_name = 'poolwatch' AND datname = '\(database)'")
                .rows.compactMap { $0[0].flatMap { pid_t($0) } }
        }
        _ = await collector.collectRound()
        // Freeze the first visit's backend as soon as it shows; thawed at the end whatever happens.
        let frozen = try await Env.background.run { () -> pid_t? in
            let end = Date().addingTimeInterval(5)
            while Date() < end {
                if let pid = try backends(first).first { kill(pid, SIGSTOP); return pid }
                usleep(10_000)
            }
            return nil
        }
        let pid = try #require(frozen, "the first visit never connected")
        defer { kill(pid, SIGCONT) }
        // Past the abandon (2 s) and the second visit's wait for a slot (2 s more).
        let seen = try await Env.background.run { () -> [Int] in
            var seen: [Int] = []
            let end = Date().addingTimeInterval(4.5)
            while Date() < end {
                seen.append(try backends(second).count)
                usleep(20_000)
            }
            return seen
        }
        #expect(seen.allSatisfy { $0 == 0 }, "the second database waited for the slot the frozen visit holds: \(seen)")
        #expect(try backends(first) == [pid], "the abandoned connection is still open")
        let during = await collector.collectRound()
        #expect(during.up)
        #expect(during.sum("poolwatch_database_visit_success", ["datname": first]) == 0)
        #expect(during.sum("poolwatch_database_visit_success", ["datname": second]) == 0)
        #expect(during.sum("poolwatch_database_visit_connections") == 1, "the slot is held")

        kill(pid, SIGCONT)
        try await Env.background.run { try databases.sql("DELETE FROM slow_once", in: first) }
        var after = during
        #expect(await eventually(15) {
            after = await collector.collectRound()
            return after.sum("frozen_visit_n", ["datname": first]) == 1 && after.sum("frozen_visit_n", ["datname": second]) == 1
        }, "\(after.samples("poolwatch_database_visit_success"))")
    }

    /// A database that does not exist, and one dropped between two sweeps: their series fail, the
    /// target stays up with every collector working, and the failure is logged per database.
    @Test func missingAndDroppedDatabasesDoNotFailTheTarget() async throws {
        let databases = try await Env.background.run { try Databases(2, prefix: "pw_drop") }
        for name in databases.names { try await Env.background.run { try databases.sql("CREATE TABLE t (id int)", in: name) } }
        let missing = Env.uniqueName("pw_never_created")
        var target = target(dsn: Env.dsn())
        target.tableStatsInterval = .seconds(1)
        target.tableStatsDatabases = .list(databases.names + [missing])
        let collector = LibPQTargetCollector(target: target, plan: .postgres(target), executor: Env.executor)
        defer { collector.close() }
        let first = await roundsUntilVisited(collector, databases.names + [missing])
        #expect(first.up && first.collectors.allSatisfy { $0.success }, "\(first.collectors.filter { !$0.success })")
        #expect(first.sum("poolwatch_database_visit_success", ["datname": missing]) == 0)
        #expect(first.sum("poolwatch_database_visit_success", ["datname": databases.names[1]]) == 1)

        let dropped = databases.names[1]
        _ = try await Env.background.run { try Env.sql("DROP DATABASE \(dropped) WITH (FORCE)") }
        var later = first
        #expect(await eventually(15) {
            later = await collector.collectRound()
            return later.sum("poolwatch_database_visit_success", ["datname": dropped]) == 0
        }, "\(later.samples("poolwatch_database_visit_success"))")
        #expect(later.up && later.collectors.allSatisfy { $0.success })
        #expect(later.samples("pg_stat_user_tables_tables", ["datname": dropped]).isEmpty, "no stale tables of a dropped database")
        #expect(later.sum("poolwatch_database_visit_success", ["datname": databases.names[0]]) == 1)
        #expect(later.sum("pg_stat_user_tables_tables", ["datname": databases.names[0], "relname": "t"]) == 1)
    }

    /// A visit blocked in the server (a lock held elsewhere, with the target's lock and statement
    /// timeouts far away) is cancelled on poolwatch's clock at collection_timeout; rounds meanwhile
    /// return as fast as ever.
    @Test func aBlockedVisitIsCancelledAtTheDeadlineWhileRoundsGoOn() async throws {
        let databases = try await Env.background.run { try Databases(1, prefix: "pw_blocked") }
        let name = databases.names[0]
        try await Env.background.run { try databases.sql("CREATE TABLE held (id int); INSERT INTO held VALUES (1)", in: name) }
        let holder = try Env.connect(databases.dsn(name))
        _ = try holder.exec("BEGIN; LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
        var target = target(dsn: Env.dsn(), interval: .seconds(2))
        target.lockTimeout = .seconds(60)
        target.statementTimeout = .seconds(60)
        var blocked = CustomQuery(name: "blocked", sql: "SELECT count(*) AS n FROM held")
        blocked.gauges = ["n"]
        blocked.databases = [name]
        target.queries = [blocked]
        let collector = LibPQTargetCollector(target: target, plan: .postgres(target), executor: Env.executor)
        defer { collector.close() }
        let clock = ContinuousClock()
        let started = clock.now
        let first = await collector.collectRound()
        // The visit waits on the lock for 1.8 s at least: had the round waited for it, its outcome would be here.
        #expect(first.up && first.samples("poolwatch_database_visit_success").isEmpty, "the round does not wait for the visit")
        let done = await roundsUntilVisited(collector, [name])
        // No tight bound: on 2 busy cores rounds queue for threads (33 s seen beside a benchmark);
        // what matters is that it ends well before the server's own 60 s.
        #expect(clock.now - started < .seconds(50), "cancelled at collection_timeout (2 s), not at the server's 60 s")
        #expect(done.up)
        #expect(done.sum("poolwatch_database_visit_success", ["datname": name, "collector": "query_blocked"]) == 0)
        #expect(done.samples("blocked_n").isEmpty)
        _ = try? holder.exec("ROLLBACK")
    }

    /// A query listed for another database runs there (read-only, like on the target's connection), not
    /// in the DSN's; a failing query of the same visit does not stop the next one.
    @Test func customQueriesRunInTheListedDatabaseReadOnly() async throws {
        let databases = try await Env.background.run { try Databases(1, prefix: "pw_query") }
        let name = databases.names[0]
        try await Env.background.run {
            try databases.sql("CREATE TABLE items (kind text); INSERT INTO items VALUES ('a'), ('a'), ('b'); CREATE SEQUENCE s", in: name)
        }
        let yaml = """
            targets:
              - name: pg
                kind: postgres
                dsn: "\(Env.dsn())"
                statements: {enabled: false}
                labels: {cluster: test-eu1}
                queries:
                  - {name: writes, sql: "SELECT nextval('s') AS v", gauges: [v], databases: [\(name)]}
                  - {name: items, sql: "SELECT kind, count(*) AS n FROM items GROUP BY kind", labels: [kind], gauges: [n], databases: [\(name)]}
                  - {name: where_am_i, sql: "SELECT current_database() AS db, 1 AS one", labels: [db], gauges: [one], databases: [\(name), postgres]}
            """
        let target = try ConfigLoader(environment: [:], readFile: { _ in "" }).load(yaml: yaml).targets[0]
        let collector = LibPQTargetCollector(target: target, plan: .postgres(target), executor: Env.executor)
        defer { collector.close() }
        let snapshot = await roundsUntilVisited(collector, [name, "postgres"])
        #expect(snapshot.up)
        #expect(snapshot.sum("items_n", ["datname": name, "kind": "a", "cluster": "test-eu1"]) == 2)
        #expect(snapshot.sum("items_n", ["datname": name, "kind": "b"]) == 1)
        #expect(snapshot.sum("where_am_i_one", ["datname": name, "db": name]) == 1)
        #expect(snapshot.sum("where_am_i_one", ["datname": "postgres", "db": "postgres"]) == 1)
        #expect(snapshot.sum("poolwatch_database_visit_success", ["datname": name, "collector": "query_writes"]) == 0)
        #expect(snapshot.sum("poolwatch_database_visit_success", ["datname": name, "collector": "query_items"]) == 1)
        #expect(snapshot.samples("writes_v").isEmpty)
        let sequence = try await Env.background.run { try Env.connect(databases.dsn(name)).exec("SELECT is_called FROM s") }
        #expect(sequence.rows[0][0] == "f", "the sequence never advanced")
        #expect(!snapshot.collectors.contains { $0.name.hasPrefix("query_") }, "none ran on the target's connection")
    }

    /// The real binary: a target's `labels:` are on every series that names the target, self metrics
    /// included; the visits' families are in /metrics; `poolwatch sql` lists the visit statements.
    @Test func constantLabelsOnSelfMetricsAndVisitsInTheRealScrape() async throws {
        let databases = try await Env.background.run { try Databases(1, prefix: "pw_scrape") }
        let name = databases.names[0]
        try await Env.background.run { try databases.sql("CREATE TABLE t (id int)", in: name) }
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { port in
            """
            listen_address: 127.0.0.1:\(port)
            targets:
              - name: main
                kind: postgres
                dsn: "\(Env.dsn()) password=hunter2-secret"
                interval: 1s
                labels: {cluster: prod-eu1, env: prod}
                connection_budget: 2
                table_stats: {databases: [\(name), pw_no_such_database]}
              - {name: plain, kind: postgres, dsn: "\(Env.dsn())", interval: 1s}
            """
        }, name: "visit-labels")
        defer { _ = poolwatch.terminate() }
        #expect(await eventually(20) {
            poolwatch.metrics().contains("pg_stat_user_tables_tables{target=\"main\",cluster=\"prod-eu1\",env=\"prod\",datname=\"\(name)\"")
        }, "\(poolwatch.log)")
        let body = poolwatch.metrics()
        let main = body.split(separator: "\n").filter { !$0.hasPrefix("#") && $0.contains("target=\"main\"") }
        #expect(main.allSatisfy { $0.contains("{target=\"main\",cluster=\"prod-eu1\",env=\"prod\"") }, "\(main.filter { !$0.contains("cluster=") })")
        for family in ["poolwatch_target_up", "poolwatch_collector_success", "poolwatch_collector_duration_seconds",
                       "poolwatch_snapshot_age_seconds", "poolwatch_collection_duration_seconds",
                       "poolwatch_last_collection_timestamp_seconds", "poolwatch_label_values_truncated_total", "pg_up"] {
            #expect(main.contains { $0.hasPrefix(family + "{") }, "\(family) of target main")
        }
        #expect(body.contains("poolwatch_target_up{target=\"main\",cluster=\"prod-eu1\",env=\"prod\",kind=\"postgres\"} 1\n"))
        #expect(body.contains("poolwatch_target_up{target=\"plain\",kind=\"postgres\"} 1\n"))
        #expect(body.contains("poolwatch_database_visit_success{target=\"main\",cluster=\"prod-eu1\",env=\"prod\",datname=\"pw_no_such_database\",collector=\"stat_user_tables\"} 0\n"))
        #expect(body.contains("poolwatch_database_visit_connection_budget{target=\"main\",cluster=\"prod-eu1\",env=\"prod\"} 2\n"))
        #expect(poolwatch.log.contains("database visit failing") && poolwatch.log.contains("pw_no_such_database"))
        #expect(!poolwatch.log.contains("hunter2-secret") && !body.contains("hunter2-secret"))
        let sql = try await runOffPool([Env.binary, "sql", "--config", poolwatch.configPath, "--target", "main"])
        #expect(sql.status == 0, "\(sql.output)")
        #expect(sql.output.contains("at most 2 open at once (connection_budget)"))
        #expect(sql.output.contains("-- collector stat_user_tables in databases \(name), pw_no_such_database"))
    }
}
