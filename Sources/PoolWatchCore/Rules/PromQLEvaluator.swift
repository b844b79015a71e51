/// One element of an instant vector.
public struct VectorSample: Sendable, Hashable {
    public var labels: LabelSet
    public var value: Double

    public init(labels: LabelSet, value: Double) {
        self.labels = labels
        self.value = value
    }
}

/// The result of evaluating an expression at one instant.
public enum PromQLValue: Sendable, Equatable {
    case scalar(Double)
    case vector([VectorSample])
    case string(String)

    /// The value as an alerting rule sees it: a scalar becomes one sample without labels.
    public var asVector: [VectorSample] {
        switch self {
        case .scalar(let value): [VectorSample(labels: LabelSet(), value: value)]
        case .vector(let samples): samples
        case .string: []
        }
    }
}

/// An evaluation that Prometheus would also refuse (e.g. many-to-many matching), with its message.
public struct PromQLEvaluationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Evaluates a parsed expression at one instant over a `SeriesHistory`, with Prometheus 2.x
/// semantics (the version `promtool` in the differential test runs): 5-minute lookback, ranges
/// closed at both ends, staleness markers, `__name__` dropped by arithmetic and functions but kept by
/// filtering comparisons and set operators, and the same floating-point operation order, so results
/// are bit-identical to Prometheus' and annotations print the same digits.
public struct PromQLEvaluator: Sendable {
    public let history: SeriesHistory

    public init(history: SeriesHistory) { self.history = history }

    /// Evaluates `expr` at `seconds` since the epoch.
    public func evaluate(_ expr: PromQLExpr, at seconds: Double) throws(PromQLEvaluationError) -> PromQLValue {
        try evaluate(expr, atMilliseconds: Int64((seconds * 1000).rounded()))
    }

    func evaluate(_ expr: PromQLExpr, atMilliseconds time: Int64) throws(PromQLEvaluationError) -> PromQLValue {
        switch expr {
        case .number(let value):
            return .scalar(value)
        case .string(let value):
            return .string(value)
        case .vector(let selector):
            return .vector(history.instant(selector, at: time))
        case .range:
            throw PromQLEvaluationError("a range vector can only be used as a function argument")
        case .parenthesized(let inner):
            return try evaluate(inner, atMilliseconds: time)
        case .negate(let inner):
            switch try evaluate(inner, atMilliseconds: time) {
            case .scalar(let value): return .scalar(-value)
            case .vector(let samples):
                return .vector(try uniqueLabelSets(samples.map { VectorSample(labels: $0.labels.droppingMetricName, value: -$0.value) }))
            case .string: throw PromQLEvaluationError("unary minus on a string")
            }
        case .binary(let op, let lhs, let rhs, let matching):
            let left = try evaluate(lhs, atMilliseconds: time)
            let right = try evaluate(rhs, atMilliseconds: time)
            return try BinaryEvaluation.apply(op, left, right, matching)
        case .aggregate(let op, let grouping, let inner):
            guard case .vector(let samples) = try evaluate(inner, atMilliseconds: time) else {
                throw PromQLEvaluationError("aggregation over a non-vector")
            }
            return .vector(Aggregation.apply(op, grouping: grouping, to: samples))
        case .call(let function, let arguments):
            return try call(function, arguments, at: time)
        }
    }

    private func call(_ function: PromQLFunction, _ arguments: [PromQLExpr], at time: Int64)
        throws(PromQLEvaluationError) -> PromQLValue
    {
        switch function {
        case .time:
            return .scalar(Double(time) / 1000)
        case .vector:
            guard case .scalar(let value) = try evaluate(arguments[0], atMilliseconds: time) else {
                throw PromQLEvaluationError("vector() needs a scalar")
            }
            return .vector([VectorSample(labels: LabelSet(), value: value)])
        case .absent:
            guard case .vector(let samples) = try evaluate(arguments[0], atMilliseconds: time) else {
                throw PromQLEvaluationError("absent() needs an instant vector")
            }
            return .vector(samples.isEmpty ? [VectorSample(labels: Self.absentLabels(arguments[0]), value: 1)] : [])
        case .clampMin, .clampMax:
            guard case .vector(let samples) = try evaluate(arguments[0], atMilliseconds: time),
                case .scalar(let bound) = try evaluate(arguments[1], atMilliseconds: time)
            else { throw PromQLEvaluationError("\(function.rawValue)() needs an instant vector and a scalar") }
            return .vector(try uniqueLabelSets(samples.map { sample in
                let value = function == .clampMin ? goMax(bound, sample.value) : goMin(bound, sample.value)
                return VectorSample(labels: sample.labels.droppingMetricName, value: value)
            }))
        default:
            guard let (selector, range) = Self.rangeSelector(arguments[0]) else {
                throw PromQLEvaluationError("\(function.rawValue)() needs a range selector such as x[5m]")
            }
            var result: [VectorSample] = []
            for series in history.range(selector, range: range, at: time) {
                let points = series.points.map { RangeFunctions.Point(time: $0.time, value: $0.value) }
                guard let value = RangeFunctions.apply(function, points, rangeStart: time - range, rangeEnd: time, range: range)
                else { continue }
                result.append(VectorSample(labels: series.labels.droppingMetricName, value: value))
            }
            return .vector(try uniqueLabelSets(result))
        }
    }

    static func rangeSelector(_ expr: PromQLExpr) -> (VectorSelector, Int64)? {
        switch expr {
        case .range(let selector, let range): (selector, range)
        case .parenthesized(let inner): rangeSelector(inner)
        default: nil
        }
    }

    /// `absent(x{a="b"})` returns `{a="b"} 1`: the labels of the equality matchers, except a label
    /// matched more than once or also by another matcher kind (Prometheus' rule).
    static func absentLabels(_ expr: PromQLExpr) -> LabelSet {
        let matchers: [LabelMatcher]
        switch expr {
        case .vector(let selector), .range(let selector, _): matchers = selector.matchers
        default: return LabelSet()
        }
        var labels = LabelSet()
        var ambiguous: [String] = []
        for matcher in matchers where matcher.name != LabelSet.metricName {
            if matcher.kind == .equal && labels[matcher.name] == nil {
                labels = labels.setting(matcher.name, matcher.value)
            } else {
                ambiguous.append(matcher.name)
            }
        }
        return labels.removing(ambiguous)
    }
}

/// Prometheus refuses a vector in which two elements have the same labels (e.g. after `__name__`
/// was dropped from two metrics with otherwise equal labels).
func uniqueLabelSets(_ samples: [VectorSample]) throws(PromQLEvaluationError) -> [VectorSample] {
    var seen: Set<LabelSet> = []
    for sample in samples where !seen.insert(sample.labels).inserted {
        throw PromQLEvaluationError("vector cannot contain metrics with the same labelset (\(sample.labels))")
    }
    return samples
}

/// Go's `math.Max`: +Inf wins, then NaN; +0 beats -0.
func goMax(_ x: Double, _ y: Double) -> Double {
    if x == .infinity || y == .infinity { return .infinity }
    if x.isNaN || y.isNaN { return .nan }
    if x == 0 && x == y { return x.sign == .minus ? y : x }
    return x > y ? x : y
}

/// Go's `math.Min`: -Inf wins, then NaN; -0 beats +0.
func goMin(_ x: Double, _ y: Double) -> Double {
    if x == -.infinity || y == -.infinity { return -.infinity }
    if x.isNaN || y.isNaN { return .nan }
    if x == 0 && x == y { return x.sign == .minus ? x : y }
    return x < y ? x : y
}
