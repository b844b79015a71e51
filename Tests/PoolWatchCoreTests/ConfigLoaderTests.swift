import Testing

@testable import PoolWatchCore

@Suite struct ConfigLoaderTests {
    struct NoFile: Error, CustomStringConvertible { var description: String { "No such file or directory" } }

    func loader(env: [String: String] = [:], files: [String: String] = [:]) -> ConfigLoader {
        ConfigLoader(environment: env, readFile: { path in
            guard let text = files[path] else { throw NoFile() }
            return text
        })
    }

    /// Loads `yaml` and returns the error lines (empty when it is valid).
    func errors(_ yaml: String, env: [String: String] = [:]) -> [String] {
        do {
            _ = try loader(env: env).load(yaml: yaml)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func noConfigWatchesLocalPostgresWithLibpqDefaults() throws {
        let config = try loader().load(yaml: nil)
        #expect(config.targets.count == 1)
        #expect(config.targets[0].kind == .postgres)
        #expect(config.targets[0].dsn.isEmpty)
        #expect(config.listen == ListenAddress(host: "0.0.0.0", port: 9646))
    }

    @Test func fullTargetParses() throws {
        let config = try loader(env: ["PG_DSN": "host=db password=hunter2"], files: ["/s/dsn": "host=x password=s3cret\n"]).load(yaml: """
            listen_address: 127.0.0.1:9999
            log_format: json
            targets:
              - name: main
                kind: postgres
                dsn_env: PG_DSN
                interval: 30s
                collection_timeout: 20s
                statement_timeout: 2s
                lock_timeout: 500ms
                activity: {top_applications: 3}
                statements: {limit: 50, slow_threshold: 250ms, include_query: true, interval: 1m}
              - name: replica
                kind: postgres
                dsn_file: /s/dsn
            """)
        #expect(config.listen == ListenAddress(host: "127.0.0.1", port: 9999))
        #expect(config.logFormat == .json)
        let main = config.targets[0]
        #expect(main.dsn.revealed == "host=db password=hunter2")
        #expect(main.interval == .seconds(30) && main.collectionTimeout == .seconds(20) && main.statementTimeout == .seconds(2) && main.lockTimeout == .milliseconds(500))
        #expect(main.activity.topApplications == 3)
        #expect(main.statements.limit == 50 && main.statements.slowThreshold == 0.25 && main.statements.includeQuery)
        #expect(main.statements.interval == .seconds(60))
        #expect(config.targets[1].statements.interval == .seconds(30), "the default")
        #expect(config.targets[1].dsn.revealed == "host=x password=s3cret")
        #expect(config.targets[1].collectionTimeout == .seconds(10))
    }

    @Test func flagsBeatEnvironmentBeatFile() throws {
        let yaml = "listen_address: :1000\nlog_level: debug\n"
        let env = ["POOLWATCH_LISTEN_ADDRESS": ":2000", "POOLWATCH_LOG_LEVEL": "error"]
        let fromEnv = try loader(env: env).load(yaml: yaml)
        #expect(fromEnv.listen.port == 2000 && fromEnv.logLevel == .error)
        let fromFlag = try loader(env: env).load(yaml: yaml, overrides: .init(listen: "127.0.0.1:3000"))
        #expect(fromFlag.listen.port == 3000 && fromFlag.listen.host == "127.0.0.1")
    }

    // Ten-plus distinct mistakes, each with its exact message.

    @Test func bareNumberIsNotADuration() {
        #expect(errors("targets:\n  - {name: a, kind: postgres}\n  - {name: b, kind: postgres, interval: 15}\n")
            == [#"targets[1].interval: "15" is not a duration (use 15s, 1m)"#])
    }

    @Test func unknownKeySuggestsTheNearestKnownKey() {
        #expect(errors("targets:\n  - {name: a, kind: postgres, intervall: 15s}\n")
            == ["targets[0].intervall: unknown key (did you mean interval?); expected one of: name, kind, dsn, dsn_file, dsn_env, interval, connect_timeout, statement_timeout, lock_timeout, collection_timeout, activity, statements, postgres_target, labels, database_sizes, table_stats, queries, queries_file, connection_budget, url, url_file, url_env, headers, max_response_bytes, max_pools, pools, preset, prefix, pool_label, database_label, database_value, user_label, user_value, mapping"])
    }

    @Test func unknownTopLevelKey() {
        #expect(errors("listen: :9646\n")
            == ["listen: unknown key; expected one of: listen_address, log_format, log_level, web_config_file, targets, receivers, alerting"])
    }

    @Test func duplicateTargetNames() {
        #expect(errors("targets:\n  - {name: a, kind: postgres}\n  - {name: a, kind: postgres}\n")
            == [#"targets[1].name: duplicate target name "a" (also used by targets[0])"#])
    }

    @Test func unknownKind() {
        #expect(errors("targets:\n  - {name: a, kind: mysql}\n")
            == [#"targets[0].kind: "mysql" is not valid (expected one of: postgres, pgbouncer, pgpool, http_json, app_metrics)"#])
    }

    @Test func missingNameAndKind() {
        #expect(errors("targets:\n  - {dsn: x}\n") == ["targets[0].name: is required"])
        #expect(errors("targets:\n  - {name: a}\n")
            == ["targets[0].kind: is required (one of: postgres, pgbouncer, pgpool, http_json, app_metrics)"])
    }

    @Test func badListenAddress() {
        #expect(errors("listen_address: localhost\n")
            == [#"listen_address: "localhost" is not a listen address (use host:port or :port, e.g. :9646)"#])
        #expect(errors("", env: ["POOLWATCH_LISTEN_ADDRESS": ":99999"])
            == [#"$POOLWATCH_LISTEN_ADDRESS: ":99999" is not a listen address (use host:port or :port, e.g. :9646)"#])
    }

    @Test func conflictingDSNSources() {
        #expect(errors("targets:\n  - {name: a, kind: postgres, dsn: x, dsn_env: Y}\n")
            == ["targets[0].dsn_env: conflicts with targets[0].dsn: give only one of dsn, dsn_file, dsn_env"])
    }

    @Test func missingSecretSourcesNameTheSourceNotTheSecret() {
        #expect(errors("targets:\n  - {name: a, kind: postgres, dsn_env: NOPE}\n")
            == ["targets[0].dsn_env: environment variable NOPE is not set"])
        #expect(errors("targets:\n  - {name: a, kind: postgres, dsn_file: /missing}\n")
            == [#"targets[0].dsn_file: cannot read "/missing": No such file or directory"#])
    }

    @Test func statementsIntervalIsADurationOfAtLeastOneSecond() {
        #expect(errors("targets:\n  - {name: a, kind: postgres, statements: {interval: 500ms}}\n")
            == [#"targets[0].statements.interval: "500ms" is not a duration of at least 1s (use 30s, 1m)"#])
    }

    @Test func collectionTimeoutLongerThanInterval() {
        #expect(errors("targets:\n  - {name: a, kind: postgres, interval: 5s, collection_timeout: 10s}\n")
            == ["targets[0].collection_timeout: 10s is longer than the interval (5s)"])
    }

    @Test func wrongShapes() {
        #expect(errors("targets: main\n") == ["targets: expected a list, found a single value"])
        #expect(errors("targets:\n  - main\n") == ["targets[0]: expected a mapping of keys, found a single value"])
        #expect(errors("targets: []\n") == ["targets: is empty: list at least one target"])
    }

    @Test func outOfRangeAndWrongTypes() {
        #expect(errors("targets:\n  - {name: a, kind: postgres, statements: {limit: 0}}\n")
            == ["targets[0].statements.limit: 0 is out of range (1 to 10000)"])
        #expect(errors("targets:\n  - {name: a, kind: postgres, statements: {enabled: maybe}}\n")
            == [#"targets[0].statements.enabled: "maybe" is not a boolean (use true or false)"#])
        #expect(errors("targets:\n  - {name: a, kind: postgres, activity: {top_applications: ten}}\n")
            == [#"targets[0].activity.top_applications: "ten" is not a whole number"#])
    }

    @Test func badNameAndBadLogFormat() {
        #expect(errors("targets:\n  - {name: 'a b', kind: postgres}\n")
            == [#"targets[0].name: "a b" may use only letters, digits, '-', '_' and '.'"#])
        #expect(errors("log_format: xml\n") == [#"log_format: "xml" is not valid (expected one of: logfmt, json)"#])
    }

    @Test func postgresOnlyKeysOnOtherKinds() {
        #expect(errors("targets:\n  - {name: a, kind: pgbouncer, dsn: port=6432, statement_timeout: 1s}\n")
            == ["targets[0].statement_timeout: applies only to kind postgres, not pgbouncer"])
    }

    @Test func invalidYAMLSaysWhere() {
        let lines = errors("targets:\n  - name: a\n   kind: [\n")
        #expect(lines.count == 1)
        #expect(lines[0].hasPrefix("the file is not valid YAML: "))
        #expect(lines[0].contains("line"))
    }

    @Test func allMistakesAreReportedTogether() {
        #expect(errors("log_level: loud\ntargets:\n  - {name: a, kind: postgres, interval: soon}\n").count == 2)
    }

    @Test func inlineDSNPasswordIsNeverInAnError() {
        let lines = errors("targets:\n  - {name: a, kind: postgres, dsn: 'password=hunter2', interval: x}\n")
        #expect(!lines.joined().contains("hunter2"))
    }
}

@Suite struct SecretTests {
    @Test func secretNeverPrints() {
        let secret = Secret("hunter2")
        #expect("\(secret)" == "<redacted>")
        #expect(String(reflecting: secret) == "<redacted>")
    }

    @Test func durations() {
        #expect(DurationParser.seconds("1m30s") == 90)
        #expect(DurationParser.seconds("500ms") == 0.5)
        #expect(DurationParser.seconds("15") == nil)
        #expect(DurationParser.seconds("15x") == nil)
        #expect(DurationParser.format(90) == "1m30s")
        #expect(DurationParser.format(0.25) == "250ms")
    }
}

@Suite struct AlertingConfigTests {
    func load(_ yaml: String) throws -> PoolwatchConfig {
        try ConfigLoader(environment: [:], readFile: { _ in "" }).load(yaml: yaml)
    }

    func errors(_ yaml: String) -> [String] {
        do {
            _ = try load(yaml)
            return []
        } catch {
            return (error as? ConfigErrors)?.errors.map(\.description) ?? ["\(error)"]
        }
    }

    @Test func overridesAndSilencesParse() throws {
        let config = try load("""
            alerting:
              state_dir: /var/lib/poolwatch
              evaluation_interval: 5s
              cluster_id: prod
              rules:
                PoolwatchClientsWaitingTooLong: {threshold: 2s, for: 30s, severity: warning}
                PoolwatchLongQuery: {enabled: false}
              silences:
                - {matchers: 'PoolwatchPoolSaturated{target="b2"}', ends_at: "2026-12-01T00:00:00Z", comment: maint}
            """)
        #expect(config.alerting.stateDirectory == "/var/lib/poolwatch")
        #expect(config.alertRules.evaluationInterval == .seconds(5))
        let rules = try config.alertRules.rules()
        let wait = try #require(rules.first { $0.name == "PoolwatchClientsWaitingTooLong" })
        #expect(wait.forDuration == 30 && wait.severity == .warning)
        #expect(!rules.contains { $0.name == "PoolwatchLongQuery" })
        #expect(config.alertRules.silences.count == 1)
        #expect(config.alertRules.silences[0].endsAt == 1_796_083_200)
    }

    @Test func mistakesNameTheirPath() {
        #expect(errors("alerting:\n  rules:\n    PoolwatchPoolSaturatd: {for: 1m}\n").first?
            .hasPrefix("alerting.rules.PoolwatchPoolSaturatd: unknown rule (did you mean PoolwatchPoolSaturated?)") == true)
        #expect(errors("alerting:\n  rules:\n    PoolwatchLongQuery: {severity: page}\n")
            == [#"alerting.rules.PoolwatchLongQuery.severity: "page" is not valid (expected one of: info, warning, critical)"#])
        #expect(errors("alerting:\n  silences:\n    - {matchers: 'X{a=\"b\"}', ends_at: tomorrow}\n")
            == [#"alerting.silences[0].ends_at: "tomorrow" is not a UTC time (use 2026-12-01T00:00:00Z)"#])
        #expect(errors("alerting:\n  evaluation_interval: 0s\n")
            == [#"alerting.evaluation_interval: "0s" is not a duration of at least 1s (use 15s, 1m)"#])
    }
}
