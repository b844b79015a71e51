import FoundationEssentials
import Logging
import PoolWatchAlerts
import PoolWatchCore
import PoolWatchHTTP
import PoolWatchPostgres
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
struct AlertEvaluationService: Service, CustomStringConvertible {
    var description: String { "AlertEvaluationService" }
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
    init(store: SnapshotStore, engine: AlertEngine, interval: Double, stateDirectory: StateDirectory?, logger: Logger,
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

    func run() async throws {
        // Before the first evaluation, so a re-queued trigger is in the outbox before its resolve.
        await reconcile(status.engine.withLock { $0!.announcedFiring() })
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await tick(at: WallClock.now())
                // Read each time: a reload may change it.
                try? await Task.sleep(for: .milliseconds(Int(status.interval.withLock { $0 } * 1000)))
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
    static func restore(_ engine: AlertEngine, from directory: StateDirectory, logger: Logger) throws(StateFile.Failure) -> AlertEngine {
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
    init(transition t: AlertTransition) {
        self.init(
            kind: t.kind == .fired ? .trigger : .resolve, alertName: t.ruleName,
            severity: NotificationSeverity(rawValue: t.severity.rawValue) ?? .critical, identityLabels: t.identity.labels,
            summary: t.annotations["summary"] ?? "", description: t.annotations["description"] ?? "",
            runbookURL: t.annotations["runbook_url"], value: t.value, threshold: t.threshold,
            startsAt: t.firedAt, at: t.resolvedAt ?? t.firedAt)
        resolveReason = t.reason
    }
}

/// The engine and the notifier, shared between the evaluation loop and `/alerts`.
///
/// `/alerts` serves the document built at the end of the last evaluation (`refresh`), not one built
/// per request: with hundreds of alert instances a build costs tens of milliseconds, and any client
/// requesting it in a loop would otherwise take that CPU from collection and `/metrics`.
final class AlertStatusBoard: Sendable {
    let engine = Mutex<AlertEngine?>(nil)
    /// Seconds between evaluations.
    let interval = Mutex<Double>(15)
    private let notifierBox = Mutex<Notifier?>(nil)
    private let cached = Mutex<[UInt8]?>(nil)

    /// The `/alerts` body as of the last evaluation (built now if there was none yet).
    func cachedJSON(at now: Double) async -> [UInt8] {
        if let bytes = cached.withLock({ $0 }) { return bytes }
        return await json(at: now)
    }

    /// Rebuilds the cached `/alerts` body; called after each evaluation.
    func refresh(at now: Double) async {
        let bytes = await json(at: now)
        cached.withLock { $0 = bytes }
    }

    /// The alerts firing now, oldest first, for the status page.
    func firing(at now: Double) -> [StatusAlert] {
        let statuses = engine.withLock { $0?.alerts(at: now) ?? [] }
        return statuses.filter { $0.instance.phase == .firing }.map { status in
            StatusAlert(
                name: status.instance.rule, severity: status.severity.rawValue,
                summary: status.instance.annotations.labels.first { $0.name == "summary" }?.value ?? "",
                since: status.instance.firedAt ?? status.instance.activeAt)
        }.sorted { $0.since < $1.since }
    }

    var notifier: Notifier? {
        get { notifierBox.withLock { $0 } }
        set { notifierBox.withLock { $0 = newValue } }
    }

    /// The alert instances and the outbox as JSON for `/alerts` (no secrets: labels, annotations,
    /// states, times, receiver names).
    func json(at now: Double) async -> [UInt8] {
        let outbox = await notifier?.status()
        let statuses = engine.withLock { $0?.alerts(at: now) ?? [] }
        let items: [AlertView] = statuses.map { status in
            AlertView(
                alertname: status.instance.rule, state: status.instance.phase.rawValue, severity: status.severity.rawValue,
                labels: Dictionary(status.instance.labels.labels.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
                annotations: Dictionary(status.instance.annotations.labels.map { ($0.name, $0.value) }, uniquingKeysWith: { a, _ in a }),
                value: status.instance.value.isFinite ? status.instance.value : nil,
                activeAt: status.instance.activeAt, firedAt: status.instance.firedAt,
                silencedBy: status.silencedBy, inhibited: status.inhibited)
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        return Array((try? encoder.encode(AlertsDocument(alerts: items, outbox: outbox))) ?? Data("{}".utf8))
    }

    struct AlertsDocument: Encodable {
        var alerts: [AlertView]
        /// Pending and recent deliveries; absent when no receiver is configured.
        var outbox: OutboxStatus?
    }

    struct AlertView: Encodable {
        var alertname: String
        var state: String
        var severity: String
        var labels: [String: String]
        var annotations: [String: String]
        var value: Double?
        var activeAt: Double?
        var firedAt: Double?
        var silencedBy: [String]
        var inhibited: Bool
    }
}
