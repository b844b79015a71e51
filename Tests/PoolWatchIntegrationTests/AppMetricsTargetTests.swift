import Foundation
import PoolWatchCore
import PoolWatchCurl
import PoolWatchCollection
import Synchronization
import Testing
import PoolWatchRuntime

/// The captured-style application outputs of `Tests/PoolWatchCoreTests/Fixtures/app-metrics/` (provenance
/// in that directory's README). Integration tests have no bundle, so they are read by path.
func appMetricsFixtureText(_ name: String) throws -> String {
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("PoolWatchCoreTests/Fixtures/app-metrics").appendingPathComponent(name)
    return try String(contentsOf: url, encoding: .utf8)
}

/// `kind: app_metrics` (and the db-pool-rs-shaped `http_json` document) against real HTTP endpoints on
/// loopback serving the fixtures: normalized families, hostile and huge answers. Needs no external service.
@Suite struct AppMetricsTargetTests {
    static let executor = BlockingExecutor(threads: 4)

    func collector(_ server: LoopbackHTTPServer, _ mapping: AppMetricsMapping, timeout: Duration = .seconds(2),
                   maxBytes: Int = AppMetricsTargetConfig.defaultMaxResponseBytes, maxPools: Int = 200) -> AppPoolTargetCollector {
        let target = TargetConfig(name: "orders-app", kind: .appMetrics, interval: .seconds(5), collectionTimeout: timeout)
        let options = AppMetricsTargetConfig(
            url: Secret(server.url("/metrics?token=t0k3n")), displayURL: "http://127.0.0.1:\(server.port)/metrics",
            maxResponseBytes: maxBytes, maxPools: maxPools, mapping: mapping)
        return AppPoolTargetCollector(target: target, appMetrics: options, executor: Self.executor, userAgent: "poolwatch/test")
    }

    func serving(_ text: String) throws -> LoopbackHTTPServer {
        try LoopbackHTTPServer { _ in .send(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4")], body: Array(text.utf8)) }
    }

    func value(_ snapshot: TargetSnapshot, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matches = snapshot.families.filter { $0.name == name }.flatMap(\.samples).filter { sample in
            labels.allSatisfy { sample.label($0.key) == $0.value }
        }
        return matches.count == 1 ? matches[0].value : nil
    }

    @Test func hikariEndpoint() async throws {
        let server = try serving(try appMetricsFixtureText("hikaricp.prom"))
        defer { server.stop() }
        var mapping = AppMetricsPreset.hikaricp.mapping()
        mapping.database = .literal("orders")
        let snapshot = await collector(server, mapping).collectRound()
        #expect(snapshot.up, "\(snapshot.error ?? "")")
        #expect(snapshot.kind == .appMetrics)
        #expect(value(snapshot, "poolwatch_app_pool_up", ["target": "orders-app"]) == 1)
        let pool = ["target": "orders-app", "kind": "app_metrics", "pool": "reporting", "database": "orders"]
        #expect(value(snapshot, "poolwatch_pool_clients", pool.merging(["state": "waiting"]) { $1 }) == 6)
        #expect(value(snapshot, "poolwatch_pool_saturated", pool) == 1)
        #expect(value(snapshot, "poolwatch_pool_acquire_duration_seconds", pool.merging(["quantile": "0.95"]) { $1 }) == 1.476395008)
        #expect(value(snapshot, "poolwatch_pool_timeouts_total", pool) == 17)
        #expect(snapshot.collectors.map(\.name) == ["app_metrics"])
        let request = try #require(server.requests.first)
        #expect(request.header("Accept")?.hasPrefix("text/plain;version=0.0.4") == true)
        #expect(request.header("User-Agent") == "poolwatch/test")
    }

    @Test func pgxEndpoint() async throws {
        let server = try serving(try appMetricsFixtureText("pgxpool.prom"))
        defer { server.stop() }
        var mapping = AppMetricsPreset.pgxpool.mapping()
        mapping.poolLabel = "db_name"
        mapping.database = .label("db_name")
        let snapshot = await collector(server, mapping).collectRound()
        #expect(snapshot.up, "\(snapshot.error ?? "")")
        #expect(value(snapshot, "poolwatch_pool_utilization_ratio", ["pool": "orders", "database": "orders"]) == 0.75)
        #expect(value(snapshot, "poolwatch_pool_servers", ["pool": "orders", "state": "idle"]) == 4)
    }

    @Test func dbPoolRsEndpoint() async throws {
        let server = try serving(try appMetricsFixtureText("db-pool-rs.prom"))
        defer { server.stop() }
        let snapshot = await collector(server, AppMetricsPreset.dbPoolRs.mapping()).collectRound()
        #expect(snapshot.up, "\(snapshot.error ?? "")")
        let pool = ["kind": "app_metrics", "pool": "primary"]
        #expect(value(snapshot, "poolwatch_pool_query_duration_seconds", pool.merging(["quantile": "0.99"]) { $1 }) == 0.048)
        #expect(value(snapshot, "poolwatch_pool_queries_total", pool) == 1_234_567)
        #expect(value(snapshot, "poolwatch_pool_query_errors_total", pool) == 1234)
        #expect(value(snapshot, "poolwatch_pool_slow_queries_total", pool) == 57)
    }

    /// A histogram endpoint whose counts grow between scrapes: quantiles from the second round on.
    @Test func histogramEndpointAcrossRounds() async throws {
        let round = Mutex(0)
        let server = try LoopbackHTTPServer { _ in
            let n = round.withLock { value -> Int in
                value += 1
                return value
            }
            let text = """
                # TYPE app_query_seconds histogram
                app_query_seconds_bucket{pool="main",le="0.1"} \(n * 50)
                app_query_seconds_bucket{pool="main",le="1"} \(n * 90)
                app_query_seconds_bucket{pool="main",le="+Inf"} \(n * 100)
                app_query_seconds_count{pool="main"} \(n * 100)
                app_in_use{pool="main"} 3

                """
            return .send(status: 200, body: Array(text.utf8))
        }
        defer { server.stop() }
        let mapping = AppMetricsMapping(values: [.active: .init("app_in_use")], querySeconds: .init("app_query_seconds"))
        let target = collector(server, mapping)
        let first = await target.collectRound()
        #expect(first.up && value(first, "poolwatch_pool_query_duration_seconds", ["quantile": "0.5"]) == nil)
        let second = await target.collectRound()
        #expect(value(second, "poolwatch_pool_query_duration_seconds", ["quantile": "0.5"]) == 0.1)
        #expect(value(second, "poolwatch_pool_query_duration_seconds", ["quantile": "0.99"]) == 1)
    }

    @Test func dbPoolRsJSONDocumentOverHTTPJSON() async throws {
        let document = try appMetricsFixtureText("db-pool-rs.json")
        let server = try LoopbackHTTPServer { _ in .send(status: 200, body: Array(document.utf8)) }
        defer { server.stop() }
        let path = { (text: String) in try! JSONPath(parsing: text) }
        var pools = HTTPJSONPoolMapping(
            items: path("$.pools"), name: .path(path("$.name")), database: .path(path("$.database")), user: .path(path("$.user")),
            active: path("$.active_connections"), idle: path("$.idle_connections"), waiting: path("$.waiting_queue_length"),
            max: path("$.max_connections"), timeoutsTotal: path("$.acquire_timeouts_total"))
        pools.extended = [.acquireP99: path("$.acquire_latency_p99_ms"), .queryP99: path("$.query_latency_p99_ms"),
                          .queriesTotal: path("$.queries_total"), .queryErrorsTotal: path("$.query_errors_total")]
        pools.acquireLatencyScale = 0.001
        pools.queryLatencyScale = 0.001
        let target = TargetConfig(name: "rs-json", kind: .httpJSON, interval: .seconds(5), collectionTimeout: .seconds(2))
        let options = HTTPJSONTargetConfig(url: Secret(server.url("/pool-stats")), displayURL: "http://127.0.0.1/pool-stats", pools: pools)
        let snapshot = await HTTPJSONTargetCollector(target: target, options: options, executor: Self.executor, userAgent: "t").collectRound()
        #expect(snapshot.up, "\(snapshot.error ?? "")")
        let pool = ["kind": "http_json", "pool": "primary", "database": "orders", "user": "orders_rw"]
        #expect(value(snapshot, "poolwatch_pool_acquire_duration_seconds", pool.merging(["quantile": "0.99"]) { $1 }) == 0.0125)
        #expect(value(snapshot, "poolwatch_pool_query_errors_total", pool) == 1234)
        #expect(value(snapshot, "poolwatch_pool_utilization_ratio", pool) == 0.84)
    }

    @Test func hostileAndHugeAnswersAreHarmless() async throws {
        let mapping = AppMetricsPreset.hikaricp.mapping()
        // Huge: refused at the byte cap, with or without Content-Length.
        let huge = "# " + String(repeating: "x", count: 3_000_000) + "\n"
        let big = try LoopbackHTTPServer { request in .send(status: 200, body: Array(huge.utf8), contentLength: !request.path.contains("chunked")) }
        defer { big.stop() }
        let snapshot = await collector(big, mapping, maxBytes: 1 << 20).collectRound()
        #expect(!snapshot.up)
        #expect(snapshot.error?.contains("exceeds 1048576 bytes") == true, "\(snapshot.error ?? "")")
        #expect(snapshot.error?.contains("t0k3n") == false)

        // Garbage, an over-long line, label bombs, a flood of pools: a reason with the line, or bounded output.
        let cases: [(String, String)] = [
            (String(repeating: "\u{1}\u{7f}", count: 1000), "line 1: expected a metric name"),
            ("hikaricp_connections_active{pool=\"" + String(repeating: "p", count: 20000) + "\"} 1\n", "line 1: longer than 16384 bytes"),
            ("hikaricp_connections_active{" + (0..<100).map { "l\($0)=\"v\"" }.joined(separator: ",") + "} 1\n", "line 1: more than 64 labels"),
            ("jvm_threads_live_threads 41\n", "none of the mapped families"),
        ]
        for (body, reason) in cases {
            let server = try serving(body)
            defer { server.stop() }
            let result = await collector(server, mapping).collectRound()
            #expect(!result.up)
            #expect(result.error?.contains(reason) == true, "\(result.error ?? "")")
        }
        let flood = (0..<5000).map { "hikaricp_connections_active{pool=\"p\($0)\"} 1" }.joined(separator: "\n")
        let server = try serving(flood)
        defer { server.stop() }
        let bounded = await collector(server, mapping, maxPools: 20).collectRound()
        #expect(bounded.up)
        #expect(bounded.families.first { $0.name == "poolwatch_pool_clients" }?.samples.count == 20)
        #expect(value(bounded, "poolwatch_app_pool_pools_dropped") == 4980)

        // Slow: timed out by collection_timeout.
        let slow = try LoopbackHTTPServer { _ in .stall(seconds: 8) }
        defer { slow.stop() }
        let clock = ContinuousClock()
        let started = clock.now
        let timedOut = await collector(slow, mapping, timeout: .seconds(1)).collectRound()
        #expect(clock.now - started < .seconds(6))
        #expect(!timedOut.up && timedOut.error?.contains("collection_timeout") == true)
    }
}
