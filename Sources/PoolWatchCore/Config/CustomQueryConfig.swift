
/// One reviewed custom query: `<name>_<column>` families from a SELECT the DBA approved.
public struct CustomQuery: Sendable, Equatable {
    public var name: String
    public var sql: String
    /// Seconds between runs (nil: every round).
    public var interval: Duration?
    /// `statement_timeout` for this query, seconds (nil: the target's `statement_timeout`).
    public var timeout: Duration?
    public var labels: [String] = []
    public var gauges: [String] = []
    public var counters: [String] = []
    /// HELP text by value column (postgres_exporter's `description`).
    public var help: [String: String] = [:]
    /// Rows beyond this are dropped (and counted), so a query cannot flood the store.
    public var maxRows = 100
    /// `databases:`: run in each of these databases over a short-lived connection, with a `datname`
    /// label (nil: in the DSN's database, on the target's own connection).
    public var databases: [String]?

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
    }
}

extension ConfigLoader {
    static let queryKeys = ["name", "sql", "interval", "timeout", "labels", "gauges", "counters", "help", "max_rows", "databases"]

    /// Metric and label names as Prometheus allows them (no `__` prefix, which is reserved).
    static func isMetricName(_ text: String) -> Bool {
        guard let first = text.first, !text.hasPrefix("__") else { return false }
        return (first.isASCII && (first.isLetter || first == "_"))
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }
    }

    /// The `queries:` list of a target.
    func parseQueries(_ node: Node, path: String, reader: inout NodeReader) -> [CustomQuery] {
        var queries: [CustomQuery] = []
        for (index, item) in (reader.sequence(node, path: path) ?? []).enumerated() {
            let p = "\(path)[\(index)]"
            guard let fields = reader.mapping(item, path: p, allowed: Self.queryKeys) else { continue }
            guard let name = fields["name"].flatMap({ reader.scalar($0, path: "\(p).name") }),
                  let sql = fields["sql"].flatMap({ reader.scalar($0, path: "\(p).sql") }) else {
                if fields["name"] == nil { reader.fail("\(p).name", "is required") }
                if fields["sql"] == nil { reader.fail("\(p).sql", "is required") }
                continue
            }
            var query = CustomQuery(name: name, sql: sql)
            func names(_ key: String) -> [String] {
                guard let node = fields[key] else { return [] }
                return (reader.sequence(node, path: "\(p).\(key)") ?? []).enumerated().compactMap { reader.scalar($1, path: "\(p).\(key)[\($0)]") }
            }
            query.labels = names("labels")
            query.gauges = names("gauges")
            query.counters = names("counters")
            if let node = fields["help"], let help = reader.mapping(node, path: "\(p).help", allowed: query.gauges + query.counters) {
                for (column, text) in help { query.help[column] = reader.scalar(text, path: "\(p).help.\(column)") }
            }
            if let node = fields["max_rows"] { query.maxRows = reader.integer(node, path: "\(p).max_rows", range: 1...10000) ?? 100 }
            query.interval = queryDuration(fields["interval"], path: "\(p).interval", reader: &reader)
            query.timeout = queryDuration(fields["timeout"], path: "\(p).timeout", reader: &reader)
            if let node = fields["databases"] {
                // Only a list: a query run in every database multiplies its series by their number, so
                // the databases are named (postgres_exporter's --auto-discover-databases has no equivalent).
                if case .scalar = node, let text = reader.scalar(node, path: "\(p).databases") {
                    reader.fail("\(p).databases", "\(ConfigEcho.quoted(text)) is not valid: list the databases by name (all is supported only by table_stats)")
                } else {
                    query.databases = parseDatabaseList(node, path: "\(p).databases", reader: &reader)
                }
            }
            validate(query, path: p, reader: &reader)
            queries.append(query)
        }
        return queries
    }

    private func queryDuration(_ node: Node?, path: String, reader: inout NodeReader) -> Duration? {
        guard let node, let text = reader.scalar(node, path: path) else { return nil }
        guard let value = DurationParser.duration(text), value > .zero else {
            reader.fail(path, "\(ConfigEcho.quoted(text)) is not a positive duration (use 500ms, 1m)")
            return nil
        }
        return value
    }

    func validate(_ query: CustomQuery, path: String, reader: inout NodeReader) {
        if !Self.isMetricName(query.name) {
            reader.fail("\(path).name", "\(ConfigEcho.quoted(query.name)) is not a metric name (letters, digits, '_'; not starting with a digit or '__')")
        }
        if query.gauges.isEmpty && query.counters.isEmpty {
            reader.fail(path, "lists no gauges or counters: nothing would be exported")
        }
        var seen = Set<String>()
        for column in query.labels + query.gauges + query.counters {
            if !Self.isMetricName(column) { reader.fail(path, "column \(ConfigEcho.quoted(column)) is not a valid metric or label name") }
            if !seen.insert(column).inserted { reader.fail(path, "column \(ConfigEcho.quoted(column)) is listed twice") }
            if column == "target" { reader.fail(path, "column \"target\" is reserved for the target label") }
        }
    }

    /// Reads postgres_exporter's `queries.yaml` (`--extend.query-path`): each top-level key is a query
    /// whose `metrics` list maps columns to LABEL, GAUGE, COUNTER or DISCARD. `cache_seconds` becomes
    /// the interval. Every entry runs in the DSN's database, on the target's own connection: that is what
    /// `master: true` asks for, and what postgres_exporter does with the others too unless it runs with
    /// --auto-discover-databases; to run one in other databases, move it to `queries:` with `databases:`.
    /// MAPPEDMETRIC, DURATION, HISTOGRAM and `runonserver` are refused with an error.
    func parseExporterQueries(_ yaml: String, path: String, reader: inout NodeReader) -> [CustomQuery] {
        let root: Node?
        do { root = try YAML.compose(yaml: yaml) } catch {
            reader.fail(path, "not valid YAML: \(Self.describeYAMLError(error))")
            return []
        }
        guard let root, case let .mapping(mapping) = root else {
            reader.fail(path, "expected a mapping of query names (postgres_exporter's queries.yaml format)")
            return []
        }
        var queries: [CustomQuery] = []
        for (keyNode, value) in mapping {
            let name = keyNode.scalar?.string ?? "?"
            let p = "\(path): \(name)"
            guard let fields = reader.mapping(value, path: p, allowed: ["query", "metrics", "master", "cache_seconds", "runonserver"])
            else { continue }
            if fields["runonserver"] != nil {
                reader.fail("\(p).runonserver", "is not supported: list the query only on the targets whose version suits it")
            }
            guard let sql = fields["query"].flatMap({ reader.scalar($0, path: "\(p).query") }) else {
                if fields["query"] == nil { reader.fail("\(p).query", "is required") }
                continue
            }
            var query = CustomQuery(name: name, sql: sql)
            if let node = fields["cache_seconds"], let seconds = reader.integer(node, path: "\(p).cache_seconds", range: 0...86400), seconds > 0 {
                query.interval = .seconds(seconds)
            }
            for (index, metric) in (fields["metrics"].flatMap { reader.sequence($0, path: "\(p).metrics") } ?? []).enumerated() {
                let mp = "\(p).metrics[\(index)]"
                guard case let .mapping(entry) = metric, entry.count == 1, let (columnNode, specNode) = entry.first,
                      let column = columnNode.scalar?.string,
                      let spec = reader.mapping(specNode, path: "\(mp).\(columnNode.scalar?.string ?? "?")",
                                                allowed: ["usage", "description", "metric_mapping"]),
                      let usage = spec["usage"].flatMap({ reader.scalar($0, path: "\(mp).usage") }) else {
                    reader.fail(mp, "expected `- column: {usage: ..., description: ...}`")
                    continue
                }
                switch usage.uppercased() {
                case "LABEL": query.labels.append(column)
                case "GAUGE": query.gauges.append(column)
                case "COUNTER": query.counters.append(column)
                case "DISCARD": continue
                default:
                    reader.fail("\(mp).usage", "\(ConfigEcho.quoted(usage)) is not supported (LABEL, GAUGE, COUNTER and DISCARD are)")
                    continue
                }
                if let description = spec["description"]?.scalar?.string { query.help[column] = description }
            }
            validate(query, path: p, reader: &reader)
            queries.append(query)
        }
        return queries
    }
}
