/// `pg_stat_statements`: a stable top-N of statements by total execution time, without query text.
///
/// - Reads `pg_stat_statements(false)`, so PostgreSQL never loads the query-text file (hundreds of MB
///   on busy servers) unless query text was asked for.
/// - Groups by (database, user, queryid) in SQL: PostgreSQL 14+ keeps separate top-level and nested
///   entries for one queryid, which would otherwise be duplicate series.
/// - Orders by total time, then queryid, so the top-N is deterministic between rounds.
/// - A second statement counts all entries and those slower (mean) than the threshold, over the whole
///   view rather than only the top-N.
public struct StatementsCollector: SQLCollector {
    public let name = "stat_statements"
    public var limit: Int
    public var slowThreshold: Double
    public var includeQuery: Bool
    public var queryLength: Int

    public init(limit: Int = 100, slowThreshold: Double = 0.5, includeQuery: Bool = false, queryLength: Int = 120) {
        self.limit = limit
        self.slowThreshold = slowThreshold
        self.includeQuery = includeQuery
        self.queryLength = queryLength
    }

    /// Column names changed across releases: `total_time` became `total_exec_time` in 13 and
    /// `blk_read_time` became `shared_blk_read_time` in 17.
    static func columnNames(for server: ServerFacts) -> (total: String, mean: String, read: String, write: String) {
        let total = server.versionNumber >= 130000 ? "total_exec_time" : "total_time"
        let mean = server.versionNumber >= 130000 ? "mean_exec_time" : "mean_time"
        let read = server.versionNumber >= 170000 ? "shared_blk_read_time" : "blk_read_time"
        let write = server.versionNumber >= 170000 ? "shared_blk_write_time" : "blk_write_time"
        return (total, mean, read, write)
    }

    public func statements(for server: ServerFacts) -> [String] {
        let c = Self.columnNames(for: server)
        let source = includeQuery ? "pg_stat_statements(true)" : "pg_stat_statements(false)"
        let queryColumn = includeQuery ? ", left(min(s.query), \(max(1, queryLength))) AS query" : ""
        let top = """
            SELECT coalesce(d.datname, '') AS datname, coalesce(r.rolname, '') AS "user", s.queryid::text AS queryid, \
            sum(s.calls) AS calls, sum(s.\(c.total)) / 1000 AS seconds, sum(s.rows) AS rows, \
            sum(s.shared_blks_hit) AS shared_blks_hit, sum(s.shared_blks_read) AS shared_blks_read, \
            sum(s.shared_blks_dirtied) AS shared_blks_dirtied, sum(s.shared_blks_written) AS shared_blks_written, \
            sum(s.temp_blks_read) AS temp_blks_read, sum(s.temp_blks_written) AS temp_blks_written, \
            sum(s.\(c.read)) / 1000 AS block_read_seconds, sum(s.\(c.write)) / 1000 AS block_write_seconds\(queryColumn) \
            FROM \(source) s LEFT JOIN pg_database d ON d.oid = s.dbid LEFT JOIN pg_roles r ON r.oid = s.userid \
            WHERE s.queryid IS NOT NULL \
            GROUP BY 1, 2, 3 ORDER BY seconds DESC, queryid LIMIT \(max(1, limit))
            """
        let summary = """
            SELECT count(*) AS entries, count(*) FILTER (WHERE \(c.mean) > \(slowThreshold * 1000)) AS slow \
            FROM pg_stat_statements(false)
            """
        return [top, summary]
    }

    static let counters: [(column: String, metric: String, help: String)] = [
        ("calls", "pg_stat_statements_calls_total", "Times the statement was executed."),
        ("seconds", "pg_stat_statements_seconds_total", "Total execution time, seconds."),
        ("rows", "pg_stat_statements_rows_total", "Rows retrieved or affected."),
        ("shared_blks_hit", "pg_stat_statements_shared_blocks_hit_total", "Shared buffer hits."),
        ("shared_blks_read", "pg_stat_statements_shared_blocks_read_total", "Shared blocks read from disk."),
        ("shared_blks_dirtied", "pg_stat_statements_shared_blocks_dirtied_total", "Shared blocks dirtied."),
        ("shared_blks_written", "pg_stat_statements_shared_blocks_written_total", "Shared blocks written."),
        ("temp_blks_read", "pg_stat_statements_temp_blocks_read_total", "Temporary blocks read."),
        ("temp_blks_written", "pg_stat_statements_temp_blocks_written_total", "Temporary blocks written."),
        ("block_read_seconds", "pg_stat_statements_block_read_seconds_total",
         "Time spent reading blocks, seconds (needs track_io_timing)."),
        ("block_write_seconds", "pg_stat_statements_block_write_seconds_total",
         "Time spent writing blocks, seconds (needs track_io_timing)."),
    ]

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard results.count == 2 else { throw CollectorError("expected 2 results, got \(results.count)") }
        let rows = results[0].namedRows
        var families = Self.counters.map { counter in
            MetricFamily(counter.metric, help: counter.help, type: .counter, samples: rows.compactMap { row in
                row.double(counter.column).map { Sample(Self.labels(row), $0) }
            })
        }
        families.append(MetricFamily(
            "pg_stat_statements_mean_seconds", help: "Mean execution time of the statement since the last reset, seconds.",
            samples: rows.compactMap { row in
                guard let calls = row.double("calls"), calls > 0, let seconds = row.double("seconds") else { return nil }
                return Sample(Self.labels(row), seconds / calls)
            }))
        if includeQuery {
            families.append(MetricFamily(
                "pg_stat_statements_query_info",
                help: "Normalized query text of a top statement, truncated, string literals masked (value is 1).",
                // Utility statements keep their literals (`ALTER ROLE … PASSWORD '…'`): see QueryTextMasking.
                samples: rows.map { Sample(Self.labels($0) + [Label("query", QueryTextMasking.mask($0.label("query")))], 1) }))
        }
        if let summary = results[1].namedRows.first {
            families.append(MetricFamily(
                "pg_stat_statements_entries", help: "Statements currently tracked by pg_stat_statements.",
                value: summary.double("entries") ?? 0))
            families.append(MetricFamily(
                "pg_stat_statements_slow", help: "Tracked statements whose mean execution time exceeds the slow threshold.",
                value: summary.double("slow") ?? 0))
        }
        families.append(MetricFamily(
            "pg_stat_statements_slow_threshold_seconds", help: "The configured slow-statement threshold, seconds.",
            value: slowThreshold))
        families.append(MetricFamily(
            "pg_stat_statements_top_limit", help: "The configured top-N: at most this many statements are exported.",
            value: Double(limit)))
        return families
    }

    static func labels(_ row: QueryResult.Row) -> [Label] {
        [Label("datname", row.label("datname")), Label("user", row.label("user")), Label("queryid", row.label("queryid"))]
    }
}
