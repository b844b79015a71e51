/// What a configuration reload changes, decided from the running and the new configuration alone.
///
/// Reload applies what can change under a running process and keeps the rest: targets are added,
/// removed or restarted one by one (an unchanged target keeps its connection, its series and its
/// alerts), rules, silences, receivers and the log level take effect at once. What is bound at start
/// (the listening socket, the state directory and its lock, the dedup keys' cluster id, the log
/// format) keeps its running value until a restart, and the plan says so in `needsRestart`.
public struct ReloadPlan: Sendable, Equatable {
    /// Names, in the new configuration's order.
    public var added: [String] = []
    /// Names, in the running configuration's order: their collection stops and their alerts resolve.
    public var removed: [String] = []
    /// Same name, different settings: the old collection loop stops and a new one starts.
    public var changed: [String] = []
    public var unchanged: [String] = []
    public var rulesChanged = false
    public var silencesChanged = false
    public var receiversChanged = false
    public var logLevelChanged = false
    /// Settings that differ but are kept until a restart, one line each with the key path.
    public var needsRestart: [String] = []
    /// The configuration to run: the new one, with the settings of `needsRestart` kept as running.
    public var effective: PoolwatchConfig

    public init(running: PoolwatchConfig, new: PoolwatchConfig, pagingRunning: Bool) {
        var effective = new
        let runningByName = Dictionary(running.targets.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        let newNames = Set(new.targets.map(\.name))
        for target in new.targets {
            switch runningByName[target.name] {
            case nil: added.append(target.name)
            case target?: unchanged.append(target.name)
            default: changed.append(target.name)
            }
        }
        removed = running.targets.map(\.name).filter { !newNames.contains($0) }

        if new.listen != running.listen {
            needsRestart.append("listen_address: \(new.listen) needs a restart; still listening on \(running.listen)")
            effective.listen = running.listen
        }
        if new.logFormat != running.logFormat {
            needsRestart.append("log_format: \(new.logFormat.rawValue) needs a restart; still logging \(running.logFormat.rawValue)")
            effective.logFormat = running.logFormat
        }
        if new.alerting.stateDirectory != running.alerting.stateDirectory {
            needsRestart.append("alerting.state_dir: a new directory needs a restart (its lock and files are held); still using "
                + (running.alerting.stateDirectory.map { "\"\($0)\"" } ?? "none"))
            effective.alerting.stateDirectory = running.alerting.stateDirectory
        }
        if new.alerting.clusterID != running.alerting.clusterID && pagingRunning {
            // The cluster id is part of every PagerDuty dedup key: changing it under open incidents
            // would leave them without their resolve.
            needsRestart.append("alerting.cluster_id: a new cluster id needs a restart (open incidents are keyed by the old one)")
            effective.alerting.clusterID = running.alerting.clusterID
        }
        if pagingRunning != new.alerting.isEnabled {
            if pagingRunning {
                // Receivers go away one by one through the running notifier: their queued records die
                // with a reason; the notifier itself stays, with none.
            } else {
                needsRestart.append("receivers: paging was off at start; turning it on needs a restart")
                effective.alerting = running.alerting
            }
        }
        rulesChanged = effective.alertRules.ruleOverrides != running.alertRules.ruleOverrides
            || effective.alertRules.evaluationInterval != running.alertRules.evaluationInterval
        silencesChanged = effective.alertRules.silences != running.alertRules.silences
        receiversChanged = effective.alerting != running.alerting
        logLevelChanged = effective.logLevel != running.logLevel
        self.effective = effective
    }

    /// True when nothing differs.
    public var isEmpty: Bool {
        added.isEmpty && removed.isEmpty && changed.isEmpty && !rulesChanged && !silencesChanged && !receiversChanged
            && !logLevelChanged && needsRestart.isEmpty
    }

    /// One line for the log: `targets added=[a] removed=[b] changed=[] unchanged=3; rules changed`.
    public var summary: String {
        func list(_ names: [String]) -> String { "[" + names.joined(separator: ",") + "]" }
        var parts = ["targets added=\(list(added)) removed=\(list(removed)) changed=\(list(changed)) unchanged=\(unchanged.count)"]
        if rulesChanged { parts.append("rules changed") }
        if silencesChanged { parts.append("silences changed") }
        if receiversChanged { parts.append("receivers changed") }
        if logLevelChanged { parts.append("log level \(effective.logLevel.rawValue)") }
        return parts.joined(separator: "; ")
    }
}
