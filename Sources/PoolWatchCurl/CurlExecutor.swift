import NIOPosix

/// Where ``CurlClient`` runs its blocking `curl_easy_perform` calls: a dedicated thread pool, never
/// Swift's cooperative pool (one thread per core; a transfer stalled there would stall everything).
///
/// `PoolWatchPostgres.BlockingExecutor` has exactly this method and conforms, so collectors can share
/// the per-target thread budget; the notifier uses its own ``CurlThreadPool``.
public protocol CurlExecutor: Sendable {
    /// Runs `body` on a pool thread. When the calling task is cancelled while `body` runs, `onCancel`
    /// is called (the client uses it to abort the transfer). A task cancelled before `body` starts may
    /// get a `CancellationError` instead.
    func run<T: Sendable>(
        _ body: @escaping @Sendable () throws -> T, onCancel: @escaping @Sendable () -> Void
    ) async throws -> T
}

/// A small fixed-size thread pool for transfers (the notifier's: 2 threads are plenty at alert volumes).
public final class CurlThreadPool: CurlExecutor {
    private let pool: NIOThreadPool

    public init(threads: Int = 2) {
        pool = NIOThreadPool(numberOfThreads: max(1, threads))
        pool.start()
    }

    public func run<T: Sendable>(
        _ body: @escaping @Sendable () throws -> T, onCancel: @escaping @Sendable () -> Void
    ) async throws -> T {
        try await withTaskCancellationHandler {
            try await pool.runIfActive(body)
        } onCancel: {
            onCancel()
        }
    }

    /// Waits for running transfers to finish and stops the threads.
    public func shutdown() async {
        try? await pool.shutdownGracefully()
    }
}
