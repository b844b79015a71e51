import Logging
import PoolWatchCore
import ServiceLifecycle

/// Anything that can run one collection round of a target and say how it went.
public protocol TargetCollector: Sendable {
    var target: TargetConfig { get }
    func collectRound() async -> TargetSnapshot
    func close()
}

/// The collection loop of one target: a round every `interval`, decoupled from scrapes, published to
/// the store. Targets run independently, so a slow or dead target never delays another.
///
/// While a target is down, reconnects follow a capped, jittered exponential backoff (1 s, 2 s, 4 s …,
/// never longer than the interval), so a returning server is seen quickly without hammering a dead one.
public struct TargetService: Service {
    let collector: any TargetCollector
    let store: SnapshotStore
    let logger: Logger
    /// Called after each round with the new snapshot (the alert evaluator listens here).
    let onRound: @Sendable (TargetSnapshot) async -> Void

    public init(collector: any TargetCollector, store: SnapshotStore, logger: Logger,
                onRound: @escaping @Sendable (TargetSnapshot) async -> Void = { _ in }) {
        self.collector = collector
        self.store = store
        self.logger = logger
        self.onRound = onRound
    }

    public func run() async throws {
        let target = collector.target
        var logger = logger
        logger[metadataKey: "target"] = .string(target.name)
        logger[metadataKey: "kind"] = .string(target.kind.rawValue)
        await cancelWhenGracefulShutdown { [logger] in
            await loop(target: target, logger: logger)
        }
        collector.close()
    }

    private func loop(target: TargetConfig, logger: Logger) async {
        var wasUp: Bool? = nil
        var failing: Set<String> = []
        var failures = 0
        do {
            while !Task.isCancelled {
                let clock = ContinuousClock()
                let started = clock.now
                let snapshot = await collector.collectRound()
                store.publish(snapshot)
                await onRound(snapshot)

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

                var delay = target.interval
                if snapshot.up {
                    failures = 0
                } else {
                    failures += 1
                    let backoff = min(target.interval, Double(1 << min(failures - 1, 10)))
                    delay = backoff * Double.random(in: 0.8...1.0)
                }
                let elapsed = (clock.now - started).seconds
                let wait = max(0, (snapshot.up ? delay - elapsed : delay))
                try await Task.sleep(for: .milliseconds(Int(wait * 1000)))
            }
        } catch {
            // Cancelled while sleeping: shutting down.
        }
    }
}
