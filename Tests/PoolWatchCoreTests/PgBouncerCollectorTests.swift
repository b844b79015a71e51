import Foundation
import Testing

@testable import PoolWatchCore

// MARK: - Fixture helpers (shared by the PgBouncer, Pgpool and pool-model tests)

/// Loads `Fixtures/<directory>/<name>.txt`: psql `-A -F'|'` output with a header line, `\N` for NULL
/// (see Fixtures/README.md). An empty file is a command without a result table.
func fixture(_ directory: String, _ name: String) throws -> QueryResult {
    let root = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
    let url = root.appendingPathComponent(directory).appendingPathComponent(name + ".txt")
    return parseFixture(try String(contentsOf: url, encoding: .utf8))
}

func parseFixture(_ text: String) -> QueryResult {
    let lines = text.split(separator: "\n").map(String.init)
    guard let header = lines.first else { return QueryResult(columns: [], rows: []) }
    func cells(_ line: String) -> [Substring] { line.split(separator: "|", omittingEmptySubsequences: false) }
    return QueryResult(
        columns: cells(header).map(String.init),
        rows: lines.dropFirst().map { line in cells(line).map { $0 == "\\N" ? nil : String($0) } })
}

/// Runs `collector` on the fixtures named `names` (one per statement) as the runner would.
func mapFixture(_ collector: any SQLCollector, _ directory: String, _ names: String..., version: Int = 0) throws
    -> [MetricFamily]
{
    try collector.map(names.map { try fixture(directory, $0) }, server: ServerFacts(versionNumber: version))
}

/// Every collector of the PgBouncer plan (`TargetPlan.pgbouncer`, what a round runs) on one fixture
/// directory, in plan order; commands without a fixture are skipped.
func pgbouncerRound(_ directory: String) throws -> [MetricFamily] {
    // Fixture files are named for the SHOW command; SHOW STATS_TOTALS is what current PgBouncer answers.
    let fixtureNames = ["pgbouncer_stats": "stats_totals"]
    let plan = TargetPlan.pgbouncer(TargetConfig(name: "bouncer", kind: .pgbouncer))
    let root = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil)).appendingPathComponent(directory)
    var families: [MetricFamily] = []
    for collector in plan.collectors {
        let name = fixtureNames[collector.name] ?? String(collector.name.dropFirst("pgbouncer_".count))
        guard FileManager.default.fileExists(atPath: root.appendingPathComponent(name + ".txt").path) else { continue }
        families += try mapFixture(collector, directory, name)
    }
    return families
}

func family(_ families: [MetricFamily], _ name: String) -> MetricFamily? {
    families.first { $0.name == name }
}

/// The value of the sample of `name` whose labels are exactly `labels` (any order).
func value(_ families: [MetricFamily], _ name: String, _ labels: [String: String] = [:]) -> Double? {
    family(families, name)?.samples.first { sample in
        sample.labels.count == labels.count && sample.labels.allSatisfy { labels[$0.name] == $0.value }
    }?.value
}

/// Label names of the family's first sample, in order.
func labelNames(_ families: [MetricFamily], _ name: String) -> [String]? {
    family(families, name)?.samples.first?.labels.map(\.name)
}

/// Checks what `promtool check metrics` lints, without promtool: counters end in `_total`, nothing else
/// does, no reserved histogram/summary suffix on other types, snake_case names, a HELP text, and no
/// duplicate series once encoded.
func expectCleanExposition(_ families: [MetricFamily], sourceLocation: SourceLocation = #_sourceLocation) {
    for family in families {
        let name = family.name
        #expect(!family.help.isEmpty, "\(name) has no HELP", sourceLocation: sourceLocation)
        #expect(name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") },
                "\(name) is not snake_case", sourceLocation: sourceLocation)
        if family.type == .counter {
            #expect(name.hasSuffix("_total"), "counter \(name) lacks _total", sourceLocation: sourceLocation)
        } else {
            #expect(!name.hasSuffix("_total"), "\(family.type) \(name) ends in _total", sourceLocation: sourceLocation)
            for suffix in ["_count", "_sum", "_bucket"] {
                #expect(!name.hasSuffix(suffix), "\(name) ends in \(suffix)", sourceLocation: sourceLocation)
            }
        }
        let words = Set(name.split(separator: "_").map(String.init))
        #expect(words.isDisjoint(with: ["microseconds", "milliseconds", "us", "ms", "minutes", "kilobytes"]),
                "\(name) uses a non-base unit", sourceLocation: sourceLocation)
    }
    let output = TextEncoder().encode(families.mergedByName())
    #expect(output.duplicatesDropped == 0, "duplicate series", sourceLocation: sourceLocation)
}

let promtoolPath = "/usr/bin/promtool"

/// Runs the real `promtool check metrics` on the encoded families of several targets, each prefixed with
/// its `target` label as the runner does.
func promtoolProblems(_ targets: [String: [MetricFamily]]) throws -> String {
    let all = targets.flatMap { target, families in families.map { $0.prefixed(with: [Label("target", target)]) } }
    let encoded = TextEncoder().encode(all.mergedByName())
    #expect(encoded.duplicatesDropped == 0)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: promtoolPath)
    process.arguments = ["check", "metrics"]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = output
    try process.run()
    input.fileHandleForWriting.write(Data(encoded.bytes))
    try input.fileHandleForWriting.close()
    let report = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return String(decoding: report, as: UTF8.self) + (process.terminationStatus == 0 ? "" : "exit \(process.terminationStatus)")
}

// MARK: - PgBouncer collectors

@Suite struct PgBouncerCollectorTests {
    @Test func poolsMapMaxwaitWithMicroseconds() throws {
        let families = try mapFixture(PgBouncerPoolsCollector(), "pgbouncer-1.18", "pools")
        let pool = ["database": "postgres", "user": "postgres"]
        #expect(value(families, "pgbouncer_pools_client_active_connections", pool) == 2)
        #expect(value(families, "pgbouncer_pools_client_waiting_connections", pool) == 3)
        #expect(value(families, "pgbouncer_pools_server_active_connections", pool) == 2)
        #expect(value(families, "pgbouncer_pools_server_idle_connections", pool) == 0)
        #expect(value(families, "pgbouncer_pools_client_maxwait_seconds", pool) == 1.207703)
        #expect(value(families, "pgbouncer_pools_client_maxwait_seconds", ["database": "reporting", "user": "postgres"])
            == 0.979884)
        // The console's own pool is exported like the peer does.
        #expect(value(families, "pgbouncer_pools_client_active_connections", ["database": "pgbouncer", "user": "pgbouncer"]) == 1)
        #expect(labelNames(families, "pgbouncer_pools_server_login_connections") == ["database", "user"])
        #expect(families.count == 12)
        #expect(families.allSatisfy { $0.type == .gauge && $0.samples.count == 4 })
        expectCleanExposition(families)
    }

    @Test func poolsIgnoreNewColumnsAndSkipMissingOnes() throws {
        let new = try mapFixture(PgBouncerPoolsCollector(), "pgbouncer-1.24", "pools")
        #expect(value(new, "pgbouncer_pools_client_maxwait_seconds", ["database": "appdb", "user": "app"]) == 3.25)
        #expect(value(new, "pgbouncer_pools_client_maxwait_seconds", ["database": "analytics", "user": "app"]) == 0.400123)
        #expect(value(new, "pgbouncer_pools_server_being_canceled_connections", ["database": "appdb", "user": "reporter"]) == 1)
        #expect(!new.contains { $0.name.contains("load_balance") || $0.name.contains("pool_mode") })

        // 1.7: no maxwait_us, no cancel columns: whole seconds, and no cancel families at all.
        let old = try mapFixture(PgBouncerPoolsCollector(), "pgbouncer-1.7", "pools")
        #expect(value(old, "pgbouncer_pools_client_maxwait_seconds", ["database": "shop", "user": "shop"]) == 2)
        #expect(family(old, "pgbouncer_pools_client_active_cancel_connections") == nil)
        #expect(family(old, "pgbouncer_pools_server_being_canceled_connections") == nil)
        #expect(value(old, "pgbouncer_pools_client_waiting_connections", ["database": "shop", "user": "shop"]) == 7)
    }

    @Test func poolsSkipNullCellsAndMergeDuplicateRows() {
        let result = QueryResult(
            columns: ["database", "user", "cl_active", "maxwait", "maxwait_us", "extra_column"],
            rows: [["db", "u", "3", "1", "500000", "x"], ["db", "u", "2", "2", "0", "y"], ["db", "v", nil, nil, "7", "z"]])
        let families = PgBouncerPoolsCollector.table.families(result)
        #expect(value(families, "pgbouncer_pools_client_active_connections", ["database": "db", "user": "u"]) == 5)
        #expect(value(families, "pgbouncer_pools_client_maxwait_seconds", ["database": "db", "user": "u"]) == 2)
        #expect(value(families, "pgbouncer_pools_client_active_connections", ["database": "db", "user": "v"]) == nil)
        #expect(families.map(\.name) == ["pgbouncer_pools_client_active_connections", "pgbouncer_pools_client_maxwait_seconds"])
        expectCleanExposition(families)
    }

    @Test func statsTotalsAreCountersInSeconds() throws {
        let families = try mapFixture(PgBouncerStatsCollector(), "pgbouncer-1.18", "stats_totals", version: 11800)
        let app = ["database": "app"]
        #expect(value(families, "pgbouncer_stats_totals_queries_pooled_total", app) == 5)
        #expect(value(families, "pgbouncer_stats_totals_sql_transactions_pooled_total", app) == 5)
        #expect(value(families, "pgbouncer_stats_totals_received_bytes_total", app) == 90)
        #expect(value(families, "pgbouncer_stats_totals_sent_bytes_total", app) == 322)
        #expect(value(families, "pgbouncer_stats_totals_queries_duration_seconds_total", app) == 0.018356)
        #expect(value(families, "pgbouncer_stats_totals_server_in_transaction_seconds_total", app) == 0.018356)
        #expect(value(families, "pgbouncer_stats_totals_client_wait_seconds_total", app) == 0.017626)
        #expect(family(families, "pgbouncer_stats_totals_server_assignments_total") == nil)
        #expect(family(families, "pgbouncer_stats_totals_queries_total") == nil)
        #expect(families.count == 7 && families.allSatisfy { $0.type == .counter })
        #expect(labelNames(families, "pgbouncer_stats_totals_binds_total") == nil)
        expectCleanExposition(families)
    }

    @Test func showStatsTotalColumnsMapToTheSameCounters() throws {
        let totals = try mapFixture(PgBouncerStatsCollector(), "pgbouncer-1.18", "stats_totals")
        let stats = try mapFixture(PgBouncerStatsCollector(), "pgbouncer-1.18", "stats")
        #expect(stats.map(\.name) == totals.map(\.name))
        for name in totals.map(\.name) {
            #expect(value(stats, name, ["database": "app"]) == value(totals, name, ["database": "app"]), "\(name)")
        }
    }

    @Test func statsStatementFollowsTheVersion() {
        let collector = PgBouncerStatsCollector()
        #expect(collector.statements(for: ServerFacts(versionNumber: 11800)) == ["SHOW STATS_TOTALS"])
        #expect(collector.statements(for: ServerFacts(versionNumber: 10800)) == ["SHOW STATS_TOTALS"])
        #expect(collector.statements(for: ServerFacts(versionNumber: 10702)) == ["SHOW STATS"])
        // Unknown version (SHOW VERSION failed or only sent a NOTICE): SHOW STATS exists everywhere.
        #expect(collector.statements(for: ServerFacts(versionNumber: 0)) == ["SHOW STATS"])
    }

    @Test func stats124HasTheNewCounters() throws {
        let families = try mapFixture(PgBouncerStatsCollector(), "pgbouncer-1.24", "stats_totals", version: 12401)
        let appdb = ["database": "appdb"]
        #expect(value(families, "pgbouncer_stats_totals_server_assignments_total", appdb) == 987001)
        #expect(value(families, "pgbouncer_stats_totals_client_parses_total", appdb) == 120000)
        #expect(value(families, "pgbouncer_stats_totals_server_parses_total", appdb) == 950)
        #expect(value(families, "pgbouncer_stats_totals_binds_total", appdb) == 1_900_000)
        #expect(value(families, "pgbouncer_stats_totals_queries_duration_seconds_total", appdb) == 2987.654321)
        #expect(families.count == 11)
        expectCleanExposition(families)
    }

    @Test func stats17UsesTotalRequests() throws {
        let families = try mapFixture(PgBouncerStatsCollector(), "pgbouncer-1.7", "stats")
        #expect(value(families, "pgbouncer_stats_totals_queries_total", ["database": "shop"]) == 4711)
        #expect(value(families, "pgbouncer_stats_totals_queries_duration_seconds_total", ["database": "shop"]) == 98.765432)
        #expect(value(families, "pgbouncer_stats_totals_received_bytes_total", ["database": "shop"]) == 123456)
        #expect(family(families, "pgbouncer_stats_totals_queries_pooled_total") == nil)
        #expect(family(families, "pgbouncer_stats_totals_client_wait_seconds_total") == nil)
    }

    @Test func databasesKeepPeerLabelsAndReadBothReserveSpellings() throws {
        let old = try mapFixture(PgBouncerDatabasesCollector(), "pgbouncer-1.18", "databases")
        #expect(labelNames(old, "pgbouncer_databases_pool_size") == ["name", "host", "port", "database", "force_user", "pool_mode"])
        let postgres = ["name": "postgres", "host": "127.0.0.1", "port": "54479", "database": "postgres",
                        "force_user": "", "pool_mode": ""]
        #expect(value(old, "pgbouncer_databases_pool_size", postgres) == 2)
        #expect(value(old, "pgbouncer_databases_reserve_pool", postgres) == 1)
        #expect(value(old, "pgbouncer_databases_current_connections", postgres) == 2)
        let reporting = ["name": "reporting", "host": "127.0.0.1", "port": "54479", "database": "postgres",
                         "force_user": "postgres", "pool_mode": "session"]
        #expect(value(old, "pgbouncer_databases_max_connections", reporting) == 1)
        #expect(value(old, "pgbouncer_databases_paused", reporting) == 0)
        #expect(family(old, "pgbouncer_databases_max_client_connections") == nil)

        let new = try mapFixture(PgBouncerDatabasesCollector(), "pgbouncer-1.24", "databases")
        let appdb = ["name": "appdb", "host": "10.0.0.5", "port": "5432", "database": "appdb", "force_user": "",
                     "pool_mode": "transaction"]
        #expect(value(new, "pgbouncer_databases_reserve_pool", appdb) == 2)
        #expect(value(new, "pgbouncer_databases_min_pool_size", appdb) == 2)
        #expect(value(new, "pgbouncer_databases_max_client_connections", appdb) == 500)
        #expect(value(new, "pgbouncer_databases_current_client_connections", appdb) == 18)
        #expect(family(new, "pgbouncer_databases_pool_size")?.samples.count == 3)
        expectCleanExposition(old + new)
    }

    @Test func listsAreRowsNotColumns() throws {
        let families = try mapFixture(PgBouncerListsCollector(), "pgbouncer-1.18", "lists")
        #expect(value(families, "pgbouncer_databases") == 4)
        #expect(value(families, "pgbouncer_pools") == 4)
        #expect(value(families, "pgbouncer_free_clients") == 40)
        #expect(value(families, "pgbouncer_used_servers") == 5)
        #expect(value(families, "pgbouncer_cached_dns_names") == 0)
        #expect(value(families, "pgbouncer_in_flight_dns_queries") == 0)
        #expect(families.count == 11)  // dns_pending is not exported
        let new = try mapFixture(PgBouncerListsCollector(), "pgbouncer-1.24", "lists")
        #expect(new.count == 11)  // peers and peer_pools are ignored
        #expect(value(new, "pgbouncer_users") == 4)
        #expect(throws: CollectorError.self) {
            try PgBouncerListsCollector().map([QueryResult(columns: ["a"], rows: [])], server: ServerFacts(versionNumber: 0))
        }
    }

    @Test func configReadsThreeAndFourColumnLayouts() throws {
        let four = try mapFixture(PgBouncerConfigCollector(), "pgbouncer-1.18", "config")
        #expect(value(four, "pgbouncer_config_max_client_connections") == 200)
        #expect(value(four, "pgbouncer_config_max_user_connections") == 0)
        #expect(value(four, "pgbouncer_config_default_pool_size") == 2)
        #expect(value(four, "pgbouncer_config_reserve_pool_size") == 1)
        #expect(value(four, "pgbouncer_config_min_pool_size") == 0)
        #expect(value(four, "pgbouncer_config_max_db_connections") == 0)
        #expect(value(four, "pgbouncer_config_reserve_pool_timeout_seconds") == 3)
        #expect(value(four, "pgbouncer_config_query_wait_timeout_seconds") == 120)
        #expect(value(four, "pgbouncer_config_server_lifetime_seconds") == 3600)
        #expect(value(four, "pgbouncer_config_pool_mode_info", ["pool_mode": "transaction"]) == 1)
        #expect(family(four, "pgbouncer_config_max_db_client_connections") == nil)  // 1.24+
        #expect(family(four, "pgbouncer_config_max_prepared_statements") == nil)  // 1.21+

        let three = try mapFixture(PgBouncerConfigCollector(), "pgbouncer-1.7", "config")
        #expect(value(three, "pgbouncer_config_max_client_connections") == 400)
        #expect(value(three, "pgbouncer_config_default_pool_size") == 20)
        #expect(value(three, "pgbouncer_config_pool_mode_info", ["pool_mode": "transaction"]) == 1)

        let new = try mapFixture(PgBouncerConfigCollector(), "pgbouncer-1.24", "config")
        #expect(value(new, "pgbouncer_config_max_user_connections") == 50)
        #expect(value(new, "pgbouncer_config_max_db_client_connections") == 0)
        #expect(value(new, "pgbouncer_config_max_prepared_statements") == 200)
        for layout in [four, three, new] { expectCleanExposition(layout) }

        #expect(throws: CollectorError.self) {
            try PgBouncerConfigCollector().map(
                [QueryResult(columns: ["name", "setting"], rows: [["max_client_conn", "1"]])], server: ServerFacts(versionNumber: 0))
        }
    }

    @Test func configDurationsAcceptUnits() {
        #expect(PgBouncerConfigCollector.seconds("120") == 120)
        #expect(PgBouncerConfigCollector.seconds("0.5") == 0.5)
        #expect(PgBouncerConfigCollector.seconds("500ms") == 0.5)
        #expect(PgBouncerConfigCollector.seconds(" 2min ") == 120)
        #expect(PgBouncerConfigCollector.seconds("250us") == 0.00025)
        #expect(PgBouncerConfigCollector.seconds("1h") == 3600)
        #expect(PgBouncerConfigCollector.seconds("5 fortnights") == nil)
        #expect(PgBouncerConfigCollector.seconds("") == nil)
    }

    @Test func versionInfoAndFacts() throws {
        let collector = PgBouncerVersionCollector()
        let result = try fixture("pgbouncer-1.18", "version")
        #expect(collector.facts(from: [result]) == ServerFacts(versionNumber: 11800))
        let families = try collector.map([result], server: ServerFacts(versionNumber: 11800))
        #expect(value(families, "pgbouncer_version_info", ["version": "PgBouncer 1.18.0"]) == 1)
        #expect(collector.facts(from: [try fixture("pgbouncer-1.24", "version")]) == ServerFacts(versionNumber: 12401))
        // An old PgBouncer answers with a NOTICE: no rows, no sample, version unknown.
        let notice = try fixture("pgbouncer-1.7", "version")
        #expect(try collector.map([notice], server: ServerFacts(versionNumber: 0)).isEmpty)
        #expect(collector.facts(from: [notice]) == nil)
    }

    @Test func versionNumbers() {
        #expect(dottedVersionNumber(in: "PgBouncer 1.18.0") == 11800)
        #expect(dottedVersionNumber(in: "PgBouncer 1.24.1") == 12401)
        #expect(dottedVersionNumber(in: "1.18.0/bouncer") == 11800)
        #expect(dottedVersionNumber(in: "4.3.5 (tamahomeboshi)") == 40305)
        #expect(dottedVersionNumber(in: "bouncer 2.0") == 20000)
        #expect(dottedVersionNumber(in: "version 7 of 1.9") == 10900)
        #expect(dottedVersionNumber(in: "no version") == nil)
    }

    @Test func memCaches() throws {
        let families = try mapFixture(PgBouncerMemCollector(), "pgbouncer-1.18", "mem")
        #expect(value(families, "pgbouncer_mem_item_size_bytes", ["name": "user_cache"]) == 2312)
        #expect(value(families, "pgbouncer_mem_used_items", ["name": "client_cache"]) == 10)
        #expect(value(families, "pgbouncer_mem_free_items", ["name": "client_cache"]) == 40)
        #expect(value(families, "pgbouncer_mem_allocated_bytes", ["name": "iobuf_cache"]) == 205600)
        #expect(family(families, "pgbouncer_mem_allocated_bytes")?.samples.count == 6)
        expectCleanExposition(families)
    }

    @Test func serversAreCountedPerState() throws {
        let old = try mapFixture(PgBouncerServersCollector(), "pgbouncer-1.18", "servers")
        #expect(value(old, "pgbouncer_servers", ["database": "postgres", "user": "postgres", "state": "active"]) == 2)
        #expect(value(old, "pgbouncer_servers", ["database": "app", "user": "postgres", "state": "active"]) == 2)
        #expect(value(old, "pgbouncer_servers", ["database": "reporting", "user": "postgres", "state": "active"]) == 1)
        #expect(family(old, "pgbouncer_servers")?.samples.count == 3)

        let new = try mapFixture(PgBouncerServersCollector(), "pgbouncer-1.24", "servers")
        #expect(value(new, "pgbouncer_servers", ["database": "appdb", "user": "app", "state": "active"]) == 10)
        for state in ["active", "active_cancel", "being_canceled", "idle", "used", "tested", "new"] {
            #expect(value(new, "pgbouncer_servers", ["database": "appdb", "user": "reporter", "state": state]) == 1)
        }
        #expect(value(new, "pgbouncer_servers", ["database": "analytics", "user": "app", "state": "new"]) == 1)
        #expect(family(new, "pgbouncer_servers")?.samples.reduce(0) { $0 + $1.value } == 20)
        expectCleanExposition(old + new)
    }

    @Test func clientsAreCountedPerGroup() throws {
        let families = try mapFixture(PgBouncerClientsCollector(), "pgbouncer-1.18", "clients")
        #expect(labelNames(families, "pgbouncer_client_connections") == ["database", "user", "application_name", "state"])
        let workers = ["database": "postgres", "user": "postgres"]
        #expect(value(families, "pgbouncer_client_connections", workers.merging(["application_name": "worker-1", "state": "active"]) { $1 }) == 2)
        #expect(value(families, "pgbouncer_client_connections", workers.merging(["application_name": "worker-0", "state": "waiting"]) { $1 }) == 2)
        #expect(value(families, "pgbouncer_client_connections", workers.merging(["application_name": "worker-1", "state": "waiting"]) { $1 }) == 1)
        #expect(value(families, "pgbouncer_client_connections",
                      ["database": "pgbouncer", "user": "postgres", "application_name": "psql", "state": "active"]) == 1)
        #expect(family(families, "pgbouncer_client_connections")?.samples.reduce(0) { $0 + $1.value } == 10)
        expectCleanExposition(families)
    }

    @Test func clientApplicationNamesAreBounded() throws {
        let families = try mapFixture(PgBouncerClientsCollector(topApplications: 10), "pgbouncer-1.24", "clients")
        let samples = try #require(family(families, "pgbouncer_client_connections")?.samples)
        // 16 distinct names: web-1 (6), metabase and web-2 (2 each), then 1 each; ties go by name, so
        // "", batch-a, batch-b, cron, poolwatch, psql and web-3 keep theirs, web-4…web-8 and worker fold.
        let names = Set(samples.compactMap { $0.label("application_name") })
        #expect(names == ["web-1", "metabase", "web-2", "", "batch-a", "batch-b", "cron", "poolwatch", "psql", "web-3", "other"])
        #expect(value(families, "pgbouncer_client_connections",
                      ["database": "appdb", "user": "app", "application_name": "other", "state": "active"]) == 6)
        #expect(value(families, "pgbouncer_client_connections",
                      ["database": "analytics", "user": "app", "application_name": "web-1", "state": "waiting"]) == 1)
        #expect(samples.reduce(0) { $0 + $1.value } == 23)  // all 23 rows, nothing lost by folding

        let none = try mapFixture(PgBouncerClientsCollector(topApplications: 0), "pgbouncer-1.24", "clients")
        #expect(Set(try #require(family(none, "pgbouncer_client_connections")).samples.compactMap { $0.label("application_name") })
            == ["other"])
        expectCleanExposition(families)
        expectCleanExposition(none)
    }

    @Test func missingColumnsGiveNoSamplesAndNoErrors() throws {
        let bare = QueryResult(columns: ["database", "user"], rows: [["a", "b"]])
        let server = ServerFacts(versionNumber: 0)
        for collector: any SQLCollector in [
            PgBouncerPoolsCollector(), PgBouncerStatsCollector(), PgBouncerDatabasesCollector(), PgBouncerMemCollector(),
        ] {
            #expect(try collector.map([bare], server: server).isEmpty, "\(collector.name)")
        }
        // Rows of SHOW CLIENTS / SERVERS without a state column still count, under state "".
        let clients = try PgBouncerClientsCollector().map([bare], server: server)
        #expect(value(clients, "pgbouncer_client_connections", ["database": "a", "user": "b", "application_name": "", "state": ""]) == 1)
        // No result at all (the statement list was empty) is not an error either.
        #expect(try PgBouncerPoolsCollector().map([], server: server).isEmpty)
    }

    @Test func wholeRoundsAreCleanForPromtool() throws {
        for directory in ["pgbouncer-1.18", "pgbouncer-1.24", "pgbouncer-1.7"] {
            let families = try pgbouncerRound(directory)
            #expect(!families.isEmpty)
            expectCleanExposition(families + PoolModel.families(from: families))
        }
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: promtoolPath)))
    func promtoolCheckMetricsPrintsNothing() throws {
        var targets: [String: [MetricFamily]] = [:]
        for directory in ["pgbouncer-1.18", "pgbouncer-1.24", "pgbouncer-1.7"] {
            let round = try pgbouncerRound(directory)
            targets[directory] = round + PoolModel.families(from: round)
        }
        #expect(try promtoolProblems(targets) == "")
        // The check itself works: a gauge named like a counter is reported.
        #expect(try promtoolProblems(["t": [MetricFamily("bad_total", help: "A gauge.", value: 1)]]).contains("bad_total"))
    }
}
