import Testing

@testable import PoolWatchCore

/// Hostile or careless configuration input: YAML alias bombs, huge files and values, secrets near
/// errors, secret files others can read, DSN-less console targets.
@Suite struct ConfigInputBoundsTests {
    struct Refused: Error, CustomStringConvertible { var description: String { "permission denied" } }

    func errors(_ yaml: String, files: [String: String] = [:], env: [String: String] = [:],
                readFile: (@Sendable (String) throws -> String)? = nil) -> [String] {
        let loader = ConfigLoader(environment: env, readFile: readFile ?? { path in
            guard let text = files[path] else { throw Refused() }
            return text
        })
        do {
            _ = try loader.load(yaml: yaml)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    /// Ten levels of ten aliases each: 10^10 nodes once expanded.
    static let nestedAnchors = (1...9).reduce(["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]) { lines, level in
        lines + ["a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]"]
    }.joined(separator: "\n")

    @Test(.timeLimit(.minutes(1)))
    func aliasBombIsRefusedBeforeComposing() {
        let found = errors(Self.nestedAnchors + "\ntargets:\n  - ? *a9\n    : 1\n")
        #expect(found.count == 1)
        #expect(found.first?.contains("aliases expand to more than 100000 nodes") == true, "\(found)")
        #expect(found.first?.contains("line 5") == true, "\(found)")
    }

    @Test func aliasAsMappingKeyIsRefusedWithPathAndLine() {
        let yaml = "targets:\n  - name: &n main\n    kind: postgres\n    ? *n\n    : 1\n"
        #expect(errors(yaml) == ["targets[0]: line 4: the alias *n is used in a mapping key; aliases are allowed only as values"])
        // Also inside a complex key, which a duplicate-key check would hash whole too.
        let nested = "targets:\n  - name: &n main\n    kind: postgres\n    ? [x, *n]\n    : 1\n"
        #expect(errors(nested).first?.contains("the alias *n is used in a mapping key") == true)
    }

    @Test func aliasesAsValuesStillWork() throws {
        let config = try ConfigLoader(environment: [:], readFile: { _ in "" }).load(yaml: """
            targets:
              - {name: a, kind: postgres, interval: &every 30s}
              - {name: b, kind: postgres, interval: *every}
            """)
        #expect(config.targets.map(\.interval) == [.seconds(30), .seconds(30)])
    }

    @Test func fileOverOneMiBIsRefusedBeforeParsing() {
        let padding = "# " + String(repeating: "x", count: YAMLInputBounds.maxFileBytes) + "\n"
        #expect(errors(padding + "targets: [") == ["the file is 1048589 bytes, more than the limit of 1048576 bytes (1 MiB)"])
        // At the limit it is parsed (and this one is valid).
        let exact = "targets: [{name: a, kind: postgres}]\n#"
        let filled = exact + String(repeating: "x", count: YAMLInputBounds.maxFileBytes - exact.utf8.count)
        #expect(errors(filled) == [])
    }

    @Test func echoedValuesAreCutTo80Characters() {
        let long = String(repeating: "y", count: 10_000)
        #expect(errors("targets:\n  - {name: a, kind: postgres, interval: \(long)}\n")
            == ["targets[0].interval: \"\(String(repeating: "y", count: 80))… (10000 bytes)\" is not a duration (use 15s, 1m)"])
        let key = String(repeating: "k", count: 500) // YAML allows plain keys up to 1024 characters
        let keyError = errors("targets:\n  - {name: a, kind: postgres, \(key): 1}\n")
        #expect(keyError.count == 1 && keyError[0].hasPrefix("targets[0].\(String(repeating: "k", count: 80))… (500 bytes): unknown key"))
        #expect(ConfigEcho.value("short") == "short")
        #expect(ConfigEcho.value(String(repeating: "é", count: 81)) == String(repeating: "é", count: 80) + "… (162 bytes)")
    }

    @Test func duplicateKeyErrorNamesKeyAndLineButNotTheText() {
        let found = errors("targets:\n  - name: a\n    kind: postgres\n    dsn: 'host=db password=hunter2'\n    dsn: 'host=db password=hunter2'\n")
        #expect(found == [#"the file is not valid YAML: duplicate key "dsn" in one mapping at line 5 (first at line 4)"#])
        #expect(!found.joined().contains("hunter2"))
    }

    @Test func syntaxErrorDoesNotQuoteTheText() {
        let found = errors("targets:\n  - name: a\n    dsn: \"host=db password=hunter2\n    kind: [postgres\n")
        #expect(found.count == 1 && found[0].hasPrefix("the file is not valid YAML:") && found[0].contains("line "))
        #expect(!found.joined().contains("hunter2"))
    }

    @Test func consoleTargetsNeedADSN() {
        #expect(errors("targets:\n  - {name: b, kind: pgbouncer}\n  - {name: p, kind: pgpool}\n  - {name: pg, kind: postgres}\n") == [
            "targets[0].dsn: is required for kind pgbouncer (or dsn_file / dsn_env): libpq's defaults lead to PostgreSQL, not to the pgbouncer console",
            "targets[1].dsn: is required for kind pgpool (or dsn_file / dsn_env): libpq's defaults lead to PostgreSQL, not to the pgpool console",
        ])
        #expect(errors("targets:\n  - {name: b, kind: pgbouncer, dsn_env: B}\n", env: ["B": "port=6432 dbname=pgbouncer"]) == [])
    }

    @Test(arguments: [
        (0o600, false, nil), (0o400, false, nil), (0o640, true, nil), (0o440, true, nil),
        (0o640, false, "readable"), (0o644, false, "readable"), (0o604, true, "readable"), (0o644, true, "readable"),
        (0o660, false, "writable"), (0o620, true, "writable"), (0o602, false, "writable"), (0o666, true, "writable"),
    ] as [(Int, Bool, String?)])
    func secretFileModes(mode: Int, ownedByRoot: Bool, problem: String?) {
        let refused = SecretFileMode.problem(path: "/s/dsn", mode: UInt32(0o100000 | mode), ownedByRoot: ownedByRoot)
        if let problem {
            let octal = "0" + String(mode, radix: 8)
            #expect(refused?.description.hasPrefix("\"/s/dsn\" is \(problem) by group or others (mode \(octal)); run chmod 0600 /s/dsn") == true,
                    "\(String(describing: refused))")
        } else {
            #expect(refused == nil)
        }
    }

    @Test func refusedSecretFilesAreReportedForEveryFileKey() {
        let refusal = SecretFileMode.problem(path: "/s/x", mode: 0o644, ownedByRoot: false)!
        let found = errors("""
            targets:
              - {name: a, kind: postgres, dsn_file: /s/x}
              - name: app
                kind: http_json
                url_file: /s/x
                pools: {items: "$.pools[*]", name: "$.name", fields: {active: "$.a", idle: "$.i", waiting: "$.w", max: "$.m"}}
            alerting: {cluster_id: prod}
            receivers:
              - {name: s, type: slack, webhook_url_file: /s/x}
            """, readFile: { _ in throw refusal })
        #expect(found == [
            "targets[0].dsn_file: \(refusal)", "targets[1].url_file: \(refusal)", "receivers[0].webhook_url_file: \(refusal)",
        ])
    }

    @Test func emptyDSNFileIsAnError() {
        #expect(errors("targets:\n  - {name: a, kind: postgres, dsn_file: /s/dsn}\n", files: ["/s/dsn": " \n"])
            == [#"targets[0].dsn_file: file "/s/dsn" is empty"#])
    }

    @Test func displayedDSNComesFromTheInjectedParse() throws {
        let loader = ConfigLoader(environment: [:], readFile: { _ in "" }, displayConnInfo: { "parsed(\($0.count))" })
        let config = try loader.load(yaml: "targets:\n  - {name: a, kind: postgres, dsn: 'host=x password=y'}\n  - {name: b, kind: postgres}\n")
        #expect(config.targets.map(\.redactedDSN) == ["parsed(17)", "(libpq defaults)"])
        // Without a parser nothing of the DSN is shown.
        let hidden = try ConfigLoader(environment: [:], readFile: { _ in "" }).load(yaml: "targets:\n  - {name: a, kind: postgres, dsn: 'host=x'}\n")
        #expect(hidden.targets[0].redactedDSN == "(connection string not shown)")
    }
}
