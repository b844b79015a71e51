/// A custom query from `queries:` (or a postgres_exporter `queries.yaml`), exported as `<name>_<column>`.
///
/// Guarantees, whatever the SQL says:
/// - It runs in a `READ ONLY` transaction, so it cannot write (data-modifying CTEs, nextval and DDL fail).
/// - It is wrapped as `SELECT * FROM (<sql>) LIMIT max_rows+1` and sent with the extended protocol
///   (`extendedProtocol`), which carries exactly one statement: a `;` cannot smuggle a second statement
///   (a `COMMIT; DELETE …`) past the read-only transaction, and only a query can sit in a subquery.
/// - `SET LOCAL statement_timeout` bounds it; a timeout fails only this collector, and the runner rolls
///   the aborted transaction back (see LibPQTargetCollector) so the next collector runs normally.
/// - At most `max_rows` rows are exported; `poolwatch_query_truncated{query}` says when more came back.
///   Rows repeating a label set are dropped, so the exposition never holds duplicate series.
public struct CustomQueryCollector: SQLCollector {
    public let query: CustomQuery
    public var name: String { "query_" + query.name }
    public var interval: Duration? { query.interval }
    public var extendedProtocol: Bool { true }

    public init(_ query: CustomQuery) { self.query = query }

    public func statements(for server: ServerFacts) -> [String] {
        var sql = query.sql.trimmingSpaces()
        while sql.hasSuffix(";") { sql = String(sql.dropLast()).trimmingSpaces() }
        var statements = ["BEGIN TRANSACTION READ ONLY"]
        if let timeout = query.timeout { statements.append("SET LOCAL statement_timeout = \(max(1, timeout.milliseconds))") }
        // The newlines keep a trailing `-- comment` in the SQL from commenting out the closing parenthesis.
        statements.append("SELECT * FROM (\n\(sql)\n) AS poolwatch_query LIMIT \(query.maxRows + 1)")
        statements.append("COMMIT")
        return statements
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard results.count >= 3 else { throw CollectorError("expected at least 3 results, got \(results.count)") }
        let result = results[results.count - 2]
        let missing = (query.labels + query.gauges + query.counters).filter { !result.columns.contains($0) }
        guard missing.isEmpty else {
            throw CollectorError("the query returned no column \(missing.joined(separator: ", ")) (it has: \(result.columns.joined(separator: ", ")))")
        }
        var seen = Set<[String]>()
        let rows = result.namedRows.prefix(query.maxRows).filter { row in seen.insert(query.labels.map { row.label($0) }).inserted }
        func family(_ column: String, _ type: MetricType) -> MetricFamily {
            MetricFamily("\(query.name)_\(column)", help: query.help[column] ?? "Custom query \(query.name), column \(column).",
                         type: type, samples: rows.compactMap { row in
                             row.double(column).map { Sample(query.labels.map { Label($0, row.label($0)) }, $0) }
                         })
        }
        return query.gauges.map { family($0, .gauge) } + query.counters.map { family($0, .counter) } + [
            MetricFamily("poolwatch_query_truncated", help: "1 if a custom query returned more rows than its max_rows.",
                         samples: [Sample([Label("query", query.name)], result.rows.count > query.maxRows ? 1 : 0)]),
        ]
    }
}
