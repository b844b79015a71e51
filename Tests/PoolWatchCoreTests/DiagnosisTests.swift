import Testing

@testable import PoolWatchCore

/// The join and the verdicts on rows captured from PgBouncer 1.18 (Fixtures/pgbouncer-1.18) with
/// pg_stat_activity rows for the backends those server connections name.
struct DiagnosisTests {
    /// The captured console output, as one round of a `kind: pgbouncer` target.
    static func bouncerSnapshot() throws -> TargetSnapshot {
        var rows = ConnectionRows()
        rows.clients = PoolerConnection.rows(try fixture("pgbouncer-1.18", "clients"))
        rows.servers = PoolerConnection.rows(try fixture("pgbouncer-1.18", "servers"))
        rows.pools = PoolerPool.rows(try fixture("pgbouncer-1.18", "pools"))
        rows.merge(PgBouncerDatabasesCollector().rows(from: [try fixture("pgbouncer-1.18", "databases")])!)
        var snapshot = TargetSnapshot(target: "bouncer", kind: .pgbouncer, up: true, families: [], collectors: [], timestamp: 1000, duration: 0)
        snapshot.rows = rows
        return snapshot
    }

    /// Backends 29682 (idle in transaction for 400 s, holding a lock) and 29683 (waiting on it), as the
    /// paired PostgreSQL target reads them.
    static func postgresSnapshot(idleFor: Double = 400) -> TargetSnapshot {
        var rows = ConnectionRows()
        rows.backends = [
            Backend(pid: 29682, database: "postgres", applicationName: "worker-1", clientAddress: "127.0.0.1", clientPort: 36576,
                    state: "idle in transaction", transactionAge: idleFor + 2, stateAge: idleFor, transactionStart: 3_600 * 3 + 12 * 60 + 40,
                    waitEventType: "Client", waitEvent: "ClientRead"),
            Backend(pid: 29683, database: "postgres", applicationName: "worker-1", clientAddress: "127.0.0.1", clientPort: 36588,
                    state: "active", transactionAge: 30, stateAge: 30, waitEventType: "Lock", waitEvent: "transactionid", blockedBy: [29682]),
        ]
        rows.settings = ["idle_in_transaction_session_timeout": "0ms", "max_connections": "100"]
        var snapshot = TargetSnapshot(target: "pg", kind: .postgres, up: true, families: [], collectors: [], timestamp: 1000, duration: 0)
        snapshot.rows = rows
        return snapshot
    }

    @Test func followsEachConnectionFromClientToBackendAndBlocker() throws {
        let report = Diagnosis.make(snapshots: [try Self.bouncerSnapshot(), Self.postgresSnapshot()], pairs: ["bouncer": "pg"], now: 1000)
        let pool = try #require(report.pools.first { $0.target == "bouncer" && $0.database == "postgres" })
        #expect(pool.troubled)
        #expect(pool.poolSize == 2 && pool.serversInUse == 2 && pool.clientsWaiting == 3)
        #expect(pool.verdict.hasPrefix("saturated: 2/2 server connections held; 1 idle in transaction for 6m40s by worker-1 from 127.0.0.1:"),
                "\(pool.verdict)")
        #expect(pool.verdict.contains("backend pid 29682, since 03:12:40 UTC"))
        #expect(pool.verdict.contains("1 blocked by pid 29682 on a lock (pid 29683, worker-1)"))
        #expect(pool.verdict.hasSuffix("3 clients waiting, longest 2 s"), "\(pool.verdict)")

        let leak = try #require(pool.holders.first)
        #expect(leak.activity == .idleInTransaction && leak.backendPID == 29682 && leak.blocking == [29683])
        // The client is the one whose `link` is the server's `ptr`, with its own address and port.
        let clients = PoolerConnection.rows(try fixture("pgbouncer-1.18", "clients"))
        let expectedClient = try #require(clients.first { $0.link == "0x5577b070d210" })
        #expect(leak.client == expectedClient.endpoint)
        #expect(pool.holders[1].activity == .waitingOnLock && pool.holders[1].blockedBy == [29682])

        #expect(pool.advice.contains { $0.hasPrefix("idle_in_transaction_session_timeout is 0 on pg") })
        #expect(pool.advice.contains { $0.contains("SELECT pg_terminate_backend(29682);") && $0.contains("never run") })
        #expect(pool.waiting.count == 3 && pool.waiting.allSatisfy { $0.application.hasPrefix("worker-") })
    }

    @Test func withoutAPairedPostgresTheStoryStopsAtPgBouncer() throws {
        let report = Diagnosis.make(snapshots: [try Self.bouncerSnapshot()], pairs: [:], now: 1000)
        let pool = try #require(report.pools.first { $0.database == "postgres" })
        #expect(pool.troubled && pool.holders.count == 2 && pool.holders.allSatisfy { $0.backendPID == nil && $0.activity == .running })
        #expect(pool.advice.contains { $0.contains("postgres_target:") })
        #expect(!report.pools.contains { $0.database == "pgbouncer" }, "the admin console is not a pool")
        let app = try #require(report.pools.first { $0.database == "app" })
        #expect(!app.troubled && app.verdict == "healthy: 2/3 server connections held")
    }

    @Test func postgresAloneTellsTheStoryPerDatabase() throws {
        let report = Diagnosis.make(snapshots: [Self.postgresSnapshot()], pairs: [:], now: 1000)
        let database = try #require(report.pools.first)
        #expect(database.target == "pg" && database.database == "postgres" && database.troubled)
        #expect(database.verdict.hasPrefix("2 backends not idle; 1 idle in transaction for 6m40s by worker-1 from 127.0.0.1:36576"))
        #expect(database.holders.first?.backendPID == 29682, "the blocker comes first")
    }

    @Test func aShortIdleTransactionThatBlocksNobodyIsNotTrouble() throws {
        var postgres = Self.postgresSnapshot(idleFor: 5)
        postgres.rows.backends.removeLast()
        let report = Diagnosis.make(snapshots: [postgres], pairs: [:], now: 1000)
        #expect(report.troubled.isEmpty)
    }

    /// A session queued behind another waiter is blocked by that waiter first; the verdict names the
    /// end of the chain, the one to look at.
    @Test func lockChainsEndAtTheRootBlocker() throws {
        var postgres = Self.postgresSnapshot()
        postgres.rows.backends.append(Backend(pid: 29700, database: "postgres", applicationName: "billing", state: "active",
                                              transactionAge: 3, stateAge: 3, waitEventType: "Lock", waitEvent: "tuple",
                                              blockedBy: [29683]))
        let report = Diagnosis.make(snapshots: [postgres], pairs: [:], now: 1000)
        let queued = try #require(report.pools.first?.holders.first { $0.backendPID == 29700 })
        #expect(queued.blockedBy == [29683] && queued.rootBlockers == [29682])
        #expect(report.pools.first?.verdict.contains("1 blocked by pid 29683 on a lock (pid 29700, billing), queued behind pid 29682") == true)
    }

    @Test func holderLinesFollowTheAlertsLabels() throws {
        let report = Diagnosis.make(snapshots: [try Self.bouncerSnapshot(), Self.postgresSnapshot()], pairs: ["bouncer": "pg"], now: 1000)
        let lines = report.holderLines(for: [Label("target", "bouncer"), Label("pool", "postgres/postgres"),
                                             Label("database", "postgres"), Label("user", "postgres")])
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("idle in transaction for 6m40s: worker-1 from 127.0.0.1:") == true, "\(lines)")
        #expect(lines.first?.hasSuffix("backend pid 29682, since 03:12:40 UTC, blocking pid 29683") == true, "\(lines)")
        #expect(lines.last?.contains("blocked by pid 29682") == true)
        #expect(report.holderLines(for: [Label("target", "bouncer"), Label("database", "app")]).count == 2)
        #expect(report.holderLines(for: [Label("target", "elsewhere")]).isEmpty)
        #expect(report.holderLines(for: [Label("database", "postgres")]).isEmpty, "no target, no guess")
    }

    @Test func pairingIsExplicitOrTheOnlyPostgresTarget() {
        var bouncer = TargetConfig(name: "b", kind: .pgbouncer)
        let one = [bouncer, TargetConfig(name: "pg", kind: .postgres)]
        #expect(Diagnosis.pairs(for: one) == ["b": "pg"])
        let two = one + [TargetConfig(name: "pg2", kind: .postgres)]
        #expect(Diagnosis.pairs(for: two).isEmpty, "two PostgreSQL targets: no guess")
        bouncer.postgresTarget = "pg2"
        #expect(Diagnosis.pairs(for: [bouncer] + two.dropFirst()) == ["b": "pg2"])
    }

    @Test func screenAndTimes() throws {
        let report = Diagnosis.make(snapshots: [try Self.bouncerSnapshot(), Self.postgresSnapshot()], pairs: ["bouncer": "pg"], now: 1000)
        let text = DiagnosisText.render(report)
        #expect(text.contains("✗ bouncer pool postgres/postgres\n  saturated: 2/2"))
        #expect(text.contains("ACTIVITY") && text.contains("WAITING CLIENT"))
        #expect(!text.contains("pool app/postgres"), "healthy pools only with --all")
        #expect(DiagnosisText.render(report, all: true).contains("✓ bouncer pool app/postgres"))
        #expect(DiagnosisFormat.duration(41) == "41 s" && DiagnosisFormat.duration(372) == "6m12s" && DiagnosisFormat.duration(7_500) == "2h05m")
        #expect(PgBouncerTime.epoch("1970-01-02 00:00:01 UTC") == 86_401)
        #expect(PgBouncerTime.epoch("2026-11-22 03:51:17 UTC") == 1_795_319_477)
    }
}
