import Testing

@testable import PoolWatchCore

/// Query text is exported only with `include_query: true`; every string literal in it is masked
/// (see QueryTextMasking for why).
@Suite struct QueryTextMaskingTests {
    func mask(_ text: String) -> String { QueryTextMasking.mask(text) }

    @Test(arguments: [
        ("ALTER ROLE app PASSWORD 'hunter2'", "ALTER ROLE app PASSWORD '***'"),
        ("CREATE ROLE app LOGIN ENCRYPTED PASSWORD 'it''s hunter2' VALID UNTIL '2030-01-01'",
         "CREATE ROLE app LOGIN ENCRYPTED PASSWORD '***' VALID UNTIL '***'"),
        ("ALTER USER app WITH PASSWORD E'a\\'hunter2\\\\'", "ALTER USER app WITH PASSWORD E'***'"),
        ("ALTER USER app WITH PASSWORD e'x''hunter2'", "ALTER USER app WITH PASSWORD e'***'"),
        ("DO $$ BEGIN EXECUTE 'ALTER ROLE a PASSWORD ''hunter2'''; END $$", "DO '***'"),
        ("DO $body$ SELECT 'x' $$ hunter2 $body$ LANGUAGE sql", "DO '***' LANGUAGE sql"),
        ("CREATE USER MAPPING FOR app SERVER s OPTIONS (user 'u', password 'hunter2')",
         "CREATE USER MAPPING FOR app SERVER s OPTIONS (user '***', password '***')"),
        ("SELECT dblink_connect('host=db password=hunter2')", "SELECT dblink_connect('***')"),
        ("CREATE SUBSCRIPTION s CONNECTION 'host=db password=hunter2' PUBLICATION p",
         "CREATE SUBSCRIPTION s CONNECTION '***' PUBLICATION p"),
        ("ALTER ROLE \"o'brien\" PASSWORD 'hunter2'", "ALTER ROLE \"o'brien\" PASSWORD '***'"),
        ("/* don't */ ALTER ROLE a PASSWORD 'hunter2' -- it's\n", "/* don't */ ALTER ROLE a PASSWORD '***' -- it's\n"),
        ("/* a /* nested ' */ still comment */ SELECT 'hunter2'", "/* a /* nested ' */ still comment */ SELECT '***'"),
        ("SELECT $1, $2 FROM t WHERE a$b = $3", "SELECT $1, $2 FROM t WHERE a$b = $3"),
        ("SELECT * FROM t WHERE name = U&'hunter2' AND b = X'ff'", "SELECT * FROM t WHERE name = U&'***' AND b = X'***'"),
        ("select 1", "select 1"),
        ("", ""),
    ])
    func masksEveryLiteral(_ input: String, _ expected: String) {
        #expect(mask(input) == expected)
    }

    /// The collector cuts text at `query_length`: a literal cut in two is masked to the end.
    @Test(arguments: ["ALTER ROLE app PASSWORD 'hunt", "ALTER ROLE app PASSWORD E'hu\\'nt", "DO $x$ hunter2 $x", "DO $$ hunt"])
    func unterminatedLiteralIsMaskedToTheEnd(_ input: String) {
        #expect(!mask(input).contains("hunt"))
        #expect(mask(input).hasSuffix("'***'"))
    }

    /// A backslash in a plain literal ends it or not depending on standard_conforming_strings: the rest
    /// of the text is masked rather than guessed either way.
    @Test func backslashInPlainLiteralMasksTheRest() {
        let text = "ALTER ROLE a PASSWORD 'x\\' hunter2 '; SELECT 1"
        #expect(mask(text) == "ALTER ROLE a PASSWORD '***'")
    }

    @Test func identifiersAndNonASCIIAreKept() {
        #expect(mask("SELECT \"ünïcode\"\"x\" FROM café WHERE x = 'ß'") == "SELECT \"ünïcode\"\"x\" FROM café WHERE x = '***'")
    }

    @Test func statementsCollectorMasksTheQueryLabel() throws {
        let collector = StatementsCollector(includeQuery: true)
        let top = QueryResult(
            columns: ["entries", "slow", "datname", "user", "queryid", "calls", "seconds", "query"],
            rows: [["1", "0", "app", "u", "1", "1", "0.1", "ALTER ROLE app PASSWORD 'hunter2'"]])
        let families = try collector.map([top], server: ServerFacts(versionNumber: 150000))
        let info = try #require(families.first { $0.name == "pg_stat_statements_query_info" })
        #expect(info.samples.map { $0.label("query") } == ["ALTER ROLE app PASSWORD '***'"])
    }
}
