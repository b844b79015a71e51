import Foundation
import PoolWatchCore
import PoolWatchCurl
import PoolWatchCollection
import Testing
import PoolWatchLibPQ
import PoolWatchRuntime

/// The classic incident on real servers: an application opened a transaction through PgBouncer and went
/// idle, a second session is blocked behind its lock, and clients queue in the pool. `poolwatch diagnose`,
/// `/diagnose` and the status page (rendered by headless Chromium) must each name the holding application,
/// its client address and backend pid, and the blocked session's blocker.
@Suite(.serialized, .enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 and PostgreSQL + PgBouncer (scripts/test)"))
struct DiagnoseIncidentTests {
    typealias Env = IntegrationEnvironment

    /// The incident, held until `end()`.
    final class Incident: @unchecked Sendable {
        // @unchecked: set up once in init; end() is called by the owning test only.
        let bouncer: PrivateBouncer
        let table = Env.uniqueName("orders")
        /// Application names of this incident only: other tests share the PostgreSQL server.
        let leakApp = Env.uniqueName("leaky-orders")
        let blockedApp = Env.uniqueName("billing-worker")
        let leak: PQConnection
        let leakPID: Int
        let blockedPID: Int
        /// The leaking client's address:port as PgBouncer sees it.
        let leakClient: String
        var sessions: [Task<Void, Never>] = []

        init() async throws {
            let (leakApp, blockedApp, table) = (self.leakApp, self.blockedApp, self.table)
            bouncer = try PrivateBouncer(poolSize: 2)
            try Env.sql("CREATE TABLE \(table) (id int PRIMARY KEY, n int); INSERT INTO \(table) VALUES (1, 0)")
            let dsn = "host=127.0.0.1 port=\(bouncer.port) user=postgres dbname=postgres"
            leak = try Env.connect(dsn, applicationName: leakApp)
            _ = try leak.exec("BEGIN")
            _ = try leak.exec("UPDATE \(table) SET n = n + 1 WHERE id = 1")
            leakPID = Int(try leak.exec("SELECT pg_backend_pid()").rows[0][0]!)!
            // Blocked behind the leak's row lock, then three clients that find no free server connection.
            for (application, statement) in [(blockedApp, "UPDATE \(table) SET n = n + 10 WHERE id = 1")]
                + Array(repeating: ("api", "SELECT 1"), count: 3) {
                sessions.append(Task.detached {
                    _ = try? await Env.background.run {
                        try Env.connect(dsn, applicationName: application).exec(statement)
                    }
                })
                if application == blockedApp { try await Task.sleep(for: .milliseconds(300)) }
            }
            let admin = try Env.connect(bouncer.adminDSN)
            var blocked: Int?
            var waiting = 0
            for _ in 0..<50 where blocked == nil || waiting < 3 {
                try await Task.sleep(for: .milliseconds(200))
                blocked = try Env.sql("SELECT pid FROM pg_stat_activity WHERE application_name = '\(blockedApp)' AND wait_event_type = 'Lock'")
                    .rows.first.flatMap { $0[0] }.flatMap { Int($0) }
                waiting = try admin.exec("SHOW CLIENTS").namedRows.filter { $0["state"] == "waiting" }.count
            }
            blockedPID = try #require(blocked, "the second session never blocked")
            #expect(waiting == 3, "three clients queue in the pool")
            let row = try #require(admin.exec("SHOW CLIENTS").namedRows.first { $0["application_name"] == leakApp })
            leakClient = "\(row.label("addr")):\(row.label("port"))"
        }

        func end() {
            _ = try? leak.exec("ROLLBACK")
            _ = try? Env.sql("DROP TABLE IF EXISTS \(table)")
        }
    }

    @Test func diagnoseDiagnoseRouteAndStatusPageNameTheHolder() async throws {
        let incident = try await Incident()
        defer { incident.end() }
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { port in
            """
            listen_address: 127.0.0.1:\(port)
            targets:
              - {name: pg, kind: postgres, dsn: "\(Env.dsn())", interval: 1s}
              - {name: bouncer, kind: pgbouncer, dsn: "\(incident.bouncer.adminDSN)", interval: 1s, postgres_target: pg}
            """
        }, name: "incident")
        let holder = "\(incident.leakApp) from \(incident.leakClient), backend pid \(incident.leakPID)"

        // 1. The command: one round of its own, one screen per troubled pool, exit status 1.
        let (status, screen) = try await runOffPool([Env.binary, "diagnose", "--config", poolwatch.configPath, "--target", "bouncer"])
        #expect(status == 1, "troubled: \(screen)")
        #expect(screen.contains("saturated: 2/2 server connections held; 1 idle in transaction"), "\(screen)")
        #expect(screen.contains(holder), "\(screen)")
        #expect(screen.contains("1 blocked by pid \(incident.leakPID) on a lock (pid \(incident.blockedPID), \(incident.blockedApp))"), "\(screen)")
        #expect(screen.contains("3 clients waiting"), "\(screen)")
        #expect(screen.contains("SELECT pg_terminate_backend(\(incident.leakPID));"), "\(screen)")

        // 2. /diagnose: the same story from the running poolwatch's latest round; --url renders it.
        #expect(await eventually(15) { poolwatch.metrics().contains("pgbouncer_up{target=\"bouncer\"} 1\n") }, "\(poolwatch.log)")
        var diagnosis: Diagnosis?
        _ = await eventually(10) {
            diagnosis = (try? poolwatch.get("/diagnose")).flatMap { try? JSONDecoder().decode(Diagnosis.self, from: Data($0.body.utf8)) }
            return diagnosis?.troubled.contains { $0.target == "bouncer" } == true
        }
        let pool = try #require(diagnosis?.troubled.first { $0.target == "bouncer" })
        #expect(pool.verdict.contains(holder), "\(pool.verdict)")
        #expect(pool.holders.contains { $0.backendPID == incident.blockedPID && $0.blockedBy == [incident.leakPID] })
        let (urlStatus, remote) = try await runOffPool([Env.binary, "diagnose", "--url", poolwatch.url, "--target", "bouncer"])
        #expect(urlStatus == 1 && remote.contains(holder), "\(remote)")

        // 3. The status page, as a browser renders it.
        let artifacts = Env.env["PW_ARTIFACTS"] ?? Env.tmp
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let chromium = ["timeout", "90", "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--window-size=420,1600", "--user-data-dir=\(poolwatch.directory)/chromium"]
        let (domStatus, dom) = try await runOffPool(chromium + ["--dump-dom", poolwatch.url + "/"])
        #expect(domStatus == 0, "\(dom.suffix(2000))")
        #expect(dom.contains("saturated: 2/2 server connections held"), "\(dom.suffix(4000))")
        #expect(dom.contains(incident.leakApp) && dom.contains(incident.leakClient) && dom.contains(">\(incident.leakPID)<"))
        #expect(dom.contains("1 blocked by pid \(incident.leakPID) on a lock"))
        #expect(dom.contains("<meta http-equiv=\"refresh\""), "the page refreshes itself")
        let screenshot = artifacts + "/status-page.png"
        let (shotStatus, shotOutput) = try await runOffPool(chromium + ["--screenshot=\(screenshot)", poolwatch.url + "/"])
        #expect(shotStatus == 0 && FileManager.default.fileExists(atPath: screenshot), "\(shotOutput.suffix(1000))")
        #expect(await poolwatch.stopped() == 0)
    }

    /// The page for the saturated pool names the holder, from the round that fired.
    @Test func pagesNameTheHolderAndTheBlocker() async throws {
        let incident = try await Incident()
        defer { incident.end() }
        let slack = try FakeReceiver.slack()
        let pagerDuty = try FakeReceiver.pagerDuty()
        defer {
            slack.stop()
            pagerDuty.stop()
        }
        let secrets = try receiverSecrets(slackURL: slack.url, routingKey: "R0UT1NGKEY")
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { port in
            """
            listen_address: 127.0.0.1:\(port)
            alerting:
              cluster_id: incident
              state_dir: \(secrets)/state
              evaluation_interval: 1s
              rules:
                PoolwatchPoolSaturated: {for: 1s}
            receivers:
              - {name: pd, type: pagerduty, min_severity: critical, routing_key_file: \(secrets)/pd, url: "\(pagerDuty.url)"}
              - {name: chat, type: slack, min_severity: warning, webhook_url_file: \(secrets)/slack}
            targets:
              - {name: pg, kind: postgres, dsn: "\(Env.dsn())", interval: 1s}
              - {name: bouncer, kind: pgbouncer, dsn: "\(incident.bouncer.adminDSN)", interval: 1s, postgres_target: pg}
            """
        }, name: "incident-page")
        let holder = "\(incident.leakApp) from \(incident.leakClient), backend pid \(incident.leakPID)"
        #expect(await pagerDuty.waitFor(1, within: 30), "\(poolwatch.log)")
        let page = try #require(pagerDuty.received.first { $0.body.contains("PoolwatchPoolSaturated") })
        #expect(page.body.contains("\"holders\":["), "\(page.body)")
        #expect(page.body.contains("idle in transaction for") && page.body.contains(holder), "\(page.body)")
        #expect(page.body.contains("blocked by pid \(incident.leakPID)"), "the blocked session names its blocker: \(page.body)")
        #expect(await slack.waitFor(1, within: 15))
        let message = try #require(slack.received.first { $0.body.contains("PoolwatchPoolSaturated") })
        #expect(message.body.contains("Held by") && message.body.contains(holder), "\(message.body)")
        #expect(await poolwatch.stopped() == 0)
    }
}
