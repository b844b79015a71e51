import Logging
import PoolWatchCore
import ServiceLifecycle
import Synchronization

/// Anything that can run one collection round of a target and say how it went.
public protocol TargetCollector: Sendable {
    var target: TargetConfig { get }
    /// One round. Cancelling the calling task asks the round to stop early (the running statement is
    /// cancelled, the rest skipped); the round may still take as long as the server makes it.
    func collectRound() async -> TargetSnapshot
    /// The snapshot of a round that did not come back in time: the target is down, every collector
    /// failed with `error`.
    func failedRound(error: String, duration: Duration) -> TargetSnapshot
    /// Forgets the connection a stuck round is blocked on, so the next round opens a fresh one.
    func abandon()
    func close()
}

/// The collection loop of one target: a round every `interval`, decoupled from scrapes, published to
/// the store. Targets run independently, so a slow or dead target never delays another.
///
/// Each round runs as a task of its own and is awaited only until its ``RoundDeadline``: a frozen
/// target is published as down when `collection_timeout` passes, whatever its server does. A round
/// that is still blocked then is abandoned, and no new round of that target starts while it is stuck,
/// so a frozen server holds at most one round's threads. While a target is down, reconnects follow
/// ``ReconnectBackoff``.
public struct TargetService<C: Clock>: Service where C.Duration == Duration {
    let collector: any TargetCollector
    let store: SnapshotStore
    let logger: Logger
    let clock: C
    /// Opened when the first round may run (after the HTTP port is bound); nil: at once.
    let startGate: StartGate?

    public init(collector: any TargetCollector, store: SnapshotStore, logger: Logger, clock: C, startGate: StartGate? = nil) {
        self.collector = collector
        self.store = store
        self.logger = logger
        self.clock = clock
        self.startGate = startGate
    }

    public func run() async throws {
        let target = collector.target
        var logger = logger
        logger[metadataKey: "target"] = .string(target.name)
        logger[metadataKey: "kind"] = .string(target.kind.rawValue)
        await cancelWhenGracefulShutdown { [logger, startGate] in
            await startGate?.wait()
            // One line per loop start and stop, so a reload shows which targets it restarted.
            logger.info("collection started", metadata: ["interval": "\(DurationParser.format(target.interval))"])
            await loop(target: target, logger: logger)
        }
        collector.close()
        logger.info("collection stopped")
    }

    /// A round that missed its deadline, until it returns.
    final class StuckRound: @unchecked Sendable {
        // @unchecked: `reported` is only touched by the target loop; `returned` is atomic.
        let since: C.Instant
        let returned = Atomic<Bool>(false)
        var reported = false
        init(since: C.Instant) { self.since = since }
    }

    private func loop(target: TargetConfig, logger: Logger) async {
        let deadline = RoundDeadline(target: target)
        let interval = target.interval
        var wasUp: Bool? = nil
        var failing: Set<String> = []
        var backoff = ReconnectBackoff(interval: interval)
        var stuck: StuckRound? = nil
        while !Task.isCancelled {
            let started = clock.now
            let snapshot: TargetSnapshot
            if let previous = stuck, !previous.returned.load(ordering: .acquiring) {
                let blocked = previous.since.duration(to: started)
                if !previous.reported {
                    previous.reported = true
                    logger.warning("round still blocked in the server; no new round until it returns",
                                   metadata: ["blocked_seconds": "\(blocked.seconds)"])
                }
                snapshot = collector.failedRound(
                    error: "the round started \(format(blocked)) ago is still waiting for the server (frozen or unreachable); "
                        + "no new round starts until it returns", duration: .zero)
            } else {
                if let previous = stuck {
                    logger.info("abandoned round returned; reconnecting", metadata: ["blocked_seconds": "\(previous.since.duration(to: started).seconds)"])
                }
                stuck = nil
                switch await deadline.run(collector, on: clock) {
                case .finished(let finished):
                    snapshot = finished
                case .shutdown:
                    return
                case .abandoned(let round):
                    let abandoned = StuckRound(since: started)
                    stuck = abandoned
                    Task {
                        _ = await round.value
                        abandoned.returned.store(true, ordering: .releasing)
                    }
                    snapshot = collector.failedRound(error: deadline.missedMessage, duration: deadline.timeout)
                }
            }
            store.publish(snapshot)

            if snapshot.up != wasUp {
                if snapshot.up {
                    logger.info("target up", metadata: ["round_seconds": "\(snapshot.duration)"])
                } else {
                    logger.error("target down", metadata: ["error": "\(snapshot.error ?? "unknown")"])
                }
                wasUp = snapshot.up
            }
            for outcome in snapshot.collectors {
                if !outcome.success, failing.insert(outcome.name).inserted {
                    logger.warning("collector failing", metadata: ["collector": "\(outcome.name)", "error": "\(outcome.error ?? "")"])
                } else if outcome.success, failing.remove(outcome.name) != nil {
                    logger.info("collector recovered", metadata: ["collector": "\(outcome.name)"])
                }
            }

            let wait = backoff.next(up: snapshot.up, elapsed: started.duration(to: clock.now), jitter: Double.random(in: 0.8...1.0))
            do {
                try await clock.sleep(for: wait)
            } catch {
                break  // cancelled while sleeping: shutting down
            }
        }
    }

    private func format(_ duration: Duration) -> String {
        DurationParser.format(duration.seconds.rounded())
    }
}

extension TargetService where C == ContinuousClock {
    public init(collector: any TargetCollector, store: SnapshotStore, logger: Logger, startGate: StartGate? = nil) {
        self.init(collector: collector, store: store, logger: logger, clock: ContinuousClock(), startGate: startGate)
    }
}

/// How long the target loop waits before the next round: the rest of the interval after a good round;
/// after a failed one a capped, jittered exponential backoff (1 s, 2 s, 4 s …, never longer than the
/// interval), so a returning server is seen quickly without hammering a dead one.
public struct ReconnectBackoff: Sendable, Equatable {
    public var interval: Duration
    /// Failed rounds in a row.
    public private(set) var failures = 0

    public init(interval: Duration) {
        self.interval = interval
    }

    /// - Parameters:
    ///   - up: whether the round just finished found the target up.
    ///   - elapsed: how long that round took.
    ///   - jitter: a factor in 0.8...1.0 that spreads reconnects of many poolwatch instances.
    public mutating func next(up: Bool, elapsed: Duration, jitter: Double) -> Duration {
        if up {
            failures = 0
            return max(.zero, interval - elapsed)
        }
        failures += 1
        let exponential = Duration.seconds(1 << min(failures - 1, 10))
        return min(interval, exponential) * jitter
    }
}
