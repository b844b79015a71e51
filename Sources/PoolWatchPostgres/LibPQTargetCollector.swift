import Logging
import PoolWatchCore
import Synchronization
import PoolWatchCurl

/// Collects one libpq-speaking target (PostgreSQL, PgBouncer, Pgpool-II) over one persistent connection.
///
/// The connection is opened lazily, kept between rounds, and dropped when it breaks, so the next
/// round reconnects: a restarted server comes back as `up 1` without restarting poolwatch.
public final class LibPQTargetCollector: TargetCollector {
    public let target: TargetConfig
    let plan: TargetPlan
    let executor: BlockingExecutor
    /// Only the collection loop of this target touches the connection, one round at a time.
    private let connection = Mutex<PQConnection?>(nil)

    public init(target: TargetConfig, plan: TargetPlan, executor: BlockingExecutor) {
        self.target = target
        self.plan = plan
        self.executor = executor
    }

    public func collectRound() async -> TargetSnapshot {
        let clock = ContinuousClock()
        let started = clock.now
        func finish(up: Bool, families: [MetricFamily], collectors: [CollectorOutcome], error: String?) -> TargetSnapshot {
            let upFamily = MetricFamily(plan.upMetric, help: plan.upHelp, value: up ? 1 : 0)
            let all = ([upFamily] + families).map { $0.prefixed(with: [Label("target", target.name)]) }
            return TargetSnapshot(
                target: target.name, kind: target.kind, up: up, families: all, collectors: collectors,
                timestamp: WallClock.now(), duration: (clock.now - started).seconds, error: error)
        }

        let conn: PQConnection
        do {
            conn = try await connected()
        } catch {
            return finish(up: false, families: [], collectors: [], error: "cannot connect: \(error)")
        }

        let deadline = RoundDeadline(seconds: target.collectionTimeout) { conn.cancel() }
        defer { deadline.finish() }
        var facts = ServerFacts(versionNumber: 0)
        var families: [MetricFamily] = []
        var outcomes: [CollectorOutcome] = []
        for collector in plan.collectors {
            let collectorStart = clock.now
            guard !deadline.expired else {
                outcomes.append(CollectorOutcome(name: collector.name, success: false, duration: 0,
                                                 error: "skipped: the round exceeded collection_timeout (\(DurationParser.format(target.collectionTimeout)))"))
                continue
            }
            do {
                var results: [QueryResult] = []
                for sql in collector.statements(for: facts) {
                    results.append(try await executor.run({ try conn.exec(sql) }, onCancel: { conn.cancel() }))
                }
                if let serverFacts = collector.facts(from: results) { facts = serverFacts }
                families.append(contentsOf: try collector.map(results, server: facts))
                outcomes.append(CollectorOutcome(name: collector.name, success: true, duration: (clock.now - collectorStart).seconds))
            } catch {
                var message = "\(error)"
                if deadline.expired { message = "cancelled: the round exceeded collection_timeout (\(DurationParser.format(target.collectionTimeout)))" }
                outcomes.append(CollectorOutcome(name: collector.name, success: false, duration: (clock.now - collectorStart).seconds,
                                                 error: collector.explain(message)))
                if !conn.isOK {
                    // The connection broke mid-round: the target is down until a reconnect succeeds.
                    drop()
                    return finish(up: false, families: [], collectors: outcomes, error: "connection lost: \(message)")
                }
            }
        }
        families.append(contentsOf: plan.combine(families))
        return finish(up: true, families: families, collectors: outcomes, error: nil)
    }

    /// The open connection, or a new one.
    private func connected() async throws -> PQConnection {
        if let existing = connection.withLock({ $0 }), existing.isOK { return existing }
        drop()
        let parameters = [("dbname", target.dsn.revealed)] + plan.enforcedParameters
        let fresh = try await executor.run { try PQConnection.connect(parameters: parameters) }
        connection.withLock { $0 = fresh }
        return fresh
    }

    private func drop() {
        connection.withLock { $0 = nil }
    }

    public func close() {
        drop()
    }
}

extension SQLCollector {
    /// Adds a hint to errors whose fix is known.
    func explain(_ message: String) -> String {
        if name == "stat_statements", message.contains("pg_stat_statements") {
            return message + " (install it: shared_preload_libraries = 'pg_stat_statements', then CREATE EXTENSION pg_stat_statements)"
        }
        return message
    }
}
