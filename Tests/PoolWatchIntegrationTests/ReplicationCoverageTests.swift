import Foundation
import PoolWatchCore
import PoolWatchCurl
import PoolWatchCollection
import Testing
import PoolWatchLibPQ
import PoolWatchRuntime

/// A streaming standby of a `PrivateCluster`, made as an operator would: `pg_basebackup -R` with its own
/// physical slot (`-C -S`), as the postgres user, on a free loopback port.
final class StandbyCluster: @unchecked Sendable {
    // @unchecked: immutable after init; start/stop are called from the owning test only.
    let directory: String
    let port: Int
    let slot = "standby_slot"
    let applicationName = "standby1"

    init(of primary: PrivateCluster) throws {
        directory = primary.directory + "/standby"
        port = freePort()
        let backup = try runAsPostgres([
            IntegrationEnvironment.pgBin + "/pg_basebackup", "-h", "127.0.0.1", "-p", "\(primary.port)", "-U", "postgres",
            "-D", directory, "-R", "-X", "stream", "-C", "-S", slot,
        ])
        guard backup.status == 0 else { throw PrivateCluster.ClusterError(message: backup.output) }
        let conf = """
            port = \(port)
            unix_socket_directories = '\(primary.directory)'
            primary_conninfo = 'host=127.0.0.1 port=\(primary.port) user=postgres application_name=\(applicationName)'

            """
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/postgresql.auto.conf"))
        handle.seekToEndOfFile()
        handle.write(Data(conf.utf8))
        try handle.close()
        try start()
    }

    var dsn: String { "host=127.0.0.1 port=\(port) user=postgres dbname=postgres" }

    func start() throws {
        let result = try runAsPostgres([IntegrationEnvironment.pgBin + "/pg_ctl", "-D", directory, "-l", directory + ".log", "-w", "start"])
        guard result.status == 0 else { throw PrivateCluster.ClusterError(message: result.output) }
    }

    func stop() {
        _ = try? runAsPostgres([IntegrationEnvironment.pgBin + "/pg_ctl", "-D", directory, "-m", "fast", "-w", "stop"])
    }

    deinit { stop() }
}

/// Replication, slots, wraparound, checkpoints, sizes and custom queries on real servers: a private
/// primary with a streaming standby, and the shared PostgreSQL of `scripts/test`.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 and a PostgreSQL (scripts/test)"))
struct ReplicationCoverageTests {
    typealias Env = IntegrationEnvironment

    /// Polls `condition` every 200 ms for up to `seconds`.
    func eventually(_ seconds: Double = 15, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(200))
        }
        return try await condition()
    }

    @Test func primaryAndStandbyShowLagAndAStoppedStandby() async throws {
        let primary = try await Env.executor.run { try PrivateCluster() }
        let standby = try await Env.executor.run { try StandbyCluster(of: primary) }
        let primaryTarget = Env.target(name: "primary", dsn: primary.dsn)
        let standbyTarget = Env.target(name: "standby", dsn: standby.dsn)
        let key = ["application_name": standby.applicationName, "client_addr": "127.0.0.1"]

        #expect(await eventually { await Env.collect(primaryTarget).sum("pg_stat_replication_state", key.merging(["state": "streaming"]) { $1 }) == 1 })
        let db = try Env.connect(primary.dsn)
        try db.exec("CREATE TABLE load (id int, pad text)")
        #expect(await eventually { await Env.collect(standbyTarget).sum("pg_replication_receive_replay_lag_bytes") == 0 })

        // Idle primary: everything received is replayed, so the lag is 0 although the last replay ages.
        try await Task.sleep(for: .seconds(2))
        let idle = await Env.collect(standbyTarget)
        #expect(idle.collectors.allSatisfy { $0.success } || idle.collectors.filter { !$0.success }.map(\.name) == ["stat_statements"],
                "\(idle.collectors.filter { !$0.success })")
        #expect(idle.sum("pg_replication_is_replica") == 1)
        #expect(idle.sum("pg_stat_wal_receiver_streaming") == 1)
        #expect(idle.sum("pg_stat_wal_receiver_status", ["status": "streaming"]) == 1)
        #expect(idle.samples("pg_replication_lag_seconds").first?.value == 0)
        #expect(idle.sum("pg_replication_last_replay_seconds") >= 1.9)
        let up = await Env.collect(primaryTarget)
        #expect(up.sum("pg_replication_is_replica") == 0)
        #expect(up.samples("pg_replication_lag_seconds").isEmpty, "a primary has no standby lag: absent, not 0")
        #expect(up.sum("pg_stat_replication_standbys") == 1)
        #expect(up.sum("pg_stat_replication_sync_state", key.merging(["sync_state": "async"]) { $1 }) == 1)
        #expect(up.sum("pg_replication_slots_active", ["slot_name": standby.slot, "slot_type": "physical"]) == 1)

        // Real lag: replay paused on the standby while the primary writes (a load the standby receives
        // but does not apply), as a slow or conflicted replay looks.
        try Env.connect(standby.dsn).exec("SELECT pg_wal_replay_pause()")
        try db.exec("INSERT INTO load SELECT g, repeat('x', 200) FROM generate_series(1, 15000) g")
        try await Task.sleep(for: .seconds(1.5))
        let lagging = await Env.collect(primaryTarget)
        #expect(lagging.sum("pg_stat_replication_replay_lag_bytes", key) > 1_000_000, "\(lagging.samples("pg_stat_replication_replay_lag_bytes"))")
        #expect(lagging.sum("pg_stat_replication_pg_wal_lsn_diff", key) == lagging.sum("pg_stat_replication_replay_lag_bytes", key))
        #expect(lagging.sum("pg_stat_replication_sent_lag_bytes", key) < lagging.sum("pg_stat_replication_replay_lag_bytes", key))
        let behind = await Env.collect(standbyTarget)
        #expect(behind.sum("pg_replication_receive_replay_lag_bytes") > 1_000_000)
        #expect(behind.sum("pg_replication_lag_seconds") >= 1, "\(behind.samples("pg_replication_lag_seconds"))")
        try Env.connect(standby.dsn).exec("SELECT pg_wal_replay_resume()")
        #expect(await eventually { await Env.collect(standbyTarget).sum("pg_replication_receive_replay_lag_bytes") == 0 })

        // The standby stops: it leaves pg_stat_replication, and its slot, now inactive, retains WAL.
        try await Env.executor.run { standby.stop() }
        #expect(await eventually { await Env.collect(primaryTarget).sum("pg_stat_replication_standbys") == 0 })
        let stopped = await Env.collect(primaryTarget)
        #expect(stopped.samples("pg_stat_replication_replay_lag_bytes").isEmpty)
        #expect(stopped.sum("pg_replication_slots_active", ["slot_name": standby.slot]) == 0)
        let retainedBefore = stopped.sum("pg_replication_slots_pg_wal_lsn_diff", ["slot_name": standby.slot])
        try db.exec("INSERT INTO load SELECT g, repeat('y', 200) FROM generate_series(1, 15000) g")
        let retainedAfter = await Env.collect(primaryTarget).sum("pg_replication_slots_pg_wal_lsn_diff", ["slot_name": standby.slot])
        #expect(retainedAfter > retainedBefore + 1_000_000, "\(retainedBefore) → \(retainedAfter)")
        #expect(await Env.collect(standbyTarget).sum("pg_up") == 0)

        // The standby comes back while the primary is gone: in recovery, not streaming.
        try await Env.executor.run { try standby.start() }
        try await Env.executor.run { primary.stop() }
        #expect(await eventually(20) { await Env.collect(standbyTarget).samples("pg_stat_wal_receiver_streaming").first?.value == 0 })
        let orphan = await Env.collect(standbyTarget)
        #expect(orphan.sum("pg_replication_is_replica") == 1)
        #expect(orphan.samples("pg_stat_wal_receiver_status", ["status": "streaming"]).isEmpty)
    }

    @Test func inactivePhysicalSlotRetainsGrowingWAL() async throws {
        let slot = Env.uniqueName("pw_slot")
        try Env.sql("SELECT pg_create_physical_replication_slot('\(slot)', true)")
        defer { _ = try? Env.sql("SELECT pg_drop_replication_slot('\(slot)')") }
        let labels = ["slot_name": slot, "slot_type": "physical", "database": ""]
        let first = await Env.collect(Env.target(dsn: Env.dsn()))
        #expect(first.sum("pg_replication_slots_active", labels) == 0)
        #expect(first.sum("pg_replication_slots_wal_status", labels.merging(["wal_status": "reserved"]) { $1 }) == 1)
        let table = Env.uniqueName("walgrowth")
        try Env.sql("CREATE TABLE \(table) AS SELECT g, repeat('x', 200) AS pad FROM generate_series(1, 10000) g")
        defer { _ = try? Env.sql("DROP TABLE \(table)") }
        let second = await Env.collect(Env.target(dsn: Env.dsn()))
        let before = first.sum("pg_replication_slots_pg_wal_lsn_diff", labels)
        let after = second.sum("pg_replication_slots_pg_wal_lsn_diff", labels)
        #expect(after > before + 1_000_000, "\(before) → \(after)")
    }

    @Test func wraparoundCheckpointsAndSizesInEveryDatabase() async throws {
        // Other tests create and drop databases meanwhile: check those that exist before and after.
        let before = Set(try Env.sql("SELECT datname FROM pg_database").rows.compactMap { $0[0] })
        let snapshot = await Env.collect(Env.target(dsn: Env.dsn()))
        let after = Set(try Env.sql("SELECT datname FROM pg_database").rows.compactMap { $0[0] })
        let databases = before.intersection(after).sorted()
        #expect(databases.contains("template0"))
        for database in databases {
            #expect(snapshot.samples("pg_database_wraparound_age_datfrozenxid_seconds", ["datname": database]).count == 1, "\(database)")
            #expect(snapshot.samples("pg_database_wraparound_age_datminmxid_seconds", ["datname": database]).count == 1, "\(database)")
            let ratio = snapshot.sum("pg_database_wraparound_freeze_max_age_ratio", ["datname": database])
            #expect(ratio > 0 && ratio < 1, "\(database): \(ratio)")
        }
        #expect(snapshot.sum("pg_database_size_bytes", ["datname": "postgres"]) > 1_000_000)
        #expect(snapshot.samples("pg_database_size_bytes", ["datname": "template0"]).isEmpty, "template0 refuses connections")
        #expect(snapshot.samples("pg_stat_bgwriter_checkpoints_timed_total").count == 1)
        #expect(snapshot.samples("pg_stat_bgwriter_checkpoints_req_total").count == 1)

        // Sizes run on their own interval: a second round on the same connection serves the first result.
        var target = Env.target(dsn: Env.dsn())
        target.databaseSizeInterval = .seconds(300)
        let collector = LibPQTargetCollector(target: target, plan: .postgres(target), executor: Env.executor)
        defer { collector.close() }
        _ = await collector.collectRound()
        let again = await collector.collectRound()
        #expect(again.collectors.first { $0.name == "database_size" }?.duration == 0)
        #expect(again.sum("pg_database_size_bytes", ["datname": "postgres"]) > 1_000_000)
        var off = Env.target(dsn: Env.dsn())
        off.databaseSizeInterval = nil
        #expect(await Env.collect(off).samples("pg_database_size_bytes").isEmpty)
    }

    @Test func tableStatsKeepTopTablesAndAggregateTheRest() async throws {
        // A database of its own, so other tests' tables cannot take the top place.
        let database = Env.uniqueName("tables")
        try Env.sql("CREATE DATABASE \(database)")
        defer { _ = try? Env.sql("DROP DATABASE \(database) WITH (FORCE)") }
        try Env.sql("CREATE TABLE big AS SELECT g, repeat('x', 500) AS pad FROM generate_series(1, 20000) g; "
                    + (1...5).map { "CREATE TABLE small\($0) (id int); INSERT INTO small\($0) VALUES (1);" }.joined()
                    + "DELETE FROM big WHERE g <= 1000; SELECT count(*) FROM big", database: database)
        // Sizes are read from pg_class.relpages, which ANALYZE (or VACUUM) sets; no lock is taken.
        try Env.sql("ANALYZE big", database: database)
        var target = Env.target(dsn: Env.dsn(database: database))
        target.tableStatsLimit = 1
        // The statistics collector publishes counters at transaction end, with a delay that grows
        // with the machine's load: collect until the deletes show.
        var snapshot = await Env.collect(target)
        let big = ["datname": database, "schemaname": "public", "relname": "big"]
        _ = await eventually(20) {
            snapshot = await Env.collect(target)
            return snapshot.sum("pg_stat_user_tables_n_dead_tup", big) > 0
        }
        #expect(snapshot.collectors.first { $0.name == "stat_user_tables" }?.success == true)
        let tables = snapshot.samples("pg_stat_user_tables_size_bytes")
        #expect(tables.count == 2, "the largest table and (other): \(tables.map(\.labels))")
        #expect(snapshot.sum("pg_stat_user_tables_size_bytes", big) > 10_000_000)
        #expect(snapshot.sum("pg_stat_user_tables_n_dead_tup", big) > 0)
        #expect(snapshot.sum("pg_stat_user_tables_seq_scan_total", big) >= 2)
        #expect(snapshot.sum("pg_stat_user_tables_tables", ["relname": "(other)"]) == 5)
    }

    @Test func customQueriesAreExportedBoundedReadOnlyAndTimeOutCleanly() async throws {
        let table = Env.uniqueName("jobs")
        try Env.sql("CREATE TABLE \(table) (queue text, done bigint); INSERT INTO \(table) VALUES ('mail', 3), ('mail', 4), ('sms', 5)")
        try Env.sql("CREATE SEQUENCE \(table)_seq")
        defer { _ = try? Env.sql("DROP TABLE \(table); DROP SEQUENCE \(table)_seq") }
        let exporterFile = """
            app_jobs:
              query: "SELECT queue, count(*) AS waiting, sum(done) AS done FROM \(table) GROUP BY queue"
              master: true
              metrics:
                - queue: {usage: LABEL, description: Queue}
                - waiting: {usage: GAUGE, description: Jobs waiting}
                - done: {usage: COUNTER, description: Jobs done}
            """
        let yaml = """
            targets:
              - name: pg
                kind: postgres
                dsn: "\(Env.dsn())"
                labels: {cluster: test-eu1}
                queries:
                  - {name: slow, sql: "SELECT 1 AS one FROM pg_sleep(3)", timeout: 200ms, gauges: [one]}
                  - {name: writes, sql: "SELECT nextval('\(table)_seq') AS v", gauges: [v]}
                  - {name: cte_write, sql: "WITH d AS (DELETE FROM \(table) RETURNING 1) SELECT count(*) AS n FROM d", gauges: [n]}
                  - {name: escape, sql: "SELECT 1 AS n) q; DELETE FROM \(table); SELECT * FROM (SELECT 1 AS n", gauges: [n]}
                  - {name: mine, sql: "SELECT queue, count(*) AS waiting FROM \(table) GROUP BY queue", labels: [queue], gauges: [waiting]}
                queries_file: /virtual/queries.yaml
            """
        let config = try ConfigLoader(environment: [:], readFile: { path in
            guard path == "/virtual/queries.yaml" else { throw CollectorError("no file \(path)") }
            return exporterFile
        }).load(yaml: yaml)
        let target = config.targets[0]
        let collector = LibPQTargetCollector(target: target, plan: .postgres(target), executor: Env.executor)
        defer { collector.close() }
        let snapshot = await collector.collectRound()
        #expect(snapshot.up)
        func outcome(_ name: String) -> CollectorOutcome? { snapshot.collectors.first { $0.name == "query_" + name } }
        // Cut by its own 200 ms statement_timeout (pg_sleep(3) would otherwise finish): the error says so.
        // No wall-clock bound here: under the full parallel suite on 2 cores, rounds queue for threads.
        #expect(outcome("slow")?.success == false && outcome("slow")?.error?.contains("statement timeout") == true, "\(String(describing: outcome("slow")))")
        #expect(outcome("writes")?.error?.contains("read-only transaction") == true, "\(String(describing: outcome("writes")))")
        #expect(outcome("cte_write")?.success == false)
        #expect(outcome("escape")?.success == false)
        #expect(try Env.sql("SELECT count(*) FROM \(table)").rows[0][0] == "3", "nothing was deleted")
        #expect(try Env.sql("SELECT last_value, is_called FROM \(table)_seq").rows[0] == ["1", "f"], "the sequence never advanced")
        // After the failures (and their rollbacks) the same connection runs the next queries normally.
        #expect(outcome("mine")?.success == true && outcome("app_jobs")?.success == true)
        #expect(snapshot.sum("mine_waiting", ["queue": "mail", "cluster": "test-eu1"]) == 2)
        #expect(snapshot.sum("app_jobs_waiting", ["queue": "mail"]) == 2)
        #expect(snapshot.families.first { $0.name == "app_jobs_done" }?.type == .counter)
        #expect(snapshot.sum("app_jobs_done", ["queue": "sms"]) == 5)
        #expect(snapshot.families.allSatisfy { $0.samples.allSatisfy { $0.labels.prefix(2) == [Label("target", "pg"), Label("cluster", "test-eu1")] } })
        let next = await collector.collectRound()
        #expect(next.collectors.filter { $0.name.hasPrefix("query_") && $0.success }.count == 2)
        #expect(next.collectors.filter { !$0.name.hasPrefix("query_") }.allSatisfy { $0.success }, "\(next.collectors.filter { !$0.success })")
    }
}
