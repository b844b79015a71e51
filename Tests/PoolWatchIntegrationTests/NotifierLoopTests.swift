import Foundation
@testable import PoolWatchAlerts
import PoolWatchCore
import PoolWatchRuntime
import Synchronization
import Testing

/// The notifier driver's plumbing: the signal its loop waits on, the state-file write that a
/// cancelled service still completes, and the shutdown grace on the notifier's clock. The waits are
/// an hour long, so a wait that returns was woken; no elapsed time is asserted (a loaded 2-core CI
/// box once starved these for 20 s), the suite's time limit catches a wake that never comes.
@Suite(.timeLimit(.minutes(3))) struct NotifierLoopTests {
    static let hour = 3600.0

    @Test func aSignalSentBeforeTheWaitIsKept() async {
        let signal = LoopSignal()
        signal.signal()
        await signal.wait(seconds: Self.hour)
    }

    @Test func aSignalOrAStopRequestWakesTheWaiter() async {
        let signal = LoopSignal()
        let waiter = Task { await signal.wait(seconds: Self.hour) }
        signal.signal()
        await waiter.value
        #expect(!signal.stopRequested)
        let stopped = Task { await signal.wait(seconds: Self.hour) }
        signal.requestStop()
        await stopped.value
        #expect(signal.stopRequested)
    }

    @Test func theWaitEndsAtItsDeadlineOrAtCancellation() async {
        let signal = LoopSignal()
        await signal.wait(seconds: 0.05)
        let waiter = Task { await signal.wait(seconds: Self.hour) }
        waiter.cancel()
        await waiter.value
    }

    /// A send that answers only when cancelled.
    final class StalledTransport: NotificationTransport {
        private let state = Mutex((started: false, cancelled: false))
        var started: Bool { state.withLock { $0.started } }
        var cancelled: Bool { state.withLock { $0.cancelled } }

        func send(body: String, to receiver: ReceiverConfig, secret: Secret, redactor: SecretRedactor) async -> DeliveryAttempt {
            state.withLock { $0.started = true }
            try? await Task.sleep(for: .seconds(NotifierLoopTests.hour))
            state.withLock { $0.cancelled = true }
            return DeliveryAttempt(classification: .interrupted, status: nil, retryAfter: nil, detail: "cancelled", latency: 0)
        }
    }

    @Test func theShutdownGraceRunsOnTheNotifiersClock() async throws {
        let harness = try NotifierHarness()
        let clock = ManualClock()
        let stalled = StalledTransport()
        var wiring = NotifierWiring()
        wiring.clock = clock
        wiring.transport = { _ in stalled }
        var policy = NotifierHarness.policy
        policy.shutdownGrace = Self.hour
        let notifier = try Notifier(
            config: harness.config(harness.yaml(receivers: ["oncall"])), version: "test", executor: harness.pool,
            logger: harness.logs.logger(), policy: policy, directory: nil, clock: WallClock.now, random: { 0.5 },
            publishMetrics: { _ in }, wiring: wiring)
        let running = Task { _ = try? await notifier.run() }
        await notifier.enqueue(NotifierFixtures.firing())
        #expect(await eventually(30) { stalled.started })
        await notifier.shutdown()
        // An hour of grace on the manual clock: the stalled send is aborted once the clock has moved
        // past it, not after an hour of real time.
        #expect(await eventually(60) {
            clock.advance(by: .seconds(Self.hour))
            return stalled.cancelled
        })
        // Should the time limit end the test, the service stops too.
        await withTaskCancellationHandler { await running.value } onCancel: { running.cancel() }
        #expect(await notifier.outboxState().records.map(\.state) == [.pending])
        #expect(await notifier.outboxState().records.first?.attempts == 0, "an interrupted send is not an attempt")
        #expect(harness.logs.withMessage("notifier stopped").count == 1)
        await harness.cleanUp()
    }

    @Test func aCancelledTaskStillWritesTheStateFile() async throws {
        let path = IntegrationEnvironment.tmp + "/" + IntegrationEnvironment.uniqueName("outbox-store")
        let directory = try StateDirectory(path: path)
        let executor = BlockingExecutor(threads: 1)
        let store = FileOutboxStore(file: OutboxFile(directory: directory), executor: executor, ownsDirectory: true)
        let bytes = Array(#"{"schema":1}"#.utf8)
        let write = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await store.save(bytes)
        }
        try await write.value
        #expect(try Data(contentsOf: URL(fileURLWithPath: path + "/outbox.json")) == Data(bytes))
        store.releaseLock()
        await executor.shutdown()
        try? FileManager.default.removeItem(atPath: path)
    }
}
