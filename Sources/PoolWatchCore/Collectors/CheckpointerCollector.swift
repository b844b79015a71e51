/// Checkpoints and the background writer: `pg_stat_bgwriter`, and from PostgreSQL 17 also
/// `pg_stat_checkpointer`, which took over the checkpoint columns under new names.
///
/// Both views are read with `SELECT *` and mapped by column name, so a release that adds a column
/// changes nothing and one that drops a column drops its family (absent, never 0). The checkpoint
/// figures keep postgres_exporter's `pg_stat_bgwriter_*` names on every version — postgres_exporter
/// itself stops emitting them on 17, which breaks dashboards at the upgrade — and on 17+ the
/// checkpointer's own columns are exported too, as postgres_exporter's `pg_stat_checkpointer_*_total`.
/// Times stay in milliseconds, as the views and postgres_exporter give them.
public struct CheckpointerCollector: SQLCollector {
    public let name = "checkpointer"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] {
        server.versionNumber >= 170000
            ? ["SELECT * FROM pg_stat_bgwriter", "SELECT * FROM pg_stat_checkpointer"]
            : ["SELECT * FROM pg_stat_bgwriter"]
    }

    /// (stable metric suffix, column before 17 in pg_stat_bgwriter, column from 17 in pg_stat_checkpointer, help)
    static let stable: [(String, String, String?, String)] = [
        ("checkpoints_timed_total", "checkpoints_timed", "num_timed", "Scheduled checkpoints (checkpoint_timeout)."),
        ("checkpoints_req_total", "checkpoints_req", "num_requested",
         "Requested checkpoints (max_wal_size reached, CHECKPOINT, shutdown, base backup)."),
        ("checkpoint_write_time_total", "checkpoint_write_time", "write_time", "Time writing checkpoint files, milliseconds."),
        ("checkpoint_sync_time_total", "checkpoint_sync_time", "sync_time", "Time syncing checkpoint files, milliseconds."),
        ("buffers_checkpoint_total", "buffers_checkpoint", "buffers_written", "Buffers written by checkpoints."),
        ("buffers_clean_total", "buffers_clean", nil, "Buffers written by the background writer."),
        ("maxwritten_clean_total", "maxwritten_clean", nil, "Times the background writer stopped at bgwriter_lru_maxpages."),
        ("buffers_backend_total", "buffers_backend", nil, "Buffers written by backends themselves (before 17)."),
        ("buffers_backend_fsync_total", "buffers_backend_fsync", nil, "Backend fsync calls (before 17)."),
        ("buffers_alloc_total", "buffers_alloc", nil, "Buffers allocated."),
    ]

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let bgwriter = results.first?.namedRows.first else { throw CollectorError("pg_stat_bgwriter returned no row") }
        let checkpointerResult = results.count > 1 ? results[1] : nil
        let checkpointer = checkpointerResult?.namedRows.first
        var families: [MetricFamily] = []
        for (suffix, oldColumn, newColumn, help) in Self.stable {
            let value = bgwriter.double(oldColumn) ?? newColumn.flatMap { checkpointer?.double($0) }
            guard let value else { continue }
            families.append(MetricFamily("pg_stat_bgwriter_" + suffix, help: help, type: .counter, samples: [Sample([], value)]))
        }
        if let checkpointerResult, let checkpointer {
            for column in checkpointerResult.columns where column != "stats_reset" {
                guard let value = checkpointer.double(column) else { continue }
                families.append(MetricFamily("pg_stat_checkpointer_\(column)_total", help: "pg_stat_checkpointer.\(column).",
                                             type: .counter, samples: [Sample([], value)]))
            }
        }
        return families
    }
}
