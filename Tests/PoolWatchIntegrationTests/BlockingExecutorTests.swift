import NIOConcurrencyHelpers
import PoolWatchCurl
import Testing
import PoolWatchRuntime

/// The executor's two cancellation paths: a running body gets `onCancel` (tested with a real
/// statement in PostgresCollectorTests); a body still waiting for a thread never starts.
@Suite struct BlockingExecutorTests {
    @Test func workCancelledBeforeItStartsNeverRuns() async throws {
        let executor = BlockingExecutor(threads: 1)
        let gate = ConditionLock(value: 0)
        let started = NIOLockedValueBox(false)
        let ran = NIOLockedValueBox(false)
        // Occupies the only thread until the gate opens.
        let blocker = Task {
            try await executor.run({
                started.withLockedValue { $0 = true }
                gate.lock(whenValue: 1)
                gate.unlock()
            })
        }
        while !started.withLockedValue({ $0 }) { try await Task.sleep(for: .milliseconds(5)) }
        let queued = Task { try await executor.run({ ran.withLockedValue { $0 = true } }) }
        try await Task.sleep(for: .milliseconds(100))
        queued.cancel()
        try await Task.sleep(for: .milliseconds(50))
        gate.lock()
        gate.unlock(withValue: 1)
        try await blocker.value
        let result = await queued.result
        #expect(throws: CancellationError.self) { try result.get() }
        #expect(!ran.withLockedValue { $0 }, "the cancelled body did not run")
        await executor.shutdown()
    }

    @Test func workThatIsNotCancelledRunsAndReturns() async throws {
        let executor = BlockingExecutor(threads: 1)
        let cancels = NIOLockedValueBox(0)
        let value = try await executor.run({ 42 }, onCancel: { cancels.withLockedValue { $0 += 1 } })
        #expect(value == 42)
        #expect(cancels.withLockedValue { $0 } == 0)
        await executor.shutdown()
    }
}
