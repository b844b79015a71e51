import FoundationEssentials
import Logging
import PoolWatchCore
import PoolWatchRuntime
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Evaluates the alert rules locally on a fixed cadence, so poolwatch still knows what is wrong when
/// Prometheus or Alertmanager is down.
///
/// Each tick feeds the latest families of every target (plus `poolwatch_seconds_since_last_scrape`
/// for the dead man's switch) to the `AlertEngine`, hands the transitions to `deliver` (the durable
/// outbox), then persists the engine state, so a firing alert is still firing after a restart and is
/// not paged twice. Targets whose last round failed are passed as unavailable: missing data never
/// resolves an alert.
public struct AlertEvaluationService: Service, CustomStringConvertible {
    public var description: String { "AlertEvaluationService" }
    let store: SnapshotStore
    /// Nil: memory only.
    let stateDirectory: StateDirectory?
    let logger: Logger
    let status: AlertStatusBoard
    let reconcile: @Sendable ([AlertTransition]) async -> Void
    let deliver: @Sendable ([AlertTransition]) async -> Void
    let startedAt: Double

    static let fileName = "alerts.json"

    /// `engine` should already hold the restored state (``restore(_:from:logger:)``).
    public init(store: SnapshotStore, engine: AlertEngine, interval: Duration, stateDirectory: StateDirectory?, logger: Logger,
         status: AlertStatusBoard, reconcile: @escaping @Sendable ([AlertTransition]) async -> Void,
         deliver: @escaping @Sendable ([AlertTransition]) async -> Void) {
        self.store = store
        status.interval.withLock { $0 = interval }
        self.stateDirectory = stateDirectory
        self.logger = logger
        self.status = status
        self.reconcile = reconcile
        self.deliver = deliver
        self.startedAt = WallClock.now()
        status.engine.withLock { $0 = engine }
    }

    public func run() async throws {
        // Before the first evaluation, so a re-queued trigger is in the outbox before its resolve.
        await reconcile(status.engine.withLock { $0!.announcedFiring() })
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await tick(at: WallClock.now())
                // Read each time: a reload may change it.
                try? await Task.sleep(for: status.interval.withLock { $0 })
            }
        }
    }

    /// One evaluation: engine step, deliver transitions, persist, publish metrics.
    func tick(at now: Double) async {
        let snapshots = store.snapshots
        let unavailable = Set(snapshots.filter { !$0.up }.map(\.target))
        let sinceScrape = now - (store.lastScrapeTime ?? startedAt)
        let families = store.evaluationFamilies() + [
            MetricFamily("poolwatch_seconds_since_last_scrape", help: "Seconds since /metrics was last served.", value: sinceScrape),
        ]
        let outcome = status.engine.withLock { $0!.step(families, at: now, unavailableTargets: unavailable) }
        for failure in outcome.failures {
            logger.warning("rule evaluation failed", metadata: ["rule": "\(failure.rule)", "error": "\(failure.message)"])
        }
        for transition in outcome.transitions {
            var metadata: Logger.Metadata = [
                "alertname": "\(transition.ruleName)", "severity": "\(transition.severity.rawValue)", "key": "\(transition.key)",
            ]
            if let reason = transition.reason { metadata["reason"] = "\(reason)" }
            logger.notice(transition.kind == .fired ? "alert firing" : "alert resolved", metadata: metadata)
        }
        if !outcome.transitions.isEmpty { await deliver(outcome.transitions) }
        persist(at: now)
        // `/alerts` before `poolwatch_alerts`: whoever sees the new counts on /metrics finds them in /alerts.
        await status.refresh(at: now)
        store.publishExtra("alerts", families: status.engine.withLock { $0!.metricFamilies() })
    }

    /// `engine` with the state saved in `alerts.json`. A file that does not parse is moved aside
    /// (`alerts.json.corrupt-<unix>`) with an error line and the engine starts empty: alerts still
    /// firing fire again, and the outbox's journal of announced incidents keeps them from being
    /// announced twice. A file that cannot be read (permissions, I/O) is not corrupt: that throws,
    /// naming the path and the errno text, and poolwatch does not start.
    public static func restore(_ engine: AlertEngine, from directory: StateDirectory, logger: Logger) throws(StateFile.Failure) -> AlertEngine {
        guard let bytes = try directory.read(fileName) else { return engine }
        var engine = engine
        do {
            let saved = try JSONDecoder().decode(AlertEngineState.self, from: Data(bytes))
            engine.restore(saved, at: WallClock.now())
            logger.info("alert state restored", metadata: ["instances": "\(saved.instances.count)", "file": "\(directory.filePath(fileName))"])
        } catch {
            let aside = (try? directory.moveAside(fileName, now: WallClock.now())) ?? "(could not move it)"
            logger.error("alert state file is corrupt; moved aside, starting empty",
                         metadata: ["file": "\(directory.filePath(fileName))", "moved_to": "\(aside)", "error": "\(error)"])
        }
        return engine
    }

    private func persist(at now: Double) {
        guard let stateDirectory else { return }
        do {
            let state = status.engine.withLock { $0!.persistentState(at: now) }
            let data = try JSONEncoder().encode(state)
            try stateDirectory.write(Array(data), to: Self.fileName)
        } catch {
            logger.error("cannot save alert state", metadata: ["file": "\(stateDirectory.filePath(Self.fileName))", "error": "\(error)"])
        }
    }
}

extension AlertNotification {
    /// What the notifier needs of a rule transition.
    public init(transition t: AlertTransition) {
        self.init(
            kind: t.kind == .fired ? .trigger : .resolve, alertName: t.ruleName,
            severity: NotificationSeverity(rawValue: t.severity.rawValue) ?? .critical, identityLabels: t.identity.labels,
            summary: t.annotations["summary"] ?? "", description: t.annotations["description"] ?? "",
            runbookURL: t.annotations["runbook_url"], value: t.value, threshold: t.threshold,
            startsAt: t.firedAt, at: t.resolvedAt ?? t.firedAt)
        resolveReason = t.reason
    }
}
