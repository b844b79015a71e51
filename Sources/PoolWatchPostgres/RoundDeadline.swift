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
