import Logging
import PoolWatchCore
import PoolWatchCurl
import ServiceLifecycle
import PoolWatchRuntime

/// Runs one `TargetService` per configured target and swaps them on a configuration reload.
///
/// A target whose settings did not change keeps its loop, and so its connection, its backoff and its
/// place in the schedule: a reload causes no reconnect storm and no gap in the graphs. A removed or
/// changed target's loop is cancelled without waiting for it (a round stuck in a frozen server must not
/// hold up the reload; it is abandoned as at shutdown) and a changed one starts afresh at once.
///
/// Blocking threads come in generations: the targets started together share one `BlockingExecutor`
/// sized for them (`threads(for:)`), which stops once all of them have left and their loops ended.
public actor TargetSupervisor: Service {
    private struct Running {
        var config: TargetConfig
        var task: Task<Void, Never>
        var generation: Int
    }
    private struct Generation {
        let executor: BlockingExecutor
        var members: Set<String>
        var tasks: [Task<Void, Never>]
    }

    private let store: SnapshotStore
    private let logger: Logger
    private let startGate: StartGate?
    private let makeCollector: @Sendable (TargetConfig, BlockingExecutor) -> any TargetCollector
    private var pending: [TargetConfig]
    private var running: [String: Running] = [:]
    private var generations: [Int: Generation] = [:]
    private var nextGeneration = 0
    private var stopped = false

    public init(targets: [TargetConfig], store: SnapshotStore, logger: Logger, startGate: StartGate?, userAgent: String) {
        self.init(targets: targets, store: store, logger: logger, startGate: startGate) { target, executor in
            TargetFactory.collector(for: target, executor: executor, userAgent: userAgent)
        }
    }

    public init(targets: [TargetConfig], store: SnapshotStore, logger: Logger, startGate: StartGate?,
                makeCollector: @escaping @Sendable (TargetConfig, BlockingExecutor) -> any TargetCollector) {
        self.pending = targets
        self.store = store
        self.logger = logger
        self.startGate = startGate
        self.makeCollector = makeCollector
    }

    /// Blocking threads for a set of targets: a libpq target may hold two while its server is frozen
    /// (the abandoned statement and its `PQcancel`), an http_json or app_metrics target one (libcurl
    /// keeps its own timeout); one more so a slow target never waits behind another's cancel.
    public static func threads(for targets: [TargetConfig]) -> Int {
        targets.reduce(1) { $0 + ($1.kind == .httpJSON || $1.kind == .appMetrics ? 1 : 2) }
    }

    public func run() async throws {
        start(pending)
        pending = []
        try? await gracefulShutdown()
        await stopAll()
    }

    /// The running targets' names, in no particular order.
    public var runningTargets: [String] { Array(running.keys) }

    /// Makes the running targets those of `targets`: starts the new, stops the removed, restarts the
    /// changed, leaves the rest alone. The store learns the new target list first, so the first round
    /// of a new target is published and a late round of a removed one is not.
    public func apply(_ targets: [TargetConfig]) {
        store.reconfigure(targets: targets.map { ($0.name, $0.kind) })
        guard !stopped else { return }
        let wanted = Dictionary(targets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        for (name, current) in running where wanted[name] != current.config {
            current.task.cancel()
            leave(name, generation: current.generation)
            running[name] = nil
        }
        start(targets.filter { running[$0.name] == nil })
    }

    private func start(_ targets: [TargetConfig]) {
        guard !targets.isEmpty, !stopped else { return }
        let id = nextGeneration
        nextGeneration += 1
        let executor = BlockingExecutor(threads: Self.threads(for: targets))
        var generation = Generation(executor: executor, members: [], tasks: [])
        for target in targets {
            let service = TargetService(collector: makeCollector(target, executor), store: store, logger: logger, startGate: startGate)
            let task = Task<Void, Never> { try? await service.run() }
            running[target.name] = Running(config: target, task: task, generation: id)
            generation.members.insert(target.name)
            generation.tasks.append(task)
        }
        generations[id] = generation
    }

    /// Drops `name` from its generation; the last one out stops the generation's threads once every
    /// loop of it has ended (in a task of its own: a loop blocked in a frozen server may never end).
    private func leave(_ name: String, generation id: Int) {
        guard var generation = generations[id] else { return }
        generation.members.remove(name)
        guard generation.members.isEmpty else {
            generations[id] = generation
            return
        }
        generations[id] = nil
        Task {
            for task in generation.tasks { await task.value }
            await generation.executor.shutdown()
        }
    }

    private func stopAll() async {
        stopped = true
        for current in running.values { current.task.cancel() }
        for current in running.values { await current.task.value }
        running = [:]
        for generation in generations.values { await generation.executor.shutdown() }
        generations = [:]
    }
}
