import Logging
import PoolWatchCore
import PoolWatchCollection
import Synchronization
import Testing

/// The round deadline and the stuck-round rule of ``TargetService``, on a manual clock: what is
/// published when, decided without sleeping. The real frozen servers are in FrozenTargetTests.
struct TargetServiceDeadlineTests {
    /// A collector whose rounds behave as the test says: answer at once, ignore cancellation until
    /// released (a frozen server), or return when cancelled (a slow server that answers PQcancel).
    final class ScriptedCollector: TargetCollector {
        enum Behaviour: Sendable { case healthy, frozen, answersCancel }

        let target = TargetConfig(name: "t", kind: .postgres, dsn: Secret(""), interval: .seconds(2), collectionTimeout: .seconds(2))
        let behaviour: Mutex<Behaviour>
        let rounds = Atomic<Int>(0)
        let abandoned = Atomic<Int>(0)
        let release = Frozen()

        init(_ behaviour: Behaviour) { self.behaviour = Mutex(behaviour) }

        func collectRound() async -> TargetSnapshot {
            rounds.add(1, ordering: .relaxed)
            switch behaviour.withLock({ $0 }) {
            case .healthy:
                return snapshot(up: true, error: nil)
            case .frozen:
                await release.wait()
                return snapshot(up: true, error: nil)
            case .answersCancel:
                let cancelled = StartGate()
                await withTaskCancellationHandler { await cancelled.wait() } onCancel: { cancelled.open() }
                return snapshot(up: true, error: nil)
            }
        }

        func failedRound(error: String, duration: Duration) -> TargetSnapshot { snapshot(up: false, error: error) }
        func abandon() { abandoned.add(1, ordering: .relaxed) }
        func close() {}

        func snapshot(up: Bool, error: String?) -> TargetSnapshot {
            TargetSnapshot(target: "t", kind: .postgres, up: up, families: [], collectors: [], timestamp: 0, duration: 0, error: error)
        }
    }

    /// A server that ignores cancellation: only `thaw()` lets the waiting round go on.
    final class Frozen: Sendable {
        private let state = Mutex<(thawed: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

        func thaw() {
            state.withLock { state in
                state.thawed = true
                defer { state.waiter = nil }
                return state.waiter
            }?.resume()
        }

        func wait() async {
            await withCheckedContinuation { continuation in
                let thawed = state.withLock { state in
                    if !state.thawed { state.waiter = continuation }
                    return state.thawed
                }
                if thawed { continuation.resume() }
            }
        }
    }

    struct Harness {
        let clock = ManualClock()
        let store = SnapshotStore(targets: [("t", .postgres)], buildInfo: .init(version: "test", swiftVersion: "6"), clock: { 0 })
        let collector: ScriptedCollector
        let task: Task<Void, any Error>

        init(_ behaviour: ScriptedCollector.Behaviour) {
            let collector = ScriptedCollector(behaviour)
            self.collector = collector
            let service = TargetService(collector: collector, store: store, logger: Logger(label: "test"), clock: clock)
            task = Task { try await service.run() }
        }

        var latest: TargetSnapshot? { store.snapshots.first }

        /// Waits (in real time, for the other tasks to get there) until the service sleeps on the clock
        /// again, then moves the clock.
        func advance(by duration: Duration) async throws {
            try await settle()
            clock.advance(by: duration)
            try await settle()
        }

        /// Waits until something sleeps on the clock again. Not proof that the service is idle (a
        /// deadline timer sleeps too), so checks of what was published use ``published(_:)``.
        func settle() async throws {
            for _ in 0..<5_000 where clock.sleeping == 0 { try await Task.sleep(for: .milliseconds(2)) }
            #expect(clock.sleeping >= 1)
        }

        /// Waits (in real time, for the other tasks to run) until the latest snapshot satisfies `condition`.
        func published(_ condition: (TargetSnapshot) -> Bool) async -> TargetSnapshot? {
            for _ in 0..<5_000 {
                if let latest, condition(latest) { return latest }
                try? await Task.sleep(for: .milliseconds(2))
            }
            return nil
        }
    }

    @Test func frozenRoundIsDownAtTheDeadlineAndNoSecondRoundStarts() async throws {
        let h = Harness(.frozen)
        defer { h.task.cancel() }
        // collection_timeout 2 s: at 1.8 s the round is asked to stop; nothing is published yet.
        try await h.advance(by: .milliseconds(1800))
        #expect(h.latest == nil)
        try await h.advance(by: .milliseconds(200))
        let down = try #require(await h.published { !$0.up })
        #expect(down.error?.contains("no answer within collection_timeout (2s)") == true, "\(down.error ?? "")")
        #expect(h.collector.abandoned.load(ordering: .relaxed) == 1)

        // The next interval (backoff ≤ 1 s): the stuck round is reported, no new round is started.
        try await h.advance(by: .seconds(1))
        let stuck = await h.published { $0.error?.contains("is still waiting for the server") == true }
        #expect(stuck != nil, "\(h.latest?.error ?? "")")
        #expect(h.collector.rounds.load(ordering: .relaxed) == 1)

        // The server wakes up: the stuck round returns, and a fresh round runs at a later interval.
        h.collector.behaviour.withLock { $0 = .healthy }
        h.collector.release.thaw()
        for _ in 0..<5 where h.latest?.up != true {
            try await h.advance(by: .seconds(2))
            _ = await h.published { $0.up }
        }
        #expect(h.latest?.up == true)
        #expect(h.collector.rounds.load(ordering: .relaxed) >= 2)
    }

    @Test func slowRoundThatAnswersTheCancelIsPublishedAsItIs() async throws {
        let h = Harness(.answersCancel)
        defer { h.task.cancel() }
        try await h.advance(by: .milliseconds(1800))
        #expect(await h.published { $0.up } != nil, "a server that answers the cancel is up with what it had")
        #expect(h.collector.abandoned.load(ordering: .relaxed) == 0)
    }

    @Test func roundDeadlineCancelsShortlyBeforeTheTimeout() {
        #expect(RoundDeadline(timeout: .seconds(2)).cancelAfter == .milliseconds(1800))
        #expect(RoundDeadline(timeout: .seconds(10)).cancelAfter == .milliseconds(9500))
    }

    @Test func backoffGrowsToTheIntervalAndResetsWhenUp() {
        var backoff = ReconnectBackoff(interval: .seconds(5))
        #expect(backoff.next(up: true, elapsed: .seconds(1), jitter: 1) == .seconds(4))
        #expect([1, 2, 4, 5, 5].map { _ in backoff.next(up: false, elapsed: .seconds(3), jitter: 1) }
                == [.seconds(1), .seconds(2), .seconds(4), .seconds(5), .seconds(5)])
        #expect(backoff.next(up: false, elapsed: .zero, jitter: 0.8) == .seconds(4))
        #expect(backoff.next(up: true, elapsed: .seconds(6), jitter: 1) == .zero)
        #expect(backoff.failures == 0)
    }
}
