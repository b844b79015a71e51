/// Encodes metric families into the Prometheus text exposition format 0.0.4.
///
/// Written by hand rather than through a metrics registry because a registry cannot set counters to
/// absolute values, has non-deterministic output order, and costs O(n²) to churn labelled series
/// (see docs/ARCHITECTURE.md §4.1). Guarantees:
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
            var seen: [String] = []  // label names of the current sample; reused (no allocation per sample)
            for sample in family.samples {
                var block: [UInt8] = []
                if !sample.labels.isEmpty {
                    block.reserveCapacity(sample.labels.count * 32)
                    block.append(UInt8(ascii: "{"))
                    seen.removeAll(keepingCapacity: true)
                    for label in sample.labels {
                        let labelName = Self.sanitizedName(label.name, allowColon: false)
                        // A repeated label name inside one series is invalid exposition: keep the first.
                        // (A linear search: series have a handful of labels, and a Set per sample was
                        // a tenth of the encoding time.)
                        guard !seen.contains(labelName) else { continue }
                        if !seen.isEmpty { block.append(UInt8(ascii: ",")) }
                        seen.append(labelName)
                        block.append(contentsOf: labelName.utf8)
                        block.append(UInt8(ascii: "="))
                        block.append(UInt8(ascii: "\""))
                        Self.appendEscapedLabelValue(label.value, to: &block)
                        block.append(UInt8(ascii: "\""))
                    }
                    block.append(UInt8(ascii: "}"))
                }
                lines.append((block, sample.value))
            }
            if !Self.isStrictlyAscending(lines) {
                lines.sort { Self.precedes($0.labels, $1.labels) }
            }
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

    /// True when every label block is greater than the one before (collectors often emit sorted rows:
    /// then neither the sort nor its comparisons are needed).
    static func isStrictlyAscending(_ lines: [(labels: [UInt8], value: Double)]) -> Bool {
        var index = 1
        while index < lines.count {
            if !precedes(lines[index - 1].labels, lines[index].labels) { return false }
            index += 1
        }
        return true
    }

    /// Byte-wise order of two label blocks (what `lexicographicallyPrecedes` computes, without its
    /// generic per-element overhead).
    static func precedes(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        a.withUnsafeBufferPointer { x in
            b.withUnsafeBufferPointer { y in
                let common = min(x.count, y.count)
                var index = 0
                while index < common {
                    if x[index] != y[index] { return x[index] < y[index] }
                    index += 1
                }
                return x.count < y.count
            }
        }
    }

    static func appendEscapedLabelValue(_ value: String, to out: inout [UInt8]) {
        // Swift strings are always valid Unicode: bytes from libpq are decoded with replacement
        // characters before they get here, so no invalid UTF-8 can reach the output.
        // Most values need no escaping: copy them whole.
        if !value.utf8.contains(where: { $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\n") }) {
            out.append(contentsOf: value.utf8)
            return
        }
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
        var first = true
        for byte in name.utf8 {
            guard isNameByte(byte, first: first, allowColon: allowColon) else {
                valid = false
                break
            }
            first = false
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
