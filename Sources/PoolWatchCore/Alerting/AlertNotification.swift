/// How urgent a notification is. Receivers filter on it with `min_severity`.
///
/// Kept separate from the rule engine's severity so the notifier depends on nothing but this value;
/// the two share their raw values (`info`, `warning`, `critical`).
public enum NotificationSeverity: String, Sendable, Hashable, CaseIterable, Comparable {
    case info, warning, critical

    public static func < (lhs: NotificationSeverity, rhs: NotificationSeverity) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One alert transition to deliver: an instance started firing (`trigger`) or stopped (`resolve`).
///
/// This is the notifier's only input. The rule engine (or anything else) builds it; the notifier turns
/// it into one outbox record per matching receiver, each with a stable PagerDuty `dedup_key` derived
/// from ``alertName`` and ``identityLabels`` (see ``DedupKey``).
public struct AlertNotification: Sendable, Equatable {
    public enum Kind: String, Sendable, Hashable {
        case trigger, resolve
    }

    public var kind: Kind
    /// The rule's name (`PgBouncerClientsWaiting`). Part of the dedup key.
    public var alertName: String
    public var severity: NotificationSeverity
    /// The labels that tell instances of one rule apart: `target`, `database`, `user`, … Never values,
    /// severity or host names of poolwatch itself: they would change the dedup key.
    public var identityLabels: [Label]
    /// One line for a person: which pool, how bad (`Pool orders/app on pgb-1: 12 clients waiting`).
    public var summary: String
    /// Optional longer text.
    public var description: String
    public var runbookURL: String?
    /// The rule's value at the latest evaluation where the condition held.
    public var value: Double
    public var threshold: Double?
    /// Seconds since the epoch when the alert started firing. PagerDuty's `payload.timestamp`, so a
    /// late delivery from the outbox does not distort the incident's timeline.
    public var startsAt: Double
    /// Seconds since the epoch of this transition (the firing time for a trigger, the resolve time
    /// for a resolve). Together with the dedup key it identifies the transition, so enqueueing the
    /// same transition twice is a no-op.
    public var at: Double
    /// Who held the pool in the round that fired (`idle in transaction for 6m12s: leaky-orders from
    /// 10.0.0.7:53012, backend pid 48211, …`), the most suspicious first; empty for other rules.
    public var holders: [String] = []
    /// For a resolve that was not observed but forced: why (`target pgb-2 was removed from the
    /// configuration`). Nil for an ordinary resolve.
    public var resolveReason: String?

    public init(
        kind: Kind, alertName: String, severity: NotificationSeverity, identityLabels: [Label], summary: String,
        description: String = "", runbookURL: String? = nil, value: Double, threshold: Double? = nil,
        startsAt: Double, at: Double
    ) {
        self.kind = kind
        self.alertName = alertName
        self.severity = severity
        self.identityLabels = identityLabels
        self.summary = summary
        self.description = description
        self.runbookURL = runbookURL
        self.value = value
        self.threshold = threshold
        self.startsAt = startsAt
        self.at = at
    }

    /// The summary, or `<alertName> on <label values>` when the rule gave none.
    var headline: String {
        let trimmed = summary.trimmingSpaces()
        if !trimmed.isEmpty { return trimmed }
        let place = identityLabels.map { "\($0.name)=\($0.value)" }.joined(separator: " ")
        return place.isEmpty ? alertName : "\(alertName) on \(place)"
    }

    /// Where the problem is, for PagerDuty's `source`: the `target` label, else `instance`, else the
    /// first identity label, else the cluster.
    func source(clusterID: String) -> String {
        for name in ["target", "instance"] {
            if let label = identityLabels.first(where: { $0.name == name }), !label.value.isEmpty { return label.value }
        }
        if let first = identityLabels.first(where: { !$0.value.isEmpty }) { return first.value }
        return "poolwatch:\(clusterID)"
    }
}
