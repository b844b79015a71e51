import Foundation
import PoolWatchCollection
import Testing

/// Local rule evaluation in the real binary: an alert fires without Prometheus, survives a restart
/// without firing twice, and a corrupt state file is moved aside loudly.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 and a PostgreSQL (scripts/test)"))
struct AlertEvaluationTests {
    typealias Env = IntegrationEnvironment

    func config(port: Int, stateDir: String) -> String {
        """
        listen_address: 127.0.0.1:\(port)
        alerting:
          state_dir: \(stateDir)
          evaluation_interval: 1s
          rules:
            PoolwatchPgbouncerDown: {for: 2s}
        targets:
          - {name: pg, kind: postgres, dsn: "\(Env.dsn())", interval: 1s}
          - {name: bouncer, kind: pgbouncer, dsn: "host=127.0.0.1 port=\(freePort()) user=postgres dbname=pgbouncer", interval: 1s}
        """
    }

    @Test func firingAlertSurvivesRestartWithoutFiringTwice() async throws {
        let stateDir = Env.tmp + "/" + Env.uniqueName("state")
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        var first: PoolwatchProcess? = try await PoolwatchProcess.launch(configYAML: { config(port: $0, stateDir: stateDir) }, name: "alerts-1")
        let port = first!.port
        #expect(await eventually(15) {
            first!.metrics().contains(#"poolwatch_alerts{alertname="PoolwatchPgbouncerDown",state="firing",severity="critical"} 1"#)
        }, "\(first!.log)")
        let alerts = try first!.get("/alerts")
        #expect(alerts.status == 200 && alerts.body.contains(#""state" : "firing""#) && alerts.body.contains(#""target" : "bouncer""#))
        #expect(first!.log.components(separatedBy: "msg=\"alert firing\"").count == 2)
        #expect(await first!.stopped(signal: SIGKILL) != nil)
        first = nil

        let second = try await PoolwatchProcess.launch(configYAML: { _ in config(port: port, stateDir: stateDir) }, name: "alerts-2", port: port)
        #expect(await eventually(15) { second.log.contains("alert state restored") })
        #expect(await second.settle(evaluations: 3))
        #expect(second.metrics().contains(#"poolwatch_alerts{alertname="PoolwatchPgbouncerDown",state="firing",severity="critical"} 1"#))
        #expect(!second.log.contains("msg=\"alert firing\""), "a restored firing alert must not fire (page) again")
        #expect(await second.stopped() == 0)
    }

    @Test func corruptStateFileIsMovedAsideLoudly() async throws {
        let stateDir = Env.tmp + "/" + Env.uniqueName("state")
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        try "{ not json".write(toFile: stateDir + "/alerts.json", atomically: true, encoding: .utf8)
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { config(port: $0, stateDir: stateDir) }, name: "alerts-corrupt")
        #expect(await eventually(10) { poolwatch.log.contains("alert state file is corrupt") }, "\(poolwatch.log)")
        let files = try FileManager.default.contentsOfDirectory(atPath: stateDir)
        #expect(files.contains { $0.hasPrefix("alerts.json.corrupt-") }, "\(files)")
        #expect(poolwatch.log.contains("level=error"))
        #expect(await poolwatch.stopped() == 0)
    }
}
