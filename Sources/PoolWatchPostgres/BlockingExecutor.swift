import NIOPosix

/// Runs blocking libpq calls on a dedicated, fixed-size thread pool, never on Swift's cooperative
/// pool (which has one thread per core: a blocked `PQexec` there would stall the HTTP server too).
///
/// The pool has one thread per target plus one, so a hung target can block only its own thread.
public final class BlockingExecutor: Sendable {
    private let pool: NIOThreadPool

    public init(threads: Int) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
    }

    /// Runs `body` on a pool thread. When the calling task is cancelled while `body` runs,
    /// `onCancel` is called (e.g. `PQcancel`) so the blocking call returns promptly.
    public func run<T: Sendable>(
        _ body: @escaping @Sendable () throws -> T, onCancel: @escaping @Sendable () -> Void = {}
    ) async throws -> T {
        try await withTaskCancellationHandler {
            try await pool.runIfActive(body)
        } onCancel: {
            onCancel()
        }
    }

    public func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
