/// A parser for the Prometheus text exposition format (version 0.0.4, and the OpenMetrics text that
/// application libraries also serve: `# EOF`, `_created` series and exemplars are tolerated).
///
/// Pure and bounded, because the text comes from an application poolwatch does not control: at most
/// `maxSeries` samples, `maxLineLength` bytes per line and `maxLabels` labels per sample; anything over
/// a bound, and any malformed line, fails the whole document with the line number, so a half-read
/// document never becomes half a pool. Timestamps are ignored (poolwatch stamps the round).
public struct PrometheusText: Sendable {
    /// One sample line: the series name (with `_bucket`, `_sum`, `_count` suffixes as written), its
    /// labels in document order, and its value (NaN and ±Inf are kept; callers decide).
    public struct Sample: Sendable, Equatable {
        public var name: String
        public var labels: [Label]
        public var value: Double

        public func label(_ name: String) -> String? { labels.first { $0.name == name }?.value }
    }

    public struct Limits: Sendable {
        public var maxSeries: Int
        public var maxLineLength: Int
        public var maxLabels: Int

        public init(maxSeries: Int = 50_000, maxLineLength: Int = 16_384, maxLabels: Int = 64) {
            self.maxSeries = maxSeries
            self.maxLineLength = maxLineLength
            self.maxLabels = maxLabels
        }
    }

    public struct ParseError: Error, Sendable, Equatable, CustomStringConvertible {
        public var line: Int
        public var message: String
        public var description: String { "line \(line): \(message)" }
    }

    /// `# TYPE` of each declared family (`counter`, `gauge`, `histogram`, `summary`, `untyped`, …).
    public var types: [String: String] = [:]
    /// Samples by series name, in document order.
    public var samples: [String: [Sample]] = [:]
    public var sampleCount = 0

    public init() {}

    /// Parses `bytes` (UTF-8; invalid sequences are replaced, never trusted as names).
    public static func parse(_ bytes: [UInt8], limits: Limits = .init()) throws(ParseError) -> PrometheusText {
        var document = PrometheusText()
        var lineNumber = 0
        var start = 0
        while start < bytes.count {
            lineNumber += 1
            var end = start
            while end < bytes.count, bytes[end] != UInt8(ascii: "\n") { end += 1 }
            if end - start > limits.maxLineLength {
                throw ParseError(line: lineNumber, message: "longer than \(limits.maxLineLength) bytes")
            }
            var lineEnd = end
            if lineEnd > start, bytes[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
            let line = String(decoding: bytes[start..<lineEnd], as: UTF8.self)
            start = end + 1
            try document.consume(line, number: lineNumber, limits: limits)
        }
        return document
    }

    private mutating func consume(_ line: String, number: Int, limits: Limits) throws(ParseError) {
        let trimmed = line.drop { $0 == " " || $0 == "\t" }
        if trimmed.isEmpty { return }
        if trimmed.first == "#" {
            let words = trimmed.dropFirst().split(separator: " ", maxSplits: 3, omittingEmptySubsequences: true)
            if words.count >= 3, words[0] == "TYPE" {
                let name = String(words[1])
                guard Self.isMetricName(name) else { throw ParseError(line: number, message: "TYPE names an invalid metric \(Self.excerpt(name))") }
                types[name] = words[2].lowercased()
            }
            return  // HELP, EOF, UNIT and plain comments carry nothing poolwatch reads
        }
        guard sampleCount < limits.maxSeries else {
            throw ParseError(line: number, message: "more than \(limits.maxSeries) samples")
        }
        var scanner = Scanner(Array(trimmed.utf8), line: number)
        let sample = try scanner.sample(maxLabels: limits.maxLabels)
        samples[sample.name, default: []].append(sample)
        sampleCount += 1
    }

    /// The family a series belongs to once a histogram's or summary's suffix is taken off, when the
    /// document declared that family with the matching type.
    public func declaredType(of family: String) -> String? { types[family] }

    static func isMetricName(_ name: String) -> Bool {
        guard let first = name.utf8.first, isNameStart(first) else { return false }
        return name.utf8.allSatisfy { isNameStart($0) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) }
    }

    static func isNameStart(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "_") || byte == UInt8(ascii: ":")
    }

    /// A short, printable excerpt of hostile text for an error message.
    static func excerpt(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.prefix(40).map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? Character($0) : "?" })
        return "\"\(cleaned)\(text.unicodeScalars.count > 40 ? "…" : "")\""
    }

    /// Reads one sample line byte by byte.
    struct Scanner {
        let bytes: [UInt8]
        let line: Int
        var position = 0

        init(_ bytes: [UInt8], line: Int) {
            self.bytes = bytes
            self.line = line
        }

        func fail(_ message: String) -> ParseError { ParseError(line: line, message: message) }

        var current: UInt8? { position < bytes.count ? bytes[position] : nil }

        mutating func skipBlanks() {
            while let byte = current, byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { position += 1 }
        }

        mutating func name(what: String) throws(ParseError) -> String {
            let start = position
            guard let first = current, PrometheusText.isNameStart(first) else {
                if current == UInt8(ascii: "\"") { throw fail("quoted (UTF-8) \(what)s are not supported") }
                throw fail("expected a \(what)")
            }
            _ = first
            while let byte = current, PrometheusText.isNameStart(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) { position += 1 }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        mutating func sample(maxLabels: Int) throws(ParseError) -> Sample {
            let metric = try name(what: "metric name")
            var labels: [Label] = []
            if current == UInt8(ascii: "{") {
                position += 1
                while true {
                    skipBlanks()
                    if current == UInt8(ascii: "}") { position += 1; break }
                    let labelName = try name(what: "label name")
                    skipBlanks()
                    guard current == UInt8(ascii: "=") else { throw fail("expected '=' after label \(labelName)") }
                    position += 1
                    skipBlanks()
                    let value = try quoted()
                    guard !labels.contains(where: { $0.name == labelName }) else { throw fail("label \(labelName) appears twice") }
                    labels.append(Label(labelName, value))
                    guard labels.count <= maxLabels else { throw fail("more than \(maxLabels) labels") }
                    skipBlanks()
                    if current == UInt8(ascii: ",") { position += 1; continue }
                    guard current == UInt8(ascii: "}") else { throw fail("expected ',' or '}' in the labels of \(metric)") }
                }
            }
            guard current == UInt8(ascii: " ") || current == UInt8(ascii: "\t") else { throw fail("expected a value after \(metric)") }
            skipBlanks()
            let start = position
            while let byte = current, byte != UInt8(ascii: " "), byte != UInt8(ascii: "\t") { position += 1 }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            guard let value = Self.number(text) else { throw fail("\(PrometheusText.excerpt(text)) is not a sample value") }
            // A timestamp or an OpenMetrics exemplar (`# {…} v`) may follow; neither is read.
            return Sample(name: metric, labels: labels, value: value)
        }

        /// A double-quoted label value with the format's escapes (`\\`, `\"`, `\n`).
        mutating func quoted() throws(ParseError) -> String {
            guard current == UInt8(ascii: "\"") else { throw fail("expected a quoted label value") }
            position += 1
            var value: [UInt8] = []
            while true {
                guard let byte = current else { throw fail("unterminated label value") }
                position += 1
                if byte == UInt8(ascii: "\"") { break }
                if byte == UInt8(ascii: "\\") {
                    guard let next = current else { throw fail("unterminated label value") }
                    position += 1
                    value.append(next == UInt8(ascii: "n") ? UInt8(ascii: "\n") : next)
                } else {
                    value.append(byte)
                }
            }
            return String(decoding: value, as: UTF8.self)
        }

        static func number(_ text: String) -> Double? {
            switch text {
            case "+Inf", "Inf", "+inf", "inf": return .infinity
            case "-Inf", "-inf": return -.infinity
            case "NaN", "nan": return .nan
            default:
                // Double("0x1p3") and Double("infinity") parse too; the format has neither.
                guard text.utf8.allSatisfy({ ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || "+-.eE".utf8.contains($0) })
                else { return nil }
                return Double(text)
            }
        }
    }
}
