/// Reads a YAML node tree while collecting errors with key paths, instead of stopping at the first.
struct NodeReader {
    var errors: [ConfigError] = []

    mutating func fail(_ path: String, _ message: String) {
        errors.append(ConfigError(path, message))
    }

    private func child(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private static func kindName(_ node: Node) -> String {
        switch node {
        case .scalar: return "a single value"
        case .mapping: return "a mapping"
        case .sequence: return "a list"
        }
    }

    /// A mapping whose keys must all be in `allowed`. Unknown keys are errors with a suggestion.
    mutating func mapping(_ node: Node, path: String, allowed: [String]) -> [String: Node]? {
        guard case let .mapping(mapping) = node else {
            fail(path.isEmpty ? "(top level)" : path, "expected a mapping of keys, found \(Self.kindName(node))")
            return nil
        }
        var result: [String: Node] = [:]
        for (keyNode, value) in mapping {
            let key = ConfigEcho.value(keyNode.scalar?.string ?? "?")
            guard allowed.contains(key) else {
                var message = "unknown key"
                if let suggestion = Self.closest(key, in: allowed) { message += " (did you mean \(suggestion)?)" }
                message += "; expected one of: \(allowed.joined(separator: ", "))"
                fail(child(path, key), message)
                continue
            }
            if result[key] != nil { fail(child(path, key), "is given twice") }
            result[key] = value
        }
        return result
    }

    mutating func sequence(_ node: Node, path: String) -> [Node]? {
        guard case let .sequence(sequence) = node else {
            fail(path, "expected a list, found \(Self.kindName(node))")
            return nil
        }
        return Array(sequence)
    }

    mutating func scalar(_ node: Node, path: String, quoteValue: Bool = true) -> String? {
        guard case let .scalar(scalar) = node else {
            fail(path, "expected a single value, found \(Self.kindName(node))")
            return nil
        }
        if scalar.tag == "tag:yaml.org,2002:null" || (scalar.style == .plain && ["~", "null", ""].contains(scalar.string)) {
            fail(path, "must not be empty")
            return nil
        }
        return scalar.string
    }

    mutating func integer(_ node: Node, path: String, range: ClosedRange<Int>) -> Int? {
        guard let text = scalar(node, path: path) else { return nil }
        guard let value = Int(text) else {
            fail(path, "\(ConfigEcho.quoted(text)) is not a whole number")
            return nil
        }
        guard range.contains(value) else {
            fail(path, "\(value) is out of range (\(range.lowerBound) to \(range.upperBound))")
            return nil
        }
        return value
    }

    mutating func bool(_ node: Node, path: String) -> Bool? {
        guard let text = scalar(node, path: path) else { return nil }
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            fail(path, "\(ConfigEcho.quoted(text)) is not a boolean (use true or false)")
            return nil
        }
    }

    mutating func oneOf<E: RawRepresentable & CaseIterable>(_ text: String, path: String, _ type: E.Type) -> E?
    where E.RawValue == String {
        if let value = E(rawValue: text) { return value }
        fail(path, "\(ConfigEcho.quoted(text)) is not valid (expected one of: \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
        return nil
    }

    /// The allowed key nearest to a typo, if it is close enough to be a plausible intent.
    static func closest(_ key: String, in allowed: [String]) -> String? {
        let scored = allowed.map { ($0, editDistance(key, $0)) }.min { $0.1 < $1.1 }
        guard let (best, distance) = scored, distance <= max(2, key.count / 3) else { return nil }
        return best
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}
