import Foundation
import PoolWatchCore
import Synchronization
import Testing

/// Live reload in the real binary: a reload that adds a target, changes a threshold and removes a
/// target does that while a firing alert stays firing and nothing is paged twice; an unchanged
/// PostgreSQL target keeps its connection; an invalid file keeps the running configuration.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 (scripts/test)"))
struct ConfigReloadTests {
    typealias Env = IntegrationEnvironment

    /// An app endpoint in db-pool-rs's words: query p99 1.8 s (slow) or 48 ms, and 10 % failing
    /// queries when `failing`.
    static func appEndpoint(slow: Bool, failing: Bool) throws -> LoopbackHTTPServer {
        let scrapes = Mutex(0)
        return try LoopbackHTTPServer { _ in
            let n = scrapes.withLock { value -> Int in
                value += 1
                return value
            }
            var text = try! appMetricsFixtureText("db-pool-rs.prom")
                .replacingOccurrences(of: "db_pool_rs_queries_total{pool=\"primary\"} 1234567", with: "db_pool_rs_queries_total{pool=\"primary\"} \(n * 1000)")
                .replacingOccurrences(of: "db_pool_rs_query_errors_total{pool=\"primary\"} 1234",
                                      with: "db_pool_rs_query_errors_total{pool=\"primary\"} \(failing ? n * 100 : 0)")
            if slow {
                text = text.replacingOccurrences(of: "db_pool_rs_query_latency_p99{pool=\"primary\"} 48",
                                                 with: "db_pool_rs_query_latency_p99{pool=\"primary\"} 1800")
            }
            return .send(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(text.utf8))
        }
    }

    static func appTarget(_ name: String, _ server: LoopbackHTTPServer) -> String {
        """
          - {name: \(name), kind: app_metrics, url: "\(server.url("/metrics"))", preset: db_pool_rs, database_value: \(name), interval: 1s}
        """
    }

    /// The PostgreSQL connection of poolwatch's role: (pid, backend_start).
    static func backend(of role: String) throws -> [String] {
        let result = try Env.sql("SELECT pid::text || ' ' || backend_start::text FROM pg_stat_activity WHERE usename = '\(role)'")
        return result.rows.compactMap { $0.first ?? nil }
    }

    @Test func reloadAddsChangesAndRemovesWithoutPagingTwice() async throws {
        let orders = try Self.appEndpoint(slow: true, failing: true)
        let billing = try Self.appEndpoint(slow: true, failing: false)
        let stock = try Self.appEndpoint(slow: false, failing: false)
        let pagerDuty = try FakeReceiver.pagerDuty()
        defer {
            [orders, billing, stock].forEach { $0.stop() }
            pagerDuty.stop()
        }
        let role = Env.uniqueName("pw_reload")
        _ = try Env.sql("CREATE ROLE \(role) LOGIN; GRANT pg_monitor TO \(role)")
        let secrets = try receiverSecrets(slackURL: "https://hooks.slack.invalid/services/T0/B0/unused", routingKey: "REL0ADR0UT1NG")
        let stateDir = Env.tmp + "/" + Env.uniqueName("state")
        @Sendable func config(errorRatioThreshold: Double, apps: [String]) -> String {
            """
            listen_address: 127.0.0.1:0
            alerting:
              cluster_id: reload
              state_dir: \(stateDir)
              evaluation_interval: 1s
              rules:
                PoolwatchAppPoolQueryLatencyHigh: {for: 1s, keep_firing_for: 0s}
                PoolwatchAppPoolErrorRatioHigh: {for: 1s, keep_firing_for: 0s, threshold: \(errorRatioThreshold)}
            receivers:
              - {name: pd, type: pagerduty, min_severity: critical, routing_key_file: \(secrets)/pd, url: "\(pagerDuty.url)"}
            targets:
              - {name: main, kind: postgres, dsn: "\(Env.dsn(extra: "user=\(role)"))", interval: 1s, database_sizes: off, table_stats: {enabled: false}}
            \(apps.joined(separator: "\n"))
            """
        }
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { _ in
            config(errorRatioThreshold: 0.05, apps: [Self.appTarget("orders-rs", orders), Self.appTarget("billing-rs", billing)])
        }, name: "reload", arguments: ["--web.enable-lifecycle"])

        // Three incidents: orders-rs slow and failing, billing-rs slow.
        #expect(await pagerDuty.waitFor(3, within: 30), "\(poolwatch.log)")
        #expect(await poolwatch.settle(evaluations: 2))
        #expect(pagerDuty.received.count == 3, "\(pagerDuty.received.map(\.body))")
        let connection = try Self.backend(of: role)
        #expect(connection.count == 1, "\(connection)")

        // Reload: billing-rs removed, stock-rs added, the error-ratio threshold raised above 10 %.
        try config(errorRatioThreshold: 0.5, apps: [Self.appTarget("orders-rs", orders), Self.appTarget("stock-rs", stock)])
            .write(toFile: poolwatch.configPath, atomically: true, encoding: .utf8)
        let reload = try poolwatch.get("/-/reload", ["-X", "POST"])
        #expect(reload.status == 200, "\(reload.body)")
        #expect(reload.body.contains("added=[stock-rs] removed=[billing-rs] changed=[] unchanged=2; rules changed"), "\(reload.body)")

        // Two resolves: billing-rs's, saying why, and orders-rs's error ratio under the new threshold.
        #expect(await pagerDuty.waitFor(5, within: 20), "\(pagerDuty.received.map(\.body))\n\(poolwatch.log)")
        #expect(await poolwatch.settle(evaluations: 3))
        let events = pagerDuty.received.map(\.body)
        #expect(events.count == 5, "nothing is paged twice: \(events)")
        let resolves = events.filter { $0.contains(#""event_action":"resolve""#) }
        #expect(resolves.count == 2, "\(events)")
        #expect(resolves.contains { $0.contains("billing-rs") && $0.contains("target billing-rs was removed from the configuration") }, "\(resolves)")
        #expect(resolves.contains { $0.contains("orders-rs") && $0.contains("PoolwatchAppPoolErrorRatioHigh") }, "\(resolves)")
        #expect(!resolves.contains { $0.contains("PoolwatchAppPoolQueryLatencyHigh") && $0.contains("orders-rs") }, "\(resolves)")

        let metrics = poolwatch.metrics()
        #expect(metrics.contains(#"poolwatch_alerts{alertname="PoolwatchAppPoolQueryLatencyHigh",state="firing",severity="critical"} 1"#), "\(metrics)")
        #expect(await eventually(10) { poolwatch.metrics().contains(#"poolwatch_target_up{target="stock-rs",kind="app_metrics"} 1"#) })
        #expect(!poolwatch.metrics().contains(#"target="billing-rs""#))
        #expect(metrics.contains("poolwatch_config_last_reload_successful 1"))
        // The unchanged targets kept running: the same PostgreSQL backend, one loop start each.
        #expect(try Self.backend(of: role) == connection)
        let log = poolwatch.log
        for (target, starts) in [("main", 1), ("orders-rs", 1), ("billing-rs", 1), ("stock-rs", 1)] {
            let lines = log.split(separator: "\n").filter { $0.contains(#"msg="collection started""#) && $0.hasSuffix(" target=\(target)") }
            #expect(lines.count == starts, "\(target): \(lines)")
        }
        #expect(log.split(separator: "\n").contains { $0.contains(#"msg="collection stopped""#) && $0.hasSuffix(" target=billing-rs") })
        #expect(log.contains(#"msg="alert resolved""#) && log.contains(#"reason="target billing-rs was removed from the configuration""#))

        // An invalid file changes nothing: 500 with the key path, the metric drops to 0.
        let before = try Self.backend(of: role)
        try "targets:\n  - {name: main, kind: postgres, intervall: 1s}\n".write(toFile: poolwatch.configPath, atomically: true, encoding: .utf8)
        let refused = try poolwatch.get("/-/reload", ["-X", "POST"])
        #expect(refused.status == 500 && refused.body.contains("targets[0].intervall"), "\(refused.body)")
        #expect(poolwatch.metrics().contains("poolwatch_config_last_reload_successful 0"))
        #expect(poolwatch.metrics().contains(#"poolwatch_target_up{target="stock-rs",kind="app_metrics"} 1"#))
        #expect(try Self.backend(of: role) == before)
        #expect(poolwatch.log.contains(#"msg="configuration reload failed; keeping the running configuration""#))

        // SIGHUP reloads the fixed file.
        try config(errorRatioThreshold: 0.5, apps: [Self.appTarget("orders-rs", orders), Self.appTarget("stock-rs", stock)])
            .write(toFile: poolwatch.configPath, atomically: true, encoding: .utf8)
        kill(poolwatch.pid, SIGHUP)
        #expect(await eventually(10) { poolwatch.metrics().contains("poolwatch_config_last_reload_successful 1") }, "\(poolwatch.log)")
        #expect(poolwatch.isRunning)
        #expect(pagerDuty.received.count == 5)
        #expect(await poolwatch.stopped() == 0)
        _ = try? Env.sql("DROP ROLE IF EXISTS \(role)")
        #expect(!poolwatch.log.contains("REL0ADR0UT1NG"))
    }

    @Test func reloadEndpointNeedsTheLifecycleFlag() async throws {
        let app = try Self.appEndpoint(slow: false, failing: false)
        defer { app.stop() }
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { _ in
            "listen_address: 127.0.0.1:0\nlog_level: info\ntargets:\n\(Self.appTarget("app", app))\n"
        }, name: "reload-flag")
        let refused = try poolwatch.get("/-/reload", ["-X", "POST"])
        #expect(refused.status == 403 && refused.body.hasPrefix("Lifecycle API is not enabled."), "\(refused.body)")
        #expect(try poolwatch.get("/-/reload").status == 405)
        // SIGHUP works without the flag; log_level debug takes effect for loggers made at start.
        let yaml = try String(contentsOfFile: poolwatch.configPath, encoding: .utf8).replacingOccurrences(of: "log_level: info", with: "log_level: debug")
        try yaml.write(toFile: poolwatch.configPath, atomically: true, encoding: .utf8)
        kill(poolwatch.pid, SIGHUP)
        #expect(await eventually(10) { poolwatch.log.contains(#"msg="configuration reloaded""#) && poolwatch.log.contains("log level debug") }, "\(poolwatch.log)")
        // The service group's loggers were made at start: their debug lines at shutdown now show.
        #expect(await poolwatch.stopped() == 0)
        #expect(poolwatch.log.contains("level=debug"), "\(poolwatch.log)")
    }
}
