/// Turns YAML text, environment variables and flags into a validated `PoolwatchConfig`.
///
/// All mistakes are collected and reported together, each with its key path. Unknown keys are errors,
/// because a typo such as `intervall` would otherwise be silently ignored. File and environment access
/// is injected so that the loader stays pure and testable.
public struct ConfigLoader: Sendable {
    public var environment: [String: String]
    /// Reads a secret file; may throw `SecretFileRefused` for unsafe permissions (see `SecretFileMode`).
    public var readFile: @Sendable (String) throws -> String
    /// Builds the displayed form of a DSN (the CLI passes PoolWatchLibPQ's `LibPQConnInfo.display`, libpq's parse).
    public var displayConnInfo: ConnInfoDisplay
    /// Reads a file that holds no secret (a postgres_exporter `queries.yaml`).
    public var readPlainFile: @Sendable (String) throws -> String

    public init(environment: [String: String], readFile: @escaping @Sendable (String) throws -> String,
                displayConnInfo: @escaping ConnInfoDisplay = ConnInfo.hidden,
                readPlainFile: (@Sendable (String) throws -> String)? = nil) {
        self.readPlainFile = readPlainFile ?? readFile
        self.environment = environment
        self.readFile = readFile
        self.displayConnInfo = displayConnInfo
    }

    /// Overrides given on the command line; they win over the environment and the file.
    public struct Overrides: Sendable {
        public var listen: String?
        public var logFormat: String?
        public var logLevel: String?
        public var webConfigFile: String?
        public init(listen: String? = nil, logFormat: String? = nil, logLevel: String? = nil, webConfigFile: String? = nil) {
            self.listen = listen
            self.logFormat = logFormat
            self.logLevel = logLevel
            self.webConfigFile = webConfigFile
        }
    }

    /// The largest configuration file read (see `YAMLInputBounds`).
    public static let maxFileBytes = YAMLInputBounds.maxFileBytes

    /// Environment variables that override top-level keys.
    public static let environmentKeys = [
        "POOLWATCH_LISTEN_ADDRESS": "listen_address",
        "POOLWATCH_LOG_FORMAT": "log_format",
        "POOLWATCH_LOG_LEVEL": "log_level",
        "POOLWATCH_WEB_CONFIG_FILE": "web_config_file",
    ]

    static let topKeys = ["listen_address", "log_format", "log_level", "web_config_file", "targets"] + alertingTopKeys
    static let targetKeys = [
        "name", "kind", "dsn", "dsn_file", "dsn_env", "interval", "connect_timeout", "statement_timeout",
        "lock_timeout", "collection_timeout", "activity", "statements", "postgres_target",
        "labels", "database_sizes", "table_stats", "queries", "queries_file", "connection_budget",
    ] + httpJSONTargetKeys + appMetricsTargetKeys

    /// Loads `yaml` (nil: no config file, watch the local PostgreSQL with libpq's defaults).
    public func load(yaml: String?, overrides: Overrides = .init()) throws(ConfigErrors) -> PoolwatchConfig {
        var reader = NodeReader()
        var root: Node?
        if let yaml {
            if let violation = YAMLInputBounds.violation(in: yaml) { throw ConfigErrors([violation]) }
            do {
                root = try YAML.compose(yaml: yaml)
            } catch {
                throw ConfigErrors([ConfigError("", "the file is not valid YAML: \(Self.describeYAMLError(error))")])
            }
        }
        var top: [String: Node] = [:]
        if let root {
            top = reader.mapping(root, path: "", allowed: Self.topKeys) ?? [:]
        }

        func setting(_ key: String, flag: String?) -> (value: String, path: String)? {
            if let flag { return (flag, key == "web_config_file" ? "--web.config.file" : "--\(key.replacingUnderscores())") }
            if let (variable, _) = Self.environmentKeys.first(where: { $0.value == key }), let value = environment[variable] {
                return (value, "$\(variable)")
            }
            if let node = top[key] { return reader.scalar(node, path: key).map { ($0, key) } }
            return nil
        }

        var listen = ListenAddress(host: "0.0.0.0", port: PoolwatchConfig.defaultPort)
        if let (text, path) = setting("listen_address", flag: overrides.listen) {
            if let parsed = ListenAddress.parse(text) { listen = parsed } else {
                reader.fail(path, "\(ConfigEcho.quoted(text)) is not a listen address (use host:port or :port, e.g. :\(PoolwatchConfig.defaultPort))")
            }
        }
        var logFormat = LogFormat.logfmt
        if let (text, path) = setting("log_format", flag: overrides.logFormat) {
            logFormat = reader.oneOf(text, path: path, LogFormat.self) ?? logFormat
        }
        var logLevel = LogLevel.info
        if let (text, path) = setting("log_level", flag: overrides.logLevel) {
            logLevel = reader.oneOf(text, path: path, LogLevel.self) ?? logLevel
        }

        var webConfigFile: String?
        if let (text, _) = setting("web_config_file", flag: overrides.webConfigFile), !text.isEmpty {
            webConfigFile = text
        }

        var targets: [TargetConfig] = []
        if let targetsNode = top["targets"] {
            let items = reader.sequence(targetsNode, path: "targets") ?? []
            if items.isEmpty, reader.errors.isEmpty { reader.fail("targets", "is empty: list at least one target") }
            var seen: [String: Int] = [:]
            for (index, item) in items.enumerated() {
                let path = "targets[\(index)]"
                guard let target = parseTarget(item, path: path, reader: &reader) else { continue }
                if let first = seen[target.name] {
                    reader.fail("\(path).name", "duplicate target name \(ConfigEcho.quoted(target.name)) (also used by targets[\(first)])")
                } else {
                    seen[target.name] = index
                }
                targets.append(target)
            }
            for (index, target) in targets.enumerated() {
                guard let paired = target.postgresTarget else { continue }
                if !targets.contains(where: { $0.name == paired && $0.kind == .postgres }) {
                    reader.fail("targets[\(index)].postgres_target",
                                "\(ConfigEcho.quoted(paired)) is not the name of a kind postgres target in this file")
                }
            }
        } else {
            targets = [TargetConfig(name: "postgres", kind: .postgres)]
        }
        let alerting = parseAlerting(top, reader: &reader)
        let alertRules = parseAlertRules(top["alerting"], reader: &reader)
        if !reader.errors.isEmpty { throw ConfigErrors(reader.errors) }
        var config = PoolwatchConfig(listen: listen, logFormat: logFormat, logLevel: logLevel, targets: targets,
                                     alerting: alerting, alertRules: alertRules)
        config.webConfigFile = webConfigFile
        return config
    }

    private func parseTarget(_ node: Node, path: String, reader: inout NodeReader) -> TargetConfig? {
        guard let fields = reader.mapping(node, path: path, allowed: Self.targetKeys) else { return nil }
        let errorsBefore = reader.errors.count
        guard let nameNode = fields["name"] else {
            reader.fail("\(path).name", "is required")
            return nil
        }
        let name = reader.scalar(nameNode, path: "\(path).name") ?? ""
        if !name.isEmpty, !name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." }) {
            reader.fail("\(path).name", "\(ConfigEcho.quoted(name)) may use only letters, digits, '-', '_' and '.'")
        } else if name.isEmpty, reader.errors.count == errorsBefore {
            reader.fail("\(path).name", "must not be empty")
        }
        var kind = TargetKind.postgres
        if let kindNode = fields["kind"], let text = reader.scalar(kindNode, path: "\(path).kind") {
            kind = reader.oneOf(text, path: "\(path).kind", TargetKind.self) ?? kind
        } else if fields["kind"] == nil {
            reader.fail("\(path).kind", "is required (one of: \(TargetKind.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        var target = TargetConfig(name: name, kind: kind)
        target.dsn = parseDSN(fields, kind: kind, path: path, reader: &reader)
        if !target.dsn.isEmpty { target.dsnDisplay = displayConnInfo(target.dsn.revealed) }
        target.httpJSON = parseHTTPJSON(fields, kind: kind, path: path, reader: &reader)
        target.appMetrics = parseAppMetrics(fields, kind: kind, path: path, reader: &reader)

        func duration(_ key: String, _ keyPath: WritableKeyPath<TargetConfig, Duration>, minimum: Duration) {
            guard let node = fields[key], let text = reader.scalar(node, path: "\(path).\(key)") else { return }
            guard let value = DurationParser.duration(text) else {
                reader.fail("\(path).\(key)", "\(ConfigEcho.quoted(text)) is not a duration (use 15s, 1m)")
                return
            }
            guard value >= minimum else {
                reader.fail("\(path).\(key)", "\(ConfigEcho.quoted(text)) is too short (at least \(DurationParser.format(minimum)))")
                return
            }
            target[keyPath: keyPath] = value
        }
        duration("interval", \.interval, minimum: .seconds(1))
        duration("connect_timeout", \.connectTimeout, minimum: .seconds(1))
        duration("statement_timeout", \.statementTimeout, minimum: .milliseconds(1))
        duration("lock_timeout", \.lockTimeout, minimum: .milliseconds(1))
        duration("collection_timeout", \.collectionTimeout, minimum: .milliseconds(100))
        if fields["collection_timeout"] == nil { target.collectionTimeout = min(target.collectionTimeout, target.interval) }
        if target.collectionTimeout > target.interval {
            reader.fail("\(path).collection_timeout",
                        "\(DurationParser.format(target.collectionTimeout)) is longer than the interval (\(DurationParser.format(target.interval)))")
        }
        if kind != .postgres {
            // PgBouncer accepts `activity.top_applications` too: it bounds SHOW CLIENTS' application_name.
            let postgresOnly = ["statement_timeout", "lock_timeout", "statements", "database_sizes", "table_stats", "queries", "queries_file",
                                "connection_budget"]
                + (kind == .pgbouncer ? [] : ["activity"])
            for key in postgresOnly where fields[key] != nil {
                reader.fail("\(path).\(key)", "applies only to kind postgres, not \(kind.rawValue)")
            }
        }
        if let node = fields["postgres_target"], let text = reader.scalar(node, path: "\(path).postgres_target") {
            if kind == .pgbouncer { target.postgresTarget = text } else {
                reader.fail("\(path).postgres_target", "applies only to kind pgbouncer, not \(kind.rawValue)")
            }
        }
        parseTargetExtras(fields, into: &target, path: path, reader: &reader)
        if let node = fields["activity"], let activity = reader.mapping(node, path: "\(path).activity", allowed: ["top_applications"]) {
            if let n = activity["top_applications"] {
                target.activity.topApplications = reader.integer(n, path: "\(path).activity.top_applications", range: 0...1000)
                    ?? target.activity.topApplications
            }
        }
        if let node = fields["statements"],
           let options = reader.mapping(node, path: "\(path).statements",
                                        allowed: ["enabled", "limit", "slow_threshold", "include_query", "query_length", "interval"]) {
            let p = "\(path).statements"
            if let n = options["enabled"] { target.statements.enabled = reader.bool(n, path: "\(p).enabled") ?? true }
            if let n = options["limit"] { target.statements.limit = reader.integer(n, path: "\(p).limit", range: 1...10000) ?? 100 }
            if let n = options["include_query"] { target.statements.includeQuery = reader.bool(n, path: "\(p).include_query") ?? false }
            if let n = options["query_length"] {
                target.statements.queryLength = reader.integer(n, path: "\(p).query_length", range: 8...4096) ?? 120
            }
            if let n = options["interval"], let text = reader.scalar(n, path: "\(p).interval") {
                if let value = DurationParser.duration(text), value >= .seconds(1) { target.statements.interval = value } else {
                    reader.fail("\(p).interval", "\(ConfigEcho.quoted(text)) is not a duration of at least 1s (use 30s, 1m)")
                }
            }
            if let n = options["slow_threshold"], let text = reader.scalar(n, path: "\(p).slow_threshold") {
                if let seconds = DurationParser.seconds(text), seconds > 0 { target.statements.slowThreshold = seconds } else {
                    reader.fail("\(p).slow_threshold", "\(ConfigEcho.quoted(text)) is not a positive duration (use 500ms, 2s)")
                }
            }
        }
        return target
    }

    /// `labels`, `database_sizes`, `table_stats`, `connection_budget`, `queries` and `queries_file`.
    private func parseTargetExtras(_ fields: [String: Node], into target: inout TargetConfig, path: String, reader: inout NodeReader) {
        if let node = fields["labels"], case let .mapping(mapping) = node {
            for (keyNode, valueNode) in mapping {
                let name = keyNode.scalar?.string ?? "?"
                guard Self.isMetricName(name), name != "target" else {
                    reader.fail("\(path).labels.\(ConfigEcho.value(name))", "is not a usable label name (letters, digits, '_'; not \"target\" or starting with '__')")
                    continue
                }
                if let value = reader.scalar(valueNode, path: "\(path).labels.\(name)") { target.labels.append(Label(name, value)) }
            }
            target.labels.sort { $0.name < $1.name }
        } else if fields["labels"] != nil {
            reader.fail("\(path).labels", "expected a mapping of label names to values, e.g. {cluster: prod-eu1}")
        }
        if let node = fields["database_sizes"], let text = reader.scalar(node, path: "\(path).database_sizes") {
            if ["off", "false", "no"].contains(text.lowercased()) { target.databaseSizeInterval = nil }
            else if let value = DurationParser.duration(text), value >= .seconds(1) { target.databaseSizeInterval = value }
            else { reader.fail("\(path).database_sizes", "\(ConfigEcho.quoted(text)) is not a duration or off (use 5m, 1h, off)") }
        }
        if let node = fields["table_stats"], let options = reader.mapping(node, path: "\(path).table_stats",
                                                                                allowed: ["enabled", "interval", "limit", "databases", "max_databases"]) {
            let p = "\(path).table_stats"
            if let n = options["limit"] { target.tableStatsLimit = reader.integer(n, path: "\(p).limit", range: 1...1000) ?? 20 }
            if let n = options["interval"], let text = reader.scalar(n, path: "\(p).interval") {
                if let value = DurationParser.duration(text), value >= .seconds(1) { target.tableStatsInterval = value } else {
                    reader.fail("\(p).interval", "\(ConfigEcho.quoted(text)) is not a duration (use 5m, 1h)")
                }
            }
            if let n = options["enabled"], reader.bool(n, path: "\(p).enabled") == false { target.tableStatsInterval = nil }
            target.tableStatsDatabases = parseTableStatsDatabases(options, path: p, reader: &reader)
        }
        if let node = fields["connection_budget"] {
            target.connectionBudget = reader.integer(node, path: "\(path).connection_budget", range: 1...16) ?? target.connectionBudget
        }
        if let node = fields["queries"] { target.queries += parseQueries(node, path: "\(path).queries", reader: &reader) }
        if let node = fields["queries_file"], let file = reader.scalar(node, path: "\(path).queries_file") {
            do {
                target.queries += parseExporterQueries(try readPlainFile(file), path: "\(path).queries_file (\(file))", reader: &reader)
            } catch {
                reader.fail("\(path).queries_file", "cannot read \(ConfigEcho.quoted(file)): \(error)")
            }
        }
        var names = Set<String>()
        for query in target.queries where !names.insert(query.name).inserted {
            reader.fail("\(path).queries", "two queries are named \(ConfigEcho.quoted(query.name))")
        }
    }

    /// Exactly one of `dsn`, `dsn_file`, `dsn_env`; none means libpq defaults, for kind postgres only:
    /// a PgBouncer or Pgpool-II console is never where libpq's defaults lead. The value is never
    /// quoted in an error, since it may hold a password.
    private func parseDSN(_ fields: [String: Node], kind: TargetKind, path: String, reader: inout NodeReader) -> Secret {
        let given = ["dsn", "dsn_file", "dsn_env"].filter { fields[$0] != nil }
        if given.isEmpty, kind == .pgbouncer || kind == .pgpool {
            reader.fail("\(path).dsn", "is required for kind \(kind.rawValue) (or dsn_file / dsn_env): "
                        + "libpq's defaults lead to PostgreSQL, not to the \(kind.rawValue) console")
            return Secret("")
        }
        if given.count > 1 {
            reader.fail("\(path).\(given[1])", "conflicts with \(path).\(given[0]): give only one of dsn, dsn_file, dsn_env")
            return Secret("")
        }
        if let node = fields["dsn"] {
            return Secret(reader.scalar(node, path: "\(path).dsn", quoteValue: false) ?? "")
        }
        if let node = fields["dsn_file"], let file = reader.scalar(node, path: "\(path).dsn_file") {
            return Secret(readSecretFile(file, path: "\(path).dsn_file", reader: &reader) ?? "")
        }
        if let node = fields["dsn_env"], let variable = reader.scalar(node, path: "\(path).dsn_env") {
            if let value = environment[variable] { return Secret(value) }
            reader.fail("\(path).dsn_env", "environment variable \(ConfigEcho.value(variable)) is not set")
        }
        return Secret("")
    }

    /// The trimmed content of a secret file, or nil after recording why not (unreadable, unsafe
    /// permissions, empty). Every `*_file` key reads through here.
    func readSecretFile(_ file: String, path: String, reader: inout NodeReader) -> String? {
        let content: String
        do {
            content = try readFile(file).trimmingSpaces()
        } catch let refused as SecretFileRefused {
            reader.fail(path, refused.description)
            return nil
        } catch {
            reader.fail(path, "cannot read \(ConfigEcho.quoted(file)): \(error)")
            return nil
        }
        guard !content.isEmpty else {
            reader.fail(path, "file \(ConfigEcho.quoted(file)) is empty")
            return nil
        }
        return content
    }

    /// libyaml's problem and where it is, never the text around it: the surrounding lines of the file
    /// may hold an inline secret or header value.
    static func describeYAMLError(_ error: any Error) -> String {
        (error as? YAMLError)?.description ?? "the YAML library failed"
    }
}

extension String {
    func replacingUnderscores() -> String { String(map { $0 == "_" ? "-" : $0 }) }
}
