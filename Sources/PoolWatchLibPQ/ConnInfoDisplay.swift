import CLibPQ
import PoolWatchCore

/// The displayed form of a DSN, built from libpq's own parse of it (`PQconninfoParse`) so that what
/// is shown is what libpq will use: `password=abc\ REST` is one password, `?%70assword=…` in a URI is
/// a password too. Options libpq marks as secret (`dispchar` "*": `password`, `sslpassword`) show as
/// `<redacted>`; every other option given is shown in `key=value` form, whatever form the DSN used.
public enum LibPQConnInfo {
    /// Pass this to `ConfigLoader(displayConnInfo:)`.
    public static let display: ConnInfoDisplay = { describe($0) }

    /// Shown first, in the order people write them; the rest follow in libpq's order.
    static let leading = ["host", "hostaddr", "port", "dbname", "user"]

    static func describe(_ dsn: String) -> String {
        // libpq's error message may quote the unparsed rest of the string (a password with it), so
        // only the fact is shown.
        guard let options = PQconninfoParse(dsn, nil) else { return "(not a valid libpq connection string)" }
        defer { PQconninfoFree(options) }
        var parts: [(order: Int, text: String)] = []
        var option = options
        while let keyword = option.pointee.keyword {
            defer { option += 1 }
            guard let value = option.pointee.val else { continue }
            let name = String(cString: keyword)
            let secret = name == "password" || option.pointee.dispchar.map { String(cString: $0) == "*" } ?? false
            let order = leading.firstIndex(of: name) ?? leading.count + parts.count
            parts.append((order, "\(name)=\(secret ? "<redacted>" : quoted(String(cString: value)))"))
        }
        return parts.isEmpty ? "(libpq defaults)" : parts.sorted { $0.order < $1.order }.map(\.text).joined(separator: " ")
    }

    /// A value as libpq's key/value syntax needs it: bare, or single-quoted with `\` and `'` escaped.
    static func quoted(_ value: String) -> String {
        let plain = !value.isEmpty && !value.contains { $0.isWhitespace || $0 == "'" || $0 == "\\" }
        if plain { return value }
        return "'" + value.replacing("\\", with: "\\\\").replacing("'", with: "\\'") + "'"
    }
}
