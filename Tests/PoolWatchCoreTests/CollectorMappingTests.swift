import Testing

@testable import PoolWatchCore

/// Collectors map rows by column name; these fixtures are rows as PostgreSQL 15 returned them.
@Suite struct CollectorMappingTests {
    func value(_ families: [MetricFamily], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        families.first { $0.name == name }?.samples.first { sample in
            labels.allSatisfy { sample.label($0.key) == $0.value }
        }?.value
    }

    @Test func activityBoundsApplicationNames() throws {
        let columns = ActivityCollector.groupColumns + ["count", "max_tx_duration", "max_idle_in_tx", "max_query_duration", "blocked"]
        let rows: [[String?]] = [
            ["db", "active", "u", "web", "client backend", "", "5", "1.5", "0", "1.5", "0"],
            ["db", "idle in transaction", "u", "web", "client backend", "Client", "2", "40", "38", "0", "0"],
            ["db", "active", "u", "batch", "client backend", "Lock", "3", "9", "0", "9", "2"],
            ["db", "active", "u", "rare1", "client backend", "", "1", "0.5", "0", "0.5", "0"],
            ["db", "active", "u", "rare2", "client backend", "", "1", "7", "0", "7", "0"],
        ]
        let families = try ActivityCollector(topApplications: 2).map(
            [QueryResult(columns: columns, rows: rows)], server: ServerFacts(versionNumber: 150000))
        // web (7 backends) and batch (3) keep their names; rare1 and rare2 fold into one `other` group.
        #expect(value(families, "pg_stat_activity_backends", ["application_name": "other", "state": "active"]) == 2)
        #expect(value(families, "pg_stat_activity_max_tx_duration", ["application_name": "other"]) == 7)
        #expect(families.first { $0.name == "pg_stat_activity_backends" }?.samples.count == 4)
        #expect(value(families, "pg_stat_activity_max_idle_in_transaction_seconds", ["application_name": "web"]) == 38)
        #expect(value(families, "pg_stat_activity_blocked", ["application_name": "batch"]) == 2)
        #expect(value(families, "pg_stat_activity_lock_waiting", ["application_name": "batch"]) == 3)
        #expect(value(families, "pg_stat_activity_max_query_duration_seconds", ["application_name": "other"]) == 7)
    }

    @Test func statementsMapCountersAndSummary() throws {
        let collector = StatementsCollector(limit: 10, slowThreshold: 0.1)
        let top = QueryResult(
            columns: ["entries", "slow", "datname", "user", "queryid", "calls", "seconds", "rows", "shared_blks_hit",
                      "shared_blks_read", "block_read_seconds", "unknown_future_column"],
            rows: [["42", "5", "app", "u", "-123", "7", "0.7", "70", "100", "3", "0.01", "x"]])
        let families = try collector.map([top], server: ServerFacts(versionNumber: 150000))
        let labels = ["datname": "app", "user": "u", "queryid": "-123"]
        #expect(value(families, "pg_stat_statements_calls_total", labels) == 7)
        #expect(value(families, "pg_stat_statements_seconds_total", labels) == 0.7)
        #expect(abs(value(families, "pg_stat_statements_mean_seconds", labels)! - 0.1) < 1e-12)
        #expect(value(families, "pg_stat_statements_shared_blocks_read_total", labels) == 3)
        // A column missing from this server version gives no sample rather than a zero.
        #expect(families.first { $0.name == "pg_stat_statements_temp_blocks_read_total" }?.samples.isEmpty == true)
        #expect(value(families, "pg_stat_statements_entries") == 42)
        #expect(value(families, "pg_stat_statements_slow") == 5)
        #expect(!families.contains { $0.name == "pg_stat_statements_query_info" })
    }

    @Test func statementsSummaryWithoutStatements() throws {
        // The summary is LEFT JOINed to the top-N: an empty view still gives one row, with NULL statement columns.
        let empty = QueryResult(columns: ["entries", "slow", "datname", "user", "queryid", "calls", "seconds"],
                                rows: [["0", "0", nil, nil, nil, nil, nil]])
        let families = try StatementsCollector().map([empty], server: ServerFacts(versionNumber: 150000))
        #expect(families.first { $0.name == "pg_stat_statements_calls_total" }?.samples.isEmpty == true)
        #expect(families.first { $0.name == "pg_stat_statements_mean_seconds" }?.samples.isEmpty == true)
        #expect(value(families, "pg_stat_statements_entries") == 0)
    }

    @Test func statementsSQLFollowsTheServerVersion() {
        let collector = StatementsCollector()
        #expect(collector.statements(for: ServerFacts(versionNumber: 120000))[0].contains("s.total_time"))
        #expect(collector.statements(for: ServerFacts(versionNumber: 150000))[0].contains("s.total_exec_time"))
        #expect(collector.statements(for: ServerFacts(versionNumber: 170000))[0].contains("shared_blk_read_time"))
        #expect(collector.statements(for: ServerFacts(versionNumber: 150000))[0].contains("pg_stat_statements(false)"))
        #expect(StatementsCollector(includeQuery: true).statements(for: ServerFacts(versionNumber: 150000))[0]
            .contains("pg_stat_statements(true)"))
    }

    @Test func settingsNormalizeUnits() {
        #expect(SettingsCollector.normalize(setting: "16384", unit: "8kB", vartype: "integer")! == ("_bytes", 134_217_728))
        #expect(SettingsCollector.normalize(setting: "5000", unit: "ms", vartype: "integer")! == ("_seconds", 5))
        #expect(SettingsCollector.normalize(setting: "-1", unit: "ms", vartype: "integer")! == ("_seconds", -1))
        #expect(SettingsCollector.normalize(setting: "on", unit: nil, vartype: "bool")! == ("", 1))
        #expect(SettingsCollector.normalize(setting: "x", unit: nil, vartype: "string") == nil)
    }

    @Test func databaseSkipsMissingValues() throws {
        let result = QueryResult(columns: ["datname", "xact_commit", "deadlocks"], rows: [["app", "10", nil]])
        let families = try DatabaseCollector().map([result], server: ServerFacts(versionNumber: 150000))
        #expect(value(families, "pg_stat_database_xact_commit_total", ["datname": "app"]) == 10)
        #expect(families.first { $0.name == "pg_stat_database_deadlocks_total" }?.samples.isEmpty == true)
        #expect(families.first { $0.name == "pg_stat_database_xact_commit_total" }?.type == .counter)
    }
}
