import Foundation
import PoolWatchCore
import Synchronization
import Testing

/// The db-pool-rs alerts in the real binary: an app endpoint on loopback (db-pool-rs's exporter text) is
/// driven into a 1.8 s query p99 and 10% failing queries; poolwatch scrapes it as `kind: app_metrics`,
/// both critical rules fire locally and page through a local PagerDuty receiver. (The same rules under
/// Prometheus: alerts/tests/app-pools.test.yml and RulesDifferentialTests.)
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 (scripts/test)"))
struct AppPoolAlertTests {
    typealias Env = IntegrationEnvironment

    @Test func slowAndFailingAppPoolPages() async throws {
        let scrapes = Mutex(0)
        let app = try LoopbackHTTPServer { _ in
            let n = scrapes.withLock { value -> Int in
                value += 1
                return value
            }
            let text = try! appMetricsFixtureText("db-pool-rs.prom")
                .replacingOccurrences(of: "db_pool_rs_query_latency_p99{pool=\"primary\"} 48", with: "db_pool_rs_query_latency_p99{pool=\"primary\"} 1800")
                .replacingOccurrences(of: "db_pool_rs_queries_total{pool=\"primary\"} 1234567", with: "db_pool_rs_queries_total{pool=\"primary\"} \(n * 1000)")
                .replacingOccurrences(of: "db_pool_rs_query_errors_total{pool=\"primary\"} 1234", with: "db_pool_rs_query_errors_total{pool=\"primary\"} \(n * 100)")
            return .send(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(text.utf8))
        }
        let pagerDuty = try FakeReceiver.pagerDuty()
        defer {
            app.stop()
            pagerDuty.stop()
        }
        let secrets = Env.tmp + "/" + Env.uniqueName("secrets")
        try FileManager.default.createDirectory(atPath: secrets, withIntermediateDirectories: true)
        try "APPR0UT1NG".write(toFile: secrets + "/pd", atomically: true, encoding: .utf8)
        chmod(secrets + "/pd", 0o600)
        let stateDir = Env.tmp + "/" + Env.uniqueName("state")
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { port in
            """
            listen_address: 127.0.0.1:\(port)
            alerting:
              cluster_id: apppools
              state_dir: \(stateDir)
              evaluation_interval: 1s
              rules:
                PoolwatchAppPoolQueryLatencyHigh: {for: 2s}
                PoolwatchAppPoolErrorRatioHigh: {for: 2s}
            receivers:
              - {name: pd, type: pagerduty, min_severity: critical, routing_key_file: \(secrets)/pd, url: "\(pagerDuty.url)"}
            targets:
              - name: orders-rs
                kind: app_metrics
                url: \(app.url("/metrics"))
                preset: db_pool_rs
                database_value: orders
                user_value: orders_rw
                interval: 1s
            """
        }, name: "app-alerts")
        #expect(await eventually(15) {
            poolwatch.metrics().contains(#"poolwatch_pool_query_duration_seconds{target="orders-rs",kind="app_metrics",pool="primary",database="orders",user="orders_rw",quantile="0.99"} 1.8"#)
        }, "\(poolwatch.log)")
        #expect(await pagerDuty.waitFor(2, within: 25), "\(poolwatch.log)")
        let pages = pagerDuty.received.map(\.body)
        #expect(pages.contains { $0.contains("PoolwatchAppPoolQueryLatencyHigh") && $0.contains(#""event_action":"trigger""#) }, "\(pages)")
        #expect(pages.contains { $0.contains("PoolwatchAppPoolErrorRatioHigh") && $0.contains("primary") }, "\(pages)")
        let metrics = poolwatch.metrics()
        #expect(metrics.contains(#"poolwatch_alerts{alertname="PoolwatchAppPoolErrorRatioHigh",state="firing",severity="critical"} 1"#))
        #expect(await poolwatch.stopped() == 0)
    }
}
