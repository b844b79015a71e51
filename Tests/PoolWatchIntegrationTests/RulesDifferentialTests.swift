import Foundation
import PoolWatchCore
import Testing

/// Local evaluation and Prometheus must agree (docs/alert-rules.md §1, "One source of truth").
///
/// For every built-in rule, scenarios with firing and non-firing series are fed step by step to
/// poolwatch's `AlertEngine`; the alerts it reports as firing at every step become the `exp_alerts` of
/// a `promtool test rules` file over the same series and the rendered rule file. promtool passing means
/// Prometheus fires exactly the same alerts, with the same labels and character-identical annotations.
/// The same is done for the evaluator alone (`promql_expr_test` with values computed locally, compared
/// exactly by promtool) and for Go number formatting in templates (a probe rule over awkward values).
@Suite struct RulesDifferentialTests {
    static let interval = 30.0
    static let steps = 41

    static var promtool: String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/promtool" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test(.enabled(if: promtool != nil, "promtool is not on PATH (Debian package `prometheus`); differential test skipped"))
    func builtinRulesAgreeWithPromtool() throws {
        let rules = try BuiltinRules.rules().filter { !$0.localOnly }
        var groups: [String] = []
        var everFired: Set<String> = []
        for scenario in Scenarios.all {
            let (yaml, fired) = try alertGroup(scenario, rules: rules)
            groups.append(yaml)
            everFired.formUnion(fired)
        }
        // Every rule fires somewhere, or the comparison would prove little.
        #expect(everFired == Set(rules.map(\.name)))

        let probe = try TemplateProbe.rule()
        groups.append(try alertGroup(TemplateProbe.scenario, rules: [probe]).yaml)
        groups.append(try EvaluatorCases.group())

        let files = [
            "poolwatch.rules.yml": RuleFileRenderer.render(rules),
            "probe.rules.yml": RuleFileRenderer.render([probe], groupName: "probe"),
            "tests.yml": """
                rule_files:
                  - poolwatch.rules.yml
                  - probe.rules.yml
                evaluation_interval: \(Int(Self.interval))s
                tests:
                \(groups.joined())
                """,
        ]
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("poolwatch-rules-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8) }

        let check = try run(["check", "rules", "poolwatch.rules.yml"], in: directory)
        #expect(check.status == 0, "promtool check rules:\n\(check.output)")
        let test = try run(["test", "rules", "tests.yml"], in: directory)
        #expect(test.status == 0, "promtool test rules:\n\(test.output.prefix(20_000))")
        // Kept for inspection when promtool disagrees, or when POOLWATCH_KEEP_RULE_TESTS=1.
        if check.status == 0 && test.status == 0 && ProcessInfo.processInfo.environment["POOLWATCH_KEEP_RULE_TESTS"] != "1" {
            try? FileManager.default.removeItem(at: directory)
        }
    }

    /// One promtool test group: the scenario's series, and the alerts poolwatch fires at every step for
    /// every rule (an empty list where none fire).
    func alertGroup(_ scenario: Scenario, rules: [AlertRule]) throws -> (yaml: String, fired: Set<String>) {
        // No per-rule instance cap: grouping the instances beyond it is poolwatch's own, Prometheus has none.
        var engine = AlertEngine(rules: rules, options: AlertEngine.Options(resolveWarmUpEvaluations: 0, maxInstancesPerRule: .max))
        var tests = ""
        var fired: Set<String> = []
        for step in 0..<Self.steps {
            let time = Double(step) * Self.interval
            let outcome = engine.step(scenario.families(at: step), at: time)
            #expect(outcome.failures.isEmpty, "\(scenario.name) at \(time): \(outcome.failures)")
            let firing = engine.alerts(at: time).filter { $0.instance.phase.isFiring }
            for rule in rules {
                let alerts = firing.filter { $0.instance.rule == rule.name }
                if !alerts.isEmpty { fired.insert(rule.name) }
                tests += "      - eval_time: \(Int(time))s\n        alertname: \(rule.name)\n"
                guard !alerts.isEmpty else {
                    tests += "        exp_alerts: []\n"
                    continue
                }
                tests += "        exp_alerts:\n"
                for alert in alerts {
                    tests += "          - exp_labels:\n"
                    for label in alert.instance.labels.labels where label.name != "alertname" {
                        tests += "              \(label.name): \(quoted(label.value))\n"
                    }
                    tests += "            exp_annotations:\n"
                    for annotation in alert.instance.annotations.labels {
                        tests += "              \(annotation.name): \(quoted(annotation.value))\n"
                    }
                }
            }
        }
        let yaml = """
              - name: \(quoted(scenario.name))
                interval: \(Int(Self.interval))s
                input_series:
            \(scenario.inputSeries())    alert_rule_test:
            \(tests)
            """
        return (yaml, fired)
    }

    func run(_ arguments: [String], in directory: URL) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.promtool!)
        process.arguments = arguments
        process.currentDirectoryURL = directory
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self) + "\n(files in \(directory.path))")
    }
}

/// A YAML single-quoted scalar.
func quoted(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "''") + "'" }

/// Series for one scenario: values per 30 s step, nil where the series is missing from the round.
struct Scenario {
    struct Series {
        var name: String
        var labels: [String: String]
        var values: [Double?]
    }

    var name: String
    var series: [Series]

    func families(at step: Int) -> [MetricFamily] {
        var byName: [String: MetricFamily] = [:]
        for series in self.series {
            guard step < series.values.count, let value = series.values[step] else { continue }
            let labels = series.labels.sorted { $0.key < $1.key }.map { Label($0.key, $0.value) }
            byName[series.name, default: MetricFamily(series.name, help: "")].samples.append(Sample(labels, value))
        }
        return Array(byName.values)
    }

    /// promtool's `input_series`, values in its expanding notation (`0+1x10`, `1x5`, `_x3`, `stale`).
    func inputSeries() -> String {
        series.map { series in
            let labels = series.labels.sorted { $0.key < $1.key }.map { "\($0.key)=\"\($0.value)\"" }.joined(separator: ",")
            return "      - series: \(quoted("\(series.name){\(labels)}"))\n        values: \(quoted(Self.notation(series.values)))\n"
        }.joined()
    }

    static func notation(_ values: [Double?]) -> String {
        var parts: [String] = []
        var index = 0
        while index < values.count {
            guard let value = values[index] else {
                // The first missing step after a sample is a staleness marker, as when a series
                // disappears from a scrape; poolwatch's history writes the same marker.
                if index > 0, values[index - 1] != nil {
                    parts.append("stale")
                    index += 1
                    continue
                }
                var end = index
                while end < values.count, values[end] == nil { end += 1 }
                parts.append(end - index == 1 ? "_" : "_x\(end - index)")
                index = end
                continue
            }
            // A constant run (`vxn`), or an arithmetic run of integers (`a+bxn`): promtool expands
            // by repeated addition, which is exact for these.
            var end = index + 1
            if value.isFinite, index + 1 < values.count, let next = values[index + 1],
                next == value || (value == value.rounded() && next == next.rounded() && abs(value) < 1e15)
            {
                let delta = next - value
                while end < values.count, let current = values[end], current - values[end - 1]! == delta { end += 1 }
                let count = end - index - 1
                if count >= 2 || (count == 1 && delta == 0) {
                    let step = delta == 0 ? "" : (delta > 0 ? "+\(format(delta))" : "-\(format(-delta))")
                    parts.append("\(format(value))\(step)x\(count)")
                    index = end
                    continue
                }
                end = index + 1
            }
            parts.append(format(value))
            index = end
        }
        return parts.joined(separator: " ")
    }

    static func format(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "Inf" : "-Inf" }
        if value == value.rounded() && abs(value) < 1e15 { return String(Int64(value)) }
        return "\(value)"
    }
}

/// Builders for step values.
func repeated(_ value: Double?, _ count: Int) -> [Double?] { Array(repeating: value, count: count) }
func ramp(_ start: Double, _ step: Double, _ count: Int) -> [Double?] { (0..<count).map { start + Double($0) * step } }
func cycle(_ pattern: [Double?], _ count: Int) -> [Double?] { (0..<count).map { pattern[$0 % pattern.count] } }

enum Scenarios {
    static let n = RulesDifferentialTests.steps

    static func pool(_ pool: String, target: String = "pgb-1", kind: String = "pgbouncer") -> [String: String] {
        ["target": target, "kind": kind, "pool": pool, "database": pool.split(separator: "/").first.map(String.init) ?? "", "user": "app"]
    }

    static func session(_ target: String, app: String, db: String = "app", user: String = "u") -> [String: String] {
        ["target": target, "datname": db, "usename": user, "application_name": app]
    }

    static func activity(_ base: [String: String], state: String, backendType: String = "client backend", wait: String = "")
        -> [String: String]
    {
        base.merging(["state": state, "backend_type": backendType, "wait_event_type": wait]) { $1 }
    }

    static let targetsDown = Scenario(
        name: "targets down",
        series: [
            .init(name: "pg_up", labels: ["target": "pg-down"], values: repeated(1, 4) + repeated(0, 20) + repeated(1, 17)),
            .init(name: "pg_up", labels: ["target": "pg-up"], values: repeated(1, n)),
            .init(name: "pg_up", labels: ["target": "pg-flap"], values: cycle([0, 1], n)),
            .init(name: "pg_up", labels: ["target": "pg-dip"], values: repeated(0, 10) + [1] + repeated(0, 10) + repeated(1, 3) + repeated(0, 17)),
            .init(name: "pg_up", labels: ["target": "pg-gone"], values: repeated(0, 12) + repeated(nil, 10) + repeated(0, 19)),
            .init(name: "pgbouncer_up", labels: ["target": "pgb-down"], values: repeated(0, n)),
            .init(name: "pgbouncer_up", labels: ["target": "pgb-up"], values: repeated(1, n)),
            .init(name: "pgpool2_up", labels: ["target": "pp"], values: repeated(1, 10) + repeated(0, 31)),
            .init(name: "poolwatch_target_up", labels: ["target": "app", "kind": "http_json"], values: repeated(0, 20) + repeated(1, 21)),
            .init(name: "poolwatch_target_up", labels: ["target": "pgb-down", "kind": "pgbouncer"], values: repeated(0, n)),
        ])

    static let pools = Scenario(
        name: "pools",
        series: [
            .init(name: "poolwatch_pool_saturated", labels: pool("app/app"), values: repeated(0, 4) + repeated(1, 20) + repeated(0, 17)),
            .init(name: "poolwatch_pool_saturated", labels: pool("web/app"), values: repeated(0, n)),
            .init(name: "poolwatch_pool_saturated", labels: pool("all", target: "pp", kind: "pgpool"), values: cycle([1, 1, 1, 0], n)),
            .init(name: "poolwatch_pool_wait_seconds_max", labels: pool("app/app"), values: repeated(0.25, 5) + ramp(0, 2, 21) + repeated(0.5, 15)),
            .init(name: "poolwatch_pool_wait_seconds_max", labels: pool("web/app"), values: repeated(9.999, n)),
            .init(name: "poolwatch_pool_wait_seconds_max", labels: pool("bi/app"), values: repeated(10.5, 30) + repeated(nil, 11)),
            .init(name: "poolwatch_pool_utilization_ratio", labels: pool("app/app"), values: repeated(0.5, 5) + repeated(0.95, 25) + repeated(0.89, 11)),
            .init(name: "poolwatch_pool_utilization_ratio", labels: pool("web/app"), values: repeated(0.9, n)),
            .init(name: "poolwatch_pool_utilization_ratio", labels: pool("all", target: "pp", kind: "pgpool"), values: cycle([0.93, 0.97, 1, 1.2, 0.95, 0.85], n)),
            .init(name: "poolwatch_pool_utilization_ratio", labels: pool("bi/app"), values: repeated(1.25, n)),
        ])

    static let postgres = Scenario(
        name: "postgres",
        series: [
            .init(name: "pg_stat_activity_backends", labels: activity(session("pg-full", app: "web"), state: "active"), values: ramp(40, 2, n)),
            .init(name: "pg_stat_activity_backends", labels: activity(session("pg-full", app: "web"), state: "idle"), values: repeated(10, n)),
            .init(
                name: "pg_stat_activity_backends", labels: activity(session("pg-full", app: ""), state: "", backendType: "autovacuum worker"),
                values: repeated(30, n)),
            .init(name: "pg_settings_max_connections", labels: ["target": "pg-full"], values: repeated(100, n)),
            .init(name: "pg_settings_superuser_reserved_connections", labels: ["target": "pg-full"], values: repeated(3, n)),
            .init(name: "pg_stat_activity_backends", labels: activity(session("pg-ok", app: "web"), state: "active"), values: repeated(20, n)),
            .init(name: "pg_settings_max_connections", labels: ["target": "pg-ok"], values: repeated(200, n)),
            .init(name: "pg_settings_superuser_reserved_connections", labels: ["target": "pg-ok"], values: repeated(3, n)),
            .init(name: "pg_stat_activity_backends", labels: activity(session("pg-nosettings", app: "web"), state: "active"), values: repeated(500, n)),

            .init(name: "pg_stat_activity_max_idle_in_transaction_seconds", labels: session("pg-full", app: "web"), values: ramp(0, 30, n)),
            .init(name: "pg_stat_activity_max_idle_in_transaction_seconds", labels: session("pg-full", app: "batch"), values: repeated(100, n)),
            .init(name: "pg_stat_activity_max_idle_in_transaction_seconds", labels: session("pg-ok", app: "web"), values: cycle(ramp(0, 30, 10), n)),

            // One long transaction moving between "active" and "idle in transaction": two series that
            // take turns; the rule aggregates the state away, so it stays one alert.
            .init(
                name: "pg_stat_activity_max_tx_duration", labels: activity(session("pg-full", app: "web"), state: "active"),
                values: ramp(0, 60, 10) + repeated(nil, 10) + ramp(1200, 60, 21)),
            .init(
                name: "pg_stat_activity_max_tx_duration",
                labels: activity(session("pg-full", app: "web"), state: "idle in transaction", wait: "Client"),
                values: repeated(nil, 10) + ramp(600, 60, 10) + repeated(nil, 21)),
            .init(
                name: "pg_stat_activity_max_tx_duration",
                labels: activity(session("pg-full", app: ""), state: "", backendType: "autovacuum worker"), values: repeated(5000, n)),
            .init(name: "pg_stat_activity_max_tx_duration", labels: activity(session("pg-ok", app: "web"), state: "active"), values: repeated(1799, n)),

            .init(name: "pg_stat_activity_max_query_duration_seconds", labels: session("pg-full", app: "web"), values: ramp(0, 60, n)),
            .init(name: "pg_stat_activity_max_query_duration_seconds", labels: session("pg-full", app: "report", user: "bi"), values: repeated(601, 6) + repeated(0, 35)),
            .init(name: "pg_stat_activity_max_query_duration_seconds", labels: session("pg-ok", app: "web"), values: repeated(599.9, n)),
        ])

    /// Application pools: an app_metrics pool driven into high latency and a high error ratio (counters,
    /// with a counter reset), an http_json pool whose source publishes rates, and healthy decoys.
    static let appPools = Scenario(
        name: "application pools",
        series: [
            .init(name: "poolwatch_target_up", labels: ["target": "rs", "kind": "app_metrics"], values: repeated(1, 8) + repeated(0, 33)),
            .init(name: "poolwatch_pool_utilization_ratio", labels: pool("primary", target: "rs", kind: "app_metrics"),
                  values: repeated(0.5, 5) + repeated(0.85, 25) + repeated(0.8, 11)),
            .init(name: "poolwatch_pool_utilization_ratio", labels: pool("hikari", target: "java", kind: "http_json"), values: repeated(0.95, n)),
            .init(name: "poolwatch_pool_query_duration_seconds", labels: pool("primary", target: "rs", kind: "app_metrics").merging(["quantile": "0.99"]) { $1 },
                  values: repeated(0.05, 6) + repeated(1.5, 12) + repeated(0.9, 23)),
            .init(name: "poolwatch_pool_query_duration_seconds", labels: pool("primary", target: "rs", kind: "app_metrics").merging(["quantile": "0.5"]) { $1 },
                  values: repeated(3, n)),
            .init(name: "poolwatch_pool_queries_total", labels: pool("primary", target: "rs", kind: "app_metrics"),
                  values: ramp(0, 1000, 25) + ramp(0, 1000, 16)),
            .init(name: "poolwatch_pool_query_errors_total", labels: pool("primary", target: "rs", kind: "app_metrics"),
                  values: ramp(0, 10, 8) + ramp(80, 100, 17) + ramp(0, 10, 16)),
            .init(name: "poolwatch_pool_queries_per_second", labels: pool("hikari", target: "java", kind: "http_json"), values: repeated(200, n)),
            .init(name: "poolwatch_pool_query_errors_per_second", labels: pool("hikari", target: "java", kind: "http_json"),
                  values: repeated(1, 10) + repeated(20, 15) + repeated(1, 16)),
        ])

    static let replication = Scenario(
        name: "replication",
        series: [
            .init(name: "pg_stat_replication_replay_lag_bytes", labels: ["target": "pg-primary", "application_name": "s1", "client_addr": "10.0.0.2"],
                  values: ramp(0, 1e8, 25) + repeated(0, 16)),
            .init(name: "pg_stat_replication_replay_lag_bytes", labels: ["target": "pg-primary", "application_name": "s2", "client_addr": "10.0.0.3"],
                  values: repeated(1e6, n)),
            .init(name: "pg_replication_lag_seconds", labels: ["target": "pg-standby"], values: repeated(0, 5) + ramp(0, 30, 36)),
            .init(name: "pg_replication_lag_seconds", labels: ["target": "pg-idle"], values: repeated(0, n)),
            .init(name: "pg_stat_wal_receiver_streaming", labels: ["target": "pg-standby"], values: repeated(1, 10) + repeated(0, 20) + repeated(1, 11)),
            .init(name: "pg_stat_wal_receiver_streaming", labels: ["target": "pg-idle"], values: cycle([0, 1], n)),
            .init(name: "pg_replication_slots_pg_wal_lsn_diff", labels: ["target": "pg-primary", "slot_name": "forgotten", "slot_type": "physical"],
                  values: ramp(0, 1e8, n)),
            .init(name: "pg_replication_slots_active", labels: ["target": "pg-primary", "slot_name": "forgotten", "slot_type": "physical"],
                  values: repeated(0, n)),
            .init(name: "pg_replication_slots_pg_wal_lsn_diff", labels: ["target": "pg-primary", "slot_name": "live", "slot_type": "logical", "database": "app"],
                  values: repeated(5e9, n)),
            .init(name: "pg_replication_slots_active", labels: ["target": "pg-primary", "slot_name": "live", "slot_type": "logical", "database": "app"],
                  values: repeated(1, n)),
            .init(name: "pg_database_wraparound_limit_ratio", labels: ["target": "pg-primary", "datname": "app"], values: ramp(0.4, 0.01, n)),
            .init(name: "pg_database_wraparound_limit_ratio", labels: ["target": "pg-primary", "datname": "postgres"], values: repeated(0.1, n)),
            .init(name: "pg_stat_bgwriter_checkpoints_req_total", labels: ["target": "pg-primary"], values: ramp(0, 1, n)),
            .init(name: "pg_stat_bgwriter_checkpoints_timed_total", labels: ["target": "pg-primary"], values: repeated(10, n)),
            .init(name: "pg_stat_bgwriter_checkpoints_req_total", labels: ["target": "pg-standby"], values: ramp(0, 1, n)),
            .init(name: "pg_stat_bgwriter_checkpoints_timed_total", labels: ["target": "pg-standby"], values: ramp(0, 1, n)),
        ])

    static let all = [targetsDown, pools, postgres, appPools, replication]
}

/// A rule whose annotations print awkward values with every template function, so Go's formatting
/// (`%v`, `%.4g`, the humanize functions) is compared with poolwatch's character for character.
enum TemplateProbe {
    static let values: [Double] = [
        0, 0.5, 0.95, 1, 1.5, 2.675, 59.99, 65, 3600, 90061.7, 1234, 1234.5, 1235.5, 0.12345, 99999, 9999.5, 1e6, 123456,
        1_234_567, 0.0001, 0.00001, 0.001234, 1e-9, -65, -1500, 0.9278350515463918, 1e21, 12_345_678, 0.0025,
        0.30000000000000004, 86400 * 400 + 0.5, .nan, .infinity, -.infinity,
    ]

    static func rule() throws -> AlertRule {
        try AlertRule(
            name: "TemplateProbe", expression: "probe_value", severity: .info,
            summary: "{{ $labels.case }}: {{ $value }} | {{ $value | humanize }}",
            description: "{{ humanizeDuration $value }} | {{ $value | humanizePercentage }}")
    }

    static let scenario = Scenario(
        name: "template probe",
        series: values.enumerated().map { .init(name: "probe_value", labels: ["case": "c\($0.offset)"], values: repeated($0.element, RulesDifferentialTests.steps)) })
}

/// Expressions over counters and gauges, evaluated locally at several times; promtool compares the
/// values exactly (bit for bit), so extrapolation and aggregation must follow Prometheus' arithmetic.
enum EvaluatorCases {
    static let series: [Scenario.Series] = [
        .init(name: "requests_total", labels: ["target": "a", "code": "200"], values: ramp(0, 10, 20) + ramp(5, 10, 21)),
        .init(name: "requests_total", labels: ["target": "a", "code": "500"], values: cycle([3, 7, 7, 20, 21, 2, 9], 41)),
        .init(name: "requests_total", labels: ["target": "b", "code": "200"], values: repeated(nil, 5) + ramp(1000, 17, 30) + repeated(nil, 6)),
        .init(name: "gauge", labels: ["target": "a"], values: cycle([0.1, 0.2, 0.3, 5, 1e-3, 7.25], 41)),
        .init(name: "gauge", labels: ["target": "b"], values: cycle([3, 1, 4, 1, 5, 9, 2, 6], 41)),
        .init(name: "backends", labels: ["target": "a", "db": "x", "state": "active"], values: ramp(1, 1, 41)),
        .init(name: "backends", labels: ["target": "a", "db": "y", "state": "idle"], values: repeated(7, 41)),
        .init(name: "backends", labels: ["target": "b", "db": "x", "state": "active"], values: cycle([0.7, 0.1, 0.2], 41)),
        .init(name: "limit", labels: ["target": "a", "version": "15"], values: repeated(97, 41)),
        .init(name: "limit", labels: ["target": "b", "version": "16"], values: repeated(3, 41)),
        .init(name: "flag", labels: ["target": "a"], values: repeated(0, 20) + repeated(nil, 5) + repeated(1, 16)),
    ]

    static let expressions = [
        "rate(requests_total[5m])", "increase(requests_total[2m])", "rate(requests_total[1m])",
        "sum by (target) (rate(requests_total[3m]))", "sum without (code) (increase(requests_total[90s]))",
        "max_over_time(gauge[3m])", "min_over_time(gauge[3m])", "avg_over_time(gauge[3m])", "sum_over_time(gauge[2m])",
        "count_over_time(gauge[2m])", "changes(gauge[5m])", "changes(requests_total[5m])",
        "sum by (target) (backends) / on(target) group_left(version) limit",
        "backends / on(target) group_left(version) limit", "limit * on(target) group_right backends",
        "backends > on(target) group_left limit * 0.05", "backends > bool ignoring(db, state, version) group_left limit * 0.05",
        "avg without (state) (backends)", "avg by (target) (backends)", "count by (db) (backends)", "max(backends) by (target)",
        "min without (db, state) (backends)", "group by (target) (backends)", "sum(backends)",
        "absent(nonexistent{job=\"x\", instance=~\"a.*\"})", "absent(backends{target=\"a\"})", "absent(flag)",
        "vector(time())", "time() - backends", "clamp_min(gauge - 1, 0)", "clamp_max(gauge, 3)", "gauge > bool 3",
        "3 < gauge", "-gauge", "gauge % 4", "gauge / 0.3", "(backends unless on(target) flag == 1) or vector(0)",
        "backends and on(target) (flag == 0)", "backends or on(target) flag", "flag", "sum(flag) or vector(-1)",
        "backends{db!~\"y|z\", state=~\"act.*\"} - 1", "{__name__=~\"lim.t\", version!=\"16\"}",
        "max by (target) (backends) - on(target) min by (target) (backends)",
    ]

    static let evalSteps = [0, 3, 7, 10, 15, 21, 22, 26, 33, 40]

    static func group() throws -> String {
        var history = SeriesHistory(retainingEverythingFor: 3600)
        let scenario = Scenario(name: "evaluator", series: series)
        var tests = ""
        for step in 0..<RulesDifferentialTests.steps {
            let time = Double(step) * RulesDifferentialTests.interval
            history.append(scenario.families(at: step), at: time)
            guard evalSteps.contains(step) else { continue }
            for text in expressions {
                let value = try PromQLEvaluator(history: history).evaluate(try PromQLParser.parse(text), at: time)
                tests += "      - expr: \(quoted(text))\n        eval_time: \(Int(time))s\n"
                let samples = value.asVector
                #expect(!samples.contains { $0.value.isNaN }, "\(text) at \(time) gives NaN; promtool cannot compare NaN")
                if samples.isEmpty {
                    tests += "        exp_samples: []\n"
                    continue
                }
                tests += "        exp_samples:\n"
                for sample in samples {
                    tests += "          - labels: \(quoted(sample.labels.description))\n            value: \(Scenario.format(sample.value))\n"
                }
            }
        }
        return """
              - name: evaluator
                interval: \(Int(RulesDifferentialTests.interval))s
                input_series:
            \(scenario.inputSeries())    promql_expr_test:
            \(tests)
            """
    }
}
