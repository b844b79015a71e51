import Foundation
import PoolWatchCollection
import PoolWatchCurl
import Testing
import PoolWatchLibPQ
import PoolWatchRuntime

/// The real binary, scraped over HTTP like Prometheus does.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 and a PostgreSQL (scripts/test)"))
struct EndToEndTests {
    typealias Env = IntegrationEnvironment

    /// Stop PostgreSQL: `pg_up 0` and `/metrics` still 200 within one interval; start it again:
    /// `pg_up 1` without restarting poolwatch.
    @Test func postgresDownAndBackWithoutRestart() async throws {
        let cluster = try await IntegrationEnvironment.background.run { try PrivateCluster() }
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { port in
            """
            listen_address: 127.0.0.1:\(port)
            targets:
              - name: main
                kind: postgres
                dsn: "\(cluster.dsn) password=hunter2-secret"
                interval: 2s
            """
        }, name: "e2e-down")
        #expect(await eventually(15) { poolwatch.metrics().contains("pg_up{target=\"main\"} 1\n") }, "\(poolwatch.log)")
        #expect(try poolwatch.get("/readyz").status == 200)

        try await IntegrationEnvironment.background.run { cluster.stop() }
        let clock = ContinuousClock()
        let stopped = clock.now
        #expect(await eventually(5) { poolwatch.metrics().contains("pg_up{target=\"main\"} 0\n") })
        #expect(clock.now - stopped < .seconds(4), "pg_up 0 within one interval (2s) plus a round")
        let down = try poolwatch.get("/metrics")
        #expect(down.status == 200)
        #expect(down.body.contains("poolwatch_target_up{target=\"main\",kind=\"postgres\"} 0\n"))
        let ready = try poolwatch.get("/readyz")
        #expect(ready.status == 503)
        #expect(ready.body.contains("no target is up"))

        try await IntegrationEnvironment.background.run { try cluster.start() }
        #expect(await eventually(10) { poolwatch.metrics().contains("pg_up{target=\"main\"} 1\n") }, "\(poolwatch.log)")
        #expect(poolwatch.isRunning)
        #expect(await poolwatch.stopped() == 0, "graceful shutdown on SIGTERM exits 0")
        #expect(poolwatch.log.contains("target down"))
        #expect(poolwatch.log.contains("target up"))
        #expect(!poolwatch.log.contains("hunter2-secret"), "the DSN password must never be logged")
    }

    /// A hostile application_name cannot break the exposition; the real scrape passes promtool.
    @Test func realScrapePassesPromtoolWithHostileApplicationName() async throws {
        let hostile = "evil\"} 1\\nfake_metric 2 \\\\ \u{7f}"
        let session = try Env.connect(Env.dsn(), applicationName: hostile)
        try session.exec("BEGIN; SELECT 1")
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { port in
            """
            listen_address: 127.0.0.1:\(port)
            targets:
              - {name: main, kind: postgres, dsn: "\(Env.dsn())", interval: 1s, activity: {top_applications: 1000}}
            """
        }, name: "e2e-promtool")
        #expect(await eventually(15) { poolwatch.metrics().contains("pg_stat_activity_backends{target=\"main\"") })
        let text = poolwatch.metrics()
        #expect(text.contains(#"application_name="evil\"} 1\\nfake_metric 2 \\\\"#), "\(text.prefix(3000))")
        #expect(!text.split(separator: "\n").contains { $0.hasPrefix("fake_metric") })
        let lint = try run(["promtool", "check", "metrics"], input: text)
        #expect(lint.status == 0 && lint.output.isEmpty, "promtool: \(lint.output)")

        // gzip, HEAD, the landing page, health.
        let gz = try poolwatch.get("/metrics", ["--compressed", "-H", "Accept-Encoding: gzip"])
        #expect(gz.status == 200 && gz.body.contains("# TYPE pg_up gauge"))
        let head = try run(["curl", "-s", "-I", poolwatch.url + "/metrics"])
        #expect(head.output.contains("200 OK") && head.output.lowercased().contains("content-type: text/plain; version=0.0.4; charset=utf-8"))
        let landing = try poolwatch.get("/")
        #expect(landing.status == 200 && landing.body.contains("main") && landing.body.contains("/metrics"))
        #expect(try poolwatch.get("/healthz").status == 200)
        #expect(try poolwatch.get("/nope").status == 404)
        try session.exec("ROLLBACK")
        #expect(await poolwatch.stopped() == 0)
    }

    @Test func checkConfigReportsErrorsAndSummaries() throws {
        let directory = Env.tmp + "/" + Env.uniqueName("checkconfig")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let bad = directory + "/bad.yml"
        try "targets:\n  - {name: a, kind: postgres, interval: 15}\n  - {name: a, kind: postgres, dsn: 'password=hunter2', intervl: 1s}\n"
            .write(toFile: bad, atomically: true, encoding: .utf8)
        let failed = try run([Env.binary, "check-config", bad])
        #expect(failed.status == 1)
        #expect(failed.output.contains(#"targets[0].interval: "15" is not a duration (use 15s, 1m)"#))
        #expect(failed.output.contains("targets[1].intervl: unknown key (did you mean interval?)"))
        #expect(failed.output.contains(#"targets[1].name: duplicate target name "a""#))
        #expect(!failed.output.contains("hunter2"))
        let good = directory + "/good.yml"
        try "targets:\n  - {name: a, kind: postgres, dsn: 'host=x password=hunter2'}\n".write(toFile: good, atomically: true, encoding: .utf8)
        let passed = try run([Env.binary, "check-config", good])
        #expect(passed.status == 0)
        #expect(passed.output.contains("host=x password=<redacted>"))
        // `run` refuses a bad config before starting anything, with exit status 2.
        #expect(try run([Env.binary, "--config", bad]).status == 2)
    }
    /// `poolwatch sql` prints what a round sends, per target and server version, and what it prints
    /// runs as it is on the real PostgreSQL (the bench runs it to measure the floor of a round).
    @Test func sqlCommandPrintsRunnableStatements() throws {
        let directory = Env.tmp + "/" + Env.uniqueName("sqlcommand")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = directory + "/poolwatch.yml"
        try """
            targets:
              - {name: pg, kind: postgres, dsn: "\(Env.dsn()) password=hunter2"}
              - {name: bouncer, kind: pgbouncer, dsn: "host=127.0.0.1 port=6432 dbname=pgbouncer"}
              - name: app
                kind: http_json
                url: http://127.0.0.1:1/stats
                pools: {items: "$.pools[*]", name: "$.name", fields: {active: "$.a", idle: "$.i", waiting: "$.w", max: "$.m"}}
            """.write(toFile: config, atomically: true, encoding: .utf8)
        let version = try Env.connect(Env.dsn()).serverVersion
        let printed = try run([Env.binary, "sql", "--config", config, "--version-number", "\(version)"])
        #expect(printed.status == 0, "\(printed.output)")
        #expect(printed.output.contains("-- target pg (postgres)\n-- collector server\n"))
        #expect(printed.output.contains("-- target bouncer (pgbouncer)"))
        #expect(printed.output.contains("SHOW POOLS;\n"))
        #expect(printed.output.contains("-- target app (http_json)\n-- (no SQL: an HTTP JSON endpoint)"))
        #expect(!printed.output.contains("hunter2"))

        let postgres = try run([Env.binary, "sql", "--config", config, "--target", "pg", "--version-number", "\(version)"])
        #expect(!postgres.output.contains("SHOW POOLS"))
        let statements = postgres.output.split(separator: "\n").filter { !$0.hasPrefix("--") }.joined(separator: "\n")
            .components(separatedBy: ";\n").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        #expect(statements.count >= 5)
        let session = try Env.connect(Env.dsn())
        for statement in statements {
            #expect(throws: Never.self, "\(statement)") { try session.exec(statement) }
        }

        let old = try run([Env.binary, "sql", "--config", config, "--target", "bouncer", "--version-number", "10700"])
        #expect(old.output.contains("SHOW STATS;\n") && !old.output.contains("STATS_TOTALS"), "PgBouncer before 1.8")
        let missing = try run([Env.binary, "sql", "--config", config, "--target", "nope"])
        #expect(missing.status == 1)
        #expect(missing.output.contains(#"no target named "nope" (have: pg, bouncer, app)"#))
    }
}
