/// Encodes metric families into the Prometheus text exposition format 0.0.4.
///
/// Written by hand rather than through a metrics registry because a registry cannot set counters to
/// absolute values, has non-deterministic output order, and costs O(n²) to churn labelled series
/// (see shared/reference/swift-notes.md §1). Guarantees:
/// - HELP and TYPE once per family, families in the order given (callers sort them);
/// - label values escaped (`\\`, `\"`, `\n`), HELP escaped (`\\`, `\n`), so no input can inject a line;
/// - invalid metric or label names are repaired to `[a-zA-Z_:][a-zA-Z0-9_:]*` rather than emitted broken;
/// - within a family, series are sorted by their label text and duplicates are dropped (first wins),
///   so one bad row can never make Prometheus reject the whole scrape.
public struct TextEncoder: Sendable {
    public init() {}

    /// The result of one encoding: the bytes and the number of duplicate series that were dropped.
    public struct Output: Sendable {
        public var bytes: [UInt8]
        public var seriesCount: Int
        public var duplicatesDropped: Int
    }

    public func encode(_ families: [MetricFamily]) -> Output {
        var out: [UInt8] = []
        out.reserveCapacity(families.reduce(0) { $0 + 64 + $1.samples.count * 96 })
        var series = 0
        var dropped = 0
        for family in families where !family.samples.isEmpty {
            let name = Self.sanitizedName(family.name)
            out.append(contentsOf: "# HELP \(name) ".utf8)
            Self.appendEscapedHelp(family.help, to: &out)
            out.append(UInt8(ascii: "\n"))
            out.append(contentsOf: "# TYPE \(name) \(family.type.rawValue)\n".utf8)

            // Render label blocks first, then sort and de-duplicate on the rendered text.
            var lines: [(labels: [UInt8], value: Double)] = []
            lines.reserveCapacity(family.samples.count)
            for sample in family.samples {
                var block: [UInt8] = []
                if !sample.labels.isEmpty {
                    block.append(UInt8(ascii: "{"))
                    var seen: Set<String> = []
                    var first = true
                    for label in sample.labels {
                        let labelName = Self.sanitizedName(label.name, allowColon: false)
                        // A repeated label name inside one series is invalid exposition: keep the first.
                        guard seen.insert(labelName).inserted else { continue }
                        if !first { block.append(UInt8(ascii: ",")) }
                        first = false
                        block.append(contentsOf: labelName.utf8)
                        block.append(contentsOf: "=\"".utf8)
                        Self.appendEscapedLabelValue(label.value, to: &block)
                        block.append(UInt8(ascii: "\""))
                    }
                    block.append(UInt8(ascii: "}"))
                }
                lines.append((block, sample.value))
            }
            lines.sort { $0.labels.lexicographicallyPrecedes($1.labels) }
            var previous: [UInt8]? = nil
            for line in lines {
                if let previous, previous == line.labels {
                    dropped += 1
                    continue
                }
                previous = line.labels
                out.append(contentsOf: name.utf8)
                out.append(contentsOf: line.labels)
                out.append(UInt8(ascii: " "))
                Self.appendValue(line.value, to: &out)
                out.append(UInt8(ascii: "\n"))
                series += 1
            }
        }
        return Output(bytes: out, seriesCount: series, duplicatesDropped: dropped)
    }

    /// Formats a sample value the way Prometheus parses it: integers without a fraction,
    /// `+Inf`, `-Inf`, `NaN`, and the shortest round-trip form otherwise.
    static func appendValue(_ value: Double, to out: inout [UInt8]) {
        if value.isNaN {
            out.append(contentsOf: "NaN".utf8)
        } else if value.isInfinite {
            out.append(contentsOf: (value > 0 ? "+Inf" : "-Inf").utf8)
        } else if value == value.rounded(), abs(value) < 1e15 {
            appendInteger(Int64(value), to: &out)
        } else {
            out.append(contentsOf: value.description.utf8)
        }
    }

    private static func appendInteger(_ value: Int64, to out: inout [UInt8]) {
        if value == 0 {
            out.append(UInt8(ascii: "0"))
            return
        }
        var magnitude = value.magnitude
        var digits: [UInt8] = []
        digits.reserveCapacity(20)
        while magnitude > 0 {
            digits.append(UInt8(ascii: "0") + UInt8(magnitude % 10))
            magnitude /= 10
        }
        if value < 0 { out.append(UInt8(ascii: "-")) }
        out.append(contentsOf: digits.reversed())
    }

    static func appendEscapedLabelValue(_ value: String, to out: inout [UInt8]) {
        // Swift strings are always valid Unicode: bytes from libpq are decoded with replacement
        // characters before they get here, so no invalid UTF-8 can reach the output.
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            default: out.append(byte)
            }
        }
    }

    static func appendEscapedHelp(_ help: String, to out: inout [UInt8]) {
        for byte in help.utf8 {
            switch byte {
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case UInt8(ascii: "\n"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            default: out.append(byte)
            }
        }
    }

    /// Repairs a metric or label name: every character outside `[a-zA-Z0-9_]` (and `:` for metric
    /// names) becomes `_`, and a leading digit gets a `_` in front.
    public static func sanitizedName(_ name: String, allowColon: Bool = true) -> String {
        var valid = !name.isEmpty
        for (index, byte) in name.utf8.enumerated() where valid {
            valid = isNameByte(byte, first: index == 0, allowColon: allowColon)
        }
        if valid { return name }
        var repaired = ""
        for (index, byte) in name.utf8.enumerated() {
            if index == 0, byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") { repaired.append("_") }
            repaired.append(isNameByte(byte, first: false, allowColon: allowColon) ? Character(UnicodeScalar(byte)) : "_")
        }
        return repaired.isEmpty ? "_" : repaired
    }

    private static func isNameByte(_ byte: UInt8, first: Bool, allowColon: Bool) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"): return true
        case UInt8(ascii: ":"): return allowColon
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return !first
        default: return false
        }
    }
}
