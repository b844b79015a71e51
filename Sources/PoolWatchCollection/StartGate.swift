import Synchronization

/// Opens once; everyone waiting then, or later, goes on. The target loops wait on one until the HTTP
/// server has bound its port, so no collection round runs when poolwatch cannot serve its results.
public final class StartGate: Sendable {
    private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    public init() {}

    public func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    /// Returns when the gate opens, or at once when the waiting task is cancelled (shutting down before
    /// the start); callers check `Task.isCancelled` after it.
    public func wait() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let isOpen = state.withLock { state in
                    if !state.open { state.waiters.append(continuation) }
                    return state.open
                }
                if isOpen { continuation.resume() }
            }
        } onCancel: {
            open()
        }
    }
}
