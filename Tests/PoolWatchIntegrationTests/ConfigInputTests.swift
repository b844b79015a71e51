import Foundation
import PoolWatchCore
import PoolWatchCollection
import Testing
import PoolWatchLibPQ

/// What people see of a DSN is libpq's parse of it, so libpq's escapes and URI encodings cannot
/// smuggle a password past the redaction (issue 21, finding 2).
@Suite struct LibPQConnInfoTests {
    @Test(arguments: [
        // libpq reads `abc\ REST` as one password, "abc REST"; a hand parser showed "REST".
        (#"host=db password=abc\ REST dbname=x"#, "host=db dbname=x password=<redacted>"),
        ("host=db password = 'hun ter\\'2' dbname=x", "host=db dbname=x password=<redacted>"),
        // Percent-encoded key in a URI: still the password.
        ("postgresql://u@db/x?%70assword=hunter2&sslmode=require", "host=db dbname=x user=u password=<redacted> sslmode=require"),
        ("postgresql://u:hunter2@db:5432/x", "host=db port=5432 dbname=x user=u password=<redacted>"),
        ("host=db sslpassword=keypass application_name='my app'", "host=db application_name='my app' sslpassword=<redacted>"),
        ("host=db", "host=db"),
    ])
    func displayDropsThePasswordWhateverItsSpelling(dsn: String, shown: String) {
        #expect(LibPQConnInfo.display(dsn) == shown)
    }

    @Test func unparsableDSNShowsNothingOfIt() {
        let shown = LibPQConnInfo.display("host=db password=abc REST")
        #expect(shown == "(not a valid libpq connection string)")
    }
}

/// `poolwatch check-config` and start-up on hostile or careless configuration files (issue 14 §3).
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 (scripts/test)"))
struct ConfigInputCommandTests {
    typealias Env = IntegrationEnvironment

    func file(_ name: String, _ text: String, mode: Int = 0o600) throws -> String {
        let directory = Env.tmp + "/" + Env.uniqueName("configinput")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let path = directory + "/" + name
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, mode_t(mode))
        return path
    }

    /// Nested anchors used as a mapping key: before, check-config and start-up hashed 10^10 nodes.
    @Test func aliasBombIsRefusedAtOnce() throws {
        let anchors = (1...9).reduce(["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]) { lines, level in
            lines + ["a\(level): &a\(level) [" + Array(repeating: "*a\(level - 1)", count: 10).joined(separator: ", ") + "]"]
        }
        let bomb = try file("bomb.yml", anchors.joined(separator: "\n") + "\ntargets:\n  - ? *a9\n    : 1\n")
        let checked = try run(["timeout", "20", Env.binary, "check-config", bomb])
        #expect(checked.status == 1, "\(checked.output)")
        #expect(checked.output.contains("\(bomb): 1 error"), "\(checked.output)")
        #expect(checked.output.contains("line 5: aliases expand to more than 100000 nodes"), "\(checked.output)")
        let started = try run(["timeout", "20", Env.binary, "--config", bomb])
        #expect(started.status == 2, "\(started.output)")
        #expect(started.output.contains("invalid configuration in \(bomb):"), "\(started.output)")

        let keyAlias = try file("key.yml", "targets:\n  - name: &n main\n    kind: postgres\n    ? *n\n    : 1\n")
        let refused = try run(["timeout", "20", Env.binary, "check-config", keyAlias])
        #expect(refused.status == 1)
        #expect(refused.output.contains("targets[0]: line 4: the alias *n is used in a mapping key"), "\(refused.output)")
    }

    /// Not read past 1 MiB: a huge file is refused without being loaded.
    @Test func oversizedFileIsRefused() throws {
        let big = try file("big.yml", "# " + String(repeating: "x", count: 1 << 20) + "\ntargets: []\n")
        let checked = try run(["timeout", "20", Env.binary, "check-config", big])
        #expect(checked.status == 1)
        #expect(checked.output.contains("cannot read configuration file \"\(big)\": it is larger than 1048576 bytes, the limit"),
                "\(checked.output)")
    }

    @Test func secretFilesOthersCanReadOrWriteAreRefused() throws {
        for mode in [0o644, 0o660, 0o604] {
            let secret = try file("dsn", "host=127.0.0.1 password=hunter2\n", mode: mode)
            let config = try file("poolwatch.yml", "targets:\n  - {name: a, kind: postgres, dsn_file: \(secret)}\n")
            let checked = try run([Env.binary, "check-config", config])
            #expect(checked.status == 1, "\(checked.output)")
            #expect(checked.output.contains("targets[0].dsn_file: \"\(secret)\" is "), "\(checked.output)")
            #expect(checked.output.contains("(mode 0\(String(mode, radix: 8))); run chmod 0600 \(secret)"), "\(checked.output)")
            #expect(!checked.output.contains("hunter2"))
        }
        let secret = try file("dsn", "host=127.0.0.1 password=hunter2\n", mode: 0o600)
        let config = try file("poolwatch.yml", "targets:\n  - {name: a, kind: postgres, dsn_file: \(secret)}\n")
        let checked = try run([Env.binary, "check-config", config])
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.contains(": host=127.0.0.1 password=<redacted>\n"), "\(checked.output)")
    }

    @Test func displayedDSNsComeFromLibpq() throws {
        let config = try file("poolwatch.yml", #"""
            targets:
              - {name: a, kind: postgres, dsn: 'host=db password=abc\ REST dbname=x'}
              - {name: b, kind: postgres, dsn: 'postgresql://u@db/x?%70assword=hunter2&sslmode=require'}
            """#)
        let checked = try run([Env.binary, "check-config", config])
        #expect(checked.status == 0, "\(checked.output)")
        #expect(checked.output.contains("a [postgres] every 15s, collection_timeout 10s: host=db dbname=x password=<redacted>\n"))
        #expect(checked.output.contains(": host=db dbname=x user=u password=<redacted> sslmode=require\n"), "\(checked.output)")
        #expect(!checked.output.contains("REST") && !checked.output.contains("hunter2"))
    }
}
