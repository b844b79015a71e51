import Foundation
import Testing

@testable import PoolWatchCore

@Suite struct PoolModelTests {
    func pool(_ database: String, _ user: String, kind: String = "pgbouncer") -> [String: String] {
        ["kind": kind, "pool": "\(database)/\(user)", "database": database, "user": user]
    }

    func with(_ labels: [String: String], state: String) -> [String: String] {
        labels.merging(["state": state]) { $1 }
    }

    @Test func pgbouncer118UnderLoad() throws {
        let model = PoolModel.families(from: try pgbouncerRound("pgbouncer-1.18"))
        let postgres = pool("postgres", "postgres")
        #expect(value(model, "poolwatch_pool_clients", with(postgres, state: "active")) == 2)
        #expect(value(model, "poolwatch_pool_clients", with(postgres, state: "waiting")) == 3)
        #expect(value(model, "poolwatch_pool_servers", with(postgres, state: "active")) == 2)
        #expect(value(model, "poolwatch_pool_servers", with(postgres, state: "idle")) == 0)
        #expect(value(model, "poolwatch_pool_servers", with(postgres, state: "used")) == 0)
        #expect(value(model, "poolwatch_pool_servers", with(postgres, state: "other")) == 0)
        // pool_size 2 + reserve 1 (SHOW DATABASES), no caps.
        #expect(value(model, "poolwatch_pool_size_limit", postgres) == 3)
        #expect(value(model, "poolwatch_pool_utilization_ratio", postgres) == 2.0 / 3.0)
        #expect(value(model, "poolwatch_pool_wait_seconds_max", postgres) == 1.207703)
        // Clients wait, but the reserve pool is not used yet: not saturated.
        #expect(value(model, "poolwatch_pool_saturated", postgres) == 0)

        // reporting: pool_size 1 + reserve 1, capped by max_db_connections = 1; one server active, one client waits.
        let reporting = pool("reporting", "postgres")
        #expect(value(model, "poolwatch_pool_size_limit", reporting) == 1)
        #expect(value(model, "poolwatch_pool_utilization_ratio", reporting) == 1)
        #expect(value(model, "poolwatch_pool_wait_seconds_max", reporting) == 0.979884)
        #expect(value(model, "poolwatch_pool_saturated", reporting) == 1)

        let app = pool("app", "postgres")
        #expect(value(model, "poolwatch_pool_size_limit", app) == 4)
        #expect(value(model, "poolwatch_pool_utilization_ratio", app) == 0.5)
        #expect(value(model, "poolwatch_pool_saturated", app) == 0)

        // The admin console's pseudo pool is not a pool.
        #expect(!model.flatMap(\.samples).contains { $0.label("database") == "pgbouncer" })
        #expect(model.map(\.name) == [
            "poolwatch_pool_clients", "poolwatch_pool_servers", "poolwatch_pool_size_limit",
            "poolwatch_pool_utilization_ratio", "poolwatch_pool_wait_seconds_max", "poolwatch_pool_saturated",
        ])
        #expect(labelNames(model, "poolwatch_pool_clients") == ["kind", "pool", "database", "user", "state"])
        #expect(labelNames(model, "poolwatch_pool_size_limit") == ["kind", "pool", "database", "user"])
        #expect(family(model, "poolwatch_pool_size_limit")?.samples.count == 3)
        expectCleanExposition(model)
    }

    @Test func pgbouncer118Idle() throws {
        var round = try pgbouncerRound("pgbouncer-1.18").filter { !$0.name.hasPrefix("pgbouncer_pools_") }
        round += try mapFixture(PgBouncerPoolsCollector(), "pgbouncer-1.18", "pools-idle")
        let model = PoolModel.families(from: round)
        let postgres = pool("postgres", "postgres")
        #expect(value(model, "poolwatch_pool_servers", with(postgres, state: "idle")) == 3)
        #expect(value(model, "poolwatch_pool_clients", with(postgres, state: "waiting")) == 0)
        #expect(value(model, "poolwatch_pool_utilization_ratio", postgres) == 0)
        #expect(value(model, "poolwatch_pool_wait_seconds_max", postgres) == 0)
        #expect(value(model, "poolwatch_pool_saturated", postgres) == 0)
    }

    @Test func pgbouncer124() throws {
        let model = PoolModel.families(from: try pgbouncerRound("pgbouncer-1.24"))
        // appdb: pool_size 8 + reserve_pool_size 2; max_user_connections 50 does not bind.
        let app = pool("appdb", "app")
        #expect(value(model, "poolwatch_pool_size_limit", app) == 10)
        #expect(value(model, "poolwatch_pool_utilization_ratio", app) == 1)
        #expect(value(model, "poolwatch_pool_wait_seconds_max", app) == 3.25)
        #expect(value(model, "poolwatch_pool_saturated", app) == 1)

        // analytics: default pool size 20, capped by its max_db_connections 3; 2 active + 1 logging in.
        let analytics = pool("analytics", "app")
        #expect(value(model, "poolwatch_pool_size_limit", analytics) == 3)
        #expect(value(model, "poolwatch_pool_utilization_ratio", analytics) == 2.0 / 3.0)
        #expect(value(model, "poolwatch_pool_servers", with(analytics, state: "other")) == 1)
        #expect(value(model, "poolwatch_pool_saturated", analytics) == 1)
        #expect(value(model, "poolwatch_pool_wait_seconds_max", analytics) == 0.400123)

        // reporter: tested + login + active_cancel + being_canceled = other; nobody waits.
        let reporter = pool("appdb", "reporter")
        #expect(value(model, "poolwatch_pool_servers", with(reporter, state: "other")) == 4)
        #expect(value(model, "poolwatch_pool_servers", with(reporter, state: "used")) == 1)
        #expect(value(model, "poolwatch_pool_clients", with(reporter, state: "active")) == 2)
        #expect(value(model, "poolwatch_pool_utilization_ratio", reporter) == 0.1)
        #expect(value(model, "poolwatch_pool_saturated", reporter) == 0)
        expectCleanExposition(model)
    }

    /// SHOW POOLS values for one pool, as the pools collector maps them.
    func pools(_ columns: [String: String]) -> [MetricFamily] {
        let names = ["database", "user"] + columns.keys.sorted()
        let row: [String?] = ["db", "u"] + columns.keys.sorted().map { columns[$0] }
        return PgBouncerPoolsCollector.table.families(QueryResult(columns: names, rows: [row]))
    }

    func config(_ settings: [String: String]) throws -> [MetricFamily] {
        let result = QueryResult(columns: ["key", "value", "changeable"], rows: settings.map { [$0.key, $0.value, "yes"] })
        return try PgBouncerConfigCollector().map([result], server: ServerFacts(versionNumber: 0))
    }

    @Test func limitFallsBackToConfigAndHonoursCaps() throws {
        let busy = pools(["cl_active": "4", "cl_waiting": "2", "sv_active": "4", "sv_idle": "0", "sv_used": "0",
                          "maxwait": "0", "maxwait_us": "5"])
        let u = pool("db", "u")
        // No SHOW DATABASES row: default_pool_size + reserve_pool_size from SHOW CONFIG.
        var model = PoolModel.families(from: busy + (try config(["default_pool_size": "5", "reserve_pool_size": "1"])))
        #expect(value(model, "poolwatch_pool_size_limit", u) == 6)
        #expect(value(model, "poolwatch_pool_saturated", u) == 0)
        #expect(value(model, "poolwatch_pool_wait_seconds_max", u) == 5e-6)
        // max_user_connections caps it.
        model = PoolModel.families(from: busy + (try config(
            ["default_pool_size": "5", "reserve_pool_size": "1", "max_user_connections": "4"])))
        #expect(value(model, "poolwatch_pool_size_limit", u) == 4)
        #expect(value(model, "poolwatch_pool_saturated", u) == 1)
        // The global max_db_connections caps it when SHOW DATABASES is missing.
        model = PoolModel.families(from: busy + (try config(
            ["default_pool_size": "5", "max_db_connections": "3", "max_user_connections": "0"])))
        #expect(value(model, "poolwatch_pool_size_limit", u) == 3)
        #expect(value(model, "poolwatch_pool_utilization_ratio", u) == 4.0 / 3.0)  // not clamped
    }

    @Test func saturationCountsServersThatHoldASlot() throws {
        let settings = try config(["default_pool_size": "3"])
        let u = pool("db", "u")
        // 1 active + 1 tested + 1 logging in = 3 = limit, nothing idle, a client waits: saturated.
        var model = PoolModel.families(from: settings + pools(
            ["cl_waiting": "1", "sv_active": "1", "sv_idle": "0", "sv_used": "0", "sv_tested": "1", "sv_login": "1"]))
        #expect(value(model, "poolwatch_pool_saturated", u) == 1)
        #expect(value(model, "poolwatch_pool_utilization_ratio", u) == 1.0 / 3.0)
        // An idle server is free: not saturated even at the limit.
        model = PoolModel.families(from: settings + pools(
            ["cl_waiting": "1", "sv_active": "2", "sv_idle": "1", "sv_used": "0"]))
        #expect(value(model, "poolwatch_pool_saturated", u) == 0)
        // Nobody waits: not saturated.
        model = PoolModel.families(from: settings + pools(["cl_waiting": "0", "sv_active": "3", "sv_idle": "0"]))
        #expect(value(model, "poolwatch_pool_saturated", u) == 0)
    }

    @Test func unknownOrZeroLimitGivesNoRatio() throws {
        let u = pool("db", "u")
        let busy = pools(["cl_active": "1", "cl_waiting": "1", "sv_active": "1", "sv_idle": "0"])
        // No SHOW DATABASES, no SHOW CONFIG: no limit, no ratio, no saturation; counts are still there.
        var model = PoolModel.families(from: busy)
        #expect(value(model, "poolwatch_pool_clients", with(u, state: "waiting")) == 1)
        #expect(family(model, "poolwatch_pool_size_limit") == nil)
        #expect(family(model, "poolwatch_pool_utilization_ratio") == nil)
        #expect(family(model, "poolwatch_pool_saturated") == nil)
        #expect(family(model, "poolwatch_pool_wait_seconds_max") == nil)
        // pool_size 0: limit 0, no ratio.
        model = PoolModel.families(from: busy + (try config(["default_pool_size": "0"])))
        #expect(value(model, "poolwatch_pool_size_limit", u) == 0)
        #expect(family(model, "poolwatch_pool_utilization_ratio") == nil)
        #expect(value(model, "poolwatch_pool_saturated", u) == 1)
        // Nothing at all: nothing.
        #expect(PoolModel.families(from: []).isEmpty)
    }

    @Test func pgpoolInstanceIsOnePool() throws {
        let round = try mapFixture(PgpoolProcessesCollector(), "pgpool-4.3", "pool_processes")
        let model = PoolModel.families(from: round)
        let all = ["kind": "pgpool", "pool": "all", "database": "", "user": ""]
        #expect(value(model, "poolwatch_pool_clients", with(all, state: "active")) == 3)
        #expect(value(model, "poolwatch_pool_clients", with(all, state: "waiting")) == nil)
        #expect(value(model, "poolwatch_pool_servers", with(all, state: "active")) == 3)
        #expect(value(model, "poolwatch_pool_size_limit", all) == 4)
        #expect(value(model, "poolwatch_pool_utilization_ratio", all) == 0.75)
        #expect(value(model, "poolwatch_pool_saturated", all) == 0)
        #expect(family(model, "poolwatch_pool_wait_seconds_max") == nil)

        let full = QueryResult(columns: ["pool_pid", "database", "username"], rows: [["1", "a", "u"], ["2", "b", "u"]])
        let fullModel = PoolModel.families(from: try PgpoolProcessesCollector().map([full], server: ServerFacts(versionNumber: 0)))
        #expect(value(fullModel, "poolwatch_pool_saturated", all) == 1)
        #expect(value(fullModel, "poolwatch_pool_utilization_ratio", all) == 1)
        expectCleanExposition(model)
        expectCleanExposition(fullModel)
    }
}
