// poolwatch-microbench: the hot pure code, timed in a release build (`scripts/bench` runs it).
//
//   poolwatch-microbench [--iterations N] [name ...]
//
// Names: encode, gzip, pgbouncer-round, rules. Each prints the median, minimum and maximum of N
// iterations after a warm-up. Under valgrind (`valgrind --tool=callgrind poolwatch-microbench
// --iterations 3 pgbouncer-round`) it gives reproducible instruction counts for one piece of work.
import PoolWatchCore

#if canImport(Glibc)
import Glibc
#endif

/// One benchmark: `prepare` builds its input (not timed) and returns a description and the timed body.
struct Bench {
    let name: String
    let prepare: () throws -> (detail: String, body: () -> Void)
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

func run(_ bench: Bench, iterations: Int) throws {
    let (detail, body) = try bench.prepare()
    body()  // warm-up
    let clock = ContinuousClock()
    var millis: [Double] = []
    for _ in 0 ..< iterations {
        let started = clock.now
        body()
        let elapsed = clock.now - started
        millis.append(Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15)
    }
    print("\(bench.name) (\(detail)): median \(format(median(millis))) ms, min \(format(millis.min()!)) ms, "
          + "max \(format(millis.max()!)) ms over \(iterations)")
}

func format(_ value: Double) -> String {
    let scaled = (value * 1000).rounded() / 1000
    return "\(scaled)"
}

// MARK: - Inputs

/// A snapshot of `count` series: 100 families of `count / 100` samples with three labels each,
/// the shape of per-pool and per-statement metrics.
func syntheticFamilies(series count: Int) -> [MetricFamily] {
    (0 ..< 100).map { family in
        MetricFamily("bench_metric_\(family)_total", help: "Synthetic family \(family) for the encoder benchmark.", type: .counter,
                     samples: (0 ..< count / 100).map { index in
                         Sample([Label("target", "bouncer"), Label("database", "db\(index)"), Label("user", "app_user_\(index % 7)")],
                                Double(index) * 1234.5 + Double(family))
                     })
    }
}

/// SHOW results of a PgBouncer 1.18 with `pools` pools, in the exact column layout it answers with.
func pgbouncerResults(pools: Int) -> [(any SQLCollector, [QueryResult])] {
    let poolRows: [[String?]] = (0 ..< pools).map { i in
        ["db\(i)", "app", "\(i % 3)", "\(i % 5 == 0 ? 2 : 0)", "0", "0", "\(i % 2)", "0", "0", "1", "0", "0", "0",
         "\(i % 5 == 0 ? 1 : 0)", "\(i * 17 % 1_000_000)", "transaction"]
    }
    let pools = QueryResult(
        columns: ["database", "user", "cl_active", "cl_waiting", "cl_active_cancel_req", "cl_waiting_cancel_req", "sv_active",
                  "sv_active_cancel", "sv_being_canceled", "sv_idle", "sv_used", "sv_tested", "sv_login", "maxwait", "maxwait_us",
                  "pool_mode"],
        rows: poolRows)
    let stats = QueryResult(
        columns: ["database", "total_xact_count", "total_query_count", "total_received", "total_sent", "total_xact_time",
                  "total_query_time", "total_wait_time", "avg_xact_count", "avg_query_count", "avg_recv", "avg_sent",
                  "avg_xact_time", "avg_query_time", "avg_wait_time"],
        rows: poolRows.indices.map { i in
            ["db\(i)"] + (0 ..< 14).map { "\(($0 + 1) * (i + 1) * 101)" }
        })
    let databases = QueryResult(
        columns: ["name", "host", "port", "database", "force_user", "pool_size", "min_pool_size", "reserve_pool", "pool_mode",
                  "max_connections", "current_connections", "paused", "disabled"],
        rows: poolRows.indices.map { i in
            ["db\(i)", "127.0.0.1", "5432", "postgres", nil, "1", "0", "0", nil, "0", "\(i % 2)", "0", "0"]
        })
    let lists = QueryResult(columns: ["list", "items"], rows: [
        ["databases", "\(poolRows.count)"], ["users", "3"], ["pools", "\(poolRows.count)"], ["free_clients", "40"],
        ["used_clients", "12"], ["login_clients", "0"], ["free_servers", "30"], ["used_servers", "10"], ["dns_names", "0"],
        ["dns_zones", "0"], ["dns_queries", "0"], ["dns_pending", "0"],
    ])
    let config = QueryResult(columns: ["key", "value", "default", "changeable"], rows: [
        ["max_client_conn", "500", "100", "yes"], ["default_pool_size", "4", "20", "yes"], ["max_db_connections", "0", "0", "yes"],
        ["max_user_connections", "0", "0", "yes"], ["reserve_pool_size", "0", "0", "yes"], ["pool_mode", "transaction", "session", "yes"],
    ])
    let mem = QueryResult(columns: ["name", "size", "used", "free", "memtotal"], rows: [
        ["user_cache", "2312", "4", "46", "115600"], ["db_cache", "208", "1004", "74", "216224"], ["pool_cache", "464", "1004", "16", "473000"],
    ])
    let connectionColumns = ["type", "user", "database", "state", "addr", "port", "local_addr", "local_port", "connect_time",
                             "request_time", "wait", "wait_us", "close_needed", "ptr", "link", "remote_pid", "tls", "application_name"]
    let clients = QueryResult(columns: connectionColumns, rows: (0 ..< 50).map { i in
        ["C", "app", "db\(i)", i % 4 == 0 ? "waiting" : "active", "127.0.0.1", "\(40000 + i)", "127.0.0.1", "6432",
         "2026-11-22 03:51:17 UTC", "2026-11-22 03:51:17 UTC", "0", "0", "0", "0x1", "0x2", "0", "", "api-\(i % 5)"]
    })
    let servers = QueryResult(columns: connectionColumns, rows: (0 ..< 20).map { i in
        ["S", "app", "db\(i)", "active", "127.0.0.1", "5432", "127.0.0.1", "\(50000 + i)", "2026-11-22 03:51:17 UTC",
         "2026-11-22 03:51:17 UTC", "0", "0", "0", "0x1", "0x2", "\(3000 + i)", "", "api-\(i % 5)"]
    })
    let version = QueryResult(columns: ["version"], rows: [["PgBouncer 1.18.0"]])
    return [
        (PgBouncerVersionCollector(), [version]), (PgBouncerPoolsCollector(), [pools]), (PgBouncerStatsCollector(), [stats]),
        (PgBouncerDatabasesCollector(), [databases]), (PgBouncerListsCollector(), [lists]), (PgBouncerConfigCollector(), [config]),
        (PgBouncerMemCollector(), [mem]), (PgBouncerServersCollector(), [servers]), (PgBouncerClientsCollector(topApplications: 20), [clients]),
    ]
}

/// What a PgBouncer round does after the SHOW commands returned: map every result, build the pool model.
func pgbouncerRound(_ inputs: [(any SQLCollector, [QueryResult])]) -> [MetricFamily] {
    let facts = ServerFacts(versionNumber: 11800)
    var families: [MetricFamily] = []
    for (collector, results) in inputs {
        families.append(contentsOf: (try? collector.map(results, server: facts)) ?? [])
    }
    families.append(contentsOf: PoolModel.families(from: families))
    return families.map { $0.prefixed(with: [Label("target", "bouncer")]) }
}

// MARK: - Main

var iterations = 50
var selected: [String] = []
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    if argument == "--iterations", let value = arguments.popFirst(), let n = Int(value), n > 0 {
        iterations = n
    } else {
        selected.append(argument)
    }
}

let benches = [
    Bench(name: "encode") {
        let snapshot = syntheticFamilies(series: 10_000)
        let encoded = TextEncoder().encode(snapshot)
        return ("10,000 series, \(encoded.bytes.count / 1024) KiB of text", {
            precondition(TextEncoder().encode(snapshot).seriesCount == encoded.seriesCount)
        })
    },
    Bench(name: "gzip") {
        let bytes = TextEncoder().encode(syntheticFamilies(series: 10_000)).bytes
        return ("the same \(bytes.count / 1024) KiB, level 1, once per round", {
            precondition(!GzipPrefix(body: bytes).finished(tail: []).isEmpty)
        })
    },
    Bench(name: "pgbouncer-round") {
        let inputs = pgbouncerResults(pools: 1000)
        let series = pgbouncerRound(inputs).reduce(0) { $0 + $1.samples.count }
        return ("mapping 1,000 pools' SHOW results + pool model, \(series) series", {
            precondition(!pgbouncerRound(inputs).isEmpty)
        })
    },
    Bench(name: "rules") {
        let families = pgbouncerRound(pgbouncerResults(pools: 1000))
        let rules = try BuiltinRules.rules()
        var engine = AlertEngine(rules: rules)
        var now = 1_800_000_000.0
        for _ in 0 ..< 20 {  // history for the range functions and `for:` durations
            now += 15
            _ = engine.step(families, at: now)
        }
        let series = families.reduce(0) { $0 + $1.samples.count }
        return ("\(rules.count) built-in rules over 1,000 pools (\(series) series), one evaluation step", {
            now += 15
            _ = engine.step(families, at: now)
        })
    },
]

for bench in benches where selected.isEmpty || selected.contains(bench.name) {
    try run(bench, iterations: iterations)
}
