/// Masks the string literals of SQL text before it leaves poolwatch (`pg_stat_statements_query_info`).
///
/// pg_stat_statements replaces the constants of planned statements (SELECT, INSERT, …) by `$1`, `$2`,
/// but keeps utility statements verbatim: `ALTER ROLE app PASSWORD 'hunter2'`, `CREATE USER MAPPING …
/// OPTIONS (password '…')`, `CREATE SUBSCRIPTION … CONNECTION 'password=…'` would reach `/metrics` whole.
/// Every literal becomes `'***'`, whatever the statement, so no list of "statements with secrets" has to
/// be complete.
///
/// A small lexer, enough to know where literals start and end:
/// - `'…'` with `''` inside; `E'…'` also with backslash escapes;
/// - `$$…$$` and `$tag$…$tag$` (a `$` that continues an identifier or starts `$1` is not a quote);
/// - `"…"` identifiers and `--` / `/* */` comments are skipped, so a quote inside them (`"o'brien"`,
///   `-- don't`) does not shift every later literal boundary and expose the text between two literals.
///
/// Where the text could be read two ways the rest of it is masked rather than guessed:
/// - an unterminated literal (the collector cuts the text at `query_length`) is masked to the end;
/// - a backslash in a plain `'…'` literal means the end depends on `standard_conforming_strings`
///   (`'a\'` ends there when it is on, continues when it is off), so the rest of the text is masked.
public enum QueryTextMasking {
    public static let mask = "'***'"

    public static func mask(_ text: String) -> String {
        let bytes = Array(text.utf8)
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = 0
        let n = bytes.count
        while i < n {
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: "'"):
                let escapes = i > 0 && (bytes[i - 1] | 0x20) == UInt8(ascii: "e") && !(i > 1 && isIdentifier(bytes[i - 2]))
                out += mask.utf8
                guard let end = endOfQuoted(bytes, from: i + 1, backslashEscapes: escapes) else { return finish(out) }
                if !escapes && bytes[(i + 1)..<end].contains(UInt8(ascii: "\\")) { return finish(out) }
                i = end + 1
            case UInt8(ascii: "$") where !(i > 0 && isIdentifier(bytes[i - 1])):
                guard let tagEnd = dollarTagEnd(bytes, from: i) else {
                    out.append(byte)
                    i += 1
                    continue
                }
                let tag = bytes[i...tagEnd]
                out += mask.utf8
                guard let close = find(tag, in: bytes, from: tagEnd + 1) else { return finish(out) }
                i = close + tag.count
            case UInt8(ascii: "\""):
                // Identifiers are kept as they are; `""` inside is an escaped quote.
                let end = endOfQuoted(bytes, from: i + 1, backslashEscapes: false, quote: UInt8(ascii: "\"")) ?? (n - 1)
                out += bytes[i...end]
                i = end + 1
            case UInt8(ascii: "-") where i + 1 < n && bytes[i + 1] == UInt8(ascii: "-"):
                var end = i
                while end < n && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                out += bytes[i..<end]
                i = end
            case UInt8(ascii: "/") where i + 1 < n && bytes[i + 1] == UInt8(ascii: "*"):
                let end = endOfBlockComment(bytes, from: i + 2)
                out += bytes[i..<end]
                i = end
            default:
                out.append(byte)
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    private static func finish(_ out: [UInt8]) -> String { String(decoding: out, as: UTF8.self) }

    /// Letters, digits, `_`, `$` and every non-ASCII byte continue an identifier (PostgreSQL's scanner).
    private static func isIdentifier(_ byte: UInt8) -> Bool {
        byte >= 0x80 || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "$")
            || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || ((byte | 0x20) >= UInt8(ascii: "a") && (byte | 0x20) <= UInt8(ascii: "z"))
    }

    /// Index of the closing quote of a literal whose body starts at `start`, or nil if unterminated.
    private static func endOfQuoted(_ bytes: [UInt8], from start: Int, backslashEscapes: Bool, quote: UInt8 = UInt8(ascii: "'"))
        -> Int?
    {
        var i = start
        while i < bytes.count {
            if backslashEscapes && bytes[i] == UInt8(ascii: "\\") {
                i += 2
                continue
            }
            if bytes[i] == quote {
                if i + 1 < bytes.count && bytes[i + 1] == quote {
                    i += 2
                    continue
                }
                return i
            }
            i += 1
        }
        return nil
    }

    /// For `$` at `start`: the index of the `$` closing a dollar-quote tag (`$$`, `$tag$`), or nil when
    /// this `$` is something else (`$1`, a lone `$`). A tag is an identifier that does not start with a digit.
    private static func dollarTagEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        var i = start + 1
        if i < bytes.count, bytes[i] >= UInt8(ascii: "0") && bytes[i] <= UInt8(ascii: "9") { return nil }
        while i < bytes.count && bytes[i] != UInt8(ascii: "$") && isIdentifier(bytes[i]) { i += 1 }
        return i < bytes.count && bytes[i] == UInt8(ascii: "$") ? i : nil
    }

    private static func find(_ needle: ArraySlice<UInt8>, in bytes: [UInt8], from start: Int) -> Int? {
        guard needle.count <= bytes.count - start else { return nil }
        var i = start
        while i + needle.count <= bytes.count {
            if bytes[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    /// The index after the `*/` closing a block comment whose body starts at `start` (comments nest),
    /// or the end of the text.
    private static func endOfBlockComment(_ bytes: [UInt8], from start: Int) -> Int {
        var depth = 1
        var i = start
        while i + 1 < bytes.count {
            if bytes[i] == UInt8(ascii: "/") && bytes[i + 1] == UInt8(ascii: "*") {
                depth += 1
                i += 2
            } else if bytes[i] == UInt8(ascii: "*") && bytes[i + 1] == UInt8(ascii: "/") {
                depth -= 1
                i += 2
                if depth == 0 { return i }
            } else {
                i += 1
            }
        }
        return bytes.count
    }
}
