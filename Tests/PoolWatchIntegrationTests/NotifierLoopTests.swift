import Foundation
@testable import PoolWatchAlerts
import PoolWatchRuntime
import Testing

/// The notifier driver's two pieces of plumbing: the signal its loop waits on, and the state-file
/// write that a cancelled service still completes. The waits are an hour long, so a wait that
/// returns was woken; no elapsed time is asserted (a loaded 2-core CI box once starved these for
/// 20 s), the suite's time limit catches a wake that never comes.
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
