/// The standby side of replication: whether the server is in recovery, how far replay trails what was
/// received, and whether the WAL receiver is streaming.
///
/// Replay lag in seconds follows postgres_exporter's `pg_replication_lag_seconds`, with its idle-primary
/// guard: when everything received has been replayed the lag is 0, because `now() -
/// pg_last_xact_replay_timestamp()` otherwise grows without bound while the primary writes nothing. A
/// standby that stopped receiving also reads 0 here, which is why `pg_stat_wal_receiver_streaming`
/// exists (and the StandbyNotStreaming rule on it). On a primary the standby figures are absent, not 0.
///
/// Needs PostgreSQL 10 (`pg_last_wal_*`, `pg_stat_wal_receiver`); the receiver's status is NULL without
/// `pg_read_all_stats` (pg_monitor).
public struct StandbyCollector: SQLCollector {
    public let name = "standby"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] {
        [
            """
            SELECT pg_is_in_recovery() AS in_recovery, \
            CASE WHEN pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()) END \
            AS receive_replay_lag_bytes, \
            CASE WHEN NOT pg_is_in_recovery() THEN NULL \
            WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0 \
            ELSE greatest(0, extract(epoch FROM now() - pg_last_xact_replay_timestamp())) END AS replay_lag_seconds, \
            CASE WHEN pg_is_in_recovery() THEN extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END \
            AS last_replay_seconds, \
            CASE WHEN NOT pg_is_in_recovery() THEN pg_wal_lsn_diff(pg_current_wal_lsn(), '0/0') END AS current_wal_lsn_bytes
            """,
            "SELECT status, extract(epoch FROM last_msg_receipt_time) AS last_msg_receipt_time FROM pg_stat_wal_receiver",
        ]
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard results.count == 2 else { throw CollectorError("expected 2 results, got \(results.count)") }
        guard let row = results[0].namedRows.first, let inRecovery = row.double("in_recovery") else {
            throw CollectorError("no pg_is_in_recovery() in the result")
        }
        var families = [MetricFamily("pg_replication_is_replica", help: "1 if the server is in recovery (a standby).", value: inRecovery)]
        func gauge(_ column: String, _ metric: String, _ help: String) {
            if let value = row.double(column) { families.append(MetricFamily(metric, help: help, value: value)) }
        }
        gauge("current_wal_lsn_bytes", "pg_stat_replication_pg_current_wal_lsn_bytes",
              "The primary's current WAL position, bytes since 0/0 (rate() is the WAL write rate).")
        gauge("receive_replay_lag_bytes", "pg_replication_receive_replay_lag_bytes", "WAL received but not yet replayed, bytes.")
        gauge("replay_lag_seconds", "pg_replication_lag_seconds",
              "Age of the last replayed transaction, seconds; 0 when everything received is replayed (no false lag on an idle primary).")
        gauge("last_replay_seconds", "pg_replication_last_replay_seconds", "Seconds since the last transaction was replayed.")
        guard inRecovery == 1 else { return families }
        let receiver = results[1].namedRows.first
        let status = receiver?.label("status") ?? ""
        families.append(MetricFamily(
            "pg_stat_wal_receiver_streaming", help: "1 if the standby's WAL receiver is streaming from its upstream.",
            value: status == "streaming" ? 1 : 0))
        families.append(MetricFamily(
            "pg_stat_wal_receiver_status", help: "1 for the WAL receiver's status; \"none\" when no receiver runs.",
            samples: [Sample([Label("status", receiver == nil ? "none" : status)], 1)]))
        if let receipt = receiver?.double("last_msg_receipt_time") {
            families.append(MetricFamily(
                "pg_stat_wal_receiver_last_msg_receipt_time", help: "When the last message from the upstream arrived, Unix seconds.",
                value: receipt))
        }
        return families
    }
}
