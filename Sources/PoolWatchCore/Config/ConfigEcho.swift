/// How a config error quotes a value the user wrote.
///
/// A value is echoed so the user sees what was read, but a 10 MB value (or a pasted file) would bury
/// the message, so every echoed value is cut to `maxCharacters` characters plus `… (N bytes)`.
/// Every error message that quotes a value goes through here.
public enum ConfigEcho {
    public static let maxCharacters = 80

    /// `text`, or its first 80 characters followed by `… (N bytes)` (N: the whole value's UTF-8 size).
    public static func value(_ text: String) -> String {
        guard text.count > maxCharacters else { return text }
        return "\(text.prefix(maxCharacters))… (\(text.utf8.count) bytes)"
    }

    /// The value in double quotes, as most messages show it: `"15" is not a duration`.
    public static func quoted(_ text: String) -> String { "\"\(value(text))\"" }
}
