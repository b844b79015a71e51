/// A value that must never be printed: a DSN with a password, a webhook URL, a routing key.
///
/// `description` and `debugDescription` both print `<redacted>`, so string interpolation into a log line
/// or an error cannot leak it by accident; the value is reachable only through `revealed`.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    private let value: String

    public init(_ value: String) { self.value = value }

    /// The secret itself, for the one place that hands it to libpq or libcurl.
    public var revealed: String { value }
    public var isEmpty: Bool { value.isEmpty }
    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
}

/// Redaction of libpq connection strings, for the places that must show *which* server a DSN
/// points at (logs, the landing page) without its password.
public enum ConnInfo {
    /// Returns `dsn` with any password replaced by `<redacted>`. Handles both forms libpq accepts:
    /// URIs (`postgresql://user:secret@host/db?password=secret`) and `key=value` strings, quoted or not.
    public static func redacted(_ dsn: String) -> String {
        if dsn.hasPrefix("postgres://") || dsn.hasPrefix("postgresql://") {
            return redactURI(dsn)
        }
        return redactKeyValue(dsn)
    }

    private static func redactURI(_ uri: String) -> String {
        var text = uri
        let schemeEnd = text.firstRange(of: "://")!.upperBound
        let authorityEnd = text[schemeEnd...].firstIndex { $0 == "/" || $0 == "?" } ?? text.endIndex
        if let at = text[schemeEnd..<authorityEnd].lastIndex(of: "@"),
           let colon = text[schemeEnd..<at].firstIndex(of: ":") {
            text.replaceSubrange(text.index(after: colon)..<at, with: "<redacted>")
        }
        // Query parameters: password=...
        guard let question = text.firstIndex(of: "?") else { return text }
        let query = text[text.index(after: question)...].split(separator: "&", omittingEmptySubsequences: false).map { part in
            part.hasPrefix("password=") ? "password=<redacted>" : String(part)
        }
        return String(text[...question]) + query.joined(separator: "&")
    }

    private static func redactKeyValue(_ conninfo: String) -> String {
        var output = ""
        var index = conninfo.startIndex
        while index < conninfo.endIndex {
            // Copy whitespace.
            if conninfo[index].isWhitespace {
                output.append(conninfo[index])
                index = conninfo.index(after: index)
                continue
            }
            // Read key.
            let keyStart = index
            while index < conninfo.endIndex, conninfo[index] != "=", !conninfo[index].isWhitespace {
                index = conninfo.index(after: index)
            }
            let key = conninfo[keyStart..<index]
            output += key
            // Skip spaces around '='.
            while index < conninfo.endIndex, conninfo[index].isWhitespace { index = conninfo.index(after: index) }
            guard index < conninfo.endIndex, conninfo[index] == "=" else { continue }
            output += "="
            index = conninfo.index(after: index)
            while index < conninfo.endIndex, conninfo[index].isWhitespace { index = conninfo.index(after: index) }
            // Read value: quoted with backslash escapes, or up to the next space.
            var value = ""
            if index < conninfo.endIndex, conninfo[index] == "'" {
                value.append("'")
                index = conninfo.index(after: index)
                while index < conninfo.endIndex, conninfo[index] != "'" {
                    if conninfo[index] == "\\", conninfo.index(after: index) < conninfo.endIndex {
                        value.append(conninfo[index])
                        index = conninfo.index(after: index)
                    }
                    value.append(conninfo[index])
                    index = conninfo.index(after: index)
                }
                if index < conninfo.endIndex {
                    value.append("'")
                    index = conninfo.index(after: index)
                }
            } else {
                while index < conninfo.endIndex, !conninfo[index].isWhitespace {
                    value.append(conninfo[index])
                    index = conninfo.index(after: index)
                }
            }
            output += key == "password" ? "<redacted>" : value
        }
        return output
    }
}
