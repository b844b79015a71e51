/// Text helpers shared by the payload builders: timestamps, numbers, truncation and Slack escaping.
public enum AlertText {
    /// RFC 3339 in UTC: `2026-03-02T10:15:30.123Z` (with `milliseconds`) or `2026-03-02T10:15:30Z`.
    public static func rfc3339(_ seconds: Double, milliseconds: Bool = true) -> String {
        let value = seconds.isFinite ? seconds : 0
        let totalMilliseconds = Int64((value * 1000).rounded())
        let totalSeconds = floorDivide(totalMilliseconds, 1000)
        let millis = Int(totalMilliseconds - totalSeconds * 1000)
        let days = floorDivide(totalSeconds, 86400)
        let secondOfDay = Int(totalSeconds - days * 86400)
        let (year, month, day) = civil(fromDays: days)
        var text = "\(pad(Int(year), 4))-\(pad(month))-\(pad(day))T\(pad(secondOfDay / 3600)):\(pad(secondOfDay / 60 % 60)):\(pad(secondOfDay % 60))"
        if milliseconds { text += ".\(pad(millis, 3))" }
        return text + "Z"
    }

    /// Year, month, day of the day `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    static func civil(fromDays days: Int64) -> (Int64, Int, Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = Int(dayOfYear - (153 * mp + 2) / 5 + 1)
        let month = Int(mp < 10 ? mp + 3 : mp - 9)
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    private static func floorDivide(_ a: Int64, _ b: Int64) -> Int64 {
        let q = a / b
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
    }

    private static func pad(_ value: Int, _ width: Int = 2) -> String {
        let digits = String(value)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }

    /// A value for a person: `12`, `0.8533`, `1.5e+20`; at most 4 decimals.
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return value.isNaN ? "NaN" : (value > 0 ? "+Inf" : "-Inf") }
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        if abs(value) >= 1e15 || abs(value) < 1e-4 { return "\(value)" }
        let rounded = (value * 10000).rounded() / 10000
        return rounded == rounded.rounded() ? String(Int64(rounded)) : "\(rounded)"
    }

    /// A duration for a person: `45s`, `27m`, `1h5m`.
    public static func duration(_ seconds: Double) -> String {
        DurationParser.format(max(0, seconds.rounded()))
    }

    /// `text` cut to at most `limit` Unicode scalars, ending in `…` when cut.
    public static func truncate(_ text: String, to limit: Int) -> String {
        guard text.unicodeScalars.count > limit else { return text }
        var output = String.UnicodeScalarView()
        output.append(contentsOf: text.unicodeScalars.prefix(max(0, limit - 1)))
        output.append("…")
        return String(output)
    }

    /// Escapes the three characters Slack's mrkdwn treats as control: `&`, `<`, `>`.
    public static func mrkdwnEscape(_ text: String) -> String {
        var output = ""
        for character in text {
            switch character {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            default: output.append(character)
            }
        }
        return output
    }

    /// One line: line breaks and other control characters become spaces.
    public static func singleLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }
}
