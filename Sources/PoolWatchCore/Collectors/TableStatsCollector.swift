/// `pg_stat_user_tables` joined with `pg_statio_user_tables`, in the database of the target's DSN: the
/// `limit` largest tables (heap, TOAST and indexes, from `pg_class.relpages`) keep their own series, the rest are summed into one
/// `relname="(other)"` row, so a schema with thousands of tables exports at most `limit + 1` series per
/// family. Run on a slow interval of its own (default 5m): the join is over every table of the database.
///
/// Names follow postgres_exporter's `pg_stat_user_tables_*` / `pg_statio_user_tables_*`, with `_total` on
/// counters as in DatabaseCollector.swift. The `(other)` row is a sum over a changing set of tables (a
/// table entering the top-N leaves it), so its counters can step down: `rate()` treats that as a reset.
public struct TableStatsCollector: SQLCollector {
    public let name = "stat_user_tables"
    public var limit: Int
    public var interval: Duration?

    public init(limit: Int = 20, interval: Duration = .seconds(300)) {
        self.limit = limit
        self.interval = interval
    }

    /// (column, metric, help, type)
    static let columns: [(String, String, String, MetricType)] = [
        ("size_bytes", "pg_stat_user_tables_size_bytes",
         "Table size with indexes and TOAST, bytes, from pg_class.relpages (as of the last VACUUM or ANALYZE).", .gauge),
        ("n_live_tup", "pg_stat_user_tables_n_live_tup", "Estimated live rows.", .gauge),
        ("n_dead_tup", "pg_stat_user_tables_n_dead_tup", "Estimated dead rows (vacuum removes them).", .gauge),
        ("n_mod_since_analyze", "pg_stat_user_tables_n_mod_since_analyze", "Rows modified since the last analyze.", .gauge),
        ("seq_scan", "pg_stat_user_tables_seq_scan_total", "Sequential scans.", .counter),
        ("seq_tup_read", "pg_stat_user_tables_seq_tup_read_total", "Rows read by sequential scans.", .counter),
        ("idx_scan", "pg_stat_user_tables_idx_scan_total", "Index scans.", .counter),
        ("n_tup_ins", "pg_stat_user_tables_n_tup_ins_total", "Rows inserted.", .counter),
        ("n_tup_upd", "pg_stat_user_tables_n_tup_upd_total", "Rows updated.", .counter),
        ("n_tup_del", "pg_stat_user_tables_n_tup_del_total", "Rows deleted.", .counter),
        ("n_tup_hot_upd", "pg_stat_user_tables_n_tup_hot_upd_total", "Rows HOT-updated.", .counter),
        ("vacuum_count", "pg_stat_user_tables_vacuum_count_total", "Manual vacuums.", .counter),
        ("autovacuum_count", "pg_stat_user_tables_autovacuum_count_total", "Autovacuums.", .counter),
        ("analyze_count", "pg_stat_user_tables_analyze_count_total", "Manual analyzes.", .counter),
        ("autoanalyze_count", "pg_stat_user_tables_autoanalyze_count_total", "Autoanalyzes.", .counter),
        ("heap_blks_read", "pg_statio_user_tables_heap_blocks_read_total", "Heap blocks read from disk.", .counter),
        ("heap_blks_hit", "pg_statio_user_tables_heap_blocks_hit_total", "Heap blocks found in shared buffers.", .counter),
        ("idx_blks_read", "pg_statio_user_tables_idx_blocks_read_total", "Index blocks read from disk.", .counter),
        ("idx_blks_hit", "pg_statio_user_tables_idx_blocks_hit_total", "Index blocks found in shared buffers.", .counter),
    ]

    public func statements(for server: ServerFacts) -> [String] {
        let sums = Self.columns.map { "sum(\($0.0))::float8 AS \($0.0)" }.joined(separator: ", ")
        let limit = max(1, limit)
        // Sizes come from pg_class.relpages (heap, TOAST and indexes) rather than pg_total_relation_size:
        // that function takes a lock on every table, so one ALTER TABLE or VACUUM FULL anywhere made the
        // whole collector wait for lock_timeout and fail (found by PostgresCollectorTests' held lock).
        // relpages is as of the table's last VACUUM, ANALYZE or CREATE INDEX; good enough to rank tables.
        return ["""
            WITH sized AS (SELECT s.*, (c.relpages::bigint + coalesce(tc.relpages, 0) + coalesce(ix.pages, 0)) \
            * current_setting('block_size')::bigint AS size_bytes \
            FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid LEFT JOIN pg_class tc ON tc.oid = c.reltoastrelid \
            LEFT JOIN LATERAL (SELECT sum(i.relpages) AS pages FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid \
            WHERE x.indrelid = s.relid) ix ON true), \
            t AS (SELECT s.schemaname, s.relname, s.size_bytes, \
            s.n_live_tup, s.n_dead_tup, s.n_mod_since_analyze, s.seq_scan, s.seq_tup_read, s.idx_scan, s.n_tup_ins, \
            s.n_tup_upd, s.n_tup_del, s.n_tup_hot_upd, s.vacuum_count, s.autovacuum_count, s.analyze_count, \
            s.autoanalyze_count, io.heap_blks_read, io.heap_blks_hit, io.idx_blks_read, io.idx_blks_hit, \
            extract(epoch FROM greatest(s.last_vacuum, s.last_autovacuum)) AS last_vacuum, \
            row_number() OVER (ORDER BY s.size_bytes DESC, s.relid) AS rank \
            FROM sized s LEFT JOIN pg_statio_user_tables io ON io.relid = s.relid) \
            SELECT current_database() AS datname, CASE WHEN rank <= \(limit) THEN schemaname ELSE '' END AS schemaname, \
            CASE WHEN rank <= \(limit) THEN relname ELSE '(other)' END AS relname, count(*) AS tables, \(sums), \
            max(last_vacuum) AS last_vacuum \
            FROM t GROUP BY 1, 2, 3 ORDER BY min(rank)
            """]
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        let rows = result.namedRows
        func key(_ row: QueryResult.Row) -> [Label] {
            [Label("datname", row.label("datname")), Label("schemaname", row.label("schemaname")), Label("relname", row.label("relname"))]
        }
        var families = Self.columns.map { column, metric, help, type in
            MetricFamily(metric, help: help, type: type, samples: rows.compactMap { row in row.double(column).map { Sample(key(row), $0) } })
        }
        families.append(MetricFamily(
            "pg_stat_user_tables_last_vacuum_seconds", help: "When the table was last vacuumed (manual or auto), Unix seconds; the newest for (other).",
            samples: rows.compactMap { row in row.double("last_vacuum").map { Sample(key(row), $0) } }))
        families.append(MetricFamily(
            "pg_stat_user_tables_tables", help: "Tables a row stands for: 1 for a top table, the count for (other).",
            samples: rows.compactMap { row in row.double("tables").map { Sample(key(row), $0) } }))
        return families
    }
}
