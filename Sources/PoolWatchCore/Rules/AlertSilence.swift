/// A silence: alerts whose labels match every matcher get no `fired` notification until `endsAt`.
///
/// A silence never suppresses a `resolved` for an alert whose `fired` already went out: muting a
/// resolve leaves the PagerDuty incident open forever (alertmanager#3664).
public struct AlertSilence: Sendable, Equatable {
    public var id: String
    public var matchers: [LabelMatcher]
    /// Seconds since the epoch; nil means "already active".
    public var startsAt: Double?
    public var endsAt: Double
    public var comment: String

    public init(id: String, matchers: [LabelMatcher], startsAt: Double? = nil, endsAt: Double, comment: String = "") {
        self.id = id
        self.matchers = matchers
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.comment = comment
    }

    /// Builds a silence from matcher text in PromQL selector syntax:
    /// `{alertname="PoolwatchPoolSaturated", target=~"pgb-.*"}`, or `PoolwatchPoolSaturated{target="pgb-1"}` where the
    /// name stands for `alertname`.
    public init(id: String, matchers text: String, startsAt: Double? = nil, endsAt: Double, comment: String = "")
        throws(PromQLParseError)
    {
        let expr = try PromQLParser.parse(text)
        guard case .vector(let selector) = expr else {
            throw PromQLParseError(column: 1, message: "expected label matchers such as {alertname=\"PoolwatchPoolSaturated\"}")
        }
        let matchers = selector.matchers.map { matcher in
            guard matcher.name == LabelSet.metricName else { return matcher }
            // Same kind and value, so the regex (if any) is valid already.
            return (try? LabelMatcher("alertname", matcher.kind, matcher.value)) ?? matcher
        }
        self.init(id: id, matchers: matchers, startsAt: startsAt, endsAt: endsAt, comment: comment)
    }

    public func isActive(at time: Double) -> Bool { (startsAt ?? -.infinity) <= time && time < endsAt }

    public func matches(_ labels: LabelSet) -> Bool { matchers.allSatisfy { $0.matches(labels[$0.name]) } }
}
