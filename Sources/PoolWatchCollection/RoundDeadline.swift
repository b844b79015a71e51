import PoolWatchCore
import Synchronization

/// The deadline of one collection round, and how it is kept without trusting the server.
///
/// A round is a task of its own. The target loop waits for it on its clock, never on the round: a
/// frozen server (SIGSTOP, a storage stall, a black-holed connection) keeps its libpq call blocked,
/// and neither the running statement, `PQcancel` (which connects to the same frozen server) nor
/// `PQfinish` may hold the deadline up. So:
///
/// - at ``cancelAfter`` the round task is cancelled: the running statement gets a `PQcancel` (sent
///   from a pool thread) and the collectors not yet started are skipped, so a slow but living server
///   still hands back what it has;
/// - at ``timeout`` (the target's `collection_timeout`) the round is over: if it has not returned, the
///   target is published as down at once and the round is abandoned, still blocked in its thread.
public struct RoundDeadline: Sendable, Equatable {
    /// The target's `collection_timeout`.
    public var timeout: Duration
    /// When the running statement is cancelled: shortly before the deadline, so that a server that
    /// answers the cancel still makes it in time.
    public var cancelAfter: Duration

    public init(timeout: Duration) {
        self.timeout = timeout
        let grace = min(timeout / 10, .milliseconds(500))
        self.cancelAfter = timeout - grace
    }

    public init(target: TargetConfig) {
        self.init(timeout: target.collectionTimeout)
    }

    /// How a round ended, as far as the deadline is concerned.
    public enum Outcome: Sendable {
        /// Back in time (possibly cut short by the cancel).
        case finished(TargetSnapshot)
        /// Not back at the deadline: the round is still running, blocked in the server, and abandoned.
        case abandoned(Task<TargetSnapshot, Never>)
        /// The calling task was cancelled.
        case shutdown
    }

    /// Runs one round of `collector` under this deadline. When the round is abandoned, the collector
    /// has already been told to forget its connection.
    public func run<C: Clock>(_ collector: any TargetCollector, on clock: C) async -> Outcome where C.Duration == Duration {
        let round = Task { await collector.collectRound() }
        if let finished = await value(of: round, within: cancelAfter, on: clock) { return .finished(finished) }
        // Ask the round to stop: PQcancel from a pool thread, the remaining collectors skipped.
        round.cancel()
        if Task.isCancelled { return .shutdown }
        if let late = await value(of: round, within: timeout - cancelAfter, on: clock) { return .finished(late) }
        if Task.isCancelled { return .shutdown }
        collector.abandon()
        return .abandoned(round)
    }

    /// What an abandoned round's snapshot says.
    public var missedMessage: String {
        "no answer within collection_timeout (\(DurationParser.format(timeout.seconds))): "
            + "the server is frozen or unreachable; the connection is abandoned"
    }
}

/// A value that arrives once, from whichever of several racers delivers it first.
final class FirstValue<T: Sendable>: Sendable {
    private enum State {
        case waiting(CheckedContinuation<T, Never>?)
        case delivered(T)
    }

    private let state = Mutex<State>(.waiting(nil))

    /// Delivers `value` unless a value was delivered already; later calls are ignored.
    func deliver(_ value: T) {
        let waiter: CheckedContinuation<T, Never>? = state.withLock { state in
            guard case .waiting(let continuation) = state else { return nil }
            state = .delivered(value)
            return continuation
        }
        waiter?.resume(returning: value)
    }

    /// The delivered value, waiting for it if needed. Call once.
    func value() async -> T {
        await withCheckedContinuation { continuation in
            let ready: T? = state.withLock { state in
                switch state {
                case .delivered(let value): return value
                case .waiting: state = .waiting(continuation); return nil
                }
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}

/// The value of `task` if it finishes within `duration` on `clock`, else nil. The task is neither
/// awaited further nor cancelled: the caller decides what to do with it. Returns nil at once when the
/// calling task is cancelled (shutdown).
func value<T: Sendable, C: Clock>(
    of task: Task<T, Never>, within duration: Duration, on clock: C
) async -> T? where C.Duration == Duration {
    let first = FirstValue<T?>()
    let timer = Task {
        // A cancelled sleep means a value was delivered already (or we are shutting down).
        try? await clock.sleep(for: duration)
        first.deliver(nil)
    }
    Task { first.deliver(await task.value) }
    let result = await withTaskCancellationHandler {
        await first.value()
    } onCancel: {
        first.deliver(nil)
    }
    timer.cancel()
    return result
}
