/// The rule side of the `alerting:` section: how often rules run, and changes to the built-in rules.
/// (Receivers, `cluster_id`, `state_dir` and the outbox are in `AlertingConfig`, ReceiversConfig.swift.)
///
/// ```yaml
/// alerting:
///   evaluation_interval: 15s             # default: the shortest target interval
///   rules:
///     PoolwatchClientsWaitingTooLong: {threshold: 5, for: 30s, severity: critical}
///     PoolwatchLongQuery: {enabled: false}
///   silences:
///     - {matchers: 'PoolwatchPoolSaturated{target="bouncer-2"}', ends_at: "2026-12-01T00:00:00Z", comment: maintenance}
/// ```
public struct AlertRulesConfig: Sendable, Equatable {
    public var evaluationInterval: Duration?
    public var ruleOverrides: [String: RuleOverride]
    public var silences: [AlertSilence]

    public init(evaluationInterval: Duration? = nil, ruleOverrides: [String: RuleOverride] = [:], silences: [AlertSilence] = []) {
        self.evaluationInterval = evaluationInterval
        self.ruleOverrides = ruleOverrides
        self.silences = silences
    }

    /// The built-in rules with the overrides applied.
    public func rules() throws(AlertRuleError) -> [AlertRule] {
        try BuiltinRules.rules(overrides: ruleOverrides)
    }
}

extension ConfigLoader {
    /// Keys of `alerting:` read here; `parseAlerting` (ReceiversConfig.swift) allows them too.
    static let alertRulesKeys = ["evaluation_interval", "rules", "silences"]

    /// Reads the rule keys of the `alerting:` mapping. Shape errors and unknown keys of the mapping
    /// itself are reported once, by `parseAlerting`.
    func parseAlertRules(_ node: Node?, reader: inout NodeReader) -> AlertRulesConfig {
        var config = AlertRulesConfig()
        guard let node, case let .mapping(mapping) = node else { return config }
        var fields: [String: Node] = [:]
        for (key, value) in mapping {
            if let name = key.scalar?.string, Self.alertRulesKeys.contains(name) { fields[name] = value }
        }
        if let n = fields["evaluation_interval"], let text = reader.scalar(n, path: "alerting.evaluation_interval") {
            if let value = DurationParser.duration(text), value >= .seconds(1) { config.evaluationInterval = value } else {
                reader.fail("alerting.evaluation_interval", "\(ConfigEcho.quoted(text)) is not a duration of at least 1s (use 15s, 1m)")
            }
        }
        if let n = fields["rules"], case let .mapping(mapping) = n {
            let names = (try? BuiltinRules.rules().map(\.name)) ?? []
            for (keyNode, value) in mapping {
                let name = ConfigEcho.value(keyNode.scalar?.string ?? "?")
                let path = "alerting.rules.\(name)"
                guard names.contains(name) else {
                    var message = "unknown rule"
                    if let suggestion = NodeReader.closest(name, in: names) { message += " (did you mean \(suggestion)?)" }
                    reader.fail(path, message + "; built-in rules: \(names.joined(separator: ", "))")
                    continue
                }
                guard let options = reader.mapping(value, path: path,
                                                   allowed: ["threshold", "for", "keep_firing_for", "severity", "enabled"]) else { continue }
                var override = RuleOverride()
                if let n = options["threshold"], let text = reader.scalar(n, path: "\(path).threshold") {
                    if let number = Double(text) ?? DurationParser.seconds(text) { override.threshold = number } else {
                        reader.fail("\(path).threshold", "\(ConfigEcho.quoted(text)) is not a number or a duration")
                    }
                }
                for (key, keyPath) in [("for", \RuleOverride.forDuration), ("keep_firing_for", \RuleOverride.keepFiringFor)] {
                    guard let n = options[key], let text = reader.scalar(n, path: "\(path).\(key)") else { continue }
                    if let seconds = DurationParser.seconds(text) { override[keyPath: keyPath] = seconds } else {
                        reader.fail("\(path).\(key)", "\(ConfigEcho.quoted(text)) is not a duration (use 30s, 5m)")
                    }
                }
                if let n = options["severity"], let text = reader.scalar(n, path: "\(path).severity") {
                    override.severity = reader.oneOf(text, path: "\(path).severity", AlertSeverity.self)
                }
                if let n = options["enabled"] { override.enabled = reader.bool(n, path: "\(path).enabled") ?? true }
                config.ruleOverrides[name] = override
            }
            do {
                _ = try config.rules()
            } catch {
                reader.fail("alerting.rules", "\(error)")
            }
        } else if fields["rules"] != nil {
            reader.fail("alerting.rules", "expected a mapping of rule names to overrides")
        }
        if let n = fields["silences"], let items = reader.sequence(n, path: "alerting.silences") {
            for (index, item) in items.enumerated() {
                let path = "alerting.silences[\(index)]"
                guard let options = reader.mapping(item, path: path, allowed: ["matchers", "ends_at", "comment"]) else { continue }
                guard let matchers = options["matchers"].flatMap({ reader.scalar($0, path: "\(path).matchers") }),
                      let endsText = options["ends_at"].flatMap({ reader.scalar($0, path: "\(path).ends_at") }) else {
                    reader.fail(path, "needs matchers and ends_at")
                    continue
                }
                guard let endsAt = Timestamp.parseRFC3339(endsText) else {
                    reader.fail("\(path).ends_at", "\(ConfigEcho.quoted(endsText)) is not a UTC time (use 2026-12-01T00:00:00Z)")
                    continue
                }
                let comment = options["comment"].flatMap { reader.scalar($0, path: "\(path).comment") } ?? ""
                do {
                    config.silences.append(try AlertSilence(id: "config-\(index)", matchers: matchers, endsAt: endsAt, comment: comment))
                } catch {
                    reader.fail("\(path).matchers", "\(error)")
                }
            }
        }
        return config
    }
}

/// UTC timestamps in the one form the configuration accepts: `YYYY-MM-DDTHH:MM:SSZ`.
public enum Timestamp {
    public static func parseRFC3339(_ text: String) -> Double? {
        let digits = Array(text.utf8)
        guard digits.count == 20, digits[4] == UInt8(ascii: "-"), digits[7] == UInt8(ascii: "-"),
              digits[10] == UInt8(ascii: "T"), digits[13] == UInt8(ascii: ":"), digits[16] == UInt8(ascii: ":"),
              digits[19] == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int? { Int(String(decoding: digits[range], as: UTF8.self)) }
        guard let year = number(0..<4), let month = number(5..<7), let day = number(8..<10), let hour = number(11..<13),
              let minute = number(14..<16), let second = number(17..<19), (1...12).contains(month), (1...31).contains(day),
              hour < 24, minute < 60, second < 61 else { return nil }
        // Days from the civil date (Howard Hinnant's algorithm).
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        return Double(days * 86400 + hour * 3600 + minute * 60 + second)
    }
}
