import Logging
import PoolWatchCore
import PoolWatchLibPQ
import PoolWatchRuntime
import Synchronization

/// Runs a target's ``DatabaseVisitPlan``: table statistics and custom queries in databases other than
/// the DSN's, each over a short-lived connection.
///
/// - A round starts a sweep when a job is due and none runs (``startIfDue(own:server:)``). The sweep
///   runs apart from the round: the round never waits for it and publishes what the visits produced so
///   far (``families()``), so the target's round time and `up` do not depend on other databases.
/// - At most `connection_budget` visit connections are open at once (ConnectionBudget.swift); a slot
///   is held until the connection is closed, even by a visit abandoned at its deadline.
/// - Each visit is bounded as a round is (RoundDeadline.swift), on the poolwatch clock, never on the
///   server: its statement is cancelled shortly before the target's `collection_timeout` and the visit
///   is abandoned at it. A database that cannot be reached, or that was dropped, fails only its own
///   `poolwatch_database_visit_success` series and is logged once; the target stays up.
/// - Visit connections carry the target's connect, statement and lock timeouts and are read-only
///   (`default_transaction_read_only`). Their blocking libpq calls run on a thread pool of their own
///   (two threads per budgeted connection: the statement and its `PQcancel`), so visits blocked in a
///   frozen server take none of the threads the rounds of this or any other target use.
final class DatabaseVisitor: Sendable {
    let plan: DatabaseVisitPlan
    /// libpq parameters for the DSN's database; a visit appends its own `dbname`, which libpq takes as
    /// a plain database name overriding the DSN's (only the first `dbname` is expanded as a DSN).
    let parameters: [(String, String)]
    let deadline: RoundDeadline
    let budget: ConnectionBudget
    let executor: BlockingExecutor
    let logger: Logger
    private let state = Mutex(State())

    /// What a visit sends for one job: its statements, in order, on one connection.
    struct Work: Sendable {
        var statements: [String]
        var extendedProtocol: Bool
    }

    struct VisitError: Error, Sendable, CustomStringConvertible {
        var description: String
    }

    typealias Results = Result<[Result<[QueryResult], VisitError>], VisitError>

    private struct Entry {
        var families: [MetricFamily]
        var outcome: DatabaseVisitPlan.Outcome
    }

    private struct State {
        var lastStart: [Int: ContinuousClock.Instant] = [:]
        var sweep: (id: Int, task: Task<Void, Never>)?
        var nextSweepID = 0
        /// Bumped when the target's connection is dropped: a sweep begun before stores nothing.
        var generation = 0
        /// By database, then job index; the listing of `databases: all` is job -1.
        var entries: [String: [Int: Entry]] = [:]
        var beyondCap: Int?
        /// "datname/collector" of the visits failing now, to log each failure and recovery once.
        var failing: Set<String> = []
        var closed = false
    }

    init(plan: DatabaseVisitPlan, target: TargetConfig, parameters: [(String, String)]) {
        self.plan = plan
        // The enforced `options` (statement and lock timeouts) plus read-only, replacing them whole:
        // libpq keeps only the last `options`.
        let options = (parameters.last { $0.0 == "options" }.map { [$0.1] } ?? []) + ["-c default_transaction_read_only=on"]
        self.parameters = parameters.filter { $0.0 != "options" } + [("options", options.joined(separator: " "))]
        self.deadline = RoundDeadline(target: target)
        self.budget = ConnectionBudget(limit: plan.connectionBudget)
        self.executor = BlockingExecutor(threads: 2 * plan.connectionBudget)
        var logger = Logger(label: "poolwatch")
        logger[metadataKey: "target"] = .string(target.name)
        self.logger = logger
    }

    deinit {
        let executor = executor
        Task { await executor.shutdown() }
    }

    /// Starts a sweep of the jobs that are due, unless one is still running. Returns at once.
    /// - Parameters:
    ///   - own: the DSN's database (the target's connection reads its tables itself).
    ///   - server: what the round learned about the server, for the collectors' statements.
    func startIfDue(own: String, server: ServerFacts) {
        let now = ContinuousClock.now
        state.withLock { state in
            guard !state.closed, state.sweep == nil else { return }
            let due = plan.jobs.indices.filter { index in
                state.lastStart[index].map { $0 + plan.jobs[index].interval <= now } ?? true
            }
            guard !due.isEmpty else { return }
            // Due again one interval after this start, whether the visits work or not: a database that
            // cannot be reached is retried on the slow interval, not every round.
            for index in due { state.lastStart[index] = now }
            state.nextSweepID += 1
            let id = state.nextSweepID
            let generation = state.generation
            state.sweep = (id, Task {
                await self.sweep(due: due, own: own, server: server, generation: generation)
                self.state.withLock { state in
                    if state.sweep?.id == id { state.sweep = nil }
                }
            })
        }
    }

    /// The families of the latest visit of every database, and the visits' own families.
    func families() -> [MetricFamily] {
        let (entries, beyondCap) = state.withLock { ($0.entries, $0.beyondCap) }
        var families: [MetricFamily] = []
        var outcomes: [DatabaseVisitPlan.Outcome] = []
        for datname in entries.keys.sorted() {
            for (_, entry) in entries[datname]!.sorted(by: { $0.key < $1.key }) {
                families.append(contentsOf: entry.families)
                outcomes.append(entry.outcome)
            }
        }
        let status = DatabaseVisitPlan.statusFamilies(
            outcomes, budget: budget.limit, open: budget.open, beyondCap: plan.maxDatabases == nil ? nil : beyondCap ?? 0)
        return (families + status).mergedByName()
    }

    /// The target's connection was dropped (a reconnect may reach another server): forget every result
    /// and stop the running sweep; the next round starts a new one.
    func reset() {
        let running: Task<Void, Never>? = state.withLock { state in
            state.generation += 1
            state.entries = [:]
            state.lastStart = [:]
            state.beyondCap = nil
            defer { state.sweep = nil }
            return state.sweep?.task
        }
        running?.cancel()
    }

    func close() {
        let running: Task<Void, Never>? = state.withLock { state in
            state.closed = true
            return state.sweep?.task
        }
        running?.cancel()
    }

    /// One sweep: list the databases when a due job visits all of them, then visit each database once
    /// for its due jobs, at most `connection_budget` at a time.
    private func sweep(due: [Int], own: String, server: ServerFacts, generation: Int) async {
        var listed: [String]?
        if let max = plan.maxDatabases, due.contains(where: { if case .all = plan.jobs[$0].databases { true } else { false } }) {
            // In the DSN's database, over a budgeted connection too: the target's own connection belongs to its rounds.
            let visit = await self.visit(database: nil, work: [Work(statements: [DatabaseVisitPlan.listStatement(max: max)], extendedProtocol: false)])
            var outcome = DatabaseVisitPlan.Outcome(datname: own, collector: DatabaseVisitPlan.listName, success: false, duration: visit.duration)
            switch visit.results.flatMap({ $0.first ?? .failure(VisitError(description: "no result")) }) {
            case .success(let results):
                let found = DatabaseVisitPlan.listed(results[0])
                listed = found.names
                outcome.success = true
                state.withLock { state in
                    if state.generation == generation { state.beyondCap = found.beyondCap }
                }
            case .failure(let error):
                outcome.error = error.description
            }
            record(outcome.datname, job: -1, Entry(families: [], outcome: outcome), generation: generation)
        }
        let visits = plan.visits(due: due, own: own, listed: listed)
        let visited = Set(visits.map(\.datname))
        // Databases no longer selected (dropped, beyond the cap, listing failed) lose the due jobs' series.
        state.withLock { state in
            guard state.generation == generation else { return }
            for datname in state.entries.keys where !visited.contains(datname) {
                for index in due { state.entries[datname]![index] = nil }
                if state.entries[datname]!.isEmpty { state.entries[datname] = nil }
            }
        }
        await withTaskGroup(of: Void.self) { group in
            var queue = visits[...]
            var started = 0
            while started < plan.connectionBudget, let next = queue.popFirst() {
                group.addTask { await self.run(next, server: server, generation: generation) }
                started += 1
            }
            while await group.next() != nil {
                guard !Task.isCancelled, let next = queue.popFirst() else { continue }
                group.addTask { await self.run(next, server: server, generation: generation) }
            }
        }
    }

    /// Visits one database for its jobs and records how each did.
    private func run(_ visit: DatabaseVisitPlan.Visit, server: ServerFacts, generation: Int) async {
        let work = visit.jobs.map { index in
            let collector = plan.jobs[index].collector
            return Work(statements: collector.statements(for: server), extendedProtocol: collector.extendedProtocol)
        }
        let done = await self.visit(database: visit.datname, work: work)
        for (position, index) in visit.jobs.enumerated() {
            var outcome = DatabaseVisitPlan.Outcome(
                datname: visit.datname, collector: plan.jobs[index].collector.name, success: false, duration: done.duration)
            var families: [MetricFamily] = []
            switch done.results.flatMap({ position < $0.count ? $0[position] : .failure(VisitError(description: "no result")) }) {
            case .success(let results):
                do {
                    families = try plan.families(job: index, results: results, server: server, datname: visit.datname)
                    outcome.success = true
                } catch {
                    outcome.error = "\(error)"
                }
            case .failure(let error):
                outcome.error = error.description
            }
            record(visit.datname, job: index, Entry(families: families, outcome: outcome), generation: generation)
        }
    }

    private func record(_ datname: String, job: Int, _ entry: Entry, generation: Int) {
        let key = "\(datname)/\(entry.outcome.collector)"
        let change: Bool? = state.withLock { state in
            guard state.generation == generation, !state.closed else { return nil }
            state.entries[datname, default: [:]][job] = entry
            if entry.outcome.success { return state.failing.remove(key) != nil ? true : nil }
            return state.failing.insert(key).inserted ? false : nil
        }
        switch change {
        case false?:
            logger.warning("database visit failing", metadata: [
                "datname": "\(datname)", "collector": "\(entry.outcome.collector)", "error": "\(entry.outcome.error ?? "")",
            ])
        case true?:
            logger.info("database visit recovered", metadata: ["datname": "\(datname)", "collector": "\(entry.outcome.collector)"])
        case nil:
            break
        }
    }

    /// One short-lived connection to `database` (nil: the DSN's), under the budget and the deadline.
    private func visit(database: String?, work: [Work]) async -> (results: Results, duration: Double) {
        let clock = ContinuousClock()
        let started = clock.now
        func done(_ results: Results) -> (results: Results, duration: Double) { (results, (clock.now - started).seconds) }
        let timeout = DurationParser.format(deadline.timeout)
        guard await budget.acquire(within: deadline.timeout, on: clock) else {
            return done(.failure(VisitError(description: Task.isCancelled ? "not visited: poolwatch is stopping"
                : "not visited: for \(timeout) all \(budget.limit) connection(s) of connection_budget were held by visits still waiting for the server")))
        }
        let parameters = self.parameters + (database.map { [("dbname", $0)] } ?? [])
        let session = VisitSession()
        let executor = self.executor
        let budget = self.budget
        let task = Task { () -> Results in
            // Given back only here, after the blocking work returned and closed its connection.
            defer { budget.release() }
            do {
                return .success(try await executor.run({ try session.run(parameters: parameters, work: work) }, onCancel: {
                    session.cancel(on: executor)
                }))
            } catch {
                return .failure(VisitError(description: "\(error)"))
            }
        }
        if let finished = await value(of: task, within: deadline.cancelAfter, on: clock) { return done(finished) }
        // The statement is cancelled (PQcancel from a pool thread), the jobs not yet started are skipped.
        task.cancel()
        let cancelled = "cancelled: the visit reached collection_timeout (\(timeout))"
        if let late = await value(of: task, within: deadline.timeout - deadline.cancelAfter, on: clock) {
            return done(late.map { $0.map { $0.mapError { VisitError(description: "\(cancelled): \($0)") } } })
        }
        return done(.failure(VisitError(description:
            "no answer within collection_timeout (\(timeout)): the visit is abandoned; its connection is closed when the server answers")))
    }
}

/// The blocking side of one visit: connect, run each job's statements, close; on a pool thread of the
/// visitor's executor. ``cancel(on:)`` may come from any thread while it runs.
final class VisitSession: Sendable {
    private let connection = Mutex<PQConnection?>(nil)
    private let cancelled = Atomic<Bool>(false)

    func run(parameters: [(String, String)], work: [DatabaseVisitor.Work]) throws -> [Result<[QueryResult], DatabaseVisitor.VisitError>] {
        guard !cancelled.load(ordering: .acquiring) else { throw DatabaseVisitor.VisitError(description: "cancelled before connecting") }
        let conn = try PQConnection.connect(parameters: parameters)
        connection.withLock { $0 = conn }
        defer {
            connection.withLock { $0 = nil }
            conn.finish()
        }
        var results: [Result<[QueryResult], DatabaseVisitor.VisitError>] = []
        for item in work {
            guard !cancelled.load(ordering: .acquiring), conn.isOK else {
                results.append(.failure(DatabaseVisitor.VisitError(description: conn.isOK ? "skipped: the visit was cancelled" : "skipped: the connection was lost")))
                continue
            }
            do {
                var answers: [QueryResult] = []
                for sql in item.statements { answers.append(try conn.exec(sql, singleStatement: item.extendedProtocol)) }
                results.append(.success(answers))
            } catch {
                results.append(.failure(DatabaseVisitor.VisitError(description: "\(error)")))
                // A custom query failed inside its read-only transaction: end it before the next job.
                if conn.isOK, conn.inTransaction { _ = try? conn.exec("ROLLBACK") }
            }
        }
        return results
    }

    /// Stops the visit: the jobs not started are skipped, the running statement gets a `PQcancel` on
    /// another pool thread (it connects to the server, so it blocks as long as a frozen server does).
    func cancel(on executor: BlockingExecutor) {
        cancelled.store(true, ordering: .releasing)
        guard let conn = connection.withLock({ $0 }) else { return }
        executor.detach { conn.cancel() }
    }
}
