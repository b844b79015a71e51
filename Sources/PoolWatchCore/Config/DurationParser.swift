/// Parses Prometheus-style durations: `500ms`, `15s`, `1m`, `1h30m`, `2d`. A bare number is refused
/// on purpose: `15` could mean seconds or milliseconds, and guessing wrong is worse than asking.
public enum DurationParser {
    static let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86400), ("w", 604800)]

    /// Returns the duration in seconds, or nil if `text` is not a duration.
    public static func seconds(_ text: String) -> Double? {
        var rest = Substring(text.trimmingSpaces())
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let digits = rest.prefix { $0.isNumber || $0 == "." }
            guard !digits.isEmpty, let number = Double(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            let unitText = rest.prefix { $0.isLetter }
            guard let factor = units.first(where: { $0.0 == unitText })?.1 else { return nil }
            rest = rest.dropFirst(unitText.count)
            total += number * factor
        }
        return total
    }

    /// The duration `text` names, or nil if it is not a duration.
    public static func duration(_ text: String) -> Duration? {
        seconds(text).map { .seconds($0) }
    }

    /// Formats a duration as the shortest duration text (`.seconds(90)` → `1m30s`).
    public static func format(_ duration: Duration) -> String { format(duration.seconds) }

    /// Formats seconds back as the shortest duration text (`90` → `1m30s`, `0.5` → `500ms`).
    public static func format(_ seconds: Double) -> String {
        if seconds < 1, seconds > 0 { return "\(Int((seconds * 1000).rounded()))ms" }
        var remaining = Int(seconds.rounded())
        if remaining == 0 { return "0s" }
        var text = ""
        for (unit, factor) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] where remaining >= factor {
            text += "\(remaining / factor)\(unit)"
            remaining %= factor
        }
        return text
    }
}

extension StringProtocol {
    /// The text without leading and trailing whitespace (spaces, tabs, line ends). The one trim of Core.
    public func trimmingSpaces() -> String {
        guard let start = firstIndex(where: { !$0.isWhitespace }), let end = lastIndex(where: { !$0.isWhitespace }) else { return "" }
        return String(self[start...end])
    }
}
