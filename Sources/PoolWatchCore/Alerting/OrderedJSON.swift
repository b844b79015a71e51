/// A JSON value whose object members keep the order they were written in, serialized compactly.
///
/// Payloads and the outbox state file are written with it, so their bytes are deterministic and tests
/// can compare them exactly. (``JSONValue`` is the parser's model: its objects are unordered.)
public indirect enum OrderedJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    /// Written as an integer when it is one, otherwise in Swift's shortest round-trip form; NaN and
    /// infinities (not representable in JSON) become `null`.
    case number(Double)
    case string(String)
    case array([OrderedJSON])
    case object([Member])

    public struct Member: Sendable, Equatable {
        public var key: String
        public var value: OrderedJSON
        public init(_ key: String, _ value: OrderedJSON) {
            self.key = key
            self.value = value
        }
    }

    /// An object from `(key, value)` pairs, in order; pairs whose value is nil are left out.
    public static func fields(_ pairs: KeyValuePairs<String, OrderedJSON?>) -> OrderedJSON {
        .object(pairs.compactMap { pair in pair.value.map { Member(pair.key, $0) } })
    }

    /// `.string(text)`, or nil for nil (for optional members of ``fields(_:)``).
    public static func optionalString(_ text: String?) -> OrderedJSON? { text.map { .string($0) } }

    /// The compact JSON text.
    public var text: String {
        var output = ""
        write(into: &output)
        return output
    }

    public func write(into output: inout String) {
        switch self {
        case .null: output += "null"
        case let .bool(value): output += value ? "true" : "false"
        case let .int(value): output += String(value)
        case let .number(value): output += Self.numberText(value)
        case let .string(value): Self.writeString(value, into: &output)
        case let .array(values):
            output += "["
            for (index, value) in values.enumerated() {
                if index > 0 { output += "," }
                value.write(into: &output)
            }
            output += "]"
        case let .object(members):
            output += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { output += "," }
                Self.writeString(member.key, into: &output)
                output += ":"
                member.value.write(into: &output)
            }
            output += "}"
        }
    }

    /// `12` for 12.0, `0.85` for 0.85, `null` for NaN and infinities.
    public static func numberText(_ value: Double) -> String {
        guard value.isFinite else { return "null" }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }

    /// Writes `text` as a JSON string: `"` and `\` escaped, control characters as `\n`, `\t`, … or
    /// `\u00XX`, and U+2028/U+2029 escaped too (they end a line in JavaScript).
    public static func writeString(_ text: String, into output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case "\u{08}": output += "\\b"
            case "\u{0C}": output += "\\f"
            case "\u{2028}": output += "\\u2028"
            case "\u{2029}": output += "\\u2029"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16)
                    output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    output.unicodeScalars.append(scalar)
                }
            }
        }
        output += "\""
    }

    /// `text` as a JSON string literal, quotes included.
    public static func quoted(_ text: String) -> String {
        var output = ""
        writeString(text, into: &output)
        return output
    }
}

extension OrderedJSON {
    /// A parsed value written back; object members sorted by key (the parser keeps no order).
    public init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case let .bool(flag): self = .bool(flag)
        case let .number(number): self = .number(number)
        case let .string(text): self = .string(text)
        case let .array(values): self = .array(values.map(OrderedJSON.init))
        case let .object(members): self = .object(members.keys.sorted().map { Member($0, OrderedJSON(members[$0]!)) })
        }
    }
}
