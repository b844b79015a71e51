/// Where one alert instance is in its life (docs/alert-delivery.md §4).
public enum AlertPhase: String, Sendable, Hashable, Codable {
    /// The condition holds, for less than the rule's `for`.
    case pending
    /// The condition has held for `for`.
    case firing
    /// Firing, but the condition cleared less than `keep_firing_for` ago (Prometheus still says firing).
    case held
    /// Recovered; kept for a while so `/alerts` can show it, then forgotten.
    case resolved

    /// Whether Prometheus would report the alert as firing.
    public var isFiring: Bool { self == .firing || self == .held }
}

/// What one evaluation says about one instance.
public enum AlertObservation: Sendable, Equatable {
    /// The rule's result contains the instance, with this value and these rendered annotations.
    case active(value: Double, labels: LabelSet, annotations: LabelSet)
    /// Fresh data, and the result does not contain the instance.
    case inactive
    /// The instance's target delivered no data this round (collection failed, target down): says
    /// nothing about the condition, so it neither advances nor resolves anything.
    case noData
}

/// One alert instance, `(rule, identity labels)`, as a pure value: `observe` applies one evaluation.
///
/// Differences from Prometheus, on purpose (docs/alert-delivery.md §3, items 2 and 3):
/// - `noData` freezes the instance: a pending timer does not run toward firing and a firing alert is
///   never resolved by missing data; the time without data is added to the pending and hold timers;
/// - the caller can forbid resolving (warm-up after start, so a restored alert is not resolved by the
///   first, possibly partial, round).
public struct AlertInstance: Sendable, Equatable, Codable {
    public let rule: String
    /// The result sample's labels without `__name__`: what makes this instance distinct. Never
    /// contains values, severity or anything about poolwatch itself.
    public let identity: LabelSet
    /// The full alert labels (identity + `alertname`, `severity`, rule labels).
    public internal(set) var labels: LabelSet
    public internal(set) var annotations: LabelSet
    /// The rule's value at the latest evaluation where the condition held.
    public internal(set) var value: Double
    public internal(set) var phase: AlertPhase
    /// When the condition started to hold (seconds since the epoch).
    public internal(set) var activeAt: Double
    public internal(set) var firedAt: Double?
    /// When the condition cleared while firing (start of `keep_firing_for`).
    public internal(set) var clearedAt: Double?
    public internal(set) var resolvedAt: Double?
    /// Start of the current stretch without data, if any.
    public internal(set) var noDataSince: Double?
    /// Whether a `fired` transition went out for this instance, so a `resolved` one is owed.
    public internal(set) var notified: Bool

    /// What an observation did, for the engine.
    public enum Outcome: Sendable, Equatable {
        case unchanged
        case becameFiring
        case resolved
        /// A pending instance whose condition cleared: forgotten, the `for` timer restarts.
        case dropped
    }

    /// A new pending instance; call `observe(.active…)` at the same time next, as Prometheus does, so
    /// a rule without `for` fires in the evaluation that first sees the condition.
    public init(rule: String, identity: LabelSet, at time: Double) {
        self.rule = rule
        self.identity = identity
        self.labels = identity
        self.annotations = LabelSet()
        self.value = 0
        self.phase = .pending
        self.activeAt = time
        self.notified = false
    }

    /// Applies one evaluation at `time`. `mayResolve` is false during warm-up.
    public mutating func observe(
        _ observation: AlertObservation, at time: Double, forDuration: Double, keepFiringFor: Double, mayResolve: Bool
    ) -> Outcome {
        if case .noData = observation {
            if noDataSince == nil { noDataSince = time }
            return .unchanged
        }
        if let since = noDataSince {
            // Time without data does not count toward `for` or `keep_firing_for`.
            let gap = time - since
            if phase == .pending { activeAt += gap }
            if phase == .held, let cleared = clearedAt { clearedAt = cleared + gap }
            noDataSince = nil
        }
        switch (observation, phase) {
        case (.active(let newValue, let newLabels, let newAnnotations), _):
            value = newValue
            labels = newLabels
            annotations = newAnnotations
            if phase == .held {
                phase = .firing
                clearedAt = nil
            } else if phase == .pending && time - activeAt >= forDuration {
                phase = .firing
                firedAt = time
                return .becameFiring
            }
            return .unchanged
        case (_, .pending):
            return .dropped
        case (_, .firing):
            if keepFiringFor > 0 {
                phase = .held
                clearedAt = time
                return .unchanged
            }
            return mayResolve ? resolve(at: time) : .unchanged
        case (_, .held):
            guard let cleared = clearedAt, time - cleared >= keepFiringFor, mayResolve else { return .unchanged }
            return resolve(at: time)
        case (_, .resolved):
            return .unchanged
        }
    }

    private mutating func resolve(at time: Double) -> Outcome {
        phase = .resolved
        resolvedAt = time
        return .resolved
    }

    mutating func markNotified(_ value: Bool) { notified = value }

    /// `Rule{label="value", …}`: a stable text key for deduplication downstream (PagerDuty dedup_key).
    public var key: String { rule + identity.description }
}
