/// The syntax tree of the PromQL subset poolwatch evaluates locally.
///
/// The rule text, not this tree, is what gets rendered into the Prometheus rule file, so the tree only
/// needs what evaluation needs (plus the original column of selectors for messages).
public indirect enum PromQLExpr: Sendable, Hashable {
    case number(Double)
    case string(String)
    case vector(VectorSelector)
    /// A range selector `selector[range]`; the range in milliseconds.
    case range(VectorSelector, milliseconds: Int64)
    case negate(PromQLExpr)
    case binary(BinaryOperator, PromQLExpr, PromQLExpr, VectorMatching)
    case aggregate(AggregateOperator, grouping: AggregateGrouping, PromQLExpr)
    case call(PromQLFunction, [PromQLExpr])
    case parenthesized(PromQLExpr)

    /// The static type, as Prometheus' parser computes it.
    public var valueType: PromQLValueType {
        switch self {
        case .number: .scalar
        case .string: .string
        case .vector: .vector
        case .range: .matrix
        case .negate(let inner), .parenthesized(let inner): inner.valueType
        case .binary(_, let lhs, let rhs, _):
            lhs.valueType == .scalar && rhs.valueType == .scalar ? .scalar : .vector
        case .aggregate: .vector
        case .call(let function, _): function.returnType
        }
    }

    /// Every selector in the expression, with the range it is read over (0 for instant selectors).
    public var selectors: [(VectorSelector, Int64)] {
        switch self {
        case .number, .string: []
        case .vector(let selector): [(selector, 0)]
        case .range(let selector, let range): [(selector, range)]
        case .negate(let inner), .parenthesized(let inner), .aggregate(_, _, let inner): inner.selectors
        case .binary(_, let lhs, let rhs, _): lhs.selectors + rhs.selectors
        case .call(_, let arguments): arguments.flatMap(\.selectors)
        }
    }
}

public enum PromQLValueType: String, Sendable, Hashable {
    case scalar
    case vector = "instant vector"
    case matrix = "range vector"
    case string
}

/// `name{label="value", …}`: the metric name is stored as an `__name__` equality matcher.
public struct VectorSelector: Sendable, Hashable, CustomStringConvertible {
    public var matchers: [LabelMatcher]

    public init(matchers: [LabelMatcher]) { self.matchers = matchers }

    /// The metric name when the selector fixes one with `name` or `{__name__="name"}`.
    public var metricName: String? {
        matchers.first { $0.name == LabelSet.metricName && $0.kind == .equal }?.value
    }

    public var description: String {
        let name = metricName ?? ""
        let rest = matchers.filter { !($0.name == LabelSet.metricName && $0.kind == .equal && $0.value == name) }
        return rest.isEmpty ? name : name + "{" + rest.map(\.description).joined(separator: ",") + "}"
    }
}

/// One label matcher: `=`, `!=`, `=~`, `!~`. Also used by silences.
public struct LabelMatcher: Sendable, Hashable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        case equal = "="
        case notEqual = "!="
        case regexMatch = "=~"
        case regexNoMatch = "!~"
    }

    public var name: String
    public var kind: Kind
    public var value: String
    /// Compiled once, for the regex kinds.
    public let regex: LabelRegex?

    public init(_ name: String, _ kind: Kind, _ value: String) throws(LabelRegexError) {
        self.name = name
        self.kind = kind
        self.value = value
        self.regex = (kind == .regexMatch || kind == .regexNoMatch) ? try LabelRegex(value) : nil
    }

    /// Whether a label value (empty when the label is missing, as in Prometheus) matches.
    public func matches(_ labelValue: String?) -> Bool {
        let actual = labelValue ?? ""
        switch kind {
        case .equal: return actual == value
        case .notEqual: return actual != value
        case .regexMatch: return regex!.matches(actual)
        case .regexNoMatch: return !regex!.matches(actual)
        }
    }

    /// Whether the matcher matches the empty string; a selector of only such matchers would select
    /// every series, which Prometheus refuses.
    public var matchesEmpty: Bool { matches("") }

    public var description: String { "\(name)\(kind.rawValue)\"\(escapedLabelValue(value))\"" }
}

public enum BinaryOperator: String, Sendable, Hashable, CaseIterable {
    case add = "+", subtract = "-", multiply = "*", divide = "/", modulo = "%"
    case equal = "==", notEqual = "!=", greater = ">", less = "<", greaterOrEqual = ">=", lessOrEqual = "<="
    case and, or, unless

    public var isComparison: Bool {
        switch self {
        case .equal, .notEqual, .greater, .less, .greaterOrEqual, .lessOrEqual: true
        default: false
        }
    }

    public var isSetOperator: Bool { self == .and || self == .or || self == .unless }

    /// Prometheus' precedence: `or` < `and unless` < comparisons < `+ -` < `* / %` (< `^`).
    var precedence: Int {
        switch self {
        case .or: 1
        case .and, .unless: 2
        case .equal, .notEqual, .greater, .less, .greaterOrEqual, .lessOrEqual: 3
        case .add, .subtract: 4
        case .multiply, .divide, .modulo: 5
        }
    }
}

/// How the two sides of a binary operation between vectors are matched (`on`, `ignoring`,
/// `group_left`, `group_right`), plus the `bool` modifier.
public struct VectorMatching: Sendable, Hashable {
    public enum Cardinality: Sendable, Hashable {
        case oneToOne, manyToOne, oneToMany, manyToMany
    }

    public var cardinality: Cardinality = .oneToOne
    /// True for `on(...)`, false for `ignoring(...)` or no modifier.
    public var on = false
    public var labels: [String] = []
    /// The labels listed in `group_left(...)` / `group_right(...)`, copied from the "one" side.
    public var include: [String] = []
    public var returnBool = false

    public init() {}
}

public enum AggregateOperator: String, Sendable, Hashable, CaseIterable {
    case sum, min, max, avg, count, group
}

/// `by (...)` or `without (...)`; `without` with an empty list is the default (aggregate everything).
public struct AggregateGrouping: Sendable, Hashable {
    public var without: Bool
    public var labels: [String]

    public init(without: Bool, labels: [String]) {
        self.without = without
        self.labels = labels
    }

    public static let everything = AggregateGrouping(without: false, labels: [])
}

/// The functions the local evaluator implements, with Prometheus' argument and return types.
public enum PromQLFunction: String, Sendable, Hashable, CaseIterable {
    case rate, increase, changes
    case maxOverTime = "max_over_time", minOverTime = "min_over_time", avgOverTime = "avg_over_time"
    case sumOverTime = "sum_over_time", countOverTime = "count_over_time"
    case absent, time, vector
    case clampMin = "clamp_min", clampMax = "clamp_max"

    var argumentTypes: [PromQLValueType] {
        switch self {
        case .rate, .increase, .changes, .maxOverTime, .minOverTime, .avgOverTime, .sumOverTime, .countOverTime:
            [.matrix]
        case .absent: [.vector]
        case .time: []
        case .vector: [.scalar]
        case .clampMin, .clampMax: [.vector, .scalar]
        }
    }

    var returnType: PromQLValueType { self == .time ? .scalar : .vector }

    /// The longest range this function reads, for history retention (0 for instant functions).
    var readsRange: Bool { argumentTypes == [.matrix] }
}
