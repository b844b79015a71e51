import NIOConcurrencyHelpers
import NIOPosix

/// Runs blocking C calls (libpq queries, libcurl transfers) on a dedicated, fixed-size thread pool,
/// never on Swift's cooperative pool (one thread per core: a blocked `PQexec` or a stalled transfer
/// there would stall the HTTP server too).
///
/// The collectors get one thread per target plus one, so a hung target can block only its own
/// thread; the notifier gets its own small pool (2 threads are plenty at alert volumes).
public final class BlockingExecutor: Sendable {
    private let pool: NIOThreadPool

    public init(threads: Int = 2) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
    }

    /// Runs `body` on a pool thread. When the calling task is cancelled while `body` runs,
    /// `onCancel` is called (e.g. `PQcancel`, or aborting a transfer) so the blocking call returns promptly.
    public func run<T: Sendable>(
        _ body: @escaping @Sendable () throws -> T, onCancel: @escaping @Sendable () -> Void = {}
    ) async throws -> T {
        // A cancel that lands while the work item still waits for a thread would reach `onCancel`
        // while nothing runs (a `PQcancel` with no statement is a no-op) and the statement would then
        // run to completion; the flag makes such an item throw instead of starting.
        let cancelled = NIOLockedValueBox(false)
        return try await withTaskCancellationHandler {
            try await pool.runIfActive {
                if cancelled.withLockedValue({ $0 }) { throw CancellationError() }
                return try body()
            }
        } onCancel: {
            cancelled.withLockedValue { $0 = true }
            onCancel()
        }
    }

    /// Starts `body` on a pool thread and returns at once, without waiting for it.
    ///
    /// For calls whose caller must not block and need not wait: `PQcancel` connects to the server it
    /// cancels on, so against a frozen server it blocks until the server wakes up, and neither the
    /// cooperative pool nor a round's deadline may wait on that.
    public func detach(_ body: @escaping @Sendable () -> Void) {
        pool.submit { state in
            if case .active = state { body() }
        }
    }

    /// Waits for running work to finish and stops the threads.
    public func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
