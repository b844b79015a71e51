/// The labels of one series or alert, sorted by name and unique, as Prometheus keeps them.
///
/// Sorting makes two label sets equal exactly when Prometheus would call them the same series, gives
/// a deterministic order for results and rule files, and lets vector matching hash the set directly.
/// Names and values compare by their UTF-8 bytes, like Go strings, so ordering matches Prometheus'.
/// `__name__` is an ordinary label here; selectors add it and arithmetic removes it.
public struct LabelSet: Sendable, Hashable, Comparable, CustomStringConvertible {
    public static let metricName = "__name__"

    /// The labels, sorted by name, names unique.
    public private(set) var labels: [Label]

    /// Sorts `labels` by name; when a name repeats, the first occurrence wins.
    public init(_ labels: [Label] = []) {
        var sorted: [Label] = []
        sorted.reserveCapacity(labels.count)
        for label in labels where !sorted.contains(where: { $0.name == label.name }) {
            sorted.append(label)
        }
        sorted.sort { utf8Less($0.name, $1.name) }
        self.labels = sorted
    }

    /// Builds a set from name/value pairs (handy in tests and rule definitions).
    public init(_ pairs: KeyValuePairs<String, String>) {
        self.init(pairs.map { Label($0.key, $0.value) })
    }

    public var isEmpty: Bool { labels.isEmpty }

    public subscript(name: String) -> String? {
        labels.first { $0.name == name }?.value
    }

    /// A copy with `name` set to `value`; an empty value removes the label, as in Prometheus.
    public func setting(_ name: String, _ value: String) -> LabelSet {
        var copy = removing([name])
        guard !value.isEmpty else { return copy }
        let index = copy.labels.firstIndex { utf8Less(name, $0.name) } ?? copy.labels.endIndex
        copy.labels.insert(Label(name, value), at: index)
        return copy
    }

    /// A copy without the labels named in `names`.
    public func removing(_ names: [String]) -> LabelSet {
        guard !names.isEmpty else { return self }
        var copy = self
        copy.labels.removeAll { names.contains($0.name) }
        return copy
    }

    /// A copy holding only the labels named in `names`.
    public func keeping(_ names: [String]) -> LabelSet {
        var copy = self
        copy.labels.removeAll { !names.contains($0.name) }
        return copy
    }

    /// A copy without `__name__`.
    public var droppingMetricName: LabelSet { removing([Self.metricName]) }

    /// Prometheus' order (`labels.Compare`): label by label, name then value, shorter set first.
    public static func < (lhs: LabelSet, rhs: LabelSet) -> Bool {
        for (left, right) in zip(lhs.labels, rhs.labels) {
            if left.name != right.name { return utf8Less(left.name, right.name) }
            if left.value != right.value { return utf8Less(left.value, right.value) }
        }
        return lhs.labels.count < rhs.labels.count
    }

    /// `name{a="b", c="d"}` as Prometheus prints a series, or `{a="b"}` without a name.
    public var description: String {
        let name = self[Self.metricName] ?? ""
        let rest = labels.filter { $0.name != Self.metricName }
        if !name.isEmpty && rest.isEmpty { return name }
        let body = rest.map { "\($0.name)=\"\(escapedLabelValue($0.value))\"" }.joined(separator: ", ")
        return "\(name){\(body)}"
    }
}

/// Encoded as a JSON object `{"target": "pgb1"}`, so persisted alert state stays readable.
extension LabelSet: Codable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let dictionary = try container.decode([String: String].self)
        self.init(dictionary.map { Label($0.key, $0.value) })
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        var dictionary: [String: String] = [:]
        for label in labels { dictionary[label.name] = label.value }
        try container.encode(dictionary)
    }
}

/// Go's string order: bytewise on UTF-8.
func utf8Less(_ lhs: String, _ rhs: String) -> Bool {
    lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
}

/// Escapes a label value the way PromQL and the exposition format quote it.
func escapedLabelValue(_ value: String) -> String {
    var out = ""
    for character in value.unicodeScalars {
        switch character {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        default: out.unicodeScalars.append(character)
        }
    }
    return out
}
