import Logging
import PoolWatchCore
import Synchronization
import PoolWatchCurl
import PoolWatchRuntime
import PoolWatchLibPQ

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
    /// What collectors with an `interval` of their own, or that follow the configuration, last produced.
    private let schedule = Mutex(CollectorSchedule())
    /// Table statistics and queries in other databases, over short-lived connections (nil: none configured).
    private let visitor: DatabaseVisitor?

    public init(target: TargetConfig, plan: TargetPlan, executor: BlockingExecutor) {
        self.target = target
        self.plan = plan
        self.executor = executor
        self.visitor = plan.visits.map {
            DatabaseVisitor(plan: $0, target: target, parameters: Self.tcpDefaults + [("dbname", target.dsn.revealed)] + plan.enforcedParameters)
        }
    }

    public func collectRound() async -> TargetSnapshot {
        let clock = ContinuousClock()
        let started = clock.now
        func finish(up: Bool, families: [MetricFamily], collectors: [CollectorOutcome], error: String?) -> TargetSnapshot {
            snapshot(up: up, families: families, collectors: collectors, error: error, duration: clock.now - started)
        }

        let conn: PQConnection
        do {
            conn = try await connected()
        } catch {
            return finish(up: false, families: [], collectors: [], error: plan.identityFailure("\(error)") ?? "cannot connect: \(error)")
        }

        let timeout = DurationParser.format(target.collectionTimeout)
        var facts = ServerFacts(versionNumber: 0)
        var families: [MetricFamily] = []
        var rows = ConnectionRows()
        var outcomes: [CollectorOutcome] = []
        for (index, collector) in plan.collectors.enumerated() {
            let collectorStart = clock.now
            // The target loop cancels this task shortly before collection_timeout (see RoundDeadline).
            guard !Task.isCancelled else {
                outcomes.append(CollectorOutcome(name: collector.name, success: false, duration: 0,
                                                 error: "skipped: the round reached collection_timeout (\(timeout))"))
                continue
            }
            if let last = schedule.withLock({ $0.reusable(collector, now: collectorStart, server: facts) }) {
                // Not due: serve the last run's figures, so the series do not vanish between runs.
                families.append(contentsOf: last.families)
                if let found = last.rows { rows.merge(found) }
                outcomes.append(CollectorOutcome(name: collector.name, success: true, duration: 0))
                continue
            }
            do {
                var results: [QueryResult] = []
                for sql in collector.statements(for: facts) {
                    let single = collector.extendedProtocol
                    results.append(try await executor.run({ try conn.exec(sql, singleStatement: single) }, onCancel: { [executor] in
                        // Never PQcancel here: this runs on the cancelling task's thread, and PQcancel
                        // blocks for as long as a frozen server does.
                        executor.detach { conn.cancel() }
                    }))
                }
                if let serverFacts = collector.facts(from: results) { facts = serverFacts }
                let found = collector.rows(from: results)
                if let found { rows.merge(found) }
                let mapped = try collector.map(results, server: facts)
                let run = CollectorSchedule.LastRun(at: collectorStart, configuration: facts.configuration, families: mapped, rows: found)
                schedule.withLock { $0.ran(collector, run) }
                families.append(contentsOf: mapped)
                outcomes.append(CollectorOutcome(name: collector.name, success: true, duration: (clock.now - collectorStart).seconds))
            } catch {
                var message = "\(error)"
                if Task.isCancelled { message = "cancelled: the round reached collection_timeout (\(timeout))" }
                outcomes.append(CollectorOutcome(name: collector.name, success: false, duration: (clock.now - collectorStart).seconds,
                                                 error: collector.explain(message)))
                if conn.isOK, !Task.isCancelled, conn.inTransaction {
                    // A custom query failed inside its read-only transaction: end it, or every later
                    // statement on this connection fails with "current transaction is aborted".
                    _ = try? await executor.run { try conn.exec("ROLLBACK") }
                }
                if !conn.isOK {
                    // The connection broke mid-round: the target is down until a reconnect succeeds.
                    drop()
                    return finish(up: false, families: [], collectors: outcomes, error: "connection lost: \(message)")
                }
                if index == 0, !Task.isCancelled, let wrongKind = plan.identityFailure(message) {
                    // The server answers but is not what `kind` says (e.g. a PostgreSQL port configured as
                    // a PgBouncer console): every later statement would fail the same way.
                    drop()
                    return finish(up: false, families: [], collectors: outcomes, error: wrongKind)
                }
            }
        }
        if let visitor {
            // Never awaited: the visits run apart from the round, which serves what they produced so far.
            if !Task.isCancelled { visitor.startIfDue(own: conn.database, server: facts) }
            families.append(contentsOf: visitor.families())
        }
        families.append(contentsOf: plan.combine(families))
        var round = finish(up: true, families: families, collectors: outcomes, error: nil)
        round.rows = rows
        return round
    }

    public func failedRound(error: String, duration: Duration) -> TargetSnapshot {
        let outcomes = plan.collectors.map { CollectorOutcome(name: $0.name, success: false, duration: 0, error: error) }
        return snapshot(up: false, families: [], collectors: outcomes, error: error, duration: duration)
    }

    private func snapshot(up: Bool, families: [MetricFamily], collectors: [CollectorOutcome], error: String?,
                          duration: Duration) -> TargetSnapshot {
        TargetSnapshot.round(of: target, upMetric: plan.upMetric, upHelp: plan.upHelp, up: up, families: families, collectors: collectors,
                             error: error, duration: duration.seconds, at: WallClock.now())
    }

    /// The open connection, or a new one.
    private func connected() async throws -> PQConnection {
        if let existing = connection.withLock({ $0 }), existing.isOK { return existing }
        drop()
        let parameters = Self.tcpDefaults + [("dbname", target.dsn.revealed)] + plan.enforcedParameters
        let fresh = try await executor.run { try PQConnection.connect(parameters: parameters) }
        connection.withLock { $0 = fresh }
        return fresh
    }

    /// Placed before the DSN, so the DSN may override them. Without them a connection whose packets
    /// vanish (a failover that moved the address, a dropped NAT entry) blocks a libpq call for the
    /// kernel's two-hour keepalive default; with them it fails within about a minute, and a round
    /// abandoned on it (see RoundDeadline) returns its thread.
    static let tcpDefaults: [(String, String)] = [
        ("keepalives", "1"), ("keepalives_idle", "30"), ("keepalives_interval", "10"), ("keepalives_count", "3"),
        ("tcp_user_timeout", "30000"),
    ]

    private func drop() {
        connection.withLock { $0 = nil }
        // A reconnect may reach another server (a failover), and `ALTER ROLE … SET` applies per session:
        // kept figures and settings must be read afresh.
        schedule.withLock { $0 = CollectorSchedule() }
        visitor?.reset()
    }

    /// The stuck round keeps its own reference; the connection is closed when that round returns.
    public func abandon() {
        drop()
    }

    public func close() {
        drop()
        visitor?.close()
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
