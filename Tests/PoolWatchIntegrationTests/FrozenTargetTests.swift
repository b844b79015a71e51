import Foundation
import PoolWatchCore
import PoolWatchCollection
import PoolWatchCurl
import Testing
import PoolWatchLibPQ
import PoolWatchRuntime

/// A frozen server (every process stopped with SIGSTOP, as a storage stall looks from outside) must read
/// `up 0` while it is frozen, not after it wakes up: the round deadline does not wait on anything the
/// server controls. Real servers, the real binary.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 and PostgreSQL + PgBouncer (scripts/test)"))
struct FrozenTargetTests {
    typealias Env = IntegrationEnvironment

    /// Holds the freeze until `check` has seen what it waits for, or `seconds` pass; then thaws.
    /// Returns whether `check` held while the server was still frozen.
    static func whileFrozen(_ seconds: Double, freeze: () -> Void, thaw: () -> Void, _ check: () -> Bool) async -> Bool {
        freeze()
        defer { thaw() }
        return await eventually(seconds) { check() }
    }

    @Test func frozenPostgresIsDownWhileFrozenAndComesBack() async throws {
        // initdb takes seconds: off the cooperative pool.
        let cluster = try await Env.background.run { try PrivateCluster() }
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { port in
            """
            listen_address: 127.0.0.1:\(port)
            targets:
              - {name: frozen, kind: postgres, dsn: "\(cluster.dsn)", interval: 2s, collection_timeout: 2s}
              - {name: alive, kind: postgres, dsn: "\(Env.dsn())", interval: 2s}
            """
        }, name: "frozen-pg")
        #expect(await eventually(20) { poolwatch.metrics().contains("pg_up{target=\"frozen\"} 1\n") }, "\(poolwatch.log)")

        var during = ""
        let downWhileFrozen = await Self.whileFrozen(15, freeze: cluster.freeze, thaw: cluster.thaw) {
            during = poolwatch.metrics()
            // Three intervals into the freeze: the stuck round is reported, and no second round started.
            return during.contains("pg_up{target=\"frozen\"} 0\n") && poolwatch.log.contains("round still blocked in the server")
        }
        #expect(downWhileFrozen, "pg_up stayed 1 during the freeze:\n\(poolwatch.log)")
        #expect(during.contains("poolwatch_target_up{target=\"frozen\",kind=\"postgres\"} 0\n"))
        #expect(during.contains("poolwatch_collector_success{target=\"frozen\",collector=\"server\"} 0\n"))
        #expect(during.contains("pg_up{target=\"alive\"} 1\n"), "a frozen target must not hold up another")
        #expect(poolwatch.log.contains("no answer within collection_timeout (2s)"))

        #expect(await eventually(20) { poolwatch.metrics().contains("pg_up{target=\"frozen\"} 1\n") },
                "did not come back after SIGCONT:\n\(poolwatch.log)")
        #expect(await poolwatch.stopped() == 0)
    }

    @Test func frozenPgBouncerIsDownWhileFrozenAndComesBack() async throws {
        let bouncer = try PrivateBouncer()
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { port in
            """
            listen_address: 127.0.0.1:\(port)
            targets:
              - {name: bouncer, kind: pgbouncer, dsn: "\(bouncer.adminDSN)", interval: 2s, collection_timeout: 2s}
            """
        }, name: "frozen-bouncer")
        #expect(await eventually(20) { poolwatch.metrics().contains("pgbouncer_up{target=\"bouncer\"} 1\n") }, "\(poolwatch.log)")
        let downWhileFrozen = await Self.whileFrozen(12, freeze: bouncer.freeze, thaw: bouncer.thaw) {
            poolwatch.metrics().contains("pgbouncer_up{target=\"bouncer\"} 0\n")
        }
        #expect(downWhileFrozen, "pgbouncer_up stayed 1 during the freeze:\n\(poolwatch.log)")
        #expect(await eventually(20) { poolwatch.metrics().contains("pgbouncer_up{target=\"bouncer\"} 1\n") },
                "did not come back after SIGCONT:\n\(poolwatch.log)")
        #expect(await poolwatch.stopped() == 0)
    }

    /// A server that answers but is not what `kind` says is down with a reason, not "target up".
    @Test func consoleOfTheWrongKindIsDownWithAReason() async throws {
        let asBouncer = TargetConfig(name: "wrong", kind: .pgbouncer, dsn: Secret(Env.dsn()), interval: .seconds(1), collectionTimeout: .seconds(1))
        let bouncerRound = await PoolTargetTests.collect(asBouncer, plan: .pgbouncer(asBouncer))
        #expect(!bouncerRound.up)
        #expect(bouncerRound.error?.contains("not a PgBouncer admin console") == true, "\(bouncerRound.error ?? "")")
        #expect(bouncerRound.sum("pgbouncer_up") == 0)

        let bouncer = try PrivateBouncer()
        let asPostgres = TargetConfig(name: "wrong", kind: .postgres, dsn: Secret(bouncer.adminDSN), interval: .seconds(1), collectionTimeout: .seconds(1))
        let postgresRound = await PoolTargetTests.collect(asPostgres, plan: .postgres(asPostgres))
        #expect(!postgresRound.up)
        #expect(postgresRound.error?.contains("not a PostgreSQL server") == true, "\(postgresRound.error ?? "")")
    }
}
