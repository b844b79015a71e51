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

/// The rule for files that hold a secret (`dsn_file`, `url_file`, `value_file`, `*_file` of receivers).
///
/// libpq ignores a `.pgpass` that group or others may read or write, and accepts a key file readable
/// by group only when root owns it (certificates managed by the system; Kubernetes secret volumes are
/// root-owned, group `fsGroup`, mode 0440). poolwatch follows the same rule but refuses instead of
/// ignoring: a secret silently not read would look like a wrong password. Writable by group or others
/// is refused too, since whoever can write the DSN can point poolwatch at their own server.
public enum SecretFileMode {
    /// Why the permission bits `mode` (of a file owned by root or not) are unsafe, with the fix; nil if fine.
    public static func problem(path: String, mode: UInt32, ownedByRoot: Bool) -> SecretFileRefused? {
        let octal = "0" + String(mode & 0o777, radix: 8)
        let fix = "run chmod 0600 \(ConfigEcho.value(path))"
        if mode & 0o022 != 0 {
            return SecretFileRefused(description: "\(ConfigEcho.quoted(path)) is writable by group or others (mode \(octal)); \(fix)")
        }
        if mode & 0o004 != 0 || (mode & 0o040 != 0 && !ownedByRoot) {
            return SecretFileRefused(description: "\(ConfigEcho.quoted(path)) is readable by group or others (mode \(octal)); \(fix)"
                                     + " (or 0640 with root as owner)")
        }
        return nil
    }
}

/// A secret file refused for its permissions; the description says which file and how to fix it.
public struct SecretFileRefused: Error, Sendable, Equatable, CustomStringConvertible {
    public var description: String
}

/// Turns a DSN into the text shown on the landing page, by `check-config` and in logs: the options
/// libpq parsed from it, password dropped. Injected because the parse is libpq's (`PQconninfoParse`,
/// in PoolWatchLibPQ) and this module does not link libpq; parsing by hand here missed libpq's own
/// escapes and percent-encoded URI keys. The default shows nothing of the DSN.
public typealias ConnInfoDisplay = @Sendable (String) -> String

public enum ConnInfo {
    /// For callers without libpq: no part of the DSN is shown.
    public static let hidden: ConnInfoDisplay = { _ in "(connection string not shown)" }
}
