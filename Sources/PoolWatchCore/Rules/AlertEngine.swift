/// The local rule engine: keeps the series history, evaluates every rule after each collection round,
/// moves alert instances through their states, and returns the transitions to notify.
///
/// A pure value (no clock, no I/O): the caller feeds families and timestamps and persists
/// `persistentState(at:)`. Usage after each collection round:
/// ```swift
/// engine.ingest(allFamiliesOfAllTargets, at: now)
/// let outcome = engine.evaluate(at: now, unavailableTargets: targetsWhoseRoundFailed)
/// outbox.append(outcome.transitions)        // then persist engine.persistentState(at: now)
/// store.publishExtra("alerts", families: engine.metricFamilies())
/// ```
public struct AlertEngine: Sendable {
    public struct Options: Sendable, Equatable {
        /// A resolve needs at least this many evaluations since start (restored alerts are not resolved
        /// by the first, possibly partial, round).
        public var resolveWarmUpEvaluations: Int
        /// Seconds a resolved instance stays listed before it is forgotten (Prometheus: 15m).
        public var resolvedRetention: Double
        /// A restored pending instance keeps its timer if poolwatch was down at most this long.
        public var forOutageTolerance: Double
        public var history: SeriesHistory.Limits
        /// Instances of one rule tracked (and notified) one by one; the rest of the rule's result becomes
        /// one grouped instance (`AlertEngine.groupedLabel`) whose value and summary say how many. The
        /// number of pools, hence of instances, is set by the monitored systems (an application's
        /// pool-stats document); without a cap one bad round pages once per pool.
        public var maxInstancesPerRule: Int

        public init(
            resolveWarmUpEvaluations: Int = 2, resolvedRetention: Double = 900, forOutageTolerance: Double = 600,
            history: SeriesHistory.Limits = SeriesHistory.Limits(), maxInstancesPerRule: Int = 25
        ) {
            self.resolveWarmUpEvaluations = resolveWarmUpEvaluations
            self.resolvedRetention = resolvedRetention
            self.forOutageTolerance = forOutageTolerance
            self.history = history
            self.maxInstancesPerRule = maxInstancesPerRule
        }
    }

    /// What one evaluation produced.
    public struct Outcome: Sendable, Equatable {
        public var transitions: [AlertTransition]
        /// Rules that could not be evaluated this time (their instances were left untouched).
        public var failures: [RuleFailure]
    }

    public struct RuleFailure: Sendable, Equatable, CustomStringConvertible {
        public var rule: String
        public var message: String
        public var description: String { "rule \(rule): \(message)" }
    }

    /// One instance as `/alerts` shows it.
    public struct Status: Sendable, Equatable {
        public var instance: AlertInstance
        public var severity: AlertSeverity
        /// IDs of the active silences that match.
        public var silencedBy: [String]
        /// Whether a firing target-down alert for the same target mutes it.
        public var inhibited: Bool
    }

    public private(set) var rules: [AlertRule]
    public let options: Options
    public private(set) var history: SeriesHistory
    /// Silences from configuration; replace them whenever they change.
    public var silences: [AlertSilence] = []
    /// Instances by rule name, then identity.
    private(set) var instances: [String: [LabelSet: AlertInstance]] = [:]
    /// Instances whose rule or target no longer exists (restored from an older configuration, or
    /// dropped by a reload); resolved (if notified) at the next evaluation, with the reason by key.
    private var orphans: [AlertInstance] = []
    private var orphanReasons: [String: String] = [:]
    public private(set) var evaluationCount = 0
    /// Cumulative evaluation failures per rule.
    public private(set) var failureCounts: [String: Int] = [:]

    public init(rules: [AlertRule], options: Options = Options()) {
        self.rules = rules
        self.options = options
        self.history = SeriesHistory(retainingFor: rules.flatMap { $0.expr.selectors }, limits: options.history)
    }

    /// Adds one round of families (all targets) to the history.
    public mutating func ingest(_ families: [MetricFamily], at time: Double) {
        history.append(families, at: time)
    }

    /// `ingest` then `evaluate`.
    public mutating func step(_ families: [MetricFamily], at time: Double, unavailableTargets: Set<String> = []) -> Outcome {
        ingest(families, at: time)
        return evaluate(at: time, unavailableTargets: unavailableTargets)
    }

    /// Evaluates every rule at `time`. Instances whose `target` label is in `unavailableTargets` and that
    /// are missing from the result get `noData` instead of `inactive`.
    public mutating func evaluate(at time: Double, unavailableTargets: Set<String> = []) -> Outcome {
        evaluationCount += 1
        let mayResolve = evaluationCount >= options.resolveWarmUpEvaluations
        let evaluator = PromQLEvaluator(history: history)
        var failures: [RuleFailure] = []
        var resolvedNow: Set<InstanceRef> = []
        for rule in rules {
            do {
                let result = try evaluator.evaluate(rule.expr, at: time).asVector
                resolvedNow.formUnion(try apply(result, of: rule, at: time, unavailableTargets: unavailableTargets, mayResolve: mayResolve))
            } catch {
                failures.append(RuleFailure(rule: rule.name, message: error.message))
                failureCounts[rule.name, default: 0] += 1
            }
        }
        return Outcome(transitions: notifications(at: time, resolvedNow: resolvedNow), failures: failures)
    }

    /// Updates the instances of one rule from its result; returns the identities resolved now.
    private mutating func apply(
        _ result: [VectorSample], of rule: AlertRule, at time: Double, unavailableTargets: Set<String>, mayResolve: Bool
    ) throws(PromQLEvaluationError) -> [InstanceRef] {
        var active: [LabelSet: AlertObservation] = [:]
        var seenLabels: Set<LabelSet> = []
        for sample in result {
            let labels = rule.alertLabels(for: sample.labels)
            guard seenLabels.insert(labels).inserted else {
                throw PromQLEvaluationError("vector contains metrics with the same labelset after applying alert labels")
            }
            active[sample.labels.droppingMetricName] = .active(
                value: sample.value, labels: labels, annotations: rule.annotations(for: sample))
        }
        var current = instances[rule.name] ?? [:]
        Self.group(&active, beyond: options.maxInstancesPerRule, of: rule, tracked: current)
        var resolved: [InstanceRef] = []
        // A new condition, or one that returns after a resolve, starts a new pending instance.
        for identity in active.keys where current[identity].map({ $0.phase == .resolved }) ?? true {
            current[identity] = AlertInstance(rule: rule.name, identity: identity, at: time)
        }
        for (identity, var instance) in current {
            if instance.phase == .resolved && active[identity] == nil {
                if time - (instance.resolvedAt ?? time) > options.resolvedRetention { current[identity] = nil }
                continue
            }
            let observation =
                active[identity]
                ?? (identity["target"].map(unavailableTargets.contains) == true ? .noData : .inactive)
            switch instance.observe(
                observation, at: time, forDuration: rule.forDuration, keepFiringFor: rule.keepFiringFor, mayResolve: mayResolve)
            {
            case .dropped:
                current[identity] = nil
                continue
            case .resolved:
                resolved.append(InstanceRef(rule: rule.name, identity: identity))
            case .unchanged, .becameFiring:
                break
            }
            current[identity] = instance
        }
        instances[rule.name] = current.isEmpty ? nil : current
        return resolved
    }

    /// The identity label of a rule's grouped instances (the instances beyond `maxInstancesPerRule`).
    public static let groupedLabel = "poolwatch_grouped"

    /// Keeps at most `limit` identities of `active` and replaces the rest by one grouped observation per
    /// target whose value is how many it stands for. Identities already tracked (not resolved) are kept
    /// first, so a firing alert is not resolved by the cap; then the smallest label sets, so the choice
    /// is stable. A grouped instance keeps its `target` label so that, like any other, it is frozen
    /// rather than resolved while its target delivers no data.
    static func group(
        _ active: inout [LabelSet: AlertObservation], beyond limit: Int, of rule: AlertRule, tracked: [LabelSet: AlertInstance]
    ) {
        guard active.count > limit else { return }
        let isTracked = { (identity: LabelSet) in tracked[identity].map { $0.phase != .resolved } ?? false }
        let order = active.keys.sorted { a, b in
            let (ta, tb) = (isTracked(a), isTracked(b))
            return ta != tb ? ta : a < b
        }
        var restByTarget: [String?: Int] = [:]
        for identity in order.dropFirst(max(0, limit)) {
            active[identity] = nil
            restByTarget[identity["target"], default: 0] += 1
        }
        for (target, count) in restByTarget {
            let identity = LabelSet([Label(groupedLabel, "true")] + (target.map { [Label("target", $0)] } ?? []))
            let summary = "\(count) more \(rule.name) alerts" + (target.map { " on \($0)" } ?? "")
                + " than the \(limit) tracked one by one"
            var annotations = [
                Label("summary", summary),
                Label("description", summary + "; they are grouped into this alert. See /metrics for every series."),
            ]
            if let runbook = rule.runbookURL { annotations.append(Label("runbook_url", runbook)) }
            active[identity] = .active(
                value: Double(count), labels: rule.alertLabels(for: identity), annotations: LabelSet(annotations))
        }
    }

    /// `fired` for every firing instance not yet notified and not muted; `resolved` for every instance
    /// resolved now whose `fired` went out. Ordered by rule, then labels.
    private mutating func notifications(at time: Double, resolvedNow: Set<InstanceRef>) -> [AlertTransition] {
        var transitions: [AlertTransition] = []
        for var orphan in orphans where orphan.notified {
            orphan.forceResolve(at: time)
            var transition = AlertTransition(.resolved, orphan, rule: nil)
            transition.reason = orphanReasons[orphan.key] ?? "its rule no longer exists"
            transitions.append(transition)
        }
        orphans = []
        orphanReasons = [:]
        let inhibited = inhibitedTargets()
        for rule in rules {
            guard var current = instances[rule.name] else { continue }
            for identity in current.keys.sorted() {
                var instance = current[identity]!
                if instance.phase == .resolved {
                    if instance.notified && resolvedNow.contains(InstanceRef(rule: rule.name, identity: identity)) {
                        transitions.append(AlertTransition(.resolved, instance, rule: rule))
                        instance.markNotified(false)
                    }
                } else if instance.phase.isFiring && !instance.notified
                    && !isMuted(instance, rule: rule, at: time, inhibitedTargets: inhibited)
                {
                    instance.markNotified(true)
                    transitions.append(AlertTransition(.fired, instance, rule: rule))
                }
                current[identity] = instance
            }
            instances[rule.name] = current
        }
        return transitions
    }

    /// Targets with a firing alert of an inhibiting (target-down) rule.
    private func inhibitedTargets() -> Set<String> {
        var targets: Set<String> = []
        for rule in rules where rule.inhibitsSameTarget {
            for instance in (instances[rule.name] ?? [:]).values where instance.phase.isFiring {
                if let target = instance.identity["target"] { targets.insert(target) }
            }
        }
        return targets
    }

    private func isMuted(_ instance: AlertInstance, rule: AlertRule, at time: Double, inhibitedTargets: Set<String>) -> Bool {
        !silencesMatching(instance, at: time).isEmpty || isInhibited(instance, rule: rule, inhibitedTargets: inhibitedTargets)
    }

    private func silencesMatching(_ instance: AlertInstance, at time: Double) -> [String] {
        silences.filter { $0.isActive(at: time) && $0.matches(instance.labels) }.map(\.id)
    }

    private func isInhibited(_ instance: AlertInstance, rule: AlertRule, inhibitedTargets: Set<String>) -> Bool {
        !rule.inhibitsSameTarget && instance.identity["target"].map(inhibitedTargets.contains) == true
    }

    // MARK: Reload

    /// Takes a reloaded configuration's rules and silences. Instances of rules that still exist keep
    /// their state (a firing alert stays firing and is not paged again, a pending one keeps its timer,
    /// and the next evaluation judges it against the new threshold); instances of rules that are gone,
    /// and of `removedTargets`, resolve at the next evaluation if their `fired` went out, saying why.
    public mutating func reconfigure(rules newRules: [AlertRule], silences: [AlertSilence], removedTargets: Set<String>) {
        let names = Set(newRules.map(\.name))
        for (rule, byIdentity) in instances {
            for (identity, instance) in byIdentity {
                let reason: String
                if !names.contains(rule) {
                    reason = "rule \(rule) was removed or disabled by a configuration reload"
                } else if let target = identity["target"], removedTargets.contains(target) {
                    reason = "target \(target) was removed from the configuration"
                } else {
                    continue
                }
                instances[rule]?[identity] = nil
                guard instance.phase != .resolved else { continue }
                orphans.append(instance)
                orphanReasons[instance.key] = reason
            }
            if instances[rule]?.isEmpty == true { instances[rule] = nil }
        }
        rules = newRules
        self.silences = silences
        history.retain(for: newRules.flatMap { $0.expr.selectors })
    }

    /// Every known instance (pending, firing, held, recently resolved), by rule order then labels.
    public func alerts(at time: Double) -> [Status] {
        let inhibited = inhibitedTargets()
        return rules.flatMap { rule in
            (instances[rule.name] ?? [:]).sorted { $0.key < $1.key }.map { _, instance in
                Status(
                    instance: instance, severity: rule.severity, silencedBy: silencesMatching(instance, at: time),
                    inhibited: isInhibited(instance, rule: rule, inhibitedTargets: inhibited))
            }
        }
    }

    /// A `fired` transition for every instance firing now whose `fired` went out (the engine's view
    /// of what receivers were told), for reconciling an outbox that lost records. Rule order, then labels.
    public func announcedFiring() -> [AlertTransition] {
        rules.flatMap { rule in
            (instances[rule.name] ?? [:]).sorted { $0.key < $1.key }
                .filter { $0.value.phase.isFiring && $0.value.notified }
                .map { AlertTransition(.fired, $0.value, rule: rule) }
        }
    }

    // MARK: Persistence

    /// The state to persist after each evaluation (after its transitions are safely in the outbox).
    public func persistentState(at time: Double) -> AlertEngineState {
        let all = rules.flatMap { rule in (instances[rule.name] ?? [:]).sorted { $0.key < $1.key }.map(\.value) }
        return AlertEngineState(savedAt: time, instances: all + orphans)
    }

    /// Restores instances saved by a previous process. Firing instances come back firing; pending ones
    /// keep their timer only if the outage was at most `forOutageTolerance`; instances of rules that no
    /// longer exist are resolved at the next evaluation if their `fired` went out.
    public mutating func restore(_ state: AlertEngineState, at time: Double) {
        let names = Set(rules.map(\.name))
        for instance in state.instances {
            guard names.contains(instance.rule) else {
                orphans.append(instance)
                continue
            }
            switch instance.phase {
            case .pending where time - state.savedAt > options.forOutageTolerance:
                continue
            case .resolved where time - (instance.resolvedAt ?? time) > options.resolvedRetention:
                continue
            default:
                instances[instance.rule, default: [:]][instance.identity] = instance
            }
        }
    }
}

/// One instance's address in the engine.
struct InstanceRef: Hashable {
    var rule: String
    var identity: LabelSet
}

/// Everything the engine needs to survive a restart: the alert instances, including whether each one
/// was notified. `Codable` for the caller's JSON encoder (the core has no Foundation).
public struct AlertEngineState: Sendable, Equatable, Codable {
    public var version: Int
    /// Seconds since the epoch when the state was taken.
    public var savedAt: Double
    public var instances: [AlertInstance]

    public init(savedAt: Double, instances: [AlertInstance], version: Int = 1) {
        self.version = version
        self.savedAt = savedAt
        self.instances = instances
    }
}

extension AlertInstance {
    /// Resolves an instance whose rule disappeared.
    mutating func forceResolve(at time: Double) {
        phase = .resolved
        resolvedAt = time
    }
}
