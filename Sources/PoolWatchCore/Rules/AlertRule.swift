/// How urgent an alert is; destinations filter on it (`min_severity`).
public enum AlertSeverity: String, Sendable, Hashable, Codable, CaseIterable, Comparable {
    case info, warning, critical

    public static func < (lhs: AlertSeverity, rhs: AlertSeverity) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// One alerting rule: the PromQL text (rendered verbatim into the Prometheus rule file) and its parsed
/// form (evaluated locally), with Prometheus' `for` / `keep_firing_for` timings, labels and annotation
/// templates. Building a rule validates everything, so a bad rule fails at start-up, not at page time.
public struct AlertRule: Sendable {
    public let name: String
    /// The expression exactly as written; this text is what Prometheus evaluates.
    public let expression: String
    public let expr: PromQLExpr
    /// Seconds the condition must hold before the alert fires.
    public let forDuration: Double
    /// Seconds a firing alert keeps firing after its condition cleared.
    public let keepFiringFor: Double
    public let severity: AlertSeverity
    /// Labels added to every alert of the rule besides `alertname` and `severity`, sorted by name.
    public let extraLabels: [Label]
    public let summary: AlertTemplate
    public let descriptionTemplate: AlertTemplate
    public let runbookURL: String?
    /// The number the condition compares against, for payloads ("12 s, threshold 10 s").
    public let threshold: Double?
    /// Evaluated only by poolwatch, never rendered for Prometheus (e.g. "Prometheus is not scraping").
    public let localOnly: Bool
    /// While an alert of this rule fires for a target, other alerts with the same `target` label are
    /// inhibited: a down target explains its pools' alerts.
    public let inhibitsSameTarget: Bool

    public init(
        name: String, expression: String, forDuration: Double = 0, keepFiringFor: Double = 0,
        severity: AlertSeverity, extraLabels: [String: String] = [:], summary: String, description: String,
        runbookURL: String? = nil, threshold: Double? = nil, localOnly: Bool = false, inhibitsSameTarget: Bool = false
    ) throws(AlertRuleError) {
        func fail(_ message: String) -> AlertRuleError { AlertRuleError(rule: name, message: message) }
        guard Self.isValidName(name) else { throw fail("the name must match [a-zA-Z_][a-zA-Z0-9_]*") }
        let parsed: PromQLExpr
        do {
            parsed = try PromQLParser.parse(expression)
        } catch {
            throw fail(error.description)
        }
        guard parsed.valueType == .vector || parsed.valueType == .scalar else {
            throw fail("the expression must be an instant vector or a scalar, not a \(parsed.valueType.rawValue)")
        }
        guard forDuration >= 0, keepFiringFor >= 0 else { throw fail("'for' and 'keep_firing_for' must not be negative") }
        for (label, _) in extraLabels
        where !Self.isValidName(label) || label.hasPrefix("__") || label == "alertname" || label == "severity" {
            throw fail("label '\(label)' is not allowed (reserved or not a valid label name)")
        }
        // Prometheus expands templates in rule labels too; poolwatch keeps them static, so refuse them.
        for (label, value) in extraLabels where value.contains("{{") {
            throw fail("label '\(label)': templates in rule labels are not supported")
        }
        do {
            self.summary = try AlertTemplate(summary)
            self.descriptionTemplate = try AlertTemplate(description)
        } catch {
            throw fail(error.description)
        }
        self.name = name
        self.expression = expression
        self.expr = parsed
        self.forDuration = forDuration
        self.keepFiringFor = keepFiringFor
        self.severity = severity
        self.extraLabels = extraLabels.map { Label($0.key, $0.value) }.sorted { utf8Less($0.name, $1.name) }
        self.runbookURL = runbookURL
        self.threshold = threshold
        self.localOnly = localOnly
        self.inhibitsSameTarget = inhibitsSameTarget
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, !("0"..."9").contains(first) else { return false }
        return name.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_"
        }
    }

    /// The labels of the alert for one result sample, as Prometheus builds them: the sample's labels
    /// without `__name__`, then the rule's labels (`severity` and extras), then `alertname`.
    public func alertLabels(for sample: LabelSet) -> LabelSet {
        var labels = sample.droppingMetricName.setting("severity", severity.rawValue)
        for label in extraLabels { labels = labels.setting(label.name, label.value) }
        return labels.setting("alertname", name)
    }

    /// The annotations for one result sample; templates see the sample's labels and value.
    public func annotations(for sample: VectorSample) -> LabelSet {
        var pairs = [
            Label("summary", summary.render(labels: sample.labels, value: sample.value)),
            Label("description", descriptionTemplate.render(labels: sample.labels, value: sample.value)),
        ]
        if let runbookURL { pairs.append(Label("runbook_url", runbookURL)) }
        return LabelSet(pairs)
    }
}

/// A rule that cannot be built; the message starts with the rule's name.
public struct AlertRuleError: Error, Sendable, Equatable, CustomStringConvertible {
    public var rule: String
    public var message: String

    public init(rule: String, message: String) {
        self.rule = rule
        self.message = message
    }

    /// `rule PgbouncerPoolSaturated: column 17: expected ')' …`
    public var description: String { "rule \(rule): \(message)" }
}
