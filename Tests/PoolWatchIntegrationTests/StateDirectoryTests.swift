import Foundation
@testable import PoolWatchAlerts
import PoolWatchCore
import Testing

/// The state directory on a real disk: one bad outbox record is quarantined and the rest delivered;
/// reconciliation re-queues what was lost and nothing that was announced; links planted in the
/// directory are never written through; a directory someone else could write is refused.
@Suite struct StateDirectoryTests {
    typealias N = NotifierFixtures

    static let a = N.firing(labels: [Label("target", "a")])
    static let b = N.firing(labels: [Label("target", "b")])
    static let c = N.firing(labels: [Label("target", "c")])

    func text(_ path: String) -> String { (try? String(contentsOfFile: path, encoding: .utf8)) ?? "" }

    /// Replaces the `occurrence`-th (1-based) match of `old` in `path`.
    func corrupt(_ path: String, _ old: String, _ new: String, occurrence: Int) throws {
        var content = text(path)
        var from = content.startIndex
        var found: Range<String.Index>?
        for _ in 0..<occurrence {
            found = content.range(of: old, range: from..<content.endIndex)
            from = try #require(found).upperBound
        }
        content.replaceSubrange(found!, with: new)
        try content.write(toFile: path, atomically: false, encoding: .utf8)
    }

    @Test func oneImpossibleRecordIsQuarantinedAndTheRestDelivered() async throws {
        let harness = try NotifierHarness()
        let config = try harness.config(harness.yaml(receivers: ["oncall"]))
        let first = try harness.makeNotifier(config)
        await first.enqueue([Self.a, Self.b, Self.c])
        await first.simulateCrash()
        let outbox = harness.stateDirectory + "/outbox.json"
        try corrupt(outbox, #""state":"pending""#, #""state":"exploded""#, occurrence: 2)

        let second = try harness.makeNotifier(config)
        let files = try FileManager.default.contentsOfDirectory(atPath: harness.stateDirectory)
        #expect(!files.contains { $0.hasPrefix("outbox.json.corrupt-") }, "the file is not moved aside: \(files)")
        let quarantine = harness.stateDirectory + "/outbox.quarantine.json"
        #expect(text(quarantine).contains(#""state":"exploded""#) && text(quarantine).contains(#""path":"records[1]""#))
        let mode = try #require(try FileManager.default.attributesOfItem(atPath: quarantine)[.posixPermissions] as? Int)
        #expect(mode == 0o600)
        let line = try #require(harness.logs.lines.first { $0.contains("quarantined them, kept the rest") })
        #expect(line.hasPrefix("level=error") && line.contains(#"count="1""#) && line.contains("records[1] (poolwatch/v1/it/"))
        #expect(line.contains("reason=") && line.contains(#"records[1].state: "#) && line.contains("exploded"), "\(line)")
        // Start-up reconciliation: the alert whose record was quarantined is still firing, so it is
        // queued again; the two whose records survived are not queued twice.
        #expect(second.needsReconcile)
        await second.reconcile(firing: [Self.a, Self.b, Self.c])
        let task = harness.start(second)
        #expect(await harness.pagerDuty.waitFor(3))
        // Sends come only from open records: once none is open, nothing more can go out.
        #expect(await eventually(10) { await NotifierHarness.settled(second) })
        await harness.stop(second, task)
        let keys = harness.pagerDuty.received.compactMap { $0.string("dedup_key") }
        #expect(keys.count == 3 && Set(keys).count == 3, "each firing alert paged exactly once: \(keys)")
        harness.expectNoSecrets()
        #expect(!text(quarantine).contains(NotifierHarness.routingKey))
        await harness.cleanUp()
    }

    @Test func reconciliationAfterALossDoesNotReannounce() async throws {
        let harness = try NotifierHarness()
        let config = try harness.config(harness.yaml(receivers: ["team"]))
        let first = try harness.makeNotifier(config)
        let task = harness.start(first)
        await first.enqueue(Self.a)
        #expect(await harness.slack.waitFor(1, within: 30))
        #expect(await eventually(15) { await first.outboxState().records.allSatisfy { $0.state == .delivered } })
        await harness.stop(first, task)
        #expect(await eventually(10) { Self.lockIsFree(harness.stateDirectory + "/outbox.lock") }, "a stopped notifier releases the lock")
        // A damaged health entry: the file has lost something, so the start reconciles.
        try corrupt(harness.stateDirectory + "/outbox.json", #""stale_escalated":false"#, #""stale_escalated":"no""#, occurrence: 1)
        let second = try harness.makeNotifier(config)
        #expect(second.needsReconcile)
        await second.reconcile(firing: [Self.a])
        // And the engine, having lost alerts.json, fires the same alert anew.
        var again = Self.a
        again.at += 600
        await second.enqueue(again)
        let secondTask = harness.start(second)
        #expect(await eventually(10) { await NotifierHarness.settled(second) })
        await harness.stop(second, secondTask)
        #expect(harness.slack.received.count == 1, "announced once: \(harness.slack.received.map(\.body))")
        #expect(harness.logs.withMessage("notification not queued").count == 1)
        await harness.cleanUp()
    }

    @Test func aSymlinkPlantedAtTheTempFileIsNotFollowed() async throws {
        let harness = try NotifierHarness()
        let config = try harness.config(harness.yaml(receivers: ["oncall"]))
        try FileManager.default.createDirectory(atPath: harness.stateDirectory, withIntermediateDirectories: true)
        let victim = harness.stateDirectory + "/../victim"
        try "precious\n".write(toFile: victim, atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: harness.stateDirectory + "/outbox.json.tmp", withDestinationPath: victim)
        let notifier = try harness.makeNotifier(config)
        await notifier.enqueue(Self.a)
        await notifier.simulateCrash()
        #expect(text(victim) == "precious\n")
        #expect(text(harness.stateDirectory + "/outbox.json").contains(#""state":"pending""#))
        let type = try FileManager.default.attributesOfItem(atPath: harness.stateDirectory + "/outbox.json")[.type] as? FileAttributeType
        #expect(type == .typeRegular)
        #expect(!FileManager.default.fileExists(atPath: harness.stateDirectory + "/outbox.json.tmp"))
        await harness.cleanUp()
    }

    @Test func aSymlinkPlantedAtTheLockIsRefused() throws {
        let directory = IntegrationEnvironment.tmp + "/" + IntegrationEnvironment.uniqueName("state-lock")
        try FileManager.default.createDirectory(atPath: directory + "/state", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "precious\n".write(toFile: directory + "/victim", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: directory + "/state/outbox.lock", withDestinationPath: directory + "/victim")
        #expect {
            _ = try StateDirectory(path: directory + "/state")
        } throws: { error in
            "\(error)".contains("outbox.lock") && "\(error)".contains("symlink")
        }
        #expect(text(directory + "/victim") == "precious\n")
    }

    @Test func aDirectoryOthersCanWriteOrOwnIsRefusedWithTheFix() throws {
        let directory = IntegrationEnvironment.tmp + "/" + IntegrationEnvironment.uniqueName("state-mode")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        chmod(directory, 0o777)
        #expect {
            _ = try StateDirectory(path: directory)
        } throws: { error in
            "\(error)" == "the state directory \(directory) is writable by group or others (mode 777): run `chmod 0700 \(directory)`"
        }
        chmod(directory, 0o700)
        if geteuid() == 0 {
            chown(directory, 65534, 65534)
            #expect {
                _ = try StateDirectory(path: directory)
            } throws: { error in
                "\(error)".contains("is owned by uid 65534, not by this process's uid 0: run `chown 0 \(directory)`")
            }
            chown(directory, 0, 0)
        }
        _ = try StateDirectory(path: directory)
        #expect(!FileManager.default.fileExists(atPath: directory + "/outbox.json"), "nothing written by opening it")
    }

    @Test func aSecondUserOfTheDirectoryIsToldWhoHasIt() throws {
        let directory = IntegrationEnvironment.tmp + "/" + IntegrationEnvironment.uniqueName("state-twice")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let first = try StateDirectory(path: directory)
        #expect {
            _ = try StateDirectory(path: directory)
        } throws: { error in
            "\(error)" == "cannot lock \(directory)/outbox.lock: another poolwatch process (pid \(getpid())) uses this state_dir"
        }
        first.releaseLock()
        _ = try StateDirectory(path: directory)
    }

    @Test func anUnreadableOutboxIsAnErrorThatSaysWhatFailedNotCorrupt() async throws {
        let harness = try NotifierHarness()
        // A directory where the file should be: open works, read fails (EISDIR), as a permission
        // error would for a non-root user; it is not "corrupt", and nothing is moved aside.
        try FileManager.default.createDirectory(atPath: harness.stateDirectory + "/outbox.json", withIntermediateDirectories: true)
        #expect {
            _ = try harness.makeNotifier()
        } throws: { error in
            "\(error)" == "cannot read \(harness.stateDirectory)/outbox.json: Is a directory"
        }
        #expect(harness.logs.lines.allSatisfy { !$0.contains("corrupt") && !$0.contains("unreadable") })
        #expect(FileManager.default.fileExists(atPath: harness.stateDirectory + "/outbox.json"))
        if geteuid() != 0 {
            // Root reads whatever the mode says; anyone else gets EACCES.
            try FileManager.default.removeItem(atPath: harness.stateDirectory + "/outbox.json")
            try "{}".write(toFile: harness.stateDirectory + "/outbox.json", atomically: true, encoding: .utf8)
            chmod(harness.stateDirectory + "/outbox.json", 0)
            #expect {
                _ = try harness.makeNotifier()
            } throws: { error in
                "\(error)" == "cannot open \(harness.stateDirectory)/outbox.json: Permission denied"
            }
        }
        await harness.cleanUp()
    }

    /// Whether another holder could take the state directory's lock now.
    static func lockIsFree(_ path: String) -> Bool {
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { return true }
        defer { close(fd) }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else { return false }
        flock(fd, LOCK_UN)
        return true
    }
}
