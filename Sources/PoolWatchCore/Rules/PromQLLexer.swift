/// Splits a PromQL expression into tokens, each with its 1-based column, so that every parse error
/// can point at the place in the rule text where it happened.
///
/// Like Prometheus' lexer, the text between `[` and `]` is one duration token (`5m`, `1h30m`): outside
/// brackets `5m` would read as the number 5 followed by the name `m`.
struct PromQLToken: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case identifier(String)
        case number(Double)
        case string(String)
        case duration(String)
        case leftParen, rightParen, leftBrace, rightBrace, leftBracket, rightBracket, comma, colon
        case assign, equal, notEqual, regexMatch, regexNoMatch
        case less, lessOrEqual, greater, greaterOrEqual
        case plus, minus, star, slash, percent, caret
        case end
    }

    var kind: Kind
    /// 1-based column of the token's first character.
    var column: Int

    /// How the token reads in an error message.
    var display: String {
        switch kind {
        case .identifier(let name): return "'\(name)'"
        case .number(let value): return "number \(value)"
        case .string: return "string"
        case .duration(let text): return "duration '\(text)'"
        case .end: return "end of input"
        default: return "'\(PromQLToken.symbol(kind))'"
        }
    }

    static func symbol(_ kind: Kind) -> String {
        switch kind {
        case .leftParen: "("
        case .rightParen: ")"
        case .leftBrace: "{"
        case .rightBrace: "}"
        case .leftBracket: "["
        case .rightBracket: "]"
        case .comma: ","
        case .colon: ":"
        case .assign: "="
        case .equal: "=="
        case .notEqual: "!="
        case .regexMatch: "=~"
        case .regexNoMatch: "!~"
        case .less: "<"
        case .lessOrEqual: "<="
        case .greater: ">"
        case .greaterOrEqual: ">="
        case .plus: "+"
        case .minus: "-"
        case .star: "*"
        case .slash: "/"
        case .percent: "%"
        case .caret: "^"
        default: "?"
        }
    }
}

/// A PromQL syntax or type error at a 1-based column of the expression.
public struct PromQLParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var column: Int
    public var message: String

    public init(column: Int, message: String) {
        self.column = column
        self.message = message
    }

    /// `column 17: expected ')' …`; callers prefix the rule name.
    public var description: String { "column \(column): \(message)" }
}

struct PromQLLexer {
    let scalars: [Unicode.Scalar]
    var position = 0

    init(_ text: String) { scalars = Array(text.unicodeScalars) }

    static func tokenize(_ text: String) throws(PromQLParseError) -> [PromQLToken] {
        var lexer = PromQLLexer(text)
        var tokens: [PromQLToken] = []
        while true {
            let token = try lexer.next(afterLeftBracket: tokens.last?.kind == .leftBracket)
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    var peek: Unicode.Scalar? { position < scalars.count ? scalars[position] : nil }
    func peek(_ offset: Int) -> Unicode.Scalar? {
        position + offset < scalars.count ? scalars[position + offset] : nil
    }

    mutating func skipSpaceAndComments() {
        while let scalar = peek {
            if scalar == "#" {
                while let inComment = peek, inComment != "\n" { position += 1 }
            } else if scalar.properties.isWhitespace {
                position += 1
            } else {
                return
            }
        }
    }

    mutating func next(afterLeftBracket: Bool) throws(PromQLParseError) -> PromQLToken {
        skipSpaceAndComments()
        let start = position
        let column = start + 1
        guard let scalar = peek else { return PromQLToken(kind: .end, column: column) }
        if afterLeftBracket && scalar != "]" {
            var text = ""
            while let inner = peek, inner != ":", isNameScalar(inner) || inner == "." {
                text.unicodeScalars.append(inner)
                position += 1
            }
            if !text.isEmpty { return PromQLToken(kind: .duration(text), column: column) }
        }
        if isNameStart(scalar) {
            var name = ""
            while let inner = peek, isNameScalar(inner) || inner == ":" {
                name.unicodeScalars.append(inner)
                position += 1
            }
            let lower = name.lowercased()
            if lower == "inf" { return PromQLToken(kind: .number(.infinity), column: column) }
            if lower == "nan" { return PromQLToken(kind: .number(.nan), column: column) }
            return PromQLToken(kind: .identifier(name), column: column)
        }
        if isDigit(scalar) || (scalar == "." && peek(1).map(isDigit) == true) {
            return PromQLToken(kind: try lexNumberOrDuration(column: column), column: column)
        }
        if scalar == "\"" || scalar == "'" || scalar == "`" {
            return PromQLToken(kind: .string(try lexString(quote: scalar, column: column)), column: column)
        }
        position += 1
        let two = peek.map { String(scalar) + String($0) }
        let kind: PromQLToken.Kind
        switch (scalar, two) {
        case (_, "=="?): position += 1; kind = .equal
        case (_, "!="?): position += 1; kind = .notEqual
        case (_, "=~"?): position += 1; kind = .regexMatch
        case (_, "!~"?): position += 1; kind = .regexNoMatch
        case (_, "<="?): position += 1; kind = .lessOrEqual
        case (_, ">="?): position += 1; kind = .greaterOrEqual
        case ("(", _): kind = .leftParen
        case (")", _): kind = .rightParen
        case ("{", _): kind = .leftBrace
        case ("}", _): kind = .rightBrace
        case ("[", _): kind = .leftBracket
        case ("]", _): kind = .rightBracket
        case (",", _): kind = .comma
        case (":", _): kind = .colon
        case ("=", _): kind = .assign
        case ("<", _): kind = .less
        case (">", _): kind = .greater
        case ("+", _): kind = .plus
        case ("-", _): kind = .minus
        case ("*", _): kind = .star
        case ("/", _): kind = .slash
        case ("%", _): kind = .percent
        case ("^", _): kind = .caret
        default:
            throw PromQLParseError(column: column, message: "unexpected character '\(scalar)'")
        }
        return PromQLToken(kind: kind, column: column)
    }

    func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }
    func isNameStart(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || scalar == "_" || scalar == ":"
    }
    func isNameScalar(_ scalar: Unicode.Scalar) -> Bool { isNameStart(scalar) || isDigit(scalar) }

    /// Decimal with optional fraction and exponent, or `0x` hexadecimal, as Go's ParseFloat takes them;
    /// digits followed by letters (`5m`) are a duration, which the parser accepts only inside `[ ]`.
    mutating func lexNumberOrDuration(column: Int) throws(PromQLParseError) -> PromQLToken.Kind {
        var text = ""
        func take(_ predicate: (Unicode.Scalar) -> Bool) {
            while let scalar = peek, predicate(scalar) {
                text.unicodeScalars.append(scalar)
                position += 1
            }
        }
        if peek == "0", let x = peek(1), x == "x" || x == "X" {
            position += 2
            take { $0.properties.isASCIIHexDigit }
            guard let value = UInt64(text, radix: 16) else {
                throw PromQLParseError(column: column, message: "bad number '0x\(text)'")
            }
            return .number(Double(value))
        }
        take(isDigit)
        if peek == "." {
            text += "."
            position += 1
            take(isDigit)
        }
        if let e = peek, e == "e" || e == "E", let after = peek(1),
            isDigit(after) || ((after == "+" || after == "-") && peek(2).map(isDigit) == true)
        {
            text.unicodeScalars.append(e)
            text.unicodeScalars.append(after)
            position += 2
            take(isDigit)
        }
        if let trailing = peek, isNameStart(trailing) {
            take { isNameScalar($0) }
            return .duration(text)
        }
        guard let value = Double(text) else { throw PromQLParseError(column: column, message: "bad number '\(text)'") }
        return .number(value)
    }

    /// Go-style string literals: `"…"` and `'…'` with escapes, `` `…` `` raw.
    mutating func lexString(quote: Unicode.Scalar, column: Int) throws(PromQLParseError) -> String {
        position += 1
        var value = ""
        while true {
            guard let scalar = peek else { throw PromQLParseError(column: column, message: "unterminated quoted string") }
            position += 1
            if scalar == quote { return value }
            if scalar == "\n" && quote != "`" {
                throw PromQLParseError(column: column, message: "unterminated quoted string")
            }
            guard scalar == "\\", quote != "`" else {
                value.unicodeScalars.append(scalar)
                continue
            }
            guard let escaped = peek else { throw PromQLParseError(column: column, message: "unterminated quoted string") }
            position += 1
            switch escaped {
            case "n": value += "\n"
            case "t": value += "\t"
            case "r": value += "\r"
            case "a": value += "\u{07}"
            case "b": value += "\u{08}"
            case "f": value += "\u{0C}"
            case "v": value += "\u{0B}"
            case "\\", "\"", "'": value.unicodeScalars.append(escaped)
            case "x", "u", "U":
                let digits = escaped == "x" ? 2 : (escaped == "u" ? 4 : 8)
                var hex = ""
                for _ in 0..<digits {
                    guard let digit = peek, digit.properties.isASCIIHexDigit else {
                        throw PromQLParseError(column: position + 1, message: "invalid escape sequence in string")
                    }
                    hex.unicodeScalars.append(digit)
                    position += 1
                }
                guard let code = UInt32(hex, radix: 16), let result = Unicode.Scalar(code) else {
                    throw PromQLParseError(column: position + 1, message: "invalid escape sequence in string")
                }
                value.unicodeScalars.append(result)
            default:
                throw PromQLParseError(column: position, message: "unknown escape sequence '\\\(escaped)' in string")
            }
        }
    }
}
