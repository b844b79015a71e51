/// A small subset of JSONPath (RFC 9535): `$`, `.key`, `['key']` / `["key"]`, `[n]`, `[*]` and `.*`.
///
/// Enough to point at the pools array of an application's stats document and at one field inside each
/// pool, with no filters, slices, recursion or functions, so every path is evaluated in linear time.
public struct JSONPath: Sendable, Equatable, CustomStringConvertible {
    public enum Segment: Sendable, Equatable {
        /// An object member.
        case key(String)
        /// An array element, 0-based.
        case index(Int)
        /// Every element of an array, or every member value of an object (in key order).
        case wildcard
    }

    public let segments: [Segment]

    public init(segments: [Segment]) {
        self.segments = segments
    }

    /// The root, `$`.
    public static let root = JSONPath(segments: [])

    /// True when the path selects at most one value (it has no wildcard).
    public var isSingular: Bool { !segments.contains(.wildcard) }

    /// The canonical text: `$.pools[0]['odd key']`.
    public var description: String { Self.format(segments) }

    static func format(_ segments: [Segment]) -> String {
        var text = "$"
        for segment in segments {
            switch segment {
            case let .key(key):
                let plain = !key.isEmpty && key.unicodeScalars.allSatisfy { $0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" }
                    && !("0"..."9").contains(key.unicodeScalars.first!)
                if plain {
                    text += ".\(key)"
                } else {
                    text += "['" + key.replacing("\\", with: "\\\\").replacing("'", with: "\\'") + "']"
                }
            case let .index(index): text += "[\(index)]"
            case .wildcard: text += "[*]"
            }
        }
        return text
    }

    /// Parses a path. It must start with `$`.
    ///
    /// - Throws: ``JSONPathError`` naming the position and the supported syntax.
    public init(parsing text: String) throws(JSONPathError) {
        let chars = Array(text.unicodeScalars)
        var position = 0
        func fail(_ message: String) -> JSONPathError { JSONPathError(message: message, position: position + 1) }
        func isNameScalar(_ scalar: Unicode.Scalar) -> Bool {
            scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-" || scalar == "$"
                || scalar == "@" || scalar.value >= 0x80
        }
        guard chars.first == "$" else {
            throw fail("a path starts with '$' (the document root), e.g. $.pools[*]")
        }
        position = 1
        var segments: [Segment] = []
        while position < chars.count {
            switch chars[position] {
            case ".":
                position += 1
                guard position < chars.count else { throw fail("a name is missing after '.'") }
                if chars[position] == "*" {
                    segments.append(.wildcard)
                    position += 1
                    continue
                }
                let start = position
                while position < chars.count, isNameScalar(chars[position]) { position += 1 }
                guard position > start else {
                    throw fail("unexpected '\(chars[position])' after '.'; quote unusual names as ['name']")
                }
                var name = ""
                name.unicodeScalars.append(contentsOf: chars[start..<position])
                segments.append(.key(name))
            case "[":
                position += 1
                guard position < chars.count else { throw fail("unterminated '['") }
                let opener = chars[position]
                if opener == "*" {
                    position += 1
                    guard position < chars.count, chars[position] == "]" else { throw fail("expected ']' after '[*'") }
                    position += 1
                    segments.append(.wildcard)
                } else if opener == "'" || opener == "\"" {
                    position += 1
                    var name = ""
                    while true {
                        guard position < chars.count else { throw fail("unterminated quoted name") }
                        let scalar = chars[position]
                        if scalar == opener { break }
                        if scalar == "\\" {
                            position += 1
                            guard position < chars.count else { throw fail("unterminated quoted name") }
                        }
                        name.unicodeScalars.append(chars[position])
                        position += 1
                    }
                    position += 1  // closing quote
                    guard position < chars.count, chars[position] == "]" else { throw fail("expected ']' after the quoted name") }
                    position += 1
                    segments.append(.key(name))
                } else if ("0"..."9").contains(opener) {
                    var value = 0
                    while position < chars.count, ("0"..."9").contains(chars[position]) {
                        value = value * 10 + Int(chars[position].value - 48)
                        guard value <= 1_000_000 else { throw fail("array index too large") }
                        position += 1
                    }
                    guard position < chars.count, chars[position] == "]" else { throw fail("expected ']' after the array index") }
                    position += 1
                    segments.append(.index(value))
                } else {
                    throw fail("unexpected '\(opener)' after '['; use [n], [*] or ['name'] (filters and slices are not supported)")
                }
            default:
                throw fail("unexpected '\(chars[position])'; use .name, ['name'], [n] or [*]")
            }
        }
        self.segments = segments
    }

    /// The result of looking up a singular path.
    public enum Lookup: Sendable, Equatable {
        case found(JSONValue)
        /// The path does not resolve: the first `resolved` segments exist, and the value they reach
        /// `problem` (e.g. `has no member "idle"`, `is a string, not an object`).
        case missing(resolved: Int, problem: String)
    }

    /// Follows the path from `value`. Wildcards are not followed (use ``select(in:)``).
    public func lookup(in value: JSONValue) -> Lookup {
        var current = value
        for (position, segment) in segments.enumerated() {
            switch (segment, current) {
            case let (.key(key), .object(members)):
                guard let next = members[key] else { return .missing(resolved: position, problem: "has no member \"\(key)\"") }
                current = next
            case let (.index(index), .array(elements)):
                guard index < elements.count else {
                    return .missing(resolved: position, problem: "has no element [\(index)] (the array has \(elements.count))")
                }
                current = elements[index]
            case (.key, _):
                return .missing(resolved: position, problem: "is \(current.kindDescription), not an object")
            case (.index, _):
                return .missing(resolved: position, problem: "is \(current.kindDescription), not an array")
            case (.wildcard, _):
                return .missing(resolved: position, problem: "[*] selects several values where one is expected")
            }
        }
        return .found(current)
    }

    /// Every value the path selects, each with the canonical path that reaches it (used for the pools
    /// list: `$.pools[*]` → `$.pools[0]`, `$.pools[1]` …).
    ///
    /// - Throws: ``JSONPathError`` with the lookup problem when a non-wildcard step does not resolve.
    public func select(in value: JSONValue) throws(JSONPathError) -> [(path: [Segment], value: JSONValue)] {
        var current: [(path: [Segment], value: JSONValue)] = [([], value)]
        for segment in segments {
            var next: [(path: [Segment], value: JSONValue)] = []
            for (path, item) in current {
                switch (segment, item) {
                case let (.wildcard, .array(elements)):
                    for (index, element) in elements.enumerated() { next.append((path + [.index(index)], element)) }
                case let (.wildcard, .object(members)):
                    for key in members.keys.sorted() { next.append((path + [.key(key)], members[key]!)) }
                case (.wildcard, _):
                    throw JSONPathError(message: "\(Self.format(path)) is \(item.kindDescription); [*] needs an array or object")
                default:
                    switch JSONPath(segments: [segment]).lookup(in: item) {
                    case let .found(found): next.append((path + [segment], found))
                    case let .missing(_, problem): throw JSONPathError(message: "\(Self.format(path)) \(problem)")
                    }
                }
            }
            current = next
        }
        return current
    }
}

/// A path that does not parse, or a selection that does not resolve.
public struct JSONPathError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    /// 1-based character position in the path text (0: not about the text).
    public var position: Int

    public init(message: String, position: Int = 0) {
        self.message = message
        self.position = position
    }

    public var description: String { position > 0 ? "\(message) (at character \(position))" : message }
}
