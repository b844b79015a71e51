/// `pg_stat_replication`: one row per connected standby (or `pg_basebackup`), as its upstream sees it.
///
/// Series are keyed by `application_name` and `client_addr` only: both are chosen by the operator and
/// there are few standbys, while the walsender pid (postgres_exporter's extra label) changes on every
/// reconnect and would leave a stale series behind each time. State and sync state are separate 0/1
/// families with the value as a label, so a standby moving from `catchup` to `streaming` does not break
/// its lag series. Two walsenders with the same key (a standby and a base backup from one host) keep
/// the one furthest behind: rows are ordered by replay lag, largest first.
///
/// Needs PostgreSQL 10 (the `*_lsn` and `*_lag` columns); LSNs are NULL without `pg_read_all_stats`
/// (pg_monitor), and a NULL gives no sample rather than a zero.
public struct ReplicationCollector: SQLCollector {
    public let name = "stat_replication"
    /// More walsenders than this are not exported (they would be a misconfiguration, not a topology).
    public static let maxStandbys = 32
    public init() {}

    public func statements(for server: ServerFacts) -> [String] {
        // A cascading standby's walsenders send what it received, so lag is measured from there.
        let current = "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END"
        return ["""
            SELECT coalesce(r.application_name, '') AS application_name, coalesce(host(r.client_addr), '') AS client_addr, \
            r.state, r.sync_state, \
            pg_wal_lsn_diff(c.lsn, r.sent_lsn) AS sent_lag_bytes, pg_wal_lsn_diff(c.lsn, r.write_lsn) AS write_lag_bytes, \
            pg_wal_lsn_diff(c.lsn, r.flush_lsn) AS flush_lag_bytes, pg_wal_lsn_diff(c.lsn, r.replay_lsn) AS replay_lag_bytes, \
            extract(epoch FROM r.write_lag) AS write_lag_seconds, extract(epoch FROM r.flush_lag) AS flush_lag_seconds, \
            extract(epoch FROM r.replay_lag) AS replay_lag_seconds \
            FROM pg_stat_replication r CROSS JOIN (SELECT \(current) AS lsn) c \
            ORDER BY replay_lag_bytes DESC NULLS LAST, 1, 2 LIMIT \(Self.maxStandbys)
            """]
    }

    /// (column, metric, help)
    static let gauges: [(String, String, String)] = [
        ("replay_lag_bytes", "pg_stat_replication_pg_wal_lsn_diff",
         "WAL the standby has not replayed yet, bytes (postgres_exporter's name; same as replay_lag_bytes)."),
        ("sent_lag_bytes", "pg_stat_replication_sent_lag_bytes", "WAL not yet sent to the standby, bytes."),
        ("write_lag_bytes", "pg_stat_replication_write_lag_bytes", "WAL the standby has not written yet, bytes."),
        ("flush_lag_bytes", "pg_stat_replication_flush_lag_bytes", "WAL the standby has not flushed yet, bytes."),
        ("replay_lag_bytes", "pg_stat_replication_replay_lag_bytes", "WAL the standby has not replayed yet, bytes."),
        ("write_lag_seconds", "pg_stat_replication_write_lag_seconds",
         "Time until recent WAL was written on the standby, seconds (absent when the standby is idle and caught up)."),
        ("flush_lag_seconds", "pg_stat_replication_flush_lag_seconds",
         "Time until recent WAL was flushed on the standby, seconds (absent when idle and caught up)."),
        ("replay_lag_seconds", "pg_stat_replication_replay_lag_seconds",
         "Time until recent WAL was replayed on the standby, seconds (absent when idle and caught up)."),
    ]

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        var seen = Set<[String]>()
        let rows = result.namedRows.filter { seen.insert([$0.label("application_name"), $0.label("client_addr")]).inserted }
        func key(_ row: QueryResult.Row) -> [Label] {
            [Label("application_name", row.label("application_name")), Label("client_addr", row.label("client_addr"))]
        }
        var families = Self.gauges.map { column, metric, help in
            MetricFamily(metric, help: help, samples: rows.compactMap { row in row.double(column).map { Sample(key(row), $0) } })
        }
        families.append(MetricFamily(
            "pg_stat_replication_state", help: "1 for the walsender's current state (startup, catchup, streaming, backup, stopping).",
            samples: rows.map { Sample(key($0) + [Label("state", $0.label("state"))], 1) }))
        families.append(MetricFamily(
            "pg_stat_replication_sync_state", help: "1 for the standby's synchronous state (async, potential, sync, quorum).",
            samples: rows.map { Sample(key($0) + [Label("sync_state", $0.label("sync_state"))], 1) }))
        families.append(MetricFamily(
            "pg_stat_replication_standbys", help: "Walsenders connected (standbys and base backups).",
            value: Double(result.rows.count)))
        return families
    }
}
