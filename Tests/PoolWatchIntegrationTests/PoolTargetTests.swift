import Foundation
import PoolWatchCore
import PoolWatchCollection
import Testing
import PoolWatchLibPQ
import PoolWatchRuntime

/// A PgBouncer of the test's own in front of the shared PostgreSQL, so a test can saturate or kill it
/// without disturbing the others.
final class PrivateBouncer: @unchecked Sendable {
    // @unchecked: immutable after init; start/kill are called from the owning test only.
    let directory: String
    let port: Int

    init(poolSize: Int = 2, poolMode: String = "transaction") throws {
        directory = IntegrationEnvironment.tmp + "/" + IntegrationEnvironment.uniqueName("bouncer")
        port = freePort()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let ini = """
            [databases]
            postgres = host=\(IntegrationEnvironment.pgHost) port=\(IntegrationEnvironment.pgPort) dbname=postgres
            [pgbouncer]
            listen_addr = 127.0.0.1
            listen_port = \(port)
            unix_socket_dir = \(directory)
            auth_type = trust
            auth_file = \(directory)/userlist.txt
            admin_users = postgres
            pool_mode = \(poolMode)
            default_pool_size = \(poolSize)
            max_client_conn = 200
            ignore_startup_parameters = extra_float_digits
            logfile = \(directory)/pgbouncer.log
            pidfile = \(directory)/pgbouncer.pid

            """
        try ini.write(toFile: directory + "/pgbouncer.ini", atomically: true, encoding: .utf8)
        try "\"postgres\" \"\"\n".write(toFile: directory + "/userlist.txt", atomically: true, encoding: .utf8)
        if getuid() == 0 { try run(["chown", "-R", "postgres:postgres", directory]) }
        try start()
    }

    var adminDSN: String { "host=127.0.0.1 port=\(port) user=postgres dbname=pgbouncer" }

    func start() throws {
        let result = try runAsPostgres(["pgbouncer", "-d", directory + "/pgbouncer.ini"])
        guard result.status == 0 else { throw SpawnError(message: "pgbouncer: \(result.output)") }
        for _ in 0..<50 where (try? IntegrationEnvironment.connect(adminDSN).exec("SHOW VERSION")) == nil {
            usleep(100_000)
        }
    }

    var pid: pid_t? {
        guard let text = try? String(contentsOfFile: directory + "/pgbouncer.pid", encoding: .utf8) else { return nil }
        return pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Stops the process (SIGSTOP): connections are still accepted by the kernel, nothing answers.
    func freeze() { pid.map { _ = Glibc.kill($0, SIGSTOP) } }

    func thaw() { pid.map { _ = Glibc.kill($0, SIGCONT) } }

    func kill() {
        guard let pid else { return }
        Glibc.kill(pid, SIGCONT)
        Glibc.kill(pid, SIGKILL)
        while Glibc.kill(pid, 0) == 0 { usleep(20_000) }
        unlink(directory + "/pgbouncer.pid")
    }

    deinit {
        kill()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 and PostgreSQL + PgBouncer (scripts/test)"))
struct PoolTargetTests {
    typealias Env = IntegrationEnvironment

    static func bouncerTarget(_ dsn: String, name: String = "bouncer") -> TargetConfig {
        TargetConfig(name: name, kind: .pgbouncer, dsn: Secret(dsn), interval: .seconds(1), collectionTimeout: .seconds(1))
    }

    static func collect(_ target: TargetConfig, plan: TargetPlan) async -> TargetSnapshot {
        let collector = LibPQTargetCollector(target: target, plan: plan, executor: Env.executor)
        defer { collector.close() }
        return await collector.collectRound()
    }

    /// Ten clients on a pool of two: clients queue, the pool is saturated at utilization 1.0, the
    /// longest wait grows with sub-second precision; when the load stops everything returns to idle.
    @Test func saturatedPoolShowsInBothNamings() async throws {
        let bouncer = try PrivateBouncer(poolSize: 2)
        let target = Self.bouncerTarget(bouncer.adminDSN)
        let logs = Env.tmp + "/" + Env.uniqueName("psql") + ".log"
        let clients = try (0..<10).map { _ in
            try spawn(["psql", "-h", "127.0.0.1", "-p", "\(bouncer.port)", "-U", "postgres", "-d", "postgres", "-qAtX",
                       "-c", "SELECT pg_sleep(6)"], output: logs)
        }
        defer { for pid in clients { _ = waitpid(pid, nil, 0) } }
        let pool = ["database": "postgres", "user": "postgres"]
        let model = ["kind": "pgbouncer", "pool": "postgres/postgres", "database": "postgres", "user": "postgres"]

        var first: TargetSnapshot?
        // Generous: ten psql processes start slowly on a loaded 2-core CI machine; each sleeps 6 s.
        #expect(await eventually(10) {
            let snapshot = await Self.collect(target, plan: .pgbouncer(target))
            first = snapshot
            return snapshot.sum("pgbouncer_pools_client_waiting_connections", pool) > 0
                && snapshot.sum("poolwatch_pool_saturated", model) == 1
        })
        let saturated = try #require(first)
        #expect(saturated.sum("pgbouncer_up") == 1)
        #expect(saturated.sum("pgbouncer_pools_server_active_connections", pool) == 2)
        #expect(saturated.sum("poolwatch_pool_utilization_ratio", model) == 1.0)
        #expect(saturated.sum("poolwatch_pool_size_limit", model) == 2)
        #expect(saturated.sum("poolwatch_pool_clients", model.merging(["state": "waiting"]) { $1 }) > 0)
        let wait1 = saturated.sum("pgbouncer_pools_client_maxwait_seconds", pool)
        try await Task.sleep(for: .milliseconds(700))
        let later = await Self.collect(target, plan: .pgbouncer(target))
        let wait2 = later.sum("pgbouncer_pools_client_maxwait_seconds", pool)
        #expect(wait2 > wait1, "maxwait grows: \(wait1) → \(wait2)")
        #expect(wait2 != wait2.rounded(), "sub-second precision (maxwait_us): \(wait2)")
        #expect(later.sum("poolwatch_pool_wait_seconds_max", model) == wait2)

        for pid in clients { _ = waitpid(pid, nil, 0) }
        let idle = await Self.collect(target, plan: .pgbouncer(target))
        #expect(idle.sum("pgbouncer_pools_client_waiting_connections", pool) == 0)
        #expect(idle.sum("poolwatch_pool_saturated", model) == 0)
        #expect(idle.sum("poolwatch_pool_utilization_ratio", model) == 0)
        #expect(idle.sum("pgbouncer_pools_client_maxwait_seconds", pool) == 0)
    }

    /// Kill PgBouncer: `pgbouncer_up 0`, PostgreSQL unaffected, `/metrics` still 200; restart it: back to 1.
    @Test func killedBouncerIsDownAndComesBack() async throws {
        let bouncer = try PrivateBouncer()
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { port in
            """
            listen_address: 127.0.0.1:\(port)
            targets:
              - {name: pg, kind: postgres, dsn: "\(Env.dsn())", interval: 1s}
              - {name: bouncer, kind: pgbouncer, dsn: "\(bouncer.adminDSN)", interval: 1s}
            """
        }, name: "bouncer-kill")
        #expect(await eventually(15) { poolwatch.metrics().contains("pgbouncer_up{target=\"bouncer\"} 1\n") }, "\(poolwatch.log)")
        bouncer.kill()
        #expect(await eventually(5) { poolwatch.metrics().contains("pgbouncer_up{target=\"bouncer\"} 0\n") })
        let down = try poolwatch.get("/metrics")
        #expect(down.status == 200)
        #expect(down.body.contains("pg_up{target=\"pg\"} 1\n"))
        #expect(try poolwatch.get("/readyz").status == 200, "one target up is enough to be ready")
        try bouncer.start()
        #expect(await eventually(10) { poolwatch.metrics().contains("pgbouncer_up{target=\"bouncer\"} 1\n") }, "\(poolwatch.log)")
        #expect(await poolwatch.stopped() == 0)
    }

    @Test(.enabled(if: Env.env["PW_PGPOOL_PORT"] != nil, "needs Pgpool-II (scripts/test starts it)"))
    func pgpoolTargetAgainstRealPgpool() async throws {
        let port = try #require(Env.env["PW_PGPOOL_PORT"])
        let target = TargetConfig(name: "pgpool", kind: .pgpool,
                                  dsn: Secret("host=127.0.0.1 port=\(port) user=postgres dbname=postgres"),
                                  interval: .seconds(1), collectionTimeout: .seconds(1))
        let snapshot = await Self.collect(target, plan: .pgpool(target))
        #expect(snapshot.up, "\(snapshot.error ?? "")")
        #expect(snapshot.sum("pgpool2_up") == 1)
        #expect(snapshot.collectors.allSatisfy { $0.success }, "\(snapshot.collectors)")
        #expect(snapshot.samples("pgpool2_pool_nodes_status").count >= 1)
        #expect(snapshot.sum("pgpool2_pool_nodes_status") >= 1)
        #expect(snapshot.sum("pgpool2_frontend_processes") >= 1)
        #expect(snapshot.sum("poolwatch_pool_size_limit", ["kind": "pgpool"]) == snapshot.sum("pgpool2_frontend_processes"))
        #expect(snapshot.sum("poolwatch_pool_clients", ["kind": "pgpool", "state": "active"]) >= 1, "poolwatch's own session")
    }

    /// One process watching all four kinds; every series of the real scrape passes `promtool check metrics`.
    @Test(.enabled(if: Env.env["PW_PGPOOL_PORT"] != nil, "needs Pgpool-II (scripts/test starts it)"))
    func allFourKindsPassPromtool() async throws {
        let pgpoolPort = try #require(Env.env["PW_PGPOOL_PORT"])
        let bouncerPort = try #require(Env.env["PW_PGB_PORT"])
        let app = try LoopbackHTTPServer { _ in
            .send(status: 200, headers: [("Content-Type", "application/json")], body: Array("""
                {"pools": [{"name": "primary", "database": "postgres", "user": "postgres", "active": 4, "idle": 0,
                            "pending": 3, "max": 4}]}
                """.utf8))
        }
        defer { app.stop() }
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { port in
            """
            listen_address: 127.0.0.1:\(port)
            targets:
              - {name: pg, kind: postgres, dsn: "\(Env.dsn())", interval: 1s}
              - {name: bouncer, kind: pgbouncer, dsn: "host=127.0.0.1 port=\(bouncerPort) user=postgres dbname=pgbouncer", interval: 1s}
              - {name: pgpool, kind: pgpool, dsn: "host=127.0.0.1 port=\(pgpoolPort) user=postgres dbname=postgres", interval: 1s}
              - name: app
                kind: http_json
                url: "\(app.url("/pool-stats"))"
                interval: 1s
                pools:
                  items: "$.pools[*]"
                  name: "$.name"
                  database: "$.database"
                  user: "$.user"
                  fields: {active: "$.active", idle: "$.idle", waiting: "$.pending", max: "$.max"}
            """
        }, name: "all-kinds")
        #expect(await eventually(15) {
            let text = poolwatch.metrics()
            return ["pg_up{target=\"pg\"} 1", "pgbouncer_up{target=\"bouncer\"} 1", "pgpool2_up{target=\"pgpool\"} 1",
                    "poolwatch_app_pool_up{target=\"app\"} 1"].allSatisfy { text.contains($0) }
        }, "\(poolwatch.metrics().prefix(2000))\n\(poolwatch.log)")
        let text = poolwatch.metrics()
        #expect(text.contains(#"poolwatch_pool_saturated{target="app",kind="http_json",pool="primary",database="postgres",user="postgres"} 1"#))
        let lint = try run(["promtool", "check", "metrics"], input: text)
        #expect(lint.status == 0 && lint.output.isEmpty, "promtool: \(lint.output)")
        #expect(await poolwatch.stopped() == 0)
    }
}
