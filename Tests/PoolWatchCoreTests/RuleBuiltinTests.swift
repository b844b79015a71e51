import Testing
import Yams

@testable import PoolWatchCore

@Suite struct RuleBuiltinTests {
    typealias F = RuleFixtures

    static let pool = ["target": "pgb", "kind": "pgbouncer", "pool": "app/app", "database": "app", "user": "app"]
    static let session = ["target": "pg", "datname": "app", "usename": "u", "application_name": "web"]

    /// One round in which every built-in rule's condition holds once (and decoys that must not match).
    static let firingRound: [RuleFixtures.Point] = [
        F.point("pg_up", ["target": "pg"], 0),
        F.point("pgbouncer_up", ["target": "pgb"], 0),
        F.point("pgpool2_up", ["target": "pp"], 0),
        F.point("poolwatch_target_up", ["target": "app", "kind": "http_json"], 0),
        F.point("poolwatch_target_up", ["target": "pgb", "kind": "pgbouncer"], 0),
        F.point("poolwatch_pool_saturated", pool, 1),
        F.point("poolwatch_pool_wait_seconds_max", pool, 30),
        F.point("poolwatch_pool_utilization_ratio", pool, 0.95),
        F.point(
            "pg_stat_activity_backends",
            session.merging(["state": "active", "backend_type": "client backend", "wait_event_type": ""]) { $1 }, 95),
        F.point(
            "pg_stat_activity_backends",
            session.merging(["state": "", "backend_type": "autovacuum worker", "wait_event_type": ""]) { $1 }, 50),
        F.point("pg_settings_max_connections", ["target": "pg"], 100),
        F.point("pg_settings_superuser_reserved_connections", ["target": "pg"], 3),
        F.point("pg_stat_activity_max_idle_in_transaction_seconds", session, 400),
        F.point(
            "pg_stat_activity_max_tx_duration",
            session.merging(["state": "idle in transaction", "backend_type": "client backend", "wait_event_type": "Client"]) { $1 }, 4000),
        F.point(
            "pg_stat_activity_max_tx_duration",
            session.merging(["state": "active", "backend_type": "client backend", "wait_event_type": "Lock"]) { $1 }, 3000),
        F.point("pg_stat_activity_max_query_duration_seconds", session, 700),
        F.point("poolwatch_seconds_since_last_scrape", [:], 400),
        F.point("poolwatch_pool_utilization_ratio", app, 0.85),
        F.point("poolwatch_pool_query_duration_seconds", app.merging(["quantile": "0.99"]) { $1 }, 2.5),
        F.point("poolwatch_pool_query_duration_seconds", app.merging(["quantile": "0.5"]) { $1 }, 2.5),  // decoy: not p99
        F.point("poolwatch_pool_queries_per_second", app, 100),
        F.point("poolwatch_pool_query_errors_per_second", app, 12),
        F.point("pg_stat_replication_replay_lag_bytes", ["target": "pg", "application_name": "s1", "client_addr": "10.0.0.2"], 2e9),
        F.point("pg_replication_lag_seconds", ["target": "pg"], 600),
        F.point("pg_stat_wal_receiver_streaming", ["target": "pg"], 0),
        F.point("pg_replication_slots_pg_wal_lsn_diff", ["target": "pg", "slot_name": "old", "slot_type": "physical"], 2e9),
        F.point("pg_replication_slots_active", ["target": "pg", "slot_name": "old", "slot_type": "physical"], 0),
        F.point("pg_replication_slots_pg_wal_lsn_diff", ["target": "pg", "slot_name": "used", "slot_type": "physical"], 2e9),
        F.point("pg_replication_slots_active", ["target": "pg", "slot_name": "used", "slot_type": "physical"], 1),
        F.point("pg_database_wraparound_limit_ratio", ["target": "pg", "datname": "app"], 0.6),
        F.point("pg_stat_bgwriter_checkpoints_req_total", ["target": "pg"], 40),
        F.point("pg_stat_bgwriter_checkpoints_timed_total", ["target": "pg"], 1),
    ]

    /// The counters' values ten minutes before `firingRound` (the checkpoint rule reads increase()).
    static func earlier(_ round: [RuleFixtures.Point]) -> [RuleFixtures.Point] {
        round.map { point in
            var copy = point
            if point.name.hasSuffix("_total") { copy.value = 0 }
            return copy
        }
    }

    static let app = ["target": "orders", "kind": "app_metrics", "pool": "primary", "database": "orders", "user": "orders_rw"]

    /// The error ratio reads counters through rate(): 4% is not enough, 6% is, and a pool without queries is silent.
    @Test func appPoolErrorRatioFromCounters() throws {
        let rule = try #require(try BuiltinRules.rules().first { $0.name == "PoolwatchAppPoolErrorRatioHigh" })
        func ratio(queries: Double, errors: Double) throws -> [Double] {
            let quiet = Self.app.merging(["pool": "quiet"]) { $1 }
            let history = F.history((0...10).map { step in
                (Double(step) * 30, [
                    F.point("poolwatch_pool_queries_total", Self.app, Double(step) * queries),
                    F.point("poolwatch_pool_query_errors_total", Self.app, Double(step) * errors),
                    F.point("poolwatch_pool_queries_total", quiet, 5),
                    F.point("poolwatch_pool_query_errors_total", quiet, 5),
                ])
            })
            return try PromQLEvaluator(history: history).evaluate(rule.expr, at: 300).asVector.map(\.value)
        }
        #expect(try ratio(queries: 1000, errors: 40) == [])
        let firing = try ratio(queries: 1000, errors: 60)
        #expect(firing.count == 1 && abs(firing[0] - 0.06) < 1e-9)
    }

    @Test func everyRuleFiresOnceAndNamesWhatIsWrong() throws {
        let rules = try BuiltinRules.rules()
        #expect(rules.map(\.name) == BuiltinRules.names)
        let history = F.history([(-600, Self.earlier(Self.firingRound)), (0, Self.firingRound)])
        for rule in rules {
            let result = try PromQLEvaluator(history: history).evaluate(rule.expr, at: 0).asVector
            #expect(result.count == 1, "\(rule.name): \(result)")
            guard let labels = result.first?.labels.droppingMetricName else { continue }
            if rule.localOnly {
                #expect(labels.isEmpty)
            } else {
                #expect(labels["target"] != nil, "\(rule.name) loses target: \(labels)")
            }
            if ["PoolwatchPoolSaturated", "PoolwatchClientsWaitingTooLong", "PoolwatchPoolUtilizationHigh"].contains(rule.name) {
                #expect(labels == LabelSet(Self.pool.map { Label($0.key, $0.value) }), "\(rule.name): \(labels)")
            }
        }
        // The transaction rule aggregates state and wait event away: one instance per session group.
        let tx = rules.first { $0.name == "PoolwatchLongTransaction" }!
        let txResult = try PromQLEvaluator(history: history).evaluate(tx.expr, at: 0).asVector
        #expect(txResult.first?.labels == LabelSet(Self.session.map { Label($0.key, $0.value) }))
        #expect(txResult.first?.value == 4000)
        let connections = rules.first { $0.name == "PoolwatchPostgresConnectionsNearLimit" }!
        let ratio = try PromQLEvaluator(history: history).evaluate(connections.expr, at: 0).asVector.first
        #expect(ratio?.value == 95.0 / 97)
        #expect(connections.annotations(for: ratio!)["summary"] == "PostgreSQL pg uses 97.94% of its client connection slots")
    }

    @Test func everyRuleStaysSilentOnHealthyValues() throws {
        let healthy: [String: Double] = [
            "pg_up": 1, "pgbouncer_up": 1, "pgpool2_up": 1, "poolwatch_target_up": 1, "poolwatch_pool_saturated": 0,
            "poolwatch_pool_wait_seconds_max": 0.2, "poolwatch_pool_utilization_ratio": 0.5, "pg_stat_activity_backends": 10,
            "pg_stat_activity_max_idle_in_transaction_seconds": 3, "pg_stat_activity_max_tx_duration": 2,
            "pg_stat_activity_max_query_duration_seconds": 1, "poolwatch_seconds_since_last_scrape": 20,
            "poolwatch_pool_query_duration_seconds": 0.2, "poolwatch_pool_query_errors_per_second": 1,
            "pg_stat_replication_replay_lag_bytes": 1e6, "pg_replication_lag_seconds": 0, "pg_stat_wal_receiver_streaming": 1,
            "pg_replication_slots_pg_wal_lsn_diff": 1e6, "pg_database_wraparound_limit_ratio": 0.1,
            "pg_stat_bgwriter_checkpoints_req_total": 2,
        ]
        let round = Self.firingRound.map { point in
            var copy = point
            copy.value = healthy[point.name] ?? point.value
            return copy
        }
        let history = F.history([(-600, Self.earlier(round)), (0, round)])
        for rule in try BuiltinRules.rules() {
            #expect(try PromQLEvaluator(history: history).evaluate(rule.expr, at: 0).asVector.isEmpty, "\(rule.name)")
        }
    }

    @Test func overridesChangeThresholdTimingAndSeverity() throws {
        let rules = try BuiltinRules.rules(
            runbookBase: "https://wiki.example/runbooks/",
            overrides: [
                "PoolwatchClientsWaitingTooLong": RuleOverride(threshold: 2.5, forDuration: 30, severity: .warning),
                "PoolwatchPoolUtilizationHigh": RuleOverride(enabled: false),
                "PoolwatchPostgresDown": RuleOverride(keepFiringFor: 300),
            ])
        let wait = rules.first { $0.name == "PoolwatchClientsWaitingTooLong" }!
        #expect(wait.expression == "poolwatch_pool_wait_seconds_max > 2.5")
        #expect(wait.threshold == 2.5 && wait.forDuration == 30 && wait.severity == .warning)
        #expect(wait.descriptionTemplate.text.contains("above 2500ms for at least 30s"))
        #expect(wait.runbookURL == "https://wiki.example/runbooks#poolwatchclientswaitingtoolong")
        #expect(!rules.contains { $0.name == "PoolwatchPoolUtilizationHigh" })
        #expect(rules.first { $0.name == "PoolwatchPostgresDown" }?.keepFiringFor == 300)

        #expect(throws: AlertRuleError.self) { try BuiltinRules.rules(overrides: ["NoSuchRule": RuleOverride()]) }
        #expect(throws: AlertRuleError(rule: "PoolwatchPostgresDown", message: "this rule has no threshold to override")) {
            try BuiltinRules.rules(overrides: ["PoolwatchPostgresDown": RuleOverride(threshold: 1)])
        }
    }

    @Test func renderedRuleFileIsDeterministicAndReadsBack() throws {
        let rules = try BuiltinRules.rules()
        let text = RuleFileRenderer.render(rules)
        #expect(text == RuleFileRenderer.render(try BuiltinRules.rules()))
        #expect(!text.contains("PoolwatchNotScraped"))
        #expect(text.contains("      - alert: PoolwatchPostgresDown\n        expr: pg_up == 0\n        for: 1m\n        keep_firing_for: 1m\n"))

        let document = try #require(try Yams.load(yaml: text) as? [String: Any])
        let groups = try #require(document["groups"] as? [[String: Any]])
        #expect(groups.count == 1 && groups[0]["name"] as? String == "poolwatch.rules")
        let rendered = try #require(groups[0]["rules"] as? [[String: Any]])
        let exported = rules.filter { !$0.localOnly }
        #expect(rendered.count == exported.count)
        for (entry, rule) in zip(rendered, exported) {
            #expect(entry["alert"] as? String == rule.name)
            #expect(entry["expr"] as? String == rule.expression)
            #expect((entry["labels"] as? [String: Any])?["severity"] as? String == rule.severity.rawValue)
            let annotations = entry["annotations"] as? [String: Any]
            #expect(annotations?["summary"] as? String == rule.summary.text)
            #expect(annotations?["description"] as? String == rule.descriptionTemplate.text)
            #expect(annotations?["runbook_url"] as? String == rule.runbookURL)
        }
    }

    @Test(arguments: [
        "plain text", "{{ $labels.x }}", "it's", "a: b", "x #y", "- dash", "true", "1.5", "", " lead", "tab\there", "\"q\"",
        "50%", "@at", "x{a=\"b\"} > 0",
    ])
    func yamlScalarsReadBackExactly(text: String) throws {
        let yaml = "key: \(RuleFileRenderer.yamlScalar(text))\n"
        let loaded = try Yams.load(yaml: yaml) as? [String: Any]
        #expect(loaded?["key"] as? String == text, "\(yaml)")
    }
}
