/// How one collector did in one round.
public struct CollectorOutcome: Sendable, Equatable {
    public var name: String
    public var success: Bool
    /// Seconds the collector's statements took.
    public var duration: Double
    /// A person-readable error, already free of secrets.
    public var error: String?

    public init(name: String, success: Bool, duration: Double, error: String? = nil) {
        self.name = name
        self.success = success
        self.duration = duration
        self.error = error
    }
}

/// The immutable result of one collection round of one target.
///
/// Families already carry the `target` label. A failed round still produces a snapshot: `up` is
/// false and the families hold only what the target kind reports when down (e.g. `pg_up 0`).
public struct TargetSnapshot: Sendable {
    public var target: String
    public var kind: TargetKind
    public var up: Bool
    public var families: [MetricFamily]
    public var collectors: [CollectorOutcome]
    /// Seconds since the epoch when the round finished.
    public var timestamp: Double
    /// Seconds the whole round took.
    public var duration: Double
    /// Why the target is down, if it is; free of secrets.
    public var error: String?
    /// Row-level facts for diagnosis; never exported as series.
    public var rows = ConnectionRows()
    /// The target's constant labels (`labels:`), which its families carry already; the store puts them
    /// after `target` on the self metrics too, so every series naming the target carries the same set.
    public var labels: [Label] = []

    public init(
        target: String, kind: TargetKind, up: Bool, families: [MetricFamily], collectors: [CollectorOutcome],
        timestamp: Double, duration: Double, error: String? = nil
    ) {
        self.target = target
        self.kind = kind
        self.up = up
        self.families = families
        self.collectors = collectors
        self.timestamp = timestamp
        self.duration = duration
        self.error = error
    }

    /// A round of `target` as every collector kind publishes it: the up family first, every family with
    /// the target's `target` and constant labels, the constant labels kept for the self metrics.
    public static func round(
        of target: TargetConfig, upMetric: String, upHelp: String, up: Bool, families: [MetricFamily],
        collectors: [CollectorOutcome], error: String?, duration: Double, at timestamp: Double
    ) -> TargetSnapshot {
        let upFamily = MetricFamily(upMetric, help: upHelp, value: up ? 1 : 0)
        let all = ([upFamily] + families).map { $0.prefixed(with: target.seriesLabels) }
        var round = TargetSnapshot(
            target: target.name, kind: target.kind, up: up, families: all, collectors: collectors,
            timestamp: timestamp, duration: duration, error: error)
        round.labels = target.labels
        return round
    }
}
