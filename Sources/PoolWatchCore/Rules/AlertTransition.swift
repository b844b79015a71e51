/// A notification-worthy change of one alert instance, handed to the outbox.
///
/// `fired` goes out once per instance (when it fires, or later when a silence or inhibition that
/// muted it ends); `resolved` goes out only if the `fired` did, and is never muted.
public struct AlertTransition: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, Codable {
        case fired, resolved
    }

    public var kind: Kind
    public var ruleName: String
    public var severity: AlertSeverity
    /// Full alert labels: identity labels plus `alertname`, `severity` and the rule's labels.
    public var labels: LabelSet
    /// The labels that make the instance distinct (no `alertname`, `severity` or values).
    public var identity: LabelSet
    /// Rendered `summary`, `description`, `runbook_url`.
    public var annotations: LabelSet
    /// The rule's value at the latest evaluation where the condition held.
    public var value: Double
    public var threshold: Double?
    /// Seconds since the epoch: when the condition started to hold, when the alert fired, and (for
    /// `resolved`) when it resolved.
    public var activeAt: Double
    public var firedAt: Double
    public var resolvedAt: Double?
    /// `Rule{label="value", …}`: stable across restarts; use it for dedup keys.
    public var key: String
    /// Why a `resolved` was forced rather than observed (its target or rule left the configuration).
    public var reason: String?

    init(_ kind: Kind, _ instance: AlertInstance, rule: AlertRule?) {
        self.kind = kind
        self.ruleName = instance.rule
        self.severity = rule?.severity ?? AlertSeverity(rawValue: instance.labels["severity"] ?? "") ?? .warning
        self.labels = instance.labels
        self.identity = instance.identity
        self.annotations = instance.annotations
        self.value = instance.value
        self.threshold = rule?.threshold
        self.activeAt = instance.activeAt
        self.firedAt = instance.firedAt ?? instance.activeAt
        self.resolvedAt = kind == .resolved ? instance.resolvedAt : nil
        self.key = instance.key
    }
}
