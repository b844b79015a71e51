import Logging
import PoolWatchCore
import PoolWatchRuntime
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Writes straight to file descriptor 2: one `write` per line keeps lines whole between threads.
func fwriteToStderr(_ bytes: inout [UInt8]) -> Int {
    bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
}

/// One line per event on stderr, as logfmt (`ts=… level=info msg="target up" target=main`) or JSON.
///
/// Values are quoted and escaped so that hostile text (an application_name, a server error message)
/// cannot forge a second log line. Secrets never reach a logger: they live in `Secret` values, which
/// print `<redacted>`.
struct StructuredLogHandler: LogHandler {
    var format: LogFormat
    var label: String
    var metadata: Logger.Metadata = [:]

    init(format: LogFormat, label: String) {
        self.format = format
        self.label = label
    }

    /// One level for the whole process, so a reload changes it for every logger already handed out
    /// (each `Logger` holds a copy of its handler).
    private static let level = Atomic<Int>(index(.info))
    private static func index(_ level: Logger.Level) -> Int { Logger.Level.allCases.firstIndex(of: level) ?? 2 }

    /// The process-wide level (`log_level` of the running configuration).
    static var processLevel: Logger.Level {
        get { Logger.Level.allCases[level.load(ordering: .relaxed)] }
        set { level.store(index(newValue), ordering: .relaxed) }
    }

    var logLevel: Logger.Level {
        get { Self.processLevel }
        set { Self.processLevel = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var fields: [(String, String)] = [
            ("ts", Self.timestamp()), ("level", event.level.rawValue), ("msg", "\(event.message)"),
        ]
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        for key in merged.keys.sorted() { fields.append((key, "\(merged[key]!)")) }
        var line = format == .json ? Self.json(fields) : Self.logfmt(fields)
        line.append("\n")
        var bytes = Array(line.utf8)
        _ = fwriteToStderr(&bytes)
    }

    static func logfmt(_ fields: [(String, String)]) -> String {
        fields.map { key, value in
            let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0.isNewline || $0 == "\\" }
                || value.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F }
            guard needsQuotes else { return "\(key)=\(value)" }
            var quoted = ""
            OrderedJSON.writeString(value, into: &quoted)
            return "\(key)=\(quoted)"
        }.joined(separator: " ")
    }

    /// One JSON object per line; strings escaped by the same writer as the alert payloads.
    static func json(_ fields: [(String, String)]) -> String {
        var out = "{"
        for (index, (key, value)) in fields.enumerated() {
            if index > 0 { out += "," }
            OrderedJSON.writeString(key, into: &out)
            out += ":"
            OrderedJSON.writeString(value, into: &out)
        }
        return out + "}"
    }

    static func timestamp() -> String {
        let now = WallClock.now()
        var time = time_t(now.rounded(.down))
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int = 2) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let millis = pad(min(999, Int32((now - now.rounded(.down)) * 1000)), 3)
        return "\(parts.tm_year + 1900)-\(pad(parts.tm_mon + 1))-\(pad(parts.tm_mday))T"
            + "\(pad(parts.tm_hour)):\(pad(parts.tm_min)):\(pad(parts.tm_sec)).\(millis)Z"
    }
}
