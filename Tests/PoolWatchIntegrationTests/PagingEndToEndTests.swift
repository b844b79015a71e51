import Foundation
import PoolWatchCore
import PoolWatchCollection
import Testing

/// The whole path in the real binary: a PgBouncer pool saturated by real clients → local rule →
/// durable outbox → one PagerDuty trigger and one Slack message; after the load stops, one resolve
/// each. A SIGKILL while the alert fires loses and duplicates nothing.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1, PostgreSQL and PgBouncer (scripts/test)"))
struct PagingEndToEndTests {
    typealias Env = IntegrationEnvironment

    @Test func saturatedPoolPagesOnceResolvesOnceAndSurvivesSIGKILL() async throws {
        let bouncer = try PrivateBouncer(poolSize: 2)
        let slack = try FakeReceiver.slack()
        let pagerDuty = try FakeReceiver.pagerDuty()
        defer {
            slack.stop()
            pagerDuty.stop()
        }
        let routingKey = "R0UT1NGKEY" + Env.uniqueName("k")
        let secrets = try receiverSecrets(slackURL: slack.url, routingKey: routingKey)
        let stateDir = Env.tmp + "/" + Env.uniqueName("state")
        @Sendable func config(_ port: Int) -> String {
            """
            listen_address: 127.0.0.1:\(port)
            alerting:
              cluster_id: e2e
              state_dir: \(stateDir)
              evaluation_interval: 1s
              rules:
                PoolwatchPoolSaturated: {for: 2s, keep_firing_for: 0s}
            receivers:
              - {name: pd, type: pagerduty, min_severity: critical, routing_key_file: \(secrets)/pd, url: "\(pagerDuty.url)"}
              - {name: chat, type: slack, min_severity: warning, webhook_url_file: \(secrets)/slack}
            targets:
              - {name: bouncer, kind: pgbouncer, dsn: "\(bouncer.adminDSN)", interval: 1s}
            """
        }
        var poolwatch: PoolwatchProcess? = try await PoolwatchProcess.launch(configYAML: config, name: "paging")
        let port = poolwatch!.port
        #expect(await eventually(15) { poolwatch!.metrics().contains("pgbouncer_up{target=\"bouncer\"} 1") }, "\(poolwatch!.log)")

        let logs = Env.tmp + "/" + Env.uniqueName("psql") + ".log"
        let clients = try (0..<8).map { _ in
            try spawn(["psql", "-h", "127.0.0.1", "-p", "\(bouncer.port)", "-U", "postgres", "-d", "postgres", "-qAtX",
                       "-c", "SELECT pg_sleep(12)"], output: logs)
        }
        let clock = ContinuousClock()
        let loadStart = clock.now
        #expect(await pagerDuty.waitFor(1, within: 20), "\(poolwatch!.log)")
        let timeToPage = clock.now - loadStart
        #expect(await slack.waitFor(1, within: 10))
        let trigger = try #require(pagerDuty.received.first)
        #expect(trigger.body.contains(#""event_action":"trigger""#))
        #expect(trigger.body.contains(routingKey))
        #expect(trigger.body.contains("PoolwatchPoolSaturated"))
        #expect(trigger.body.contains("postgres/postgres"), "the page names the pool")
        #expect(slack.received.first?.body.contains("postgres/postgres") == true)

        // SIGKILL while firing, once both deliveries are recorded in the outbox (a kill between the
        // receiver's answer and that record may resend once, by design; that case has its own test);
        // the restarted process must not page again.
        #expect(await eventually(10) {
            let text = poolwatch!.metrics()
            return text.contains(#"poolwatch_notifier_deliveries_total{receiver="pd",outcome="delivered"} 1"#)
                && text.contains(#"poolwatch_notifier_deliveries_total{receiver="chat",outcome="delivered"} 1"#)
        })
        #expect(await eventually(10) { stateSaved(stateDir, delivered: 2) })
        #expect(await poolwatch!.stopped(signal: SIGKILL) != nil)
        let firstLog = poolwatch!.log
        poolwatch = nil
        let restarted = try await PoolwatchProcess.launch(configYAML: { _ in config(port) }, name: "paging-2", port: port)
        for pid in clients { _ = waitpid(pid, nil, 0) }
        #expect(await pagerDuty.waitFor(2, within: 30), "resolve after the load stops: \(restarted.log)")
        #expect(await slack.waitFor(2, within: 10))
        #expect(await restarted.settle(evaluations: 3))
        let pdEvents = pagerDuty.received.map(\.body)
        #expect(pdEvents.count == 2, "exactly one trigger and one resolve: \(pdEvents)")
        #expect(pdEvents.filter { $0.contains(#""event_action":"trigger""#) }.count == 1)
        #expect(pdEvents.filter { $0.contains(#""event_action":"resolve""#) }.count == 1)
        #expect(slack.received.count == 2, "one firing and one resolved message: \(slack.received.map(\.body))")
        let dedup = { (body: String) in body.components(separatedBy: #""dedup_key":""#).dropFirst().first?.prefix { $0 != "\"" } }
        #expect(dedup(pdEvents[0]) != nil && dedup(pdEvents[0]) == dedup(pdEvents[1]), "resolve uses the trigger's dedup_key")
        #expect(await restarted.stopped() == 0)

        // No secret in any log line or any file poolwatch wrote.
        let written = try FileManager.default.contentsOfDirectory(atPath: stateDir).compactMap {
            try? String(contentsOfFile: stateDir + "/" + $0, encoding: .utf8)
        }
        for text in written + [firstLog, restarted.log] {
            #expect(!text.contains(routingKey))
            #expect(!text.contains(slack.url))
        }
        print("time from saturation (load start) to delivered PagerDuty page: \(timeToPage)")
    }
}
