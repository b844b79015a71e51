/// The validated, immutable configuration of one poolwatch process.
public struct PoolwatchConfig: Sendable, Equatable {
    public var listen: ListenAddress
    public var logFormat: LogFormat
    public var logLevel: LogLevel
    public var targets: [TargetConfig]
    /// Receivers, cluster id, state directory, outbox.
    public var alerting: AlertingConfig
    /// Evaluation interval, rule overrides, silences.
    public var alertRules: AlertRulesConfig
    /// The exporter-toolkit web configuration (TLS, basic auth, headers): `web_config_file`,
    /// `$POOLWATCH_WEB_CONFIG_FILE` or `--web.config.file`; nil: plain HTTP, no auth.
    public var webConfigFile: String?

    public static let defaultPort = 9646

    public init(listen: ListenAddress, logFormat: LogFormat, logLevel: LogLevel, targets: [TargetConfig],
                alerting: AlertingConfig = .init(), alertRules: AlertRulesConfig = .init()) {
        self.alertRules = alertRules
        self.listen = listen
        self.logFormat = logFormat
        self.logLevel = logLevel
        self.targets = targets
        self.alerting = alerting
    }
}

/// Where the HTTP server listens. `:9646` means every interface.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    /// Parses `host:port`, `:port` or `[v6]:port`.
    public static func parse(_ text: String) -> ListenAddress? {
        var hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            hostPart = text[text.index(after: text.startIndex)..<close]
            portPart = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard let port = Int(portPart), (0...65535).contains(port) else { return nil }
        if hostPart.isEmpty { hostPart = "0.0.0.0" }
        return ListenAddress(host: String(hostPart), port: port)
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

public enum LogFormat: String, Sendable, CaseIterable, Equatable {
    case logfmt
    case json
}

public enum LogLevel: String, Sendable, CaseIterable {
    case trace, debug, info, notice, warning, error, critical
}

/// What a target is.
public enum TargetKind: String, Sendable, CaseIterable {
    case postgres
    case pgbouncer
    case pgpool
    case httpJSON = "http_json"
    case appMetrics = "app_metrics"
}

/// One thing poolwatch attaches to, with its own connection, interval and timeouts.
public struct TargetConfig: Sendable, Equatable {
    public var name: String
    public var kind: TargetKind
    /// libpq conninfo or URI; may hold a password, so it is a `Secret`. Empty means libpq defaults
    /// (PGHOST, PGPORT, PGUSER, PGDATABASE, ~/.pgpass).
    public var dsn: Secret
    /// Time between collection rounds.
    public var interval: Duration
    /// libpq `connect_timeout` (whole seconds, rounded up).
    public var connectTimeout: Duration
    /// Server-side `statement_timeout` for the session (PostgreSQL only).
    public var statementTimeout: Duration
    /// Server-side `lock_timeout` for the session (PostgreSQL only).
    public var lockTimeout: Duration
    /// Client-side deadline for a whole collection round; the running query is cancelled then.
    public var collectionTimeout: Duration
    public var activity: ActivityOptions
    public var statements: StatementOptions
    /// The application pool endpoint, for `kind: http_json` only.
    public var httpJSON: HTTPJSONTargetConfig?
    /// The application's Prometheus endpoint and its pool mapping, for `kind: app_metrics` only.
    public var appMetrics: AppMetricsTargetConfig?
    /// For `kind: pgbouncer`: the PostgreSQL target its server connections reach, so diagnosis can
    /// follow a server connection to its backend (see `Diagnosis.pairs(for:)`).
    public var postgresTarget: String?
    /// Constant labels (`labels: {cluster: prod-eu1}`) put on every series of the target, after `target`.
    public var labels: [Label] = []
    /// Time between `pg_database_size` runs (nil: `database_sizes: off`); see DatabaseSizeCollector.
    public var databaseSizeInterval: Duration? = .seconds(300)
    /// `table_stats`: time between runs (nil: off) and how many tables keep their own series.
    public var tableStatsInterval: Duration? = .seconds(300)
    public var tableStatsLimit = 20
    /// `table_stats.databases`: databases besides the DSN's whose tables are read too, over short-lived
    /// connections (nil: the DSN's database only); see DatabaseVisitPlan.swift.
    public var tableStatsDatabases: DatabaseSelection?
    /// `connection_budget`: at most this many short-lived connections to other databases open at once.
    public var connectionBudget = 1
    /// Custom `queries:` (and those read from a postgres_exporter `queries_file`), in order.
    public var queries: [CustomQuery] = []

    /// The labels every series of this target starts with.
    public var seriesLabels: [Label] { [Label("target", name)] + labels }

    public init(
        name: String, kind: TargetKind, dsn: Secret = Secret(""), interval: Duration = .seconds(15),
        connectTimeout: Duration = .seconds(5), statementTimeout: Duration = .seconds(5), lockTimeout: Duration = .seconds(1),
        collectionTimeout: Duration = .seconds(10),
        activity: ActivityOptions = .init(), statements: StatementOptions = .init()
    ) {
        self.name = name
        self.kind = kind
        self.dsn = dsn
        self.interval = interval
        self.connectTimeout = connectTimeout
        self.statementTimeout = statementTimeout
        self.lockTimeout = lockTimeout
        self.collectionTimeout = collectionTimeout
        self.activity = activity
        self.statements = statements
    }

    /// The DSN as shown to people, built by the loader's `ConnInfoDisplay` (libpq's parse, without
    /// the password); nil when not built.
    public var dsnDisplay: String?

    /// Where the target is, without secrets, for logs and the landing page: the DSN as libpq parsed
    /// it without its password, or the app pool URL without credentials and query.
    public var redactedDSN: String {
        if let httpJSON { return httpJSON.displayURL }
        if let appMetrics { return appMetrics.displayURL }
        if dsn.isEmpty { return "(libpq defaults)" }
        return dsnDisplay ?? ConnInfo.hidden(dsn.revealed)
    }
}

public struct ActivityOptions: Sendable, Equatable {
    /// How many application_name values keep their own label; the rest become `other`.
    public var topApplications: Int = 10
    public init(topApplications: Int = 10) { self.topApplications = topApplications }
}

public struct StatementOptions: Sendable, Equatable {
    public var enabled = true
    public var limit = 100
    /// Mean execution time above which a statement counts as slow, seconds.
    public var slowThreshold = 0.5
    public var includeQuery = false
    public var queryLength = 120
    /// Time between reads of `pg_stat_statements` (at most once per round). Reading and ranking every
    /// entry is most of poolwatch's PostgreSQL time on a server with thousands of statements, and its
    /// counters are read as rates over minutes; between reads the last figures are served.
    public var interval: Duration = .seconds(30)
    public init() {}
}
