/// A change to one built-in rule, by rule name (from configuration).
public struct RuleOverride: Sendable, Equatable {
    public var threshold: Double?
    public var forDuration: Double?
    public var keepFiringFor: Double?
    public var severity: AlertSeverity?
    public var enabled: Bool

    public init(
        threshold: Double? = nil, forDuration: Double? = nil, keepFiringFor: Double? = nil, severity: AlertSeverity? = nil,
        enabled: Bool = true
    ) {
        self.threshold = threshold
        self.forDuration = forDuration
        self.keepFiringFor = keepFiringFor
        self.severity = severity
        self.enabled = enabled
    }
}

/// The rules poolwatch ships: evaluated locally and rendered into `alerts/poolwatch.rules.yml`.
///
/// Design choices, after the defects listed in docs/alert-rules.md §2:
/// - every alert keeps `target` (and `pool`, `database`, `user` for pool rules) so an instance names
///   exactly what is wrong, and the down rules can inhibit a target's other alerts;
/// - gauges are compared directly, never through `rate()` (the postgres mixin's never-firing defect);
/// - labels that change while one incident lasts (`state`, `wait_event_type`) are aggregated away, so
///   a transaction moving between "active" and "idle in transaction" stays one alert instance;
/// - aggregations keep `job, instance, target` (absent inside poolwatch, distinct per sidecar in
///   Prometheus, where several pods may share a target name);
/// - the connection-limit rule divides after `sum by (job, instance, target)` and joins on the same labels, so both sides
///   always match (the awesome-prometheus-alerts defect);
/// - `keep_firing_for: 1m` by default so a value hovering at the threshold does not page twice.
public enum BuiltinRules {
    public static let defaultRunbookBase = "https://github.com/poolwatch/poolwatch/blob/main/alerts/runbooks.md"
    static let defaultKeepFiringFor = 60.0

    /// How a threshold reads in a description.
    enum ThresholdStyle: Sendable {
        case duration, percentage, plain
        func format(_ value: Double) -> String {
            switch self {
            case .duration: RuleFileRenderer.duration(value)
            case .percentage: GoFloatFormat.significant(value * 100, digits: 4) + "%"
            case .plain: GoFloatFormat.value(value)
            }
        }
    }

    /// A built-in rule with its defaults; `text` builds expression, summary and description from the
    /// effective threshold (formatted for PromQL and for people) and `for`.
    public struct Definition: Sendable {
        public let name: String
        public let threshold: Double?
        public let forDuration: Double
        public let keepFiringFor: Double
        public let severity: AlertSeverity
        public let localOnly: Bool
        public let inhibitsSameTarget: Bool
        let thresholdStyle: ThresholdStyle
        let text: @Sendable (_ threshold: String, _ thresholdText: String, _ forText: String) -> (String, String, String)
    }

    /// All built-in rules, in rendering order.
    public static let definitions: [Definition] = targetDownRules + poolRules + appPoolRules + postgresRules + replicationRules + localRules

    /// The names of the built-in rules.
    public static var names: [String] { definitions.map(\.name) }

    /// Builds the rules with `overrides` applied. Fails for an override naming an unknown rule, a
    /// threshold on a rule that has none, or an override that makes a rule invalid.
    public static func rules(runbookBase: String = defaultRunbookBase, overrides: [String: RuleOverride] = [:])
        throws(AlertRuleError) -> [AlertRule]
    {
        for (name, change) in overrides.sorted(by: { $0.key < $1.key }) {
            guard let definition = definitions.first(where: { $0.name == name }) else {
                throw AlertRuleError(rule: name, message: "no built-in rule has this name (known: \(names.joined(separator: ", ")))")
            }
            if change.threshold != nil && definition.threshold == nil {
                throw AlertRuleError(rule: name, message: "this rule has no threshold to override")
            }
        }
        var rules: [AlertRule] = []
        for definition in definitions {
            let change = overrides[definition.name] ?? RuleOverride()
            guard change.enabled else { continue }
            let threshold = change.threshold ?? definition.threshold
            let forDuration = change.forDuration ?? definition.forDuration
            let (expression, summary, description) = definition.text(
                threshold.map(GoFloatFormat.value) ?? "",
                threshold.map(definition.thresholdStyle.format) ?? "",
                RuleFileRenderer.duration(forDuration))
            let base = runbookBase.hasSuffix("/") ? String(runbookBase.dropLast()) : runbookBase
            rules.append(
                try AlertRule(
                    name: definition.name, expression: expression, forDuration: forDuration,
                    keepFiringFor: change.keepFiringFor ?? definition.keepFiringFor,
                    severity: change.severity ?? definition.severity, summary: summary, description: description,
                    runbookURL: "\(base)#\(definition.name.lowercased())", threshold: threshold,
                    localOnly: definition.localOnly, inhibitsSameTarget: definition.inhibitsSameTarget))
        }
        return rules
    }

    static func rule(
        _ name: String, threshold: Double? = nil, style: ThresholdStyle = .plain, for forDuration: Double,
        severity: AlertSeverity, localOnly: Bool = false, inhibits: Bool = false,
        _ text: @escaping @Sendable (_ threshold: String, _ thresholdText: String, _ forText: String) -> (String, String, String)
    ) -> Definition {
        Definition(
            name: name, threshold: threshold, forDuration: forDuration, keepFiringFor: defaultKeepFiringFor,
            severity: severity, localOnly: localOnly, inhibitsSameTarget: inhibits, thresholdStyle: style, text: text)
    }

    static let targetDownRules: [Definition] = [
        rule("PoolwatchPostgresDown", for: 60, severity: .critical, inhibits: true) { _, _, forText in
            (
                "pg_up == 0",
                "PostgreSQL target {{ $labels.target }} is down",
                "poolwatch cannot query PostgreSQL target {{ $labels.target }} (pg_up == 0) for at least \(forText). Its other alerts are inhibited while it is down."
            )
        },
        rule("PoolwatchPgbouncerDown", for: 60, severity: .critical, inhibits: true) { _, _, forText in
            (
                "pgbouncer_up == 0",
                "PgBouncer target {{ $labels.target }} is down",
                "poolwatch cannot query the admin console of PgBouncer target {{ $labels.target }} (pgbouncer_up == 0) for at least \(forText); clients connecting through it are probably failing. Its pool alerts are inhibited while it is down."
            )
        },
        rule("PoolwatchPgpoolDown", for: 60, severity: .critical, inhibits: true) { _, _, forText in
            (
                "pgpool2_up == 0",
                "Pgpool-II target {{ $labels.target }} is down",
                "poolwatch cannot query Pgpool-II target {{ $labels.target }} (pgpool2_up == 0) for at least \(forText); clients connecting through it are probably failing. Its pool alerts are inhibited while it is down."
            )
        },
        rule("PoolwatchAppPoolDown", for: 60, severity: .warning, inhibits: true) { _, _, forText in
            (
                "poolwatch_target_up{kind=~\"http_json|app_metrics\"} == 0",
                "Pool statistics of application target {{ $labels.target }} are unavailable",
                "poolwatch cannot fetch or understand the pool statistics (JSON document or /metrics) of application target {{ $labels.target }} for at least \(forText): the application or its stats endpoint is down, and its pools are not watched meanwhile."
            )
        },
    ]

    static let poolRules: [Definition] = [
        rule("PoolwatchPoolSaturated", for: 120, severity: .critical) { _, _, forText in
            (
                "poolwatch_pool_saturated == 1",
                "Pool {{ $labels.pool }} on {{ $labels.target }} is saturated: clients wait for a server connection",
                "Pool {{ $labels.pool }} ({{ $labels.kind }} target {{ $labels.target }}, database {{ $labels.database }}, user {{ $labels.user }}) has clients waiting while it can neither hand out nor open a server connection, for at least \(forText)."
            )
        },
        rule("PoolwatchClientsWaitingTooLong", threshold: 10, style: .duration, for: 60, severity: .critical) { threshold, text, forText in
            (
                "poolwatch_pool_wait_seconds_max > \(threshold)",
                "Clients wait {{ $value | humanizeDuration }} for a connection in pool {{ $labels.pool }} on {{ $labels.target }}",
                "The longest current client wait in pool {{ $labels.pool }} ({{ $labels.kind }} target {{ $labels.target }}, database {{ $labels.database }}, user {{ $labels.user }}) is {{ $value | humanizeDuration }}, above \(text) for at least \(forText)."
            )
        },
        rule("PoolwatchPoolUtilizationHigh", threshold: 0.9, style: .percentage, for: 300, severity: .warning) { threshold, text, forText in
            (
                // Application pools have their own, earlier utilization rule (below); one alert per pool.
                "poolwatch_pool_utilization_ratio{kind!~\"http_json|app_metrics\"} > \(threshold)",
                "Pool {{ $labels.pool }} on {{ $labels.target }} uses {{ $value | humanizePercentage }} of its server connections",
                "Pool {{ $labels.pool }} ({{ $labels.kind }} target {{ $labels.target }}, database {{ $labels.database }}, user {{ $labels.user }}) has {{ $value | humanizePercentage }} of its server connection limit in use, above \(text) for at least \(forText). Clients will start to wait when it reaches 100%."
            )
        },
    ]

    /// Application pools' own alerts, after db-pool-rs's operations guide (issue 19): utilization above
    /// 80% for 5m, query latency p99 above 1s for 2m, more than 5% of queries failing over 5m for 3m.
    /// The error ratio reads the counters when the source has them and the source's own rates otherwise
    /// (never both for one pool: PoolModel.swift), averaged over the same 5m.
    static let appPoolRules: [Definition] = [
        rule("PoolwatchAppPoolUtilizationHigh", threshold: 0.8, style: .percentage, for: 300, severity: .warning) { threshold, text, forText in
            (
                "poolwatch_pool_utilization_ratio{kind=~\"http_json|app_metrics\"} > \(threshold)",
                "Application pool {{ $labels.pool }} on {{ $labels.target }} uses {{ $value | humanizePercentage }} of its connections",
                "Application pool {{ $labels.pool }} ({{ $labels.kind }} target {{ $labels.target }}, database {{ $labels.database }}, user {{ $labels.user }}) has {{ $value | humanizePercentage }} of its maximum connections in use, above \(text) for at least \(forText). Requests start to queue for a connection when it reaches 100%."
            )
        },
        rule("PoolwatchAppPoolQueryLatencyHigh", threshold: 1, style: .duration, for: 120, severity: .critical) { threshold, text, forText in
            (
                "poolwatch_pool_query_duration_seconds{quantile=\"0.99\"} > \(threshold)",
                "Queries through application pool {{ $labels.pool }} on {{ $labels.target }} take {{ $value | humanizeDuration }} at p99",
                "The 99th percentile query latency of application pool {{ $labels.pool }} ({{ $labels.kind }} target {{ $labels.target }}, database {{ $labels.database }}, user {{ $labels.user }}) is {{ $value | humanizeDuration }}, above \(text) for at least \(forText). Slow queries hold their connections longer and starve the pool."
            )
        },
        rule("PoolwatchAppPoolErrorRatioHigh", threshold: 0.05, style: .percentage, for: 180, severity: .critical) { threshold, text, forText in
            let by = "sum by (job, instance, target, kind, pool, database, user)"
            return (
                "\(by) (rate(poolwatch_pool_query_errors_total[5m])) / \(by) (rate(poolwatch_pool_queries_total[5m])) > \(threshold)"
                    + " or \(by) (avg_over_time(poolwatch_pool_query_errors_per_second[5m])) / \(by) (avg_over_time(poolwatch_pool_queries_per_second[5m])) > \(threshold)",
                "{{ $value | humanizePercentage }} of queries through application pool {{ $labels.pool }} on {{ $labels.target }} fail",
                "Over the last 5m, {{ $value | humanizePercentage }} of the queries through application pool {{ $labels.pool }} ({{ $labels.kind }} target {{ $labels.target }}, database {{ $labels.database }}, user {{ $labels.user }}) failed, above \(text) for at least \(forText)."
            )
        },
    ]

    static let postgresRules: [Definition] = [
        rule("PoolwatchPostgresConnectionsNearLimit", threshold: 0.9, style: .percentage, for: 120, severity: .warning) { threshold, text, forText in
            (
                "sum by (job, instance, target) (pg_stat_activity_backends{backend_type=\"client backend\"}) / on(job, instance, target) (pg_settings_max_connections - pg_settings_superuser_reserved_connections) > \(threshold)",
                "PostgreSQL {{ $labels.target }} uses {{ $value | humanizePercentage }} of its client connection slots",
                "Client backends on PostgreSQL target {{ $labels.target }} use {{ $value | humanizePercentage }} of max_connections - superuser_reserved_connections, above \(text) for at least \(forText). At 100% new connections fail with \"too many clients already\"."
            )
        },
        rule("PoolwatchIdleInTransactionTooLong", threshold: 300, style: .duration, for: 60, severity: .warning) { threshold, text, forText in
            (
                "pg_stat_activity_max_idle_in_transaction_seconds > \(threshold)",
                "A session of {{ $labels.usename }} on {{ $labels.target }} is idle in transaction for {{ $value | humanizeDuration }}",
                "User {{ $labels.usename }} (application {{ $labels.application_name }}) keeps a transaction open without running a query in database {{ $labels.datname }} on {{ $labels.target }} for {{ $value | humanizeDuration }}, above \(text) for at least \(forText). It holds its locks and a pooled server connection, and blocks vacuum."
            )
        },
        rule("PoolwatchLongTransaction", threshold: 1800, style: .duration, for: 60, severity: .warning) { threshold, text, forText in
            (
                "max by (job, instance, target, datname, usename, application_name) (pg_stat_activity_max_tx_duration{backend_type=\"client backend\"}) > \(threshold)",
                "A transaction of {{ $labels.usename }} on {{ $labels.target }} runs for {{ $value | humanizeDuration }}",
                "The oldest open transaction of user {{ $labels.usename }} (application {{ $labels.application_name }}) in database {{ $labels.datname }} on {{ $labels.target }} started {{ $value | humanizeDuration }} ago, above \(text) for at least \(forText). Long transactions hold locks and keep vacuum from removing dead rows."
            )
        },
        rule("PoolwatchLongQuery", threshold: 600, style: .duration, for: 60, severity: .warning) { threshold, text, forText in
            (
                "pg_stat_activity_max_query_duration_seconds > \(threshold)",
                "A query of {{ $labels.usename }} on {{ $labels.target }} runs for {{ $value | humanizeDuration }}",
                "The longest running query of user {{ $labels.usename }} (application {{ $labels.application_name }}) in database {{ $labels.datname }} on {{ $labels.target }} runs for {{ $value | humanizeDuration }}, above \(text) for at least \(forText)."
            )
        },
    ]

    /// Replication, slots, wraparound and checkpoints (the collectors in StandbyCollector.swift,
    /// ReplicationCollector.swift, ReplicationSlotsCollector.swift, WraparoundCollector.swift and
    /// CheckpointerCollector.swift). Lag in seconds is read on the standby, where the idle-primary guard
    /// keeps it at 0 while nothing is written; lag in bytes is read on the upstream, per standby.
    static let replicationRules: [Definition] = [
        rule("PoolwatchReplicationLagBytes", threshold: 1_073_741_824, for: 300, severity: .warning) { threshold, text, forText in
            (
                "pg_stat_replication_replay_lag_bytes > \(threshold)",
                "Standby {{ $labels.application_name }} of {{ $labels.target }} is {{ $value | humanize }} bytes behind in replay",
                "Standby {{ $labels.application_name }} ({{ $labels.client_addr }}) has not replayed {{ $value | humanize }} bytes of the WAL that {{ $labels.target }} wrote, above \(text) bytes for at least \(forText). Reads there are stale, and the primary keeps that WAL while a slot holds it."
            )
        },
        rule("PoolwatchReplicationLagSeconds", threshold: 300, style: .duration, for: 120, severity: .warning) { threshold, text, forText in
            (
                "pg_replication_lag_seconds > \(threshold)",
                "Standby {{ $labels.target }} replays {{ $value | humanizeDuration }} behind its primary",
                "The last transaction replayed on standby {{ $labels.target }} committed {{ $value | humanizeDuration }} ago while WAL waits to be replayed, above \(text) for at least \(forText). Queries there see data that old."
            )
        },
        rule("PoolwatchStandbyNotStreaming", for: 120, severity: .critical) { _, _, forText in
            (
                "pg_stat_wal_receiver_streaming == 0",
                "Standby {{ $labels.target }} is not streaming WAL from its upstream",
                "Standby {{ $labels.target }} is in recovery but its WAL receiver has not been streaming for at least \(forText): it falls behind without its lag figures showing it, and it is no failover candidate."
            )
        },
        rule("PoolwatchReplicationSlotInactive", threshold: 1_073_741_824, for: 300, severity: .warning) { threshold, text, forText in
            (
                "pg_replication_slots_pg_wal_lsn_diff > \(threshold) and on(job, instance, target, slot_name, slot_type, database) pg_replication_slots_active == 0",
                "Inactive replication slot {{ $labels.slot_name }} on {{ $labels.target }} retains {{ $value | humanize }} bytes of WAL",
                "Slot {{ $labels.slot_name }} ({{ $labels.slot_type }}) on {{ $labels.target }} has no consumer and holds {{ $value | humanize }} bytes of WAL, above \(text) bytes for at least \(forText). It grows with every write until the disk fills or the slot is dropped."
            )
        },
        rule("PoolwatchWraparoundRisk", threshold: 0.5, style: .percentage, for: 300, severity: .warning) { threshold, text, forText in
            (
                "pg_database_wraparound_limit_ratio > \(threshold)",
                "Database {{ $labels.datname }} on {{ $labels.target }} is {{ $value | humanizePercentage }} of the way to transaction ID wraparound",
                "The oldest unfrozen transaction or multixact ID of database {{ $labels.datname }} on {{ $labels.target }} is {{ $value | humanizePercentage }} of 2^31 old, above \(text) for at least \(forText). At 100% PostgreSQL refuses new transactions until the database is vacuumed."
            )
        },
        rule("PoolwatchCheckpointsRequested", threshold: 4, for: 0, severity: .warning) { threshold, text, _ in
            (
                "increase(pg_stat_bgwriter_checkpoints_req_total[1h]) > \(threshold) * increase(pg_stat_bgwriter_checkpoints_timed_total[1h]) and increase(pg_stat_bgwriter_checkpoints_req_total[1h]) > 3",
                "{{ $labels.target }} ran {{ $value | humanize }} requested checkpoints in the last hour",
                "PostgreSQL {{ $labels.target }} ran {{ $value | humanize }} requested checkpoints in the last hour, more than \(text) times the scheduled ones: WAL fills max_wal_size before checkpoint_timeout, so checkpoints (and full-page writes after them) come too often."
            )
        },
    ]

    /// Rules Prometheus cannot evaluate about itself; poolwatch feeds their series locally.
    static let localRules: [Definition] = [
        rule("PoolwatchNotScraped", threshold: 300, style: .duration, for: 0, severity: .critical, localOnly: true) { threshold, text, _ in
            (
                "poolwatch_seconds_since_last_scrape > \(threshold)",
                "Prometheus has not scraped poolwatch for {{ $value | humanizeDuration }}",
                "No /metrics scrape arrived for {{ $value | humanizeDuration }} (threshold \(text)): Prometheus, its service discovery or the network path to poolwatch is broken, so Prometheus-based alerting is blind. poolwatch pages directly meanwhile."
            )
        },
    ]
}
