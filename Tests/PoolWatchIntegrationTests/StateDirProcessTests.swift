import Foundation
import PoolWatchCore
import Testing

/// The state directory in the real binary: a truncated alerts.json does not re-announce on Slack; a
/// lost outbox re-queues the page of an alert still firing; a second instance on one directory fails
/// at start; a link planted at alerts.json.tmp is not followed; an unreadable alerts.json is named,
/// not called corrupt.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 (scripts/test)"))
struct StateDirProcessTests {
    typealias Env = IntegrationEnvironment

    /// A PgBouncer target nobody listens on, so `PoolwatchPgbouncerDown` fires after 2 s.
    func config(port: Int, stateDir: String, receivers: String = "") -> String {
        """
        listen_address: 127.0.0.1:\(port)
        alerting:
          cluster_id: sd
          state_dir: \(stateDir)
          evaluation_interval: 1s
          rules:
            PoolwatchPgbouncerDown: {for: 2s}
        targets:
          - {name: bouncer, kind: pgbouncer, dsn: "host=127.0.0.1 port=\(freePort()) user=postgres dbname=pgbouncer connect_timeout=1", interval: 1s}
        \(receivers)
        """
    }

    func secretFile(_ value: String) throws -> String {
        let path = Env.tmp + "/" + Env.uniqueName("secret")
        try value.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)  // poolwatch refuses secret files that others may read
        return path
    }

    func waitForExit(_ pid: pid_t, within seconds: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        var status: Int32 = 0
        while Date() < deadline {
            if waitpid(pid, &status, WNOHANG) == pid { return (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f) }
            usleep(50_000)
        }
        kill(pid, SIGKILL)
        _ = waitpid(pid, nil, 0)
        return nil
    }

    func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    @Test func truncatedAlertsFileDoesNotReannounceOnSlack() async throws {
        let slack = try FakeReceiver.slack()
        defer { slack.stop() }
        let receivers = "receivers:\n  - {name: chat, type: slack, min_severity: warning, webhook_url_file: \(try secretFile(slack.url))}"
        let stateDir = Env.tmp + "/" + Env.uniqueName("state")
        var first: PoolwatchProcess? = try await PoolwatchProcess.launch(configYAML: { config(port: $0, stateDir: stateDir, receivers: receivers) },
                                                            name: "announce-1")
        let port = first!.port
        #expect(await slack.waitFor(1, within: 30), "\(first!.log)")
        #expect(await eventually(10) {
            first!.metrics().contains(#"poolwatch_notifier_deliveries_total{receiver="chat",outcome="delivered"} 1"#)
        })
        #expect(await eventually(10) { stateSaved(stateDir, delivered: 1) })
        #expect(await first!.stopped(signal: SIGKILL) != nil)
        first = nil
        // alerts.json cut in half, as a full disk or a bad copy leaves it.
        let alerts = text(stateDir + "/alerts.json")
        #expect(alerts.contains("PoolwatchPgbouncerDown"))
        try String(alerts.prefix(alerts.count / 2)).write(toFile: stateDir + "/alerts.json", atomically: false, encoding: .utf8)

        let second = try await PoolwatchProcess.launch(configYAML: { _ in config(port: port, stateDir: stateDir, receivers: receivers) },
                                          name: "announce-2", port: port)
        #expect(await eventually(20) { second.log.contains(#"msg="alert firing""#) }, "the engine, starting empty, fires again: \(second.log)")
        #expect(await second.settle(evaluations: 3))
        #expect(slack.received.count == 1, "announced once: \(slack.received.map(\.body))")
        #expect(second.log.contains(#"msg="notification not queued""#) && second.log.contains("already has this incident open"))
        #expect(second.log.contains("alert state file is corrupt"))
        #expect(await second.stopped() == 0)
    }

    @Test func aLostOutboxRequeuesThePageOfAnAlertStillFiring() async throws {
        // PagerDuty is down while the alert fires: the trigger waits in the outbox, then the outbox is lost.
        let pagerDuty = try FakeReceiver.pagerDuty([], then: .serverError("unavailable"))
        defer { pagerDuty.stop() }
        let receivers = "receivers:\n  - {name: pd, type: pagerduty, routing_key_file: \(try secretFile("R0UT1NGKEYsd")), url: \"\(pagerDuty.url)\"}"
        let stateDir = Env.tmp + "/" + Env.uniqueName("state")
        var first: PoolwatchProcess? = try await PoolwatchProcess.launch(configYAML: { config(port: $0, stateDir: stateDir, receivers: receivers) },
                                                            name: "lost-1")
        let port = first!.port
        #expect(await pagerDuty.waitFor(1, within: 30), "\(first!.log)")
        #expect(await eventually(10) { text(stateDir + "/alerts.json").contains(#""notified":true"#) })
        #expect(await first!.stopped(signal: SIGKILL) != nil)
        first = nil
        try "{\"schema\":1,\"records\":[{\"id\":\"half-wr".write(toFile: stateDir + "/outbox.json", atomically: false, encoding: .utf8)

        pagerDuty.answer([], then: .pagerDutyAccepted)
        let before = pagerDuty.received.count
        let second = try await PoolwatchProcess.launch(configYAML: { _ in config(port: port, stateDir: stateDir, receivers: receivers) },
                                          name: "lost-2", port: port)
        #expect(await eventually(20) {
            second.metrics().contains(#"poolwatch_notifier_deliveries_total{receiver="pd",outcome="delivered"} 1"#)
        }, "the page of the alert still firing is queued again: \(second.log)")
        #expect(pagerDuty.received.dropFirst(before).filter { $0.body.contains(#""event_action":"trigger""#) }.count == 1)
        #expect(second.log.contains(#"msg="outbox reconciled after a loss of state""#) && second.log.contains("queued_again=1"))
        #expect(await second.stopped() == 0)
    }

    @Test func aSecondInstanceOnTheSameStateDirFailsAtStart() async throws {
        let stateDir = Env.tmp + "/" + Env.uniqueName("state")
        // No receivers: the lock is taken all the same.
        let first = try await PoolwatchProcess.launch(configYAML: { config(port: $0, stateDir: stateDir) }, name: "twice-1")
        let directory = Env.tmp + "/" + Env.uniqueName("twice-2")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try config(port: 0, stateDir: stateDir).write(toFile: directory + "/poolwatch.yml", atomically: true, encoding: .utf8)
        let pid = try spawn([Env.binary, "--config", directory + "/poolwatch.yml"], output: directory + "/log")
        let status = waitForExit(pid, within: 15)
        #expect(status != nil && status != 0, "\(text(directory + "/log"))")
        let line = "poolwatch: cannot lock \(stateDir)/outbox.lock: another poolwatch process (pid \(first.pid)) uses this state_dir"
        #expect(text(directory + "/log").split(separator: "\n").contains { $0 == line }, "\(text(directory + "/log"))")
        #expect(first.isRunning)
        #expect(await first.stopped() == 0)
    }

    @Test func aSymlinkAtTheAlertsTempFileIsNotFollowed() async throws {
        let root = Env.tmp + "/" + Env.uniqueName("symlink")
        let stateDir = root + "/state"
        try FileManager.default.createDirectory(atPath: stateDir, withIntermediateDirectories: true)
        try "precious\n".write(toFile: root + "/victim", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: stateDir + "/alerts.json.tmp", withDestinationPath: root + "/victim")
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { config(port: $0, stateDir: stateDir) }, name: "symlink")
        #expect(await eventually(10) { text(stateDir + "/alerts.json").contains("saved") }, "\(poolwatch.log)")
        #expect(text(root + "/victim") == "precious\n")
        let type = try FileManager.default.attributesOfItem(atPath: stateDir + "/alerts.json")[.type] as? FileAttributeType
        #expect(type == .typeRegular)
        #expect(await poolwatch.stopped() == 0)
    }

    @Test func anUnreadableAlertsFileIsNamedNotCalledCorrupt() async throws {
        let directory = Env.tmp + "/" + Env.uniqueName("unreadable")
        let stateDir = directory + "/state"
        // A directory in its place: reading fails (EISDIR) as it would with EACCES for a non-root user.
        try FileManager.default.createDirectory(atPath: stateDir + "/alerts.json", withIntermediateDirectories: true)
        try config(port: 0, stateDir: stateDir).write(toFile: directory + "/poolwatch.yml", atomically: true, encoding: .utf8)
        let pid = try spawn([Env.binary, "--config", directory + "/poolwatch.yml"], output: directory + "/log")
        let status = waitForExit(pid, within: 15)
        let log = text(directory + "/log")
        #expect(status == 1, "\(log)")
        #expect(log.split(separator: "\n").contains { $0 == "poolwatch: cannot read \(stateDir)/alerts.json: Is a directory" }, "\(log)")
        #expect(!log.contains("corrupt"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: stateDir).sorted() == ["alerts.json", "outbox.lock"])
    }
}
