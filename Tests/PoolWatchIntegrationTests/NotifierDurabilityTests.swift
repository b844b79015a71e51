import Foundation
@testable import PoolWatchAlerts
import PoolWatchCore
import ServiceLifecycle
import Testing

/// The outbox on disk: a crash between the receiver's 2xx and `DELIVERED` resends exactly once with
/// the same dedup key; a record persisted but never sent goes out exactly once after a restart;
/// triggers and resolves keep their order; a resolve cancels its undelivered trigger; a corrupt
/// state file is moved aside loudly.
@Suite struct NotifierDurabilityTests {
    typealias N = NotifierFixtures

    @Test func crashAfterAcceptBeforePersistResendsExactlyOnce() async throws {
        let harness = try NotifierHarness()
        let config = try harness.config(harness.yaml(receivers: ["oncall"]))

        // First life: PagerDuty accepts, and the process "dies" before DELIVERED is written.
        let first = try harness.makeNotifier(config)
        await first.crashAfterNextDeliveredResponse()
        let firstTask = harness.start(first)
        await first.enqueue(N.firing())
        #expect(await harness.pagerDuty.waitFor(1))
        await firstTask.value  // run() returns: the crash stopped it
        let onDisk = try String(contentsOfFile: harness.stateDirectory + "/outbox.json", encoding: .utf8)
        #expect(!onDisk.contains(#""state":"delivered""#))

        // Second life: the record is sent again, once, with the same dedup key.
        let second = try harness.makeNotifier(config)
        let secondTask = harness.start(second)
        #expect(await harness.pagerDuty.waitFor(2))
        #expect(await eventually(5) { await second.outboxState().records.first?.state == .delivered })
        // Sends come only from open records: once none is open, nothing more can go out.
        #expect(await eventually(5) { await NotifierHarness.settled(second) })
        await harness.stop(second, secondTask)
        let received = harness.pagerDuty.received
        try #require(received.count == 2)
        #expect(received[0].body == received[1].body)
        #expect(received.allSatisfy { $0.string("dedup_key") == N.key })

        // Third life: nothing left to send.
        let third = try harness.makeNotifier(config)
        let thirdTask = harness.start(third)
        #expect(await NotifierHarness.settled(third), "every record was loaded closed: nothing can be sent")
        await harness.stop(third, thirdTask)
        #expect(harness.pagerDuty.received.count == 2)
        harness.expectNoSecrets()
        await harness.cleanUp()
    }

    @Test func persistedButNeverSentIsSentExactlyOnceAfterRestart() async throws {
        let harness = try NotifierHarness()
        let config = try harness.config()
        let first = try harness.makeNotifier(config)
        // enqueue returns once the records are durable; the notifier never runs, then dies.
        await first.enqueue(N.firing())
        await first.simulateCrash()
        let onDisk = try String(contentsOfFile: harness.stateDirectory + "/outbox.json", encoding: .utf8)
        #expect(onDisk.contains(#""receiver":"oncall""#) && onDisk.contains(#""receiver":"team""#))
        #expect(onDisk.contains(#""state":"pending""#))
        #expect(harness.pagerDuty.received.isEmpty && harness.slack.received.isEmpty)

        let second = try harness.makeNotifier(config)
        let task = harness.start(second)
        #expect(await harness.pagerDuty.waitFor(1))
        #expect(await harness.slack.waitFor(1))
        #expect(await eventually(5) { await second.outboxState().records.allSatisfy { $0.state == .delivered } })
        await harness.stop(second, task)
        #expect(harness.pagerDuty.received.count == 1)
        #expect(harness.slack.received.count == 1)
        #expect(harness.pagerDuty.received.first?.body == NotifierDeliveryTests.pagerDutyTrigger)
        #expect(harness.slack.received.first?.body == NotifierDeliveryTests.slackTrigger)
        // The delivered state is what the next start sees.
        let after = try String(contentsOfFile: harness.stateDirectory + "/outbox.json", encoding: .utf8)
        #expect(!after.contains(#""state":"pending""#))
        harness.expectNoSecrets()
        await harness.cleanUp()
    }

    @Test func shutdownKeepsUndeliveredRecordsForTheNextStart() async throws {
        let harness = try NotifierHarness(pagerDutyThen: .serverError(""))
        let config = try harness.config(harness.yaml(receivers: ["oncall"]))
        let first = try harness.makeNotifier(config)
        let task = harness.start(first)
        await first.enqueue(N.firing())
        #expect(await harness.pagerDuty.waitFor(1))
        await harness.stop(first, task)
        #expect(harness.logs.withMessage("notifier stopped").first?.contains("pending=\"1\"") == true)

        harness.pagerDuty.answer([], then: .pagerDutyAccepted)
        let second = try harness.makeNotifier(config)
        let secondTask = harness.start(second)
        #expect(await eventually(5) { await second.outboxState().records.first?.state == .delivered })
        await harness.stop(second, secondTask)
        #expect(harness.pagerDuty.received.last?.body == NotifierDeliveryTests.pagerDutyTrigger)
        await harness.cleanUp()
    }

    @Test func gracefulShutdownLetsTheInFlightSendFinishAndPersists() async throws {
        // The send in flight at shutdown stalls into its 1 s timeout, within the 2 s grace period.
        let harness = try NotifierHarness(pagerDuty: [.stall(10)])
        let config = try harness.config(harness.yaml(receivers: ["oncall"]))
        let notifier = try harness.makeNotifier(config)
        let group = ServiceGroup(configuration: .init(services: [.init(service: notifier)], logger: harness.logs.logger()))
        let running = Task { try await group.run() }
        await notifier.enqueue(N.firing())
        #expect(await harness.pagerDuty.waitFor(1))
        let started = ContinuousClock.now
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(started.seconds(to: .now) < 6, "ended by the 1 s timeout, not by the 10 s stall")
        #expect(harness.pagerDuty.received.count == 1)
        let state = try OutboxState.decode(Array(try Data(contentsOf: URL(fileURLWithPath: harness.stateDirectory + "/outbox.json"))))
        #expect(state.records.first?.state == .pending)
        #expect(state.records.first?.attempts == 1)
        #expect(state.records.first?.lastError?.hasPrefix("timeout") == true)
        #expect(harness.logs.withMessage("notifier stopped").count == 1)
        await harness.cleanUp()
    }

    @Test func cancellationStopsPromptly() async throws {
        let harness = try NotifierHarness(pagerDuty: [.stall(20)])
        let notifier = try harness.makeNotifier(harness.config(harness.yaml(receivers: ["oncall"], pagerDutyTimeout: "10s")))
        let task = harness.start(notifier)
        await notifier.enqueue(N.firing())
        #expect(await harness.pagerDuty.waitFor(1))
        let started = ContinuousClock.now
        task.cancel()
        await task.value
        // libcurl notices an abort within about a second; the bound is a class (long before the
        // 20 s stall or the 10 s timeout ends), not a latency figure: CI machines are noisy.
        #expect(started.seconds(to: .now) < 8)
        #expect(await notifier.outboxState().records.first?.state == .pending)
        await harness.cleanUp()
    }

    @Test func theStateDirectoryIsLockedWhileInUse() async throws {
        let harness = try NotifierHarness()
        let config = try harness.config()
        let first = try harness.makeNotifier(config)
        #expect(throws: NotifierError.self) { _ = try harness.makeNotifier(config) }
        await first.simulateCrash()
        _ = try harness.makeNotifier(config)
        await harness.cleanUp()
    }

    @Test func triggerAndResolveAreNeverReordered() async throws {
        // The first attempt stalls until the 1 s request timeout; the resolve arrives meanwhile.
        let harness = try NotifierHarness(pagerDuty: [.stall(10)])
        let notifier = try harness.makeNotifier(harness.config(harness.yaml(receivers: ["oncall"])))
        let task = harness.start(notifier)
        await notifier.enqueue(N.firing())
        #expect(await harness.pagerDuty.waitFor(1))
        await notifier.enqueue(N.resolved())
        #expect(await harness.pagerDuty.waitFor(3))
        #expect(await eventually(5) { await notifier.outboxState().records.allSatisfy { $0.state == .delivered } })
        await harness.stop(notifier, task)
        // The trigger was in flight, so it could have reached PagerDuty: it is retried and delivered,
        // and only then the resolve goes out.
        #expect(harness.pagerDuty.received.map { $0.string("event_action") } == ["trigger", "trigger", "resolve"])
        #expect(harness.pagerDuty.received.allSatisfy { $0.string("dedup_key") == N.key })
        await harness.cleanUp()
    }

    @Test func resolveAfterAFailedTriggerAttemptSkipsTheTrigger() async throws {
        // PagerDuty answers 503 until the problem is gone: the page is not sent late, the resolve
        // (harmless if no incident was opened) is.
        let harness = try NotifierHarness(pagerDuty: [.serverError("unavailable")])
        // A long backoff, so the trigger is surely waiting (not in flight) when the resolve arrives.
        var policy = NotifierHarness.policy
        policy.transientBase = 20
        let notifier = try harness.makeNotifier(harness.config(harness.yaml(receivers: ["oncall"])), policy: policy)
        let task = harness.start(notifier)
        await notifier.enqueue(N.firing())
        #expect(await harness.pagerDuty.waitFor(1))
        #expect(await eventually(5) { await notifier.outboxState().records.first?.attempts == 1 })
        await notifier.enqueue(N.resolved())
        #expect(await eventually(5) { harness.pagerDuty.received.last?.string("event_action") == "resolve" })
        #expect(await eventually(5) { await notifier.outboxState().records.allSatisfy { !$0.state.isOpen } })
        await harness.stop(notifier, task)
        #expect(harness.pagerDuty.received.map { $0.string("event_action") } == ["trigger", "resolve"])
        #expect(await notifier.outboxState().records.map(\.state) == [.cancelled, .delivered])
        await harness.cleanUp()
    }

    @Test func resolveBeforeItsUndeliveredTriggerCancelsBoth() async throws {
        let harness = try NotifierHarness()
        let notifier = try harness.makeNotifier()
        // Both transitions queued before anything could be sent (e.g. during an outage of the sender).
        await notifier.enqueue([N.firing(), N.resolved()])
        let task = harness.start(notifier)
        #expect(await harness.slack.waitFor(1))
        #expect(await eventually(5) { await NotifierHarness.settled(notifier) })
        await harness.stop(notifier, task)
        // PagerDuty: nobody was paged and the problem is gone, so nothing at all.
        #expect(harness.pagerDuty.received.isEmpty)
        // Slack: one message saying both times instead of two.
        #expect(harness.slack.received.count == 1)
        #expect(harness.slack.received.first?.body.hasPrefix(##"{"text":":large_green_circle: [RESOLVED] Pool pgb-1/orders/app: 12 clients waiting — fired at 2026-03-02T10:13:30Z, resolved at 2026-03-02T10:40:30Z (delivery was delayed)","attachments":[{"color":"#2eb886""##) == true)
        let families = await notifier.metricFamilies()
        #expect(NotifierHarness.value(families, "poolwatch_notifier_deliveries_total", ["receiver": "oncall", "outcome": "cancelled"]) == 1)
        #expect(NotifierHarness.value(families, "poolwatch_notifier_deliveries_total", ["receiver": "team", "outcome": "cancelled"]) == 1)
        #expect(harness.logs.withMessage("notification cancelled").count == 2)
        await harness.cleanUp()
    }

    @Test func corruptStateFileIsMovedAsideLoudly() async throws {
        let harness = try NotifierHarness()
        try FileManager.default.createDirectory(atPath: harness.stateDirectory, withIntermediateDirectories: true)
        try #"{"schema":1,"records":[{"id":"half-writ"#.write(toFile: harness.stateDirectory + "/outbox.json", atomically: true, encoding: .utf8)
        let notifier = try harness.makeNotifier()
        let files = try FileManager.default.contentsOfDirectory(atPath: harness.stateDirectory)
        let corrupt = try #require(files.first { $0.hasPrefix("outbox.json.corrupt-") })
        #expect(!files.contains("outbox.json"))
        #expect(try String(contentsOfFile: harness.stateDirectory + "/" + corrupt, encoding: .utf8).hasPrefix(#"{"schema":1"#))
        let line = try #require(harness.logs.lines.first { $0.contains("outbox state file is unreadable") })
        #expect(line.hasPrefix("level=error"))
        #expect(line.contains("moved_to=\"\(harness.stateDirectory)/\(corrupt)\""))
        #expect(line.contains("reason=\"invalid JSON"))
        let families = await notifier.metricFamilies()
        #expect(NotifierHarness.value(families, "poolwatch_notifier_state_file_corrupt_total") == 1)
        // Slack hears that alert state was lost.
        let task = harness.start(notifier)
        #expect(await harness.slack.waitFor(1))
        await harness.stop(notifier, task)
        #expect(harness.slack.received.first?.body.hasPrefix(#"{"text":":warning: poolwatch lost its alert outbox state"#) == true)
        #expect(harness.pagerDuty.received.isEmpty)
        harness.expectNoSecrets()
        await harness.cleanUp()
    }
}
