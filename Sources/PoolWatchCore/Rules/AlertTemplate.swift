/// An annotation template (`summary`, `description`) in the subset of Go's `text/template` that both
/// poolwatch and Prometheus render identically, because the same text goes into the Prometheus rule
/// file. Supported actions:
/// - `{{ $labels.name }}` (also `.Labels.name`): the label's value, empty when missing;
/// - `{{ $value }}` (also `.Value`): the alert's value, printed like Go's `%v` (`0.95`, `1e+06`);
/// - a pipeline into, or a call of, `humanize`, `humanizeDuration`, `humanizePercentage`:
///   `{{ $value | humanize }}`, `{{ humanizeDuration $value }}`;
/// - `{{-` and `-}}` trim the adjacent white space, as in Go.
/// Anything else is refused when the rule is built, so a template can never fail at page time.
public struct AlertTemplate: Sendable, Hashable {
    public let text: String
    private let segments: [Segment]

    private enum Segment: Sendable, Hashable {
        case literal(String)
        case action(Source, [Function])
    }

    private enum Source: Sendable, Hashable {
        case value
        case label(String)
    }

    enum Function: String, Sendable, Hashable, CaseIterable {
        case humanize, humanizeDuration, humanizePercentage
    }

    public init(_ text: String) throws(AlertTemplateError) {
        self.text = text
        var segments: [Segment] = []
        var rest = Substring(text)
        var trimNextLiteral = false
        while let open = rest.firstRange(of: "{{") {
            var literal = String(rest[..<open.lowerBound])
            if trimNextLiteral { literal = String(literal.drop { $0.isWhitespace }) }
            rest = rest[open.upperBound...]
            guard let close = rest.firstRange(of: "}}") else {
                throw AlertTemplateError(text: text, message: "unclosed action: '{{' without '}}'")
            }
            var body = rest[..<close.lowerBound]
            rest = rest[close.upperBound...]
            if body.first == "-", body.dropFirst().first?.isWhitespace == true {
                body = body.dropFirst()
                while literal.last?.isWhitespace == true { literal.removeLast() }
            }
            trimNextLiteral = false
            if body.last == "-", body.dropLast().last?.isWhitespace == true {
                body = body.dropLast()
                trimNextLiteral = true
            }
            if !literal.isEmpty { segments.append(.literal(literal)) }
            segments.append(try Self.parseAction(String(body), in: text))
        }
        var tail = String(rest)
        if trimNextLiteral { tail = String(tail.drop { $0.isWhitespace }) }
        if tail.contains("}}") {
            // Go's template treats a stray "}}" as text; it is almost always a typo, so say so.
            throw AlertTemplateError(text: text, message: "unexpected '}}' without '{{'")
        }
        if !tail.isEmpty { segments.append(.literal(tail)) }
        self.segments = segments
    }

    private static func parseAction(_ body: String, in text: String) throws(AlertTemplateError) -> Segment {
        let stages = body.split(separator: "|", omittingEmptySubsequences: false).map {
            $0.split(whereSeparator: { $0.isWhitespace }).map(String.init)
        }
        let unsupported = AlertTemplateError(
            text: text,
            message: "unsupported action '{{\(body)}}': use $labels.<name>, $value, and humanize, humanizeDuration or humanizePercentage"
        )
        guard var first = stages.first, !first.isEmpty else { throw unsupported }
        var functions: [Function] = []
        // `humanize $value` is the call form of `$value | humanize`.
        if first.count == 2, let function = Function(rawValue: first[0]) {
            functions.append(function)
            first = [first[1]]
        }
        guard first.count == 1 else { throw unsupported }
        let source: Source
        let operand = first[0]
        if operand == "$value" || operand == ".Value" {
            source = .value
        } else if let name = Self.labelName(operand), !name.isEmpty,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }), !(name.first!.isNumber)
        {
            source = .label(name)
        } else {
            throw unsupported
        }
        for stage in stages.dropFirst() {
            guard stage.count == 1, let function = Function(rawValue: stage[0]) else { throw unsupported }
            functions.append(function)
        }
        if functions.count > 1 {
            throw AlertTemplateError(text: text, message: "'{{\(body)}}': apply one humanize function at most")
        }
        if case .label = source, !functions.isEmpty {
            throw AlertTemplateError(text: text, message: "'{{\(body)}}': the humanize functions take $value, not a label")
        }
        return .action(source, functions)
    }

    private static func labelName(_ operand: String) -> String? {
        for prefix in ["$labels.", ".Labels."] where operand.hasPrefix(prefix) {
            return String(operand.dropFirst(prefix.count))
        }
        return nil
    }

    /// The template's text for one alert: `labels` are the result sample's labels, `value` its value.
    public func render(labels: LabelSet, value: Double) -> String {
        var out = ""
        for segment in segments {
            switch segment {
            case .literal(let literal):
                out += literal
            case .action(.label(let name), _):
                out += labels[name] ?? ""
            case .action(.value, let functions):
                out += functions.first.map { Self.apply($0, value) } ?? GoFloatFormat.value(value)
            }
        }
        return out
    }

    /// Prometheus' `humanize*` template functions (`template/template.go`).
    static func apply(_ function: Function, _ input: Double) -> String {
        switch function {
        case .humanize: return humanize(input)
        case .humanizeDuration: return humanizeDuration(input)
        case .humanizePercentage: return GoFloatFormat.significant(input * 100, digits: 4) + "%"
        }
    }

    static func humanize(_ input: Double) -> String {
        var v = input
        if v == 0 || v.isNaN || v.isInfinite { return GoFloatFormat.significant(v, digits: 4) }
        var prefix = ""
        if abs(v) >= 1 {
            for candidate in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
                if abs(v) < 1000 { break }
                prefix = candidate
                v /= 1000
            }
        } else {
            for candidate in ["m", "u", "n", "p", "f", "a", "z", "y"] {
                if abs(v) >= 1 { break }
                prefix = candidate
                v *= 1000
            }
        }
        return GoFloatFormat.significant(v, digits: 4) + prefix
    }

    static func humanizeDuration(_ input: Double) -> String {
        var v = input
        if v.isNaN || v.isInfinite { return GoFloatFormat.significant(v, digits: 4) }
        if v == 0 { return GoFloatFormat.significant(v, digits: 4) + "s" }
        if abs(v) >= 1 {
            var sign = ""
            if v < 0 {
                sign = "-"
                v = -v
            }
            // Go's int64(v) of an out-of-range float is math.MinInt64 on amd64; print what Go prints.
            let duration = v < 9_223_372_036_854_775_808.0 ? Int64(v) : Int64.min
            let seconds = duration % 60
            let minutes = (duration / 60) % 60
            let hours = (duration / 60 / 60) % 24
            let days = duration / 60 / 60 / 24
            if days != 0 { return "\(sign)\(days)d \(hours)h \(minutes)m \(seconds)s" }
            if hours != 0 { return "\(sign)\(hours)h \(minutes)m \(seconds)s" }
            if minutes != 0 { return "\(sign)\(minutes)m \(seconds)s" }
            return sign + GoFloatFormat.significant(v, digits: 4) + "s"
        }
        var prefix = ""
        for candidate in ["m", "u", "n", "p", "f", "a", "z", "y"] {
            if abs(v) >= 1 { break }
            prefix = candidate
            v *= 1000
        }
        return GoFloatFormat.significant(v, digits: 4) + prefix + "s"
    }
}

/// A template outside the supported subset, with the template text.
public struct AlertTemplateError: Error, Sendable, Equatable, CustomStringConvertible {
    public var text: String
    public var message: String
    public var description: String { "template \"\(text)\": \(message)" }
}
