import PoolWatchCore
import PoolWatchCurl
import Synchronization

/// Where the notifier writes its outbox (production: ``FileOutboxStore``).
protocol OutboxStore: Sendable {
    /// The state file's path, for messages.
    var path: String { get }
    /// Replaces the stored outbox with `bytes`, durably.
    func save(_ bytes: [UInt8]) async throws
    /// Unlocks the state directory for a successor, at the end of `run()`.
    func releaseLock()
}

/// The outbox in `<state_dir>/outbox.json`, written on the blocking executor.
struct FileOutboxStore: OutboxStore {
    let file: OutboxFile
    let executor: any CurlExecutor
    /// Whether the notifier opened (and so unlocks) the state directory itself.
    let ownsDirectory: Bool

    var path: String { file.path }

    func save(_ bytes: [UInt8]) async throws {
        let (file, executor) = (self.file, self.executor)
        // The final write of a cancelled service must still happen, and the executor refuses work
        // for a cancelled task: the write runs in a task of its own, awaited here, which the
        // caller's cancellation does not reach.
        try await Task { try await executor.run({ try file.save(bytes) }, onCancel: {}) }.value
    }

    func releaseLock() {
        if ownsDirectory { file.directory.releaseLock() }
    }
}

/// Sends one body to one receiver (production: ``NotificationSender`` over libcurl).
protocol NotificationTransport: Sendable {
    func send(body: String, to receiver: ReceiverConfig, secret: Secret, redactor: SecretRedactor) async -> DeliveryAttempt
}

extension NotificationSender: NotificationTransport {}

/// What stands between the notifier and its disk, its network and the clock it sleeps on:
/// production passes the first two through unchanged and sleeps on `ContinuousClock`; tests wrap
/// them (a simulated crash stops writes and sends) or move a manual clock.
struct NotifierWiring: Sendable {
    var store: @Sendable (any OutboxStore) -> any OutboxStore = { $0 }
    var transport: @Sendable (any NotificationTransport) -> any NotificationTransport = { $0 }
    /// The loop's waits and the shutdown grace run on it; decisions take `now` from the wall clock.
    var clock: any Clock<Duration> = ContinuousClock()
}

/// Wakes the notifier's loop when something happened (an enqueue, an answer, a finished write, a
/// shutdown request) and lets it sleep until its next deadline otherwise. A signal that arrives
/// while the loop is busy is kept for its next wait, so none is lost.
final class LoopSignal: Sendable {
    private struct State {
        var pending = false
        var stopRequested = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    private let state = Mutex(State())
    private let clock: any Clock<Duration>

    init(clock: any Clock<Duration> = ContinuousClock()) {
        self.clock = clock
    }

    var stopRequested: Bool { state.withLock { $0.stopRequested } }

    func signal() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard let waiter = state.waiter else {
                state.pending = true
                return nil
            }
            state.waiter = nil
            return waiter
        }
        waiter?.resume()
    }

    /// Asks the loop to stop (a graceful shutdown): callable from any thread.
    func requestStop() {
        state.withLock { $0.stopRequested = true }
        signal()
    }

    /// Returns after `seconds` on the clock, at a signal (at once if one is pending), or when the task
    /// is cancelled.
    func wait(seconds: Double) async {
        let pending = state.withLock { state in
            defer { state.pending = false }
            return state.pending
        }
        if pending { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [clock] in try? await clock.sleep(for: .seconds(max(0.001, seconds))) }
            group.addTask { await self.nextSignal() }
            await group.next()
            group.cancelAll()
        }
    }

    private func nextSignal() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state in
                    if state.pending || Task.isCancelled {
                        state.pending = false
                        return true
                    }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume()
        }
    }
}
