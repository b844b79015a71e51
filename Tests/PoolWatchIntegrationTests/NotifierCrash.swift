@testable import PoolWatchAlerts
import PoolWatchCore
import Synchronization

/// A simulated crash of a notifier, from outside it: from the crash on, its state writes are
/// dropped and its sends refused, its state directory is unlocked for a successor, and its service
/// task is cancelled (no graceful drain counts: nothing it does afterwards reaches disk or network).
final class NotifierCrash: Sendable {
    private struct State {
        var crashed = false
        var afterNextDelivered = false
        var store: (any OutboxStore)?
        var task: Task<Void, Never>?
    }

    private let state = Mutex(State())

    var crashed: Bool { state.withLock { $0.crashed } }

    /// Wraps the notifier's state file and transport.
    var wiring: NotifierWiring {
        NotifierWiring(
            store: { store in
                self.state.withLock { $0.store = store }
                return Store(base: store, crash: self)
            },
            transport: { Transport(base: $0, crash: self) })
    }

    /// The task running the notifier's `run()`, cancelled by the crash.
    func running(_ task: Task<Void, Never>) {
        state.withLock { $0.task = task }
    }

    func crash() {
        let (store, task) = state.withLock { state in
            state.crashed = true
            return (state.store, state.task)
        }
        store?.releaseLock()
        task?.cancel()
    }

    /// Crash when a receiver next answers 2xx, before `DELIVERED` is persisted: the window in which
    /// a duplicate is possible.
    func crashAfterNextDeliveredResponse() {
        state.withLock { $0.afterNextDelivered = true }
    }

    private func deliveredResponse() {
        let crashes = state.withLock { state in
            defer { state.afterNextDelivered = false }
            return state.afterNextDelivered
        }
        if crashes { crash() }
    }

    struct Store: OutboxStore {
        let base: any OutboxStore
        let crash: NotifierCrash
        var path: String { base.path }

        func save(_ bytes: [UInt8]) async throws {
            if !crash.crashed { try await base.save(bytes) }
        }

        func releaseLock() { base.releaseLock() }
    }

    struct Transport: NotificationTransport {
        let base: any NotificationTransport
        let crash: NotifierCrash

        func send(body: String, to receiver: ReceiverConfig, secret: Secret, redactor: SecretRedactor) async -> DeliveryAttempt {
            guard !crash.crashed else {
                return DeliveryAttempt(classification: .interrupted, status: nil, retryAfter: nil, detail: "crashed", latency: 0)
            }
            let attempt = await base.send(body: body, to: receiver, secret: secret, redactor: redactor)
            if case .delivered = attempt.classification { crash.deliveredResponse() }
            return attempt
        }
    }
}

extension Notifier {
    /// The crash switch of a notifier made by `NotifierHarness.makeNotifier`.
    nonisolated var crash: NotifierCrash { (store as! NotifierCrash.Store).crash }

    /// Stops at once as if the process had been killed: nothing more is sent or written, and the
    /// state directory's lock is released for a successor.
    func simulateCrash() async { crash.crash() }

    func crashAfterNextDeliveredResponse() async { crash.crashAfterNextDeliveredResponse() }

    /// ``status()`` as JSON text.
    func statusJSON() -> String { status().json.text }
}
