import Testing

@testable import PoolWatchCore

/// The strict JSON parser and the JSONPath subset used by `kind: http_json`.
@Suite struct HTTPJSONParserTests {
    func parse(_ text: String) throws(JSONParseError) -> JSONValue { try JSONValue.parse(text) }

    func error(_ text: String, maxDepth: Int = JSONValue.defaultMaxDepth) -> JSONParseError? {
        do {
            _ = try JSONValue.parse(text, maxDepth: maxDepth)
            return nil
        } catch {
            return error
        }
    }

    @Test func parsesEveryKindOfValue() throws {
        let value = try parse(#" { "a": [1, -2.5, 3e2, 0, -0.0, 1E-2], "b": {"c": null, "d": true, "e": false}, "s": "x" } "#)
        #expect(value == .object([
            "a": .array([.number(1), .number(-2.5), .number(300), .number(0), .number(-0.0), .number(0.01)]),
            "b": .object(["c": .null, "d": .bool(true), "e": .bool(false)]),
            "s": .string("x"),
        ]))
        #expect(try parse("[]") == .array([]))
        #expect(try parse("{}") == .object([:]))
        #expect(try parse("42") == .number(42))
        #expect(try parse("\u{FEFF}\"bom\"") == .string("bom"))
    }

    @Test func decodesStringEscapes() throws {
        #expect(try parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{08}\u{0C}\n\r\t"))
        #expect(try parse(#""\u00e9\u20AC \ud83d\ude00""#) == .string("é€ 😀"))
        #expect(try parse("\"raw é UTF-8\"") == .string("raw é UTF-8"))
    }

    @Test func lastDuplicateKeyWins() throws {
        #expect(try parse(#"{"a": 1, "a": 2}"#) == .object(["a": .number(2)]))
    }

    @Test(arguments: [
        ("", "the document is empty"),
        ("{", "unexpected end of input inside an object"),
        ("[1, 2,]", "unexpected ']', expected a value"),
        (#"{"a": 1,}"#, "unexpected '}', expected a member name in double quotes"),
        ("{'a': 1}", "unexpected ''', expected a member name in double quotes"),
        ("[01]", "numbers must not have leading zeros"),
        ("[1.]", "a number needs digits after '.'"),
        ("[-]", "a number needs digits after '-'"),
        ("[1e]", "a number needs digits in its exponent"),
        ("[1e999]", "the number 1e999 is out of range"),
        ("[tru]", "invalid literal, expected true"),
        ("[NaN]", "unexpected 'N', expected a value"),
        ("\"abc", "unterminated string"),
        ("\"a\tb\"", "control character (byte 0x9) inside a string; escape it"),
        (#""\x""#, "invalid escape in a string: backslash followed by 'x'"),
        (#""\ud83d""#, "unpaired UTF-16 surrogate in \\u escape"),
        (#""\u12""#, "a \\u escape needs four hex digits"),
        ("{} {}", "unexpected '{' after the end of the JSON value"),
        ("{\"a\" 1}", "unexpected '1', expected ':'"),
    ])
    func rejectsInvalidJSON(input: String, message: String) {
        #expect(error(input)?.message == message)
    }

    @Test func rejectsInvalidUTF8() {
        #expect((try? JSONValue.parse([0x22, 0xC3, 0x28, 0x22])) == nil)
    }

    @Test func errorsCarryLineAndColumn() throws {
        let failure = try #require(error("{\n  \"a\": 1,\n  \"b\": ?\n}"))
        #expect(failure.line == 3 && failure.column == 8)
        #expect(failure.description == "invalid JSON at line 3, column 8: unexpected '?', expected a value")
    }

    @Test func nestingIsLimited() throws {
        let ok = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(error(ok) == nil)
        let deep = String(repeating: "[", count: 65) + String(repeating: "]", count: 65)
        #expect(error(deep)?.message == "nesting is deeper than 64 levels")
        // Far beyond what the stack could take without the limit.
        let hostile = String(repeating: "{\"a\":", count: 100_000)
        #expect(error(hostile)?.message == "nesting is deeper than 64 levels")
    }

    // MARK: JSONPath

    @Test(arguments: [
        ("$", "$"),
        ("$.pools[*]", "$.pools[*]"),
        ("$.pools.*", "$.pools[*]"),
        ("$['pools'][0].active", "$.pools[0].active"),
        (#"$["odd key"]['it\'s']"#, #"$['odd key']['it\'s']"#),
        ("$.data.hikari-pool.stats", "$.data['hikari-pool'].stats"),
        ("$.a1._b", "$.a1._b"),
    ])
    func parsesPaths(text: String, canonical: String) throws {
        #expect(try JSONPath(parsing: text).description == canonical)
    }

    @Test(arguments: [
        ("pools", "a path starts with '$' (the document root), e.g. $.pools[*] (at character 1)"),
        ("$.", "a name is missing after '.' (at character 3)"),
        ("$..a", "unexpected '.' after '.'; quote unusual names as ['name'] (at character 3)"),
        ("$[?(@.a)]", "unexpected '?' after '['; use [n], [*] or ['name'] (filters and slices are not supported) (at character 3)"),
        ("$[1:2]", "expected ']' after the array index (at character 4)"),
        ("$['a'", "expected ']' after the quoted name (at character 6)"),
        ("$.a b", "unexpected ' '; use .name, ['name'], [n] or [*] (at character 4)"),
    ])
    func rejectsUnsupportedPaths(text: String, message: String) {
        do {
            _ = try JSONPath(parsing: text)
            Issue.record("\(text) parsed")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func looksUpAndExplainsMisses() throws {
        let document = try parse(#"{"a": {"b": [10, {"c": "x"}]}}"#)
        #expect(try JSONPath(parsing: "$.a.b[1].c").lookup(in: document) == .found(.string("x")))
        #expect(try JSONPath(parsing: "$.a.z").lookup(in: document) == .missing(resolved: 1, problem: "has no member \"z\""))
        #expect(try JSONPath(parsing: "$.a.b[5]").lookup(in: document)
            == .missing(resolved: 2, problem: "has no element [5] (the array has 2)"))
        #expect(try JSONPath(parsing: "$.a.b.c").lookup(in: document) == .missing(resolved: 2, problem: "is an array, not an object"))
        #expect(try JSONPath(parsing: "$.a[0]").lookup(in: document) == .missing(resolved: 1, problem: "is an object, not an array"))
    }

    @Test func selectsWithWildcards() throws {
        let document = try parse(#"{"groups": [{"pools": [1, 2]}, {"pools": [3]}], "byName": {"b": 2, "a": 1}}"#)
        let selected = try JSONPath(parsing: "$.groups[*].pools[*]").select(in: document)
        #expect(selected.map { JSONPath(segments: $0.path).description } == [
            "$.groups[0].pools[0]", "$.groups[0].pools[1]", "$.groups[1].pools[0]",
        ])
        #expect(selected.map(\.value) == [.number(1), .number(2), .number(3)])
        let members = try JSONPath(parsing: "$.byName.*").select(in: document)
        #expect(members.map(\.value) == [.number(1), .number(2)])
        #expect(throws: JSONPathError(message: "$ has no member \"missing\"")) { try JSONPath(parsing: "$.missing[*]").select(in: document) }
    }
}
