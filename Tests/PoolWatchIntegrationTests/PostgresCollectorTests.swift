import Foundation
import PoolWatchCore
import PoolWatchCurl
import PoolWatchCollection
import Testing
import PoolWatchLibPQ
import PoolWatchRuntime

/// Collectors against the real PostgreSQL started by `scripts/test`.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 and a PostgreSQL (scripts/test)"))
struct PostgresCollectorTests {
    typealias Env = IntegrationEnvironment

    @Test func basicRoundIsUpWithServerFacts() async throws {
        let snapshot = await Env.collect(Env.target(dsn: Env.dsn()))
        #expect(snapshot.up, "\(snapshot.error ?? "")")
        #expect(snapshot.sum("pg_up") == 1)
        #expect(snapshot.sum("pg_settings_max_connections") >= 100)
        #expect(snapshot.sum("pg_in_recovery") == 0)
        #expect(snapshot.sum("pg_postmaster_start_time_seconds") > 1_600_000_000)
        #expect(snapshot.collectors.allSatisfy { $0.success }, "\(snapshot.collectors.filter { !$0.success })")
        #expect(snapshot.families.allSatisfy { $0.samples.allSatisfy { $0.labels.first == Label("target", "pg") } })
    }

    @Test func threeIdleInTransactionSessionsShowCountAndAge() async throws {
        let app = Env.uniqueName("idletx")
        let sessions = try (0..<3).map { _ in try Env.connect(Env.dsn(), applicationName: app) }
        for session in sessions { try session.exec("BEGIN; SELECT 1") }
        try await Task.sleep(for: .milliseconds(1500))
        let snapshot = await Env.collect(Env.target(dsn: Env.dsn()))
        #expect(snapshot.sum("pg_stat_activity_backends", ["application_name": app, "state": "idle in transaction"]) == 3)
        let age = snapshot.sum("pg_stat_activity_max_idle_in_transaction_seconds", ["application_name": app])
        #expect(age >= 1.4 && age < 30, "age \(age)")
        let tx = snapshot.samples("pg_stat_activity_max_tx_duration", ["application_name": app]).map(\.value).max() ?? 0
        #expect(tx >= 1.4)
        for session in sessions { try session.exec("ROLLBACK") }
        let after = await Env.collect(Env.target(dsn: Env.dsn()))
        #expect(after.sum("pg_stat_activity_backends", ["application_name": app, "state": "idle in transaction"]) == 0)
    }

    @Test func heldLockShowsABlockedBackend() async throws {
        let table = Env.uniqueName("locked")
        try Env.sql("CREATE TABLE \(table) (id int)")
        defer { _ = try? Env.sql("DROP TABLE IF EXISTS \(table)") }
        let holder = try Env.connect(Env.dsn(), applicationName: "holder")
        let waiterApp = Env.uniqueName("waiter")
        let waiter = try Env.connect(Env.dsn(), applicationName: waiterApp)
        try holder.exec("BEGIN; LOCK TABLE \(table) IN ACCESS EXCLUSIVE MODE")
        let blocked = Task { try await Env.executor.run { try waiter.exec("BEGIN; LOCK TABLE \(table) IN ACCESS SHARE MODE; ROLLBACK") } }
        let seen = await eventually(10) {
            let snapshot = await Env.collect(Env.target(dsn: Env.dsn()))
            return snapshot.sum("pg_stat_activity_blocked", ["application_name": waiterApp]) == 1
                && snapshot.sum("pg_stat_activity_lock_waiting", ["application_name": waiterApp]) == 1
                && snapshot.sum("pg_stat_activity_backends", ["application_name": waiterApp, "wait_event_type": "Lock"]) == 1
        }
        #expect(seen)
        try holder.exec("ROLLBACK")
        _ = try await blocked.value
    }

    @Test func statementsAppearInTopNWithExactCalls() async throws {
        let table = Env.uniqueName("calls")
        try Env.sql("CREATE TABLE \(table) (id int)")
        defer { _ = try? Env.sql("DROP TABLE IF EXISTS \(table)") }
        let session = try Env.connect(Env.dsn())
        for i in 0..<7 { try session.exec("SELECT count(*) + \(i) FROM \(table)") }
        let queryid = try Env.sql("SELECT queryid::text FROM pg_stat_statements WHERE query LIKE '%FROM \(table)%' AND query LIKE 'SELECT count%'")
            .rows.first?.first ?? nil
        let id = try #require(queryid)
        var options = StatementOptions()
        options.limit = 10000
        let snapshot = await Env.collect(Env.target(dsn: Env.dsn(), statements: options))
        #expect(snapshot.sum("pg_stat_statements_calls_total", ["queryid": id, "datname": "postgres", "user": "postgres"]) == 7)
        #expect(snapshot.sum("pg_stat_statements_entries") >= 1)
        let families = snapshot.families.map(\.name)
        #expect(!families.contains("pg_stat_statements_query_info"))
        // No duplicate (datname, user, queryid) series: PostgreSQL 14+ splits top-level and nested entries.
        let keys = snapshot.samples("pg_stat_statements_calls_total").map { "\($0.labels)" }
        #expect(Set(keys).count == keys.count)
    }

    /// Statements of databases dropped since all read as `datname=""`: their entries are summed into one
    /// series, never exported as duplicates of each other.
    @Test func statementsOfDroppedDatabasesAreOneSeries() async throws {
        let probe = Env.uniqueName("dropped_probe")
        for _ in 0..<2 {
            let database = Env.uniqueName("gone")
            try Env.sql("CREATE DATABASE \(database)")
            let session = try Env.connect(Env.dsn(database: database))
            // Thirteen constants: a shape no other test's statement has, so no other entry shares its queryid.
            _ = try session.exec("SELECT 42 AS \(probe), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12")
            try Env.sql("DROP DATABASE \(database) WITH (FORCE)")
        }
        let queryid = try #require(try Env.sql("SELECT DISTINCT queryid::text FROM pg_stat_statements WHERE query LIKE '%AS \(probe),%'")
            .rows.first?.first ?? nil)
        var options = StatementOptions()
        options.limit = 10000
        let snapshot = await Env.collect(Env.target(dsn: Env.dsn(), statements: options))
        let series = snapshot.samples("pg_stat_statements_calls_total", ["queryid": queryid])
        #expect(series.map { $0.label("datname") } == [""], "\(series)")
        #expect(series.first?.value == 2, "both dropped databases' calls in the one series")
        let keys = snapshot.samples("pg_stat_statements_calls_total").map { "\($0.labels)" }
        #expect(Set(keys).count == keys.count)
    }

    /// Every statement, with its text cut at `length`.
    func queryTextOptions(length: Int) -> StatementOptions {
        var options = StatementOptions()
        options.includeQuery = true
        options.queryLength = length
        options.limit = 10000
        return options
    }

    @Test func queryTextOnlyWhenAskedAndTruncated() async throws {
        let snapshot = await Env.collect(Env.target(dsn: Env.dsn(), statements: queryTextOptions(length: 10)))
        let texts = snapshot.samples("pg_stat_statements_query_info").compactMap { $0.label("query") }
        #expect(!texts.isEmpty)
        #expect(texts.allSatisfy { $0.count <= 10 })
    }

    /// pg_stat_statements keeps utility statements verbatim, passwords included: the exported text
    /// has its literals masked (QueryTextMasking).
    @Test func passwordsInUtilityStatementsNeverReachTheQueryLabel() async throws {
        let role = Env.uniqueName("masked")
        let secret = "s3cret-\(UInt32.random(in: 0 ... .max))"
        try Env.sql("CREATE ROLE \(role) LOGIN PASSWORD '\(secret)-create'")
        defer { _ = try? Env.sql("DROP ROLE IF EXISTS \(role)") }
        try Env.sql("ALTER ROLE \(role) WITH ENCRYPTED PASSWORD E'\(secret)-alter\\'x'")
        try Env.sql("ALTER ROLE \(role) PASSWORD $pw$\(secret)-dollar$pw$")
        let kept = try Env.sql("SELECT count(*) FROM pg_stat_statements WHERE query LIKE '%\(secret)%'").rows.first?.first ?? nil
        #expect(kept == "3", "pg_stat_statements keeps the three statements verbatim")
        let snapshot = await Env.collect(Env.target(dsn: Env.dsn(), statements: queryTextOptions(length: 1000)))
        let texts = snapshot.samples("pg_stat_statements_query_info").compactMap { $0.label("query") }
        #expect(texts.filter { $0.contains(role) }.count == 3, "\(texts.filter { $0.contains(role) })")
        #expect(texts.contains("ALTER ROLE \(role) PASSWORD '***'"))
        let exposition = String(decoding: TextEncoder().encode(snapshot.families).bytes, as: UTF8.self)
        #expect(!exposition.contains(secret))
    }

    @Test func missingPgStatStatementsFailsOnlyThatCollector() async throws {
        let database = Env.uniqueName("nostatements")
        try Env.sql("CREATE DATABASE \(database)")
        defer { _ = try? Env.sql("DROP DATABASE IF EXISTS \(database) WITH (FORCE)") }
        let snapshot = await Env.collect(Env.target(dsn: Env.dsn(database: database)))
        #expect(snapshot.up)
        let statements = try #require(snapshot.collectors.first { $0.name == "stat_statements" })
        #expect(!statements.success)
        #expect(statements.error?.contains("CREATE EXTENSION pg_stat_statements") == true)
        #expect(snapshot.collectors.filter { $0.name != "stat_statements" }.allSatisfy { $0.success })
        #expect(snapshot.sum("pg_settings_max_connections") > 0)
    }

    /// Settings are read once per configuration: later rounds serve them without a statement (the
    /// outcome's duration is 0), and a `pg_reload_conf()` that changes a value shows in the next rounds.
    @Test func settingsAreReadAgainOnlyAfterAReload() async throws {
        let target = Env.target(dsn: Env.dsn())
        let collector = LibPQTargetCollector(target: target, plan: .postgres(target), executor: Env.executor)
        defer { collector.close() }
        let first = await collector.collectRound()
        let second = await collector.collectRound()
        func settingsRun(_ snapshot: TargetSnapshot) -> Double? { snapshot.collectors.first { $0.name == "settings" }?.duration }
        #expect(try #require(settingsRun(first)) > 0)
        #expect(settingsRun(second) == 0, "served from the first round")
        #expect(second.sum("pg_settings_work_mem_bytes") == first.sum("pg_settings_work_mem_bytes"))
        #expect(second.rows.settings["max_connections"] == first.rows.settings["max_connections"])
        #expect(second.rows.settings["max_connections"] != nil, "diagnosis still gets its settings")

        let workMem = first.sum("pg_settings_work_mem_bytes") + 1024 * 1024
        try Env.sql("ALTER SYSTEM SET work_mem = '\(Int(workMem / 1024))kB'")
        defer { _ = try? Env.sql("ALTER SYSTEM RESET work_mem"); _ = try? Env.sql("SELECT pg_reload_conf()") }
        try Env.sql("SELECT pg_reload_conf()")
        // Each backend applies a reload at its next command, so it may take a round to be seen.
        #expect(await eventually(10) { await collector.collectRound().sum("pg_settings_work_mem_bytes") == workMem })
    }

    @Test func unreachableServerIsDownWithReadableError() async throws {
        let snapshot = await Env.collect(Env.target(dsn: "host=127.0.0.1 port=\(freePort()) user=postgres password=hunter2"))
        #expect(!snapshot.up)
        #expect(snapshot.sum("pg_up") == 0)
        #expect(snapshot.error?.contains("cannot connect") == true)
        #expect(snapshot.error?.contains("hunter2") == false)
    }

    /// Task cancellation becomes `PQcancel`: a hung statement cannot keep a round (or shutdown) waiting.
    @Test func taskCancellationCancelsTheRunningStatement() async throws {
        let conn = try Env.connect(Env.dsn())
        let clock = ContinuousClock()
        let start = clock.now
        let marker = "cancel-me-\(UInt32.random(in: 0 ... .max))"
        let query = Task { try await Env.executor.run({ try conn.exec("SELECT pg_sleep(10) -- \(marker)") }, onCancel: { conn.cancel() }) }
        // Cancel only once the statement is running: a cancel before the work item starts is the
        // executor's other path (a CancellationError), tested in the unit tests.
        let observer = try Env.connect(Env.dsn())
        var running = false
        for _ in 0 ..< 100 where !running {
            let rows = try observer.exec(
                "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%\(marker)' AND pid <> pg_backend_pid()"
            ).rows
            running = rows == [["1"]]
            if !running { try await Task.sleep(for: .milliseconds(50)) }
        }
        #expect(running, "the statement shows up as active in pg_stat_activity")
        query.cancel()
        let result = await query.result
        let elapsed = clock.now - start
        guard case .failure(let error) = result, let pqError = error as? PQError else {
            Issue.record("expected a PQError, got \(result)")
            return
        }
        #expect(pqError.kind == .cancelled)
        #expect(pqError.sqlState == "57014")
        #expect(elapsed < .seconds(8), "cancelled long before pg_sleep(10) ends, after \(elapsed)")
        #expect(conn.isOK, "a cancelled statement leaves the connection usable")
        #expect(try conn.exec("SELECT 1").rows == [["1"]])
    }
}
