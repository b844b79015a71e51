import Testing

@testable import PoolWatchCore

@Suite struct RuleParserTests {
    func parse(_ text: String) throws -> PromQLExpr { try PromQLParser.parse(text) }

    func selector(_ name: String) throws -> PromQLExpr {
        .vector(VectorSelector(matchers: [try LabelMatcher("__name__", .equal, name)]))
    }

    /// The error for `text`, or a recorded issue if it parses.
    func parseError(_ text: String) -> PromQLParseError? {
        do {
            _ = try PromQLParser.parse(text)
            Issue.record("\(text) parsed")
            return nil
        } catch {
            return error
        }
    }

    @Test func precedenceFollowsPrometheus() throws {
        let a = try selector("a"), b = try selector("b"), c = try selector("c")
        #expect(try parse("a + b * c") == .binary(.add, a, .binary(.multiply, b, c, VectorMatching()), VectorMatching()))
        #expect(try parse("a - b - c") == .binary(.subtract, .binary(.subtract, a, b, VectorMatching()), c, VectorMatching()))
        var set = VectorMatching()
        set.cardinality = .manyToMany
        #expect(try parse("a or b and c") == .binary(.or, a, .binary(.and, b, c, set), set))
        #expect(try parse("a > b + c") == .binary(.greater, a, .binary(.add, b, c, VectorMatching()), VectorMatching()))
        // Unary minus binds like `*`: (-a) * b.
        #expect(try parse("-a * b") == .binary(.multiply, .negate(a), b, VectorMatching()))
        #expect(try parse("-1") == .number(-1))
        #expect(try parse("1 - -1") == .binary(.subtract, .number(1), .number(-1), VectorMatching()))
    }

    @Test func selectorsAndMatchers() throws {
        guard case .vector(let sel) = try parse("pg_stat_activity_backends{backend_type=\"client backend\", datname!~'template.*',}")
        else { Issue.record("not a selector"); return }
        #expect(sel.metricName == "pg_stat_activity_backends")
        #expect(sel.matchers.map(\.kind) == [.equal, .equal, .regexNoMatch])
        #expect(sel.matchers[2].value == "template.*")
        guard case .vector(let nameless) = try parse("{__name__=~\"pg_.*\", target=\"a\"}") else { return }
        #expect(nameless.metricName == nil)
        // Escapes in strings, raw strings.
        guard case .vector(let escaped) = try parse(#"x{a="q\"uote\\", b=`raw\d`}"#) else { return }
        #expect(escaped.matchers[1].value == "q\"uote\\")
        #expect(escaped.matchers[2].value == #"raw\d"#)
        #expect(try parse("x:recorded:rate5m") == (try selector("x:recorded:rate5m")))
    }

    @Test func rangesFunctionsAndAggregations() throws {
        guard case .call(.rate, let args) = try parse("rate(c_total[5m])"), case .range(_, 300_000) = args[0] else {
            Issue.record("rate")
            return
        }
        guard case .range(_, 5_400_000) = try parse("x[1h30m]") else { Issue.record("1h30m"); return }
        #expect(try parse("sum by (a, b) (x)") == (try parse("sum(x) by (a,b)")))
        guard case .aggregate(.max, let grouping, _) = try parse("max without (state) (x)") else { return }
        #expect(grouping == AggregateGrouping(without: true, labels: ["state"]))
        guard case .aggregate(.count, let everything, _) = try parse("count(x)") else { return }
        #expect(everything == .everything)
        #expect(try parse("absent(up{job=\"x\"})").valueType == .vector)
        #expect(try parse("time()").valueType == .scalar)
        #expect(try parse("vector(1)").valueType == .vector)
        #expect(try parse("clamp_min(x, 1)").valueType == .vector)
        #expect(try parse("sum(x) by (a) > 1 # a comment").valueType == .vector)
    }

    @Test func vectorMatchingModifiers() throws {
        guard case .binary(.divide, _, _, let m) = try parse("a / on(target) group_left(version) b") else { return }
        #expect(m.on && m.labels == ["target"] && m.include == ["version"] && m.cardinality == .manyToOne)
        guard case .binary(.multiply, _, _, let g) = try parse("a * ignoring(db) group_right() b") else { return }
        #expect(!g.on && g.labels == ["db"] && g.include.isEmpty && g.cardinality == .oneToMany)
        guard case .binary(.greater, _, _, let bool) = try parse("a > bool on(t) b") else { return }
        #expect(bool.returnBool && bool.on)
        guard case .binary(.and, _, _, let set) = try parse("a and on(t) b") else { return }
        #expect(set.cardinality == .manyToMany && set.labels == ["t"])
    }

    @Test func errorsNameTheColumn() {
        // The brief's example: an unclosed call.
        let unclosed = parseError("sum by (target) (pg_up")
        #expect(unclosed?.column == 23)
        #expect(unclosed?.description.hasPrefix("column 23: expected ')' to close '(' at column 17") == true)
        #expect(parseError("rate(x)")?.description == "column 1: expected type range vector in call to function 'rate', got instant vector")
        #expect(parseError("x{a=\"b\"")?.column == 8)
        #expect(parseError("x{a~\"b\"}")?.column == 4)
        #expect(parseError("1 > 1")?.message == "comparisons between scalars must use BOOL modifier")
        #expect(parseError("x and 1")?.column == 3)
        #expect(parseError("nosuch(x)")?.message == "unknown or unsupported function 'nosuch'")
        #expect(parseError("x offset 5m")?.column == 3)
        #expect(parseError("topk(3, x)")?.column == 1)
        #expect(parseError("x[5m:1m]")?.column == 5)
        #expect(parseError("x[5m] + 1")?.message.contains("range vector") == true)
        #expect(parseError("x{a=~\"(\"}")?.column == 6)
        #expect(parseError("{a=\"\"}")?.message == "vector selector must contain at least one non-empty matcher")
        #expect(parseError("x > bool")?.message == "unexpected end of input, expected an expression")
        #expect(parseError("a + bool b")?.message == "bool modifier can only be used on comparison operators")
        #expect(parseError("a and on(t) group_left b")?.column == 13)
        #expect(parseError("a / on(t) group_left(t) b")?.message == "label \"t\" must not occur in ON and GROUP clause at once")
        #expect(parseError("2 ^ 2")?.column == 3)
        #expect(parseError("x y")?.message == "unexpected 'y' after a complete expression")
        #expect(parseError("x @ 5")?.column == 3)
        #expect(parseError("sum(x) by (a) by (b)")?.column == 15)
        #expect(parseError("5m")?.column == 1)
        // The trap from docs/alert-rules.md §3: `group_left (expr)` reads the parentheses as a label list.
        #expect(parseError("a / on(t) group_left (b)") != nil)
    }

    @Test func ruleErrorsArePrefixedWithTheRuleName() {
        #expect(throws: AlertRuleError(rule: "PgbouncerPoolSaturated", message: "column 17: expected ')' to close '(' at column 4, found end of input")) {
            try AlertRule(name: "PgbouncerPoolSaturated", expression: "sum(poolwatch_up", severity: .warning, summary: "", description: "")
        }
        let error = try? AlertRule(name: "X", expression: "x[5m]", severity: .warning, summary: "", description: "")
        #expect(error == nil)
    }
}

@Suite struct RuleRegexTests {
    func matches(_ pattern: String, _ text: String) throws -> Bool { try LabelRegex(pattern).matches(text) }

    @Test func matchesAreAnchored() throws {
        #expect(try matches("template.*", "template1"))
        #expect(try !matches("template", "template1"))
        #expect(try !matches("emplate.*", "template1"))
        #expect(try matches("template.*|postgres", "postgres"))
        #expect(try !matches("template.*|postgres", "postgres2"))
        #expect(try matches("", ""))
        #expect(try !matches("", "a"))
        #expect(try matches("a|", ""))
    }

    @Test func quantifiersGroupsAndClasses() throws {
        #expect(try matches("ab*c", "ac") && matches("ab*c", "abbbc"))
        #expect(try matches("ab+c", "abc") && !matches("ab+c", "ac"))
        #expect(try matches("colou?r", "color") && matches("colou?r", "colour"))
        #expect(try matches("(ab)+", "ababab") && !matches("(ab)+", "aba"))
        #expect(try matches("(?:pg|pgb)-[0-9]{2,3}", "pgb-123") && !matches("(?:pg|pgb)-[0-9]{2,3}", "pg-1"))
        #expect(try matches("a{3}", "aaa") && !matches("a{3}", "aaaa"))
        #expect(try matches("a{2,}", "aaaaa") && !matches("a{2,}", "a"))
        #expect(try matches("[a-c]+[^a-c]", "abcz") && !matches("[a-c]+[^a-c]", "abca"))
        #expect(try matches("[]a]", "]") && matches("[a-]", "-"))
        #expect(try matches("[[:alpha:]_]+", "idle_in") && !matches("[[:digit:]]", "a"))
        #expect(try matches("a{,2}", "a{,2}"))  // not a repeat: literal, as in RE2
        #expect(try matches("x*?y", "xxy"))
    }

    @Test func escapesAndDot() throws {
        #expect(try matches("a\\.b", "a.b") && !matches("a\\.b", "axb"))
        #expect(try matches("\\d+\\s\\w+", "12 ab_c"))
        #expect(try matches("[\\d.]+", "1.5") && matches("[^\\D]", "7") && !matches("[\\D]", "7"))
        #expect(try matches("\\x41\\x{42}", "AB"))
        #expect(try matches(".", "é") && !matches(".", "\n") && !matches("..", "é"))
        #expect(try matches("^idle$", "idle"))
        #expect(try matches("(?i)IDLE in.*", "idle IN transaction"))
        #expect(try matches("a(?i:B)c", "abc") && !matches("a(?i:B)c", "abC"))
    }

    @Test func unsupportedSyntaxIsRefused() {
        for pattern in ["(", ")", "a**", "*a", "[a", "\\b", "\\pL", "(?P<n>a)", "(?=a)", "a{1001}", "[z-a]", "\\"] {
            #expect(throws: LabelRegexError.self, "\(pattern)") { try LabelRegex(pattern) }
        }
    }

    /// Nested counts multiply: the program is counted before it is built, and refused above 100,000
    /// instructions (before, `((a{1000}){1000}){1000}` built 10^9 instructions and took 1.6 GB).
    @Test(.timeLimit(.minutes(1)))
    func programSizeIsCapped() throws {
        #expect(throws: LabelRegexError(offset: 0, message: "expression too large (it compiles to more than 100000 instructions; "
                                        + "nested repetition counts multiply)")) { try LabelRegex("((a{1000}){1000}){1000}") }
        #expect(throws: LabelRegexError.self) { try LabelRegex("(a{1000}){101}") }
        #expect(throws: LabelRegexError.self) { try LabelRegex("(((((((((a{1000}){1000}){1000}){1000}){1000}){1000}){1000}){1000}){1000})") }
        // Exactly at the cap (1,000 × 100) it compiles and matches.
        #expect(try LabelRegex("(a{1000}){100}").matches(String(repeating: "a", count: 100_000)))
        #expect(try LabelRegex("(x|y){0,1000}").matches("xy"))
    }

    @Test func silenceWithAHugeRegexIsAConfigError() {
        do {
            _ = try ConfigLoader(environment: [:], readFile: { _ in "" }).load(yaml: """
                alerting:
                  silences:
                    - {matchers: 'PoolwatchPoolSaturated{target=~"((a{1000}){1000}){1000}"}', ends_at: "2030-01-01T00:00:00Z"}
                """)
            Issue.record("accepted")
        } catch {
            #expect(error.errors.count == 1)
            #expect(error.errors.first?.path == "alerting.silences[0].matchers")
            #expect(error.errors.first?.message.contains("expression too large") == true)
        }
    }

    @Test func pathologicalPatternsStayLinear() throws {
        let regex = try LabelRegex("(a*)*b")
        #expect(!regex.matches(String(repeating: "a", count: 5000)))
        #expect(try LabelRegex("(a|aa)*c").matches(String(repeating: "a", count: 3000) + "c"))
    }
}
