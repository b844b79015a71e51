import Synchronization

/// The client-side deadline of one collection round.
///
/// When it expires, the running statement is cancelled (`PQcancel`) and the remaining collectors of the
/// round are skipped. This is the only timeout PgBouncer's console allows, and on PostgreSQL it backs up
/// the server-side `statement_timeout` against a server that stops answering altogether.
final class RoundDeadline: Sendable {
    private let expiredFlag = Atomic<Bool>(false)
    private let watchdog: Mutex<Task<Void, Never>?> = Mutex(nil)

    init(seconds: Double, onExpiry: @escaping @Sendable () -> Void) {
        let task = Task { [self] in
            try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
            guard !Task.isCancelled else { return }
            self.expiredFlag.store(true, ordering: .releasing)
            onExpiry()
        }
        watchdog.withLock { $0 = task }
    }

    var expired: Bool { expiredFlag.load(ordering: .acquiring) }

    func finish() {
        watchdog.withLock { $0?.cancel() }
    }
}
