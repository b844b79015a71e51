import Foundation
@testable import PoolWatchAlerts
import PoolWatchRuntime
import Testing

/// The notifier driver's two pieces of plumbing: the signal its loop waits on, and the state-file
/// write that a cancelled service still completes. Bounds are classes (far below the 30 s waits),
/// not latencies: CI machines are noisy.
@Suite struct NotifierLoopTests {
    @Test func aSignalSentBeforeTheWaitIsKept() async {
        let signal = LoopSignal()
        signal.signal()
        let started = ContinuousClock.now
        await signal.wait(seconds: 30)
        #expect(started.seconds(to: .now) < 10)
    }

    @Test func aSignalOrAStopRequestWakesTheWaiter() async {
        let signal = LoopSignal()
        let started = ContinuousClock.now
        let waiter = Task { await signal.wait(seconds: 30) }
        signal.signal()
        await waiter.value
        #expect(!signal.stopRequested)
        let stopped = Task { await signal.wait(seconds: 30) }
        signal.requestStop()
        await stopped.value
        #expect(signal.stopRequested)
        #expect(started.seconds(to: .now) < 10)
    }

    @Test func theWaitEndsAtItsDeadlineOrAtCancellation() async {
        let signal = LoopSignal()
        let started = ContinuousClock.now
        await signal.wait(seconds: 0.05)
        let waiter = Task { await signal.wait(seconds: 30) }
        waiter.cancel()
        await waiter.value
        #expect(started.seconds(to: .now) < 10)
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
