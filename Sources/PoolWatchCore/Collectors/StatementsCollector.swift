/// `pg_stat_statements`: a stable top-N of statements by total execution time, without query text.
///
/// - Reads `pg_stat_statements(false)`, so PostgreSQL never loads the query-text file (hundreds of MB
///   on busy servers) unless query text was asked for.
/// - One statement, one scan of the view: building the view's rows is the floor of the cost (about 1 µs
///   an entry), so the entries are materialized once and the top-N, the sums and the summary all read
///   that copy. With 5,000 entries on PostgreSQL 15 this takes 12–14 ms, where a grouped top-N over the
///   view plus a separate summary scan took about 23 + 5 ms (EXPLAIN ANALYZE, same server).
/// - The top N is chosen on (dbid, userid, queryid) and total time only, on the copy's integer keys,
///   then only those N keys are summed column by column: summing every column of every entry, or
///   joining names to every entry first, costs more than the scan. PostgreSQL 14+ keeps separate
///   top-level and nested entries for one queryid, which are summed into one series.
/// - The N rows are grouped again by their labels: entries of databases or roles dropped since all read
///   as an empty name and would otherwise be duplicate series. (Such a series sums only its entries
///   that made the top N.)
/// - Orders by total time, then queryid, so the top-N is deterministic between rounds.
/// - The summary (all entries, and those slower on average than the threshold) covers the whole view,
///   not only the top-N; it is joined to the top-N so there is always one row, even with no statements.
public struct StatementsCollector: SQLCollector {
    public let name = "stat_statements"
    public var limit: Int
    public var slowThreshold: Double
    public var includeQuery: Bool
    public var queryLength: Int
    /// Time between reads (`statements.interval`); the last figures are served in between.
    public var interval: Duration?

    public init(limit: Int = 100, slowThreshold: Double = 0.5, includeQuery: Bool = false, queryLength: Int = 120,
                interval: Duration? = nil) {
        self.interval = interval
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
        let copied = ["dbid", "userid", "queryid", "calls", c.total, c.mean, "rows", "shared_blks_hit", "shared_blks_read",
                      "shared_blks_dirtied", "shared_blks_written", "temp_blks_read", "temp_blks_written", c.read, c.write]
            + (includeQuery ? ["query"] : [])
        let summed = ["calls", "rows", "shared_blks_hit", "shared_blks_read", "shared_blks_dirtied", "shared_blks_written",
                      "temp_blks_read", "temp_blks_written"].map { "sum(s.\($0)) AS \($0)" }.joined(separator: ", ")
        return ["""
            WITH s AS MATERIALIZED (SELECT \(copied.joined(separator: ", ")) FROM \(source)), \
            top AS (SELECT dbid, userid, queryid FROM s WHERE queryid IS NOT NULL GROUP BY 1, 2, 3 \
            ORDER BY sum(\(c.total)) DESC, queryid LIMIT \(max(1, limit))), \
            summary AS (SELECT count(*) AS entries, count(*) FILTER (WHERE \(c.mean) > \(slowThreshold * 1000)) AS slow FROM s) \
            SELECT summary.entries, summary.slow, t.* FROM summary LEFT JOIN (\
            SELECT coalesce(d.datname, '') AS datname, coalesce(r.rolname, '') AS "user", s.queryid::text AS queryid, \
            sum(s.\(c.total)) / 1000 AS seconds, \(summed), \
            sum(s.\(c.read)) / 1000 AS block_read_seconds, sum(s.\(c.write)) / 1000 AS block_write_seconds\(queryColumn) \
            FROM s JOIN top USING (dbid, userid, queryid) LEFT JOIN pg_database d ON d.oid = s.dbid \
            LEFT JOIN pg_roles r ON r.oid = s.userid GROUP BY 1, 2, 3\
            ) t ON true ORDER BY t.seconds DESC, t.queryid
            """]
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
        guard results.count == 1 else { throw CollectorError("expected 1 result, got \(results.count)") }
        let all = results[0].namedRows
        // The summary row of an empty view has no statement: its queryid is NULL.
        let rows = all.filter { $0["queryid"] != nil }
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
        if let summary = all.first {
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
