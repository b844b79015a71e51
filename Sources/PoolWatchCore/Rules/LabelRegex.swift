/// A regular expression for label matchers (`=~`, `!~`), matched the way Prometheus 2.x does:
/// RE2 syntax, anchored at both ends (`^(?:re)$`), on Unicode scalars.
///
/// Why not Swift `Regex`: its syntax and semantics are Perl/ICU-like (backtracking, lookaround,
/// different escapes), so a pattern could mean something else locally than in Prometheus, and a
/// pattern like `(a*)*b` could take exponential time on a label value. Why not Foundation: the core
/// has no Foundation. This is a Thompson-NFA (Pike VM) matcher: linear in the input, no backtracking,
/// and anything outside the supported subset is refused at parse time with the offset.
///
/// Supported: literals, `.` (any scalar but `\n`, as RE2 without the `s` flag), `*` `+` `?`
/// `{n}` `{n,}` `{n,m}` (lazy `?` suffix accepted, meaningless for a full match), `|`, `( )`,
/// `(?: )`, flags `(?i)` / `(?i: )` (ASCII case folding only), classes `[a-z]` `[^…]` with ranges,
/// escapes and `[:alpha:]`-style POSIX names, `\d \w \s \D \W \S`, `\n \t \r \f \v \a`, `\xHH`,
/// `\x{HHHH}`, escaped punctuation, and `^`/`$` (which only match at the ends here).
/// Not supported: `\b \B \A \z`, `\pL` Unicode classes, named groups and other flags.
public struct LabelRegex: Sendable, Hashable, CustomStringConvertible {
    public let pattern: String
    private let program: [Instruction]

    public init(_ pattern: String) throws(LabelRegexError) {
        var parser = RegexParser(Array(pattern.unicodeScalars))
        let node = try parser.parseWhole()
        // Counted before compiling: nested counts multiply (`((a{1000}){1000}){1000}` is 10^9
        // instructions), so the program is never built when it would be too large.
        if RegexCompiler.size(of: node, ceiling: Self.maxProgramSize + 1) > Self.maxProgramSize {
            throw LabelRegexError(offset: 0, message: "expression too large (it compiles to more than \(Self.maxProgramSize) "
                                  + "instructions; nested repetition counts multiply)")
        }
        var compiler = RegexCompiler()
        compiler.emit(node)
        compiler.append(.match)
        self.pattern = pattern
        self.program = compiler.program
    }

    public var description: String { pattern }

    /// The largest program accepted, in instructions. RE2 refuses a pattern whose program exceeds its
    /// memory budget (`max_mem`, 8 MiB by default: a few hundred thousand instructions); real label
    /// matchers are tens of instructions, and matching allocates per instruction, so the cap is lower.
    static let maxProgramSize = 100_000

    public static func == (lhs: LabelRegex, rhs: LabelRegex) -> Bool { lhs.pattern == rhs.pattern }
    public func hash(into hasher: inout Hasher) { hasher.combine(pattern) }

    /// Whether the whole of `text` matches.
    public func matches(_ text: String) -> Bool {
        let input = Array(text.unicodeScalars)
        var current = ThreadList(capacity: program.count)
        var next = ThreadList(capacity: program.count)
        addThread(&current, 0, position: 0, count: input.count)
        for (position, scalar) in input.enumerated() {
            if current.pcs.isEmpty { return false }
            next.clear()
            for pc in current.pcs {
                if case .scalar(let set) = program[pc], set.contains(scalar) {
                    addThread(&next, pc + 1, position: position + 1, count: input.count)
                }
            }
            swap(&current, &next)
        }
        return current.pcs.contains { if case .match = program[$0] { return true } else { return false } }
    }

    /// Follows jumps, splits and assertions from `pc` and records every instruction that consumes
    /// a scalar (or matches) reachable at `position`.
    private func addThread(_ list: inout ThreadList, _ pc: Int, position: Int, count: Int) {
        guard list.visit(pc) else { return }
        switch program[pc] {
        case .jump(let target):
            addThread(&list, target, position: position, count: count)
        case .split(let first, let second):
            addThread(&list, first, position: position, count: count)
            addThread(&list, second, position: position, count: count)
        case .assertBegin:
            if position == 0 { addThread(&list, pc + 1, position: position, count: count) }
        case .assertEnd:
            if position == count { addThread(&list, pc + 1, position: position, count: count) }
        case .scalar, .match:
            list.pcs.append(pc)
        }
    }
}

/// A pattern the matcher cannot accept, with the 0-based scalar offset where it went wrong.
public struct LabelRegexError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var message: String
    public var description: String { "\(message) at offset \(offset)" }
}

/// A set of Unicode scalars as inclusive ranges, possibly negated.
struct ScalarSet: Sendable, Hashable {
    var ranges: [ClosedRange<UInt32>]
    var negated = false

    static let anyButNewline = ScalarSet(ranges: [10...10], negated: true)
    static let digit = ScalarSet(ranges: [48...57])
    static let word = ScalarSet(ranges: [48...57, 65...90, 95...95, 97...122])
    static let space = ScalarSet(ranges: [9...10, 12...13, 32...32])

    static func single(_ scalar: Unicode.Scalar) -> ScalarSet { ScalarSet(ranges: [scalar.value...scalar.value]) }

    func contains(_ scalar: Unicode.Scalar) -> Bool {
        ranges.contains { $0.contains(scalar.value) } != negated
    }

    var inverted: ScalarSet { ScalarSet(ranges: ranges, negated: !negated) }

    /// Adds the other ASCII case of every letter range (the `i` flag).
    var caseFolded: ScalarSet {
        var folded = ranges
        for range in ranges {
            for (lower, upper) in [(UInt32(97), UInt32(122)), (UInt32(65), UInt32(90))] {
                let low = max(range.lowerBound, lower)
                let high = min(range.upperBound, upper)
                if low <= high {
                    let shift: Int64 = lower == 97 ? -32 : 32
                    folded.append(UInt32(Int64(low) + shift)...UInt32(Int64(high) + shift))
                }
            }
        }
        return ScalarSet(ranges: folded, negated: negated)
    }
}

/// One Pike-VM instruction.
private enum Instruction: Sendable, Hashable {
    case scalar(ScalarSet)
    case split(Int, Int)
    case jump(Int)
    case assertBegin
    case assertEnd
    case match
}

/// The parsed form of a pattern.
private indirect enum RegexNode {
    case empty
    case set(ScalarSet)
    case concat([RegexNode])
    case alternate([RegexNode])
    case repeated(RegexNode, min: Int, max: Int?)
    case begin
    case end
}

/// The set of program counters live at one input position, with O(1) de-duplication.
private struct ThreadList {
    /// Instructions that consume a scalar or match, in priority order.
    var pcs: [Int] = []
    /// Every instruction visited while following control flow at this position.
    var marked: [Int] = []
    var seen: [Bool]

    init(capacity: Int) { seen = Array(repeating: false, count: capacity) }

    mutating func visit(_ pc: Int) -> Bool {
        if seen[pc] { return false }
        seen[pc] = true
        marked.append(pc)
        return true
    }

    mutating func clear() {
        for pc in marked { seen[pc] = false }
        marked.removeAll(keepingCapacity: true)
        pcs.removeAll(keepingCapacity: true)
    }
}

/// Recursive-descent parser for the supported RE2 subset.
private struct RegexParser {
    let scalars: [Unicode.Scalar]
    var position = 0
    var caseInsensitive = false
    /// RE2 refuses repetition counts above 1000; so do we, which also bounds program size.
    static let maxRepeat = 1000

    init(_ scalars: [Unicode.Scalar]) { self.scalars = scalars }

    var atEnd: Bool { position >= scalars.count }
    var peek: Unicode.Scalar? { atEnd ? nil : scalars[position] }

    func fail(_ message: String, at offset: Int? = nil) -> LabelRegexError {
        LabelRegexError(offset: offset ?? position, message: message)
    }

    mutating func parseWhole() throws(LabelRegexError) -> RegexNode {
        let node = try parseAlternation()
        if !atEnd { throw fail("unexpected ')'") }
        return node
    }

    mutating func parseAlternation() throws(LabelRegexError) -> RegexNode {
        var branches = [try parseConcatenation()]
        while peek == "|" {
            position += 1
            branches.append(try parseConcatenation())
        }
        return branches.count == 1 ? branches[0] : .alternate(branches)
    }

    mutating func parseConcatenation() throws(LabelRegexError) -> RegexNode {
        var items: [RegexNode] = []
        while let scalar = peek, scalar != "|", scalar != ")" {
            if let flagged = try parseFlagGroupIfPresent() {
                if let flagged { items.append(flagged) }
                continue
            }
            var atom = try parseAtom()
            atom = try parseQuantifiers(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .concat(items))
    }

    /// Handles `(?i)` (returns `.some(nil)`: the flag applies to the rest of the group) and
    /// `(?i:…)` (returns the group). Returns nil when the input is not a flag group.
    mutating func parseFlagGroupIfPresent() throws(LabelRegexError) -> RegexNode?? {
        guard position + 2 < scalars.count, scalars[position] == "(", scalars[position + 1] == "?",
            scalars[position + 2] != ":"
        else { return nil }
        let start = position
        position += 2
        var flags = ""
        while let scalar = peek, scalar != ")", scalar != ":" {
            flags.unicodeScalars.append(scalar)
            position += 1
        }
        guard flags == "i" else { throw fail("unsupported group flags '(?\(flags)'", at: start) }
        if peek == ")" {
            position += 1
            caseInsensitive = true
            return .some(nil)
        }
        guard peek == ":" else { throw fail("missing ')'", at: start) }
        position += 1
        let saved = caseInsensitive
        caseInsensitive = true
        let inner = try parseAlternation()
        caseInsensitive = saved
        guard peek == ")" else { throw fail("missing ')'", at: start) }
        position += 1
        return .some(try parseQuantifiers(inner))
    }

    mutating func parseQuantifiers(_ atom: RegexNode) throws(LabelRegexError) -> RegexNode {
        var node = atom
        var quantified = false
        while let scalar = peek {
            let start = position
            var bounds: (Int, Int?)
            switch scalar {
            case "*": bounds = (0, nil); position += 1
            case "+": bounds = (1, nil); position += 1
            case "?": bounds = (0, 1); position += 1
            case "{":
                guard let counted = try parseCountedRepeat() else { return node }
                bounds = counted
            default:
                return node
            }
            if quantified { throw fail("invalid nested repetition operator", at: start) }
            if case .empty = node { throw fail("missing argument to repetition operator", at: start) }
            if case .begin = node { throw fail("missing argument to repetition operator", at: start) }
            node = .repeated(node, min: bounds.0, max: bounds.1)
            quantified = true
            if peek == "?" { position += 1 }  // lazy: same language for an anchored match
        }
        return node
    }

    /// `{n}`, `{n,}`, `{n,m}`; nil (and position unchanged) when `{` is a literal, as in RE2.
    mutating func parseCountedRepeat() throws(LabelRegexError) -> (Int, Int?)? {
        let start = position
        var cursor = position + 1
        func number() -> Int? {
            var digits = ""
            while cursor < scalars.count, ("0"..."9").contains(scalars[cursor]) {
                digits.unicodeScalars.append(scalars[cursor])
                cursor += 1
            }
            return digits.isEmpty ? nil : Int(digits.prefix(6))
        }
        guard let low = number() else { return nil }
        var high: Int? = low
        if cursor < scalars.count, scalars[cursor] == "," {
            cursor += 1
            high = number()
        }
        guard cursor < scalars.count, scalars[cursor] == "}" else { return nil }
        position = cursor + 1
        if low > Self.maxRepeat || (high ?? 0) > Self.maxRepeat {
            throw fail("invalid repeat count (more than \(Self.maxRepeat))", at: start)
        }
        if let high, high < low { throw fail("invalid repeat count", at: start) }
        return (low, high)
    }

    mutating func parseAtom() throws(LabelRegexError) -> RegexNode {
        let start = position
        let scalar = scalars[position]
        position += 1
        switch scalar {
        case "(":
            if peek == "?" {
                guard position + 1 < scalars.count, scalars[position + 1] == ":" else {
                    throw fail("unsupported group syntax", at: start)
                }
                position += 2
            }
            // A `(?i)` inside the group ends with the group.
            let saved = caseInsensitive
            let inner = try parseAlternation()
            caseInsensitive = saved
            guard peek == ")" else { throw fail("missing ')'", at: start) }
            position += 1
            return inner
        case ".": return .set(.anyButNewline)
        case "^": return .begin
        case "$": return .end
        case "[": return .set(fold(try parseClass(start: start)))
        case "\\": return .set(fold(try parseEscape(start: start)))
        case "*", "+", "?": throw fail("missing argument to repetition operator", at: start)
        default: return .set(fold(.single(scalar)))
        }
    }

    func fold(_ set: ScalarSet) -> ScalarSet { caseInsensitive ? set.caseFolded : set }

    mutating func parseEscape(start: Int) throws(LabelRegexError) -> ScalarSet {
        guard let scalar = peek else { throw fail("trailing backslash at end of expression", at: start) }
        position += 1
        switch scalar {
        case "d": return .digit
        case "D": return ScalarSet.digit.inverted
        case "w": return .word
        case "W": return ScalarSet.word.inverted
        case "s": return .space
        case "S": return ScalarSet.space.inverted
        case "n": return .single("\n")
        case "t": return .single("\t")
        case "r": return .single("\r")
        case "f": return .single("\u{0C}")
        case "v": return .single("\u{0B}")
        case "a": return .single("\u{07}")
        case "x": return .single(try parseHexEscape(start: start))
        default:
            // RE2 allows escaping any punctuation; letters and digits are reserved for classes.
            if scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) {
                throw fail("unsupported escape sequence '\\\(scalar)'", at: start)
            }
            return .single(scalar)
        }
    }

    mutating func parseHexEscape(start: Int) throws(LabelRegexError) -> Unicode.Scalar {
        var hex = ""
        if peek == "{" {
            position += 1
            while let scalar = peek, scalar != "}" {
                hex.unicodeScalars.append(scalar)
                position += 1
            }
            guard peek == "}" else { throw fail("invalid escape sequence", at: start) }
            position += 1
        } else {
            for _ in 0..<2 {
                guard let scalar = peek else { throw fail("invalid escape sequence", at: start) }
                hex.unicodeScalars.append(scalar)
                position += 1
            }
        }
        guard let value = UInt32(hex, radix: 16), let result = Unicode.Scalar(value) else {
            throw fail("invalid escape sequence", at: start)
        }
        return result
    }

    static let posixClasses: [String: ScalarSet] = [
        "alpha": ScalarSet(ranges: [65...90, 97...122]),
        "digit": .digit,
        "alnum": ScalarSet(ranges: [48...57, 65...90, 97...122]),
        "space": ScalarSet(ranges: [9...13, 32...32]),
        "upper": ScalarSet(ranges: [65...90]),
        "lower": ScalarSet(ranges: [97...122]),
        "punct": ScalarSet(ranges: [33...47, 58...64, 91...96, 123...126]),
        "xdigit": ScalarSet(ranges: [48...57, 65...70, 97...102]),
        "word": .word,
    ]

    /// A bracket class; `start` is the offset of `[`.
    mutating func parseClass(start: Int) throws(LabelRegexError) -> ScalarSet {
        var set = ScalarSet(ranges: [])
        if peek == "^" {
            set.negated = true
            position += 1
        }
        var first = true
        while true {
            guard let scalar = peek else { throw fail("missing closing ]", at: start) }
            if scalar == "]" && !first { position += 1; break }
            first = false
            if scalar == "[", position + 1 < scalars.count, scalars[position + 1] == ":" {
                let nameStart = position + 2
                var cursor = nameStart
                while cursor < scalars.count, scalars[cursor] != ":" { cursor += 1 }
                var name = ""
                for index in nameStart..<min(cursor, scalars.count) { name.unicodeScalars.append(scalars[index]) }
                guard cursor + 1 < scalars.count, scalars[cursor + 1] == "]", let named = Self.posixClasses[name] else {
                    throw fail("invalid character class range", at: position)
                }
                set.ranges += named.ranges
                position = cursor + 2
                continue
            }
            let low = try parseClassMember()
            guard case .single(let lowScalar) = low else {
                if case .set(let inner) = low { set.ranges += inner.negated ? inner.complementRanges : inner.ranges }
                continue
            }
            if peek == "-", position + 1 < scalars.count, scalars[position + 1] != "]" {
                let rangeStart = position
                position += 1
                guard case .single(let highScalar) = try parseClassMember(), highScalar.value >= lowScalar.value else {
                    throw fail("invalid character class range", at: rangeStart)
                }
                set.ranges.append(lowScalar.value...highScalar.value)
            } else {
                set.ranges.append(lowScalar.value...lowScalar.value)
            }
        }
        return set
    }

    enum ClassMember {
        case single(Unicode.Scalar)
        case set(ScalarSet)
    }

    mutating func parseClassMember() throws(LabelRegexError) -> ClassMember {
        let start = position
        let scalar = scalars[position]
        position += 1
        guard scalar == "\\" else { return .single(scalar) }
        let escaped = try parseEscape(start: start)
        if escaped.ranges.count == 1, !escaped.negated, escaped.ranges[0].count == 1,
            let single = Unicode.Scalar(escaped.ranges[0].lowerBound)
        {
            return .single(single)
        }
        return .set(escaped)
    }
}

extension ScalarSet {
    /// The ranges of all scalars not in `ranges` (ignoring `negated`).
    var complementRanges: [ClosedRange<UInt32>] {
        var result: [ClosedRange<UInt32>] = []
        var next: UInt32 = 0
        for range in ranges.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if range.lowerBound > next { result.append(next...(range.lowerBound - 1)) }
            next = max(next, range.upperBound + 1)
        }
        if next <= 0x10FFFF { result.append(next...0x10FFFF) }
        return result
    }
}

/// Compiles a `RegexNode` into Pike-VM instructions.
private struct RegexCompiler {
    var program: [Instruction] = []

    mutating func append(_ instruction: Instruction) { program.append(instruction) }

    /// How many instructions `emit(node)` appends, computed without emitting; every partial result
    /// is clamped to `ceiling`, so nested repetitions cannot overflow.
    static func size(of node: RegexNode, ceiling: Int) -> Int {
        let result: Int
        switch node {
        case .empty: result = 0
        case .set, .begin, .end: result = 1
        case .concat(let items): result = items.reduce(0) { min($0 + size(of: $1, ceiling: ceiling), ceiling) }
        case .alternate(let branches):
            result = branches.reduce(2 * max(branches.count - 1, 0)) { min($0 + size(of: $1, ceiling: ceiling), ceiling) }
        case .repeated(let inner, let minimum, let maximum):
            let one = size(of: inner, ceiling: ceiling)
            let optional = maximum.map { ($0 - minimum) * (one + 1) } ?? (one + 2)
            result = minimum * one + optional
        }
        return min(result, ceiling)
    }

    mutating func emit(_ node: RegexNode) {
        switch node {
        case .empty: break
        case .set(let set): append(.scalar(set))
        case .begin: append(.assertBegin)
        case .end: append(.assertEnd)
        case .concat(let items): for item in items { emit(item) }
        case .alternate(let branches):
            var jumpsToEnd: [Int] = []
            for (index, branch) in branches.enumerated() {
                if index < branches.count - 1 {
                    let split = program.count
                    append(.split(split + 1, -1))
                    emit(branch)
                    jumpsToEnd.append(program.count)
                    append(.jump(-1))
                    program[split] = .split(split + 1, program.count)
                } else {
                    emit(branch)
                }
            }
            for jump in jumpsToEnd { program[jump] = .jump(program.count) }
        case .repeated(let inner, let minimum, let maximum):
            for _ in 0..<minimum { emit(inner) }
            if let maximum {
                // Each optional copy may be skipped straight to the end.
                var skips: [Int] = []
                for _ in minimum..<maximum {
                    skips.append(program.count)
                    append(.split(program.count + 1, -1))
                    emit(inner)
                }
                for skip in skips { program[skip] = .split(skip + 1, program.count) }
            } else {
                let loop = program.count
                append(.split(loop + 1, -1))
                emit(inner)
                append(.jump(loop))
                program[loop] = .split(loop + 1, program.count)
            }
        }
    }
}
