import Testing

@testable import PoolWatchCore

/// The collectors that replace postgres_exporter's replication, slot, wraparound, checkpoint, size and
/// custom-query families, on rows shaped as PostgreSQL 15 and 17 return them.
@Suite struct CoverageCollectorTests {
    let pg15 = ServerFacts(versionNumber: 150000)
    let pg17 = ServerFacts(versionNumber: 170000)

    func value(_ families: [MetricFamily], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        families.first { $0.name == name }?.samples.first { sample in
            labels.allSatisfy { sample.label($0.key) == $0.value }
        }?.value
    }

    @Test func replicationKeysStandbysByNameAndAddress() throws {
        let columns = ["application_name", "client_addr", "state", "sync_state", "sent_lag_bytes", "write_lag_bytes",
                       "flush_lag_bytes", "replay_lag_bytes", "write_lag_seconds", "flush_lag_seconds", "replay_lag_seconds"]
        let rows: [[String?]] = [
            ["standby1", "10.0.0.2", "streaming", "async", "0", "100", "200", "4096", "0.5", "0.6", "1.5"],
            // A base backup from the same host under the same name: the key repeats, the worse row wins.
            ["standby1", "10.0.0.2", "backup", "async", "0", "0", "0", "10", nil, nil, nil],
            // Idle and caught up: the *_lag intervals are NULL and give no sample.
            ["standby2", "10.0.0.3", "streaming", "sync", "0", "0", "0", "0", nil, nil, nil],
        ]
        let families = try ReplicationCollector().map([QueryResult(columns: columns, rows: rows)], server: pg15)
        let one = ["application_name": "standby1", "client_addr": "10.0.0.2"]
        #expect(value(families, "pg_stat_replication_pg_wal_lsn_diff", one) == 4096)
        #expect(value(families, "pg_stat_replication_replay_lag_bytes", one) == 4096)
        #expect(value(families, "pg_stat_replication_flush_lag_bytes", one) == 200)
        #expect(value(families, "pg_stat_replication_replay_lag_seconds", one) == 1.5)
        #expect(families.first { $0.name == "pg_stat_replication_replay_lag_bytes" }?.samples.count == 2)
        #expect(families.first { $0.name == "pg_stat_replication_replay_lag_seconds" }?.samples.count == 1)
        #expect(value(families, "pg_stat_replication_state", one.merging(["state": "streaming"]) { $1 }) == 1)
        #expect(value(families, "pg_stat_replication_sync_state", ["application_name": "standby2", "sync_state": "sync"]) == 1)
        #expect(value(families, "pg_stat_replication_standbys") == 3)
        // No pid, no state on the lag series: a reconnect or a state change keeps the same series.
        let labelNames = Set(families.flatMap { $0.samples.flatMap { $0.labels.map(\.name) } })
        #expect(labelNames == ["application_name", "client_addr", "state", "sync_state"])
    }

    @Test func standbyFamiliesOnAStandbyAndAPrimary() throws {
        let columns = ["in_recovery", "receive_replay_lag_bytes", "replay_lag_seconds", "last_replay_seconds", "current_wal_lsn_bytes"]
        let receiver = QueryResult(columns: ["status", "last_msg_receipt_time"], rows: [["streaming", "1700000000.5"]])
        let standby = try StandbyCollector().map(
            [QueryResult(columns: columns, rows: [["t", "8192", "0", "120", nil]]), receiver], server: pg15)
        #expect(value(standby, "pg_replication_is_replica") == 1)
        #expect(value(standby, "pg_replication_receive_replay_lag_bytes") == 8192)
        // Idle primary: everything received is replayed, so no false lag although the last replay is old.
        #expect(value(standby, "pg_replication_lag_seconds") == 0)
        #expect(value(standby, "pg_replication_last_replay_seconds") == 120)
        #expect(value(standby, "pg_stat_wal_receiver_streaming") == 1)
        #expect(value(standby, "pg_stat_wal_receiver_status", ["status": "streaming"]) == 1)
        #expect(!standby.contains { $0.name == "pg_stat_replication_pg_current_wal_lsn_bytes" })

        let stopped = try StandbyCollector().map(
            [QueryResult(columns: columns, rows: [["t", "0", "0", "300", nil]]), QueryResult(columns: ["status"], rows: [])], server: pg15)
        #expect(value(stopped, "pg_stat_wal_receiver_streaming") == 0)
        #expect(value(stopped, "pg_stat_wal_receiver_status", ["status": "none"]) == 1)

        let primary = try StandbyCollector().map(
            [QueryResult(columns: columns, rows: [["f", nil, nil, nil, "50331648"]]), QueryResult(columns: ["status"], rows: [])], server: pg15)
        #expect(value(primary, "pg_replication_is_replica") == 0)
        #expect(value(primary, "pg_stat_replication_pg_current_wal_lsn_bytes") == 50331648)
        // A primary has no standby figures: absent, never 0.
        for name in ["pg_replication_lag_seconds", "pg_replication_receive_replay_lag_bytes", "pg_stat_wal_receiver_streaming"] {
            #expect(!primary.contains { $0.name == name }, "\(name)")
        }
    }

    @Test func slotsFollowTheServerVersion() throws {
        let collector = ReplicationSlotsCollector()
        #expect(collector.statements(for: pg15)[0].contains("safe_wal_size"))
        #expect(!collector.statements(for: ServerFacts(versionNumber: 120000))[0].contains("wal_status"))
        let result = QueryResult(columns: ["slot_name", "slot_type", "database", "active", "retained_bytes", "wal_status", "safe_wal_size"],
                                 rows: [["forgotten", "physical", "", "f", "67108864", "extended", nil],
                                        ["cdc", "logical", "app", "t", "1024", "reserved", "1000000"]])
        let families = try collector.map([result], server: pg15)
        #expect(value(families, "pg_replication_slots_active", ["slot_name": "forgotten"]) == 0)
        #expect(value(families, "pg_replication_slots_pg_wal_lsn_diff", ["slot_name": "forgotten", "slot_type": "physical"]) == 67108864)
        #expect(value(families, "pg_replication_slots_wal_status", ["slot_name": "forgotten", "wal_status": "extended"]) == 1)
        // safe_wal_size is NULL with max_slot_wal_keep_size = -1 (unlimited): no sample.
        #expect(families.first { $0.name == "pg_replication_slots_safe_wal_size_bytes" }?.samples.count == 1)
        let old = try collector.map([QueryResult(columns: ["slot_name", "slot_type", "database", "active", "retained_bytes"],
                                                 rows: [["s", "physical", "", "t", "0"]])], server: ServerFacts(versionNumber: 120000))
        #expect(!old.contains { $0.name == "pg_replication_slots_wal_status" || $0.name == "pg_replication_slots_safe_wal_size_bytes" })
    }

    @Test func wraparoundRatios() throws {
        let result = QueryResult(columns: ["datname", "xid_age", "mxid_age", "freeze_max_age", "multixact_freeze_max_age"],
                                 rows: [["app", "150000000", "10", "200000000", "400000000"],
                                        ["template0", "1000", "300000000", "200000000", "400000000"]])
        let families = try WraparoundCollector().map([result], server: pg15)
        #expect(value(families, "pg_database_wraparound_age_datfrozenxid_seconds", ["datname": "app"]) == 150000000)
        #expect(value(families, "pg_database_wraparound_age_datminmxid_seconds", ["datname": "template0"]) == 300000000)
        #expect(value(families, "pg_database_wraparound_freeze_max_age_ratio", ["datname": "app"]) == 0.75)
        #expect(value(families, "pg_database_wraparound_freeze_max_age_ratio", ["datname": "template0"]) == 0.75)
        #expect(value(families, "pg_database_wraparound_limit_ratio", ["datname": "app"]) == 150000000 / 2_147_483_648.0)
    }

    @Test func checkpointNamesSurviveTheUpgradeTo17() throws {
        let collector = CheckpointerCollector()
        #expect(collector.statements(for: pg15) == ["SELECT * FROM pg_stat_bgwriter"])
        #expect(collector.statements(for: pg17).last == "SELECT * FROM pg_stat_checkpointer")
        let old = QueryResult(columns: ["checkpoints_timed", "checkpoints_req", "checkpoint_write_time", "buffers_checkpoint",
                                        "buffers_clean", "buffers_backend", "buffers_alloc", "stats_reset"],
                              rows: [["10", "40", "1234.5", "900", "5", "7", "1000", "2026-01-01 00:00:00+00"]])
        let before = try collector.map([old], server: pg15)
        #expect(value(before, "pg_stat_bgwriter_checkpoints_timed_total") == 10)
        #expect(value(before, "pg_stat_bgwriter_checkpoints_req_total") == 40)
        #expect(value(before, "pg_stat_bgwriter_buffers_backend_total") == 7)
        #expect(!before.contains { $0.name.hasPrefix("pg_stat_checkpointer_") })

        let bgwriter17 = QueryResult(columns: ["buffers_clean", "maxwritten_clean", "buffers_alloc", "stats_reset"], rows: [["5", "0", "1000", "x"]])
        let checkpointer17 = QueryResult(columns: ["num_timed", "num_requested", "restartpoints_timed", "write_time", "sync_time",
                                                   "buffers_written", "stats_reset"],
                                         rows: [["11", "41", "0", "1300", "20", "950", "x"]])
        let after = try collector.map([bgwriter17, checkpointer17], server: pg17)
        #expect(value(after, "pg_stat_bgwriter_checkpoints_timed_total") == 11)
        #expect(value(after, "pg_stat_bgwriter_checkpoints_req_total") == 41)
        #expect(value(after, "pg_stat_bgwriter_buffers_checkpoint_total") == 950)
        #expect(value(after, "pg_stat_bgwriter_buffers_clean_total") == 5)
        #expect(value(after, "pg_stat_checkpointer_num_timed_total") == 11)
        // Gone from the 17 views: absent, never 0.
        #expect(!after.contains { $0.name == "pg_stat_bgwriter_buffers_backend_total" || $0.name == "pg_stat_checkpointer_stats_reset_total" })
    }

    @Test func databaseSizes() throws {
        let result = QueryResult(columns: ["datname", "size_bytes"], rows: [["app", "8000000"], ["locked", nil]])
        let families = try DatabaseSizeCollector().map([result], server: pg15)
        #expect(value(families, "pg_database_size_bytes", ["datname": "app"]) == 8000000)
        #expect(families[0].samples.count == 1)
        #expect(DatabaseSizeCollector().interval == .seconds(300))
    }

    @Test func customQueryIsWrappedReadOnlyAndBounded() throws {
        var query = CustomQuery(name: "app_jobs", sql: "SELECT queue, count(*) AS jobs, sum(done) AS done FROM jobs GROUP BY 1 -- note;\n;")
        query.labels = ["queue"]
        query.gauges = ["jobs"]
        query.counters = ["done"]
        query.timeout = .seconds(2)
        query.maxRows = 2
        let collector = CustomQueryCollector(query)
        let statements = collector.statements(for: pg15)
        #expect(statements.first == "BEGIN TRANSACTION READ ONLY")
        #expect(statements[1] == "SET LOCAL statement_timeout = 2000")
        #expect(statements[2] == "SELECT * FROM (\nSELECT queue, count(*) AS jobs, sum(done) AS done FROM jobs GROUP BY 1 -- note\n) AS poolwatch_query LIMIT 3")
        #expect(statements.last == "COMMIT")
        #expect(collector.extendedProtocol && collector.name == "query_app_jobs")

        let rows = QueryResult(columns: ["queue", "jobs", "done"], rows: [["a", "1", "10"], ["a", "9", "9"], ["b", "2", "20"]])
        let ok = QueryResult(columns: [], rows: [])
        let families = try collector.map([ok, ok, rows, ok], server: pg15)
        #expect(value(families, "app_jobs_jobs", ["queue": "a"]) == 1)
        #expect(families.first { $0.name == "app_jobs_jobs" }?.samples.count == 1, "max_rows 2, and the repeated label set dropped")
        #expect(families.first { $0.name == "app_jobs_done" }?.type == .counter)
        #expect(value(families, "poolwatch_query_truncated", ["query": "app_jobs"]) == 1)
        #expect(throws: CollectorError.self) {
            try collector.map([ok, ok, QueryResult(columns: ["queue"], rows: []), ok], server: pg15)
        }
    }

    @Test func tableStatsKeepTheLargestAndAggregateTheRest() throws {
        let collector = TableStatsCollector(limit: 2)
        #expect(collector.statements(for: pg15)[0].contains("rank <= 2"))
        #expect(collector.interval == .seconds(300))
        let result = QueryResult(columns: ["datname", "schemaname", "relname", "tables", "size_bytes", "n_dead_tup", "seq_scan", "last_vacuum"],
                                 rows: [["app", "public", "orders", "1", "9000000", "500", "7", "1700000000"],
                                        ["app", "public", "items", "1", "5000000", "0", "2", nil],
                                        ["app", "", "(other)", "40", "1000000", "12", "90", "1700000100"]])
        let families = try collector.map([result], server: pg15)
        #expect(value(families, "pg_stat_user_tables_size_bytes", ["relname": "orders", "schemaname": "public", "datname": "app"]) == 9000000)
        #expect(value(families, "pg_stat_user_tables_n_dead_tup", ["relname": "(other)"]) == 12)
        #expect(value(families, "pg_stat_user_tables_seq_scan_total", ["relname": "(other)"]) == 90)
        #expect(families.first { $0.name == "pg_stat_user_tables_seq_scan_total" }?.type == .counter)
        #expect(value(families, "pg_stat_user_tables_tables", ["relname": "(other)"]) == 40)
        #expect(families.first { $0.name == "pg_stat_user_tables_last_vacuum_seconds" }?.samples.count == 2)
        // A column this fixture lacks (as a version without it would) gives no samples, not zeros.
        #expect(families.first { $0.name == "pg_stat_user_tables_idx_scan_total" }?.samples.isEmpty == true)
    }

    @Test func constantLabelsNeverDuplicateALabel() {
        let family = MetricFamily("x", help: "x", samples: [Sample([Label("cluster", "own")], 1), Sample([], 2)])
        let prefixed = family.prefixed(with: [Label("target", "pg"), Label("cluster", "prod-eu1")])
        #expect(prefixed.samples[0].labels == [Label("target", "pg"), Label("cluster", "own")])
        #expect(prefixed.samples[1].labels == [Label("target", "pg"), Label("cluster", "prod-eu1")])
    }
}
