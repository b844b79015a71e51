import PoolWatchRuntime

/// Where ``CurlClient`` runs its blocking `curl_easy_perform` calls: a dedicated thread pool, never
/// Swift's cooperative pool (one thread per core; a transfer stalled there would stall everything).
///
/// ``BlockingExecutor`` is the implementation; the protocol lets tests substitute their own.
public protocol CurlExecutor: Sendable {
    /// Runs `body` on a pool thread. When the calling task is cancelled while `body` runs, `onCancel`
    /// is called (the client uses it to abort the transfer). A task cancelled before `body` starts may
    /// get a `CancellationError` instead.
    func run<T: Sendable>(
        _ body: @escaping @Sendable () throws -> T, onCancel: @escaping @Sendable () -> Void
    ) async throws -> T
}

extension BlockingExecutor: CurlExecutor {}
