import FoundationEssentials
import PoolWatchCore
import Synchronization

/// The engine and the notifier, shared between the evaluation loop and `/alerts`.
///
/// `/alerts` serves the document built at the end of the last evaluation (`refresh`), not one built
/// per request: with hundreds of alert instances a build costs tens of milliseconds, and any client
/// requesting it in a loop would otherwise take that CPU from collection and `/metrics`.
public final class AlertStatusBoard: Sendable {
    public let engine = Mutex<AlertEngine?>(nil)
    /// Time between evaluations.
    public let interval = Mutex<Duration>(.seconds(15))
    private let notifierBox = Mutex<Notifier?>(nil)
    private let cached = Mutex<[UInt8]?>(nil)

    /// The `/alerts` body as of the last evaluation (built now if there was none yet).
    public func cachedJSON(at now: Double) async -> [UInt8] {
        if let bytes = cached.withLock({ $0 }) { return bytes }
        return await json(at: now)
    }

    /// Rebuilds the cached `/alerts` body; called after each evaluation.
    func refresh(at now: Double) async {
        let bytes = await json(at: now)
        cached.withLock { $0 = bytes }
    }

    /// The alert instances firing now, oldest first.
    public func firing(at now: Double) -> [AlertEngine.Status] {
        let statuses = engine.withLock { $0?.alerts(at: now) ?? [] }
        return statuses.filter { $0.instance.phase == .firing }.sorted { $0.instance.firedAt ?? $0.instance.activeAt < $1.instance.firedAt ?? $1.instance.activeAt }
    }

    public init() {}

    public var notifier: Notifier? {
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
