import Foundation
import Testing

@testable import PoolWatchCore

/// Fixture text from `Fixtures/app-metrics/` (provenance in `Fixtures/README.md`).
func appMetricsFixture(_ name: String) throws -> [UInt8] {
    let root = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
    return Array(try Data(contentsOf: root.appendingPathComponent("app-metrics").appendingPathComponent(name)))
}

/// Reads one sample of `name` whose labels include `labels`; nil unless exactly one matches.
func sampleValue(_ families: [MetricFamily], _ name: String, _ labels: [String: String] = [:]) -> Double? {
    let matches = families.filter { $0.name == name }.flatMap(\.samples).filter { sample in
        labels.allSatisfy { sample.label($0.key) == $0.value }
    }
    return matches.count == 1 ? matches[0].value : nil
}

/// The Prometheus text parser and the `app_metrics` presets and mappings, on the fixtures.
@Suite struct AppMetricsMappingTests {
    func map(_ body: [UInt8], _ mapping: AppMetricsMapping, previous: AppMetricsPoolCollector.State = .init(),
             maxPools: Int = 200) throws(CollectorError) -> (families: [MetricFamily], state: AppMetricsPoolCollector.State) {
        try AppMetricsPoolCollector(mapping: mapping, maxPools: maxPools).map(body: body, previous: previous)
    }

    @Test func hikariPresetFillsTheModel() throws {
        var mapping = AppMetricsPreset.hikaricp.mapping()
        mapping.database = .literal("orders")
        let (families, _) = try map(try appMetricsFixture("hikaricp.prom"), mapping)
        let primary = ["kind": "app_metrics", "pool": "HikariPool-1", "database": "orders", "user": ""]
        let reporting = ["pool": "reporting"]
        #expect(sampleValue(families, "poolwatch_pool_clients", primary.merging(["state": "active"]) { $1 }) == 3)
        #expect(sampleValue(families, "poolwatch_pool_servers", primary.merging(["state": "idle"]) { $1 }) == 7)
        #expect(sampleValue(families, "poolwatch_pool_clients", reporting.merging(["state": "waiting"]) { $1 }) == 6)
        #expect(sampleValue(families, "poolwatch_pool_size_limit", reporting) == 4)
        #expect(sampleValue(families, "poolwatch_pool_utilization_ratio", primary) == 0.3)
        #expect(sampleValue(families, "poolwatch_pool_saturated", reporting) == 1)
        #expect(sampleValue(families, "poolwatch_pool_timeouts_total", reporting) == 17)
        #expect(sampleValue(families, "poolwatch_pool_acquire_duration_seconds", reporting.merging(["quantile": "0.99"]) { $1 }) == 2.952790016)
        #expect(sampleValue(families, "poolwatch_pool_acquire_duration_seconds", primary.merging(["quantile": "0.5"]) { $1 }) == 1.04448E-4)
        // HikariCP knows nothing of queries: those families are absent, not zero.
        for absent in ["poolwatch_pool_queries_total", "poolwatch_pool_queries_per_second", "poolwatch_pool_query_errors_total",
                       "poolwatch_pool_query_duration_seconds", "poolwatch_pool_slow_queries_total", "poolwatch_pool_wait_seconds_max"] {
            #expect(!families.contains { $0.name == absent }, "\(absent)")
        }
        #expect(sampleValue(families, "poolwatch_app_pool_pools_dropped") == 0)
        let acquire = try #require(families.first { $0.name == "poolwatch_pool_acquire_duration_seconds" })
        #expect(acquire.samples[0].labels.map(\.name) == ["kind", "pool", "database", "user", "quantile"])
    }

    @Test func pgxPresetWithItsConstantLabel() throws {
        var mapping = AppMetricsPreset.pgxpool.mapping()
        mapping.poolLabel = "db_name"
        mapping.database = .label("db_name")
        mapping.user = .literal("orders_rw")
        let (families, _) = try map(try appMetricsFixture("pgxpool.prom"), mapping)
        let pool = ["kind": "app_metrics", "pool": "orders", "database": "orders", "user": "orders_rw"]
        #expect(sampleValue(families, "poolwatch_pool_clients", pool.merging(["state": "active"]) { $1 }) == 12)
        #expect(sampleValue(families, "poolwatch_pool_servers", pool.merging(["state": "idle"]) { $1 }) == 4)
        #expect(sampleValue(families, "poolwatch_pool_size_limit", pool) == 16)
        #expect(sampleValue(families, "poolwatch_pool_utilization_ratio", pool) == 0.75)
        #expect(sampleValue(families, "poolwatch_pool_timeouts_total", pool) == 31)
        // pgxpool has no waiting count: no waiting sample and no saturation guess.
        #expect(sampleValue(families, "poolwatch_pool_clients", ["state": "waiting"]) == nil)
        #expect(!families.contains { $0.name == "poolwatch_pool_saturated" })
    }

    @Test func dbPoolRsPresetFillsTheWholeModel() throws {
        let (families, _) = try map(try appMetricsFixture("db-pool-rs.prom"), AppMetricsPreset.dbPoolRs.mapping())
        let pool = ["kind": "app_metrics", "pool": "primary"]
        #expect(sampleValue(families, "poolwatch_pool_utilization_ratio", pool) == 0.84)
        #expect(sampleValue(families, "poolwatch_pool_clients", pool.merging(["state": "waiting"]) { $1 }) == 3)
        #expect(sampleValue(families, "poolwatch_pool_acquire_duration_seconds", pool.merging(["quantile": "0.99"]) { $1 }) == 0.0125)
        #expect(abs((sampleValue(families, "poolwatch_pool_query_duration_seconds", pool.merging(["quantile": "0.5"]) { $1 }) ?? 0) - 0.0031) < 1e-12)
        #expect(sampleValue(families, "poolwatch_pool_query_duration_seconds", pool.merging(["quantile": "0.99"]) { $1 }) == 0.048)
        #expect(sampleValue(families, "poolwatch_pool_queries_total", pool) == 1_234_567)
        #expect(sampleValue(families, "poolwatch_pool_query_errors_total", pool) == 1234)
        #expect(sampleValue(families, "poolwatch_pool_slow_queries_total", pool) == 57)
        #expect(sampleValue(families, "poolwatch_pool_timeouts_total", pool) == 2)
        // It has counters, so the rate gauges are not exported beside them.
        #expect(!families.contains { $0.name == "poolwatch_pool_queries_per_second" })
        #expect(families.first { $0.name == "poolwatch_pool_queries_total" }?.type == .counter)
    }

    @Test func dbPoolRsPrefixIsConfigurable() throws {
        let text = try appMetricsFixture("db-pool-rs.prom")
        let renamed = Array(String(decoding: text, as: UTF8.self).replacingOccurrences(of: "db_pool_rs_", with: "orders_pool_").utf8)
        let (families, _) = try map(renamed, AppMetricsPreset.dbPoolRs.mapping(prefix: "orders_pool"))
        #expect(sampleValue(families, "poolwatch_pool_queries_total", ["pool": "primary"]) == 1_234_567)
        // With the default prefix nothing matches, and the round says so instead of exporting nothing.
        #expect(throws: CollectorError.self) { _ = try map(renamed, AppMetricsPreset.dbPoolRs.mapping()) }
    }

    static let histogramText = """
        # TYPE app_db_acquire_seconds histogram
        app_db_acquire_seconds_bucket{db="orders",le="0.005"} %a
        app_db_acquire_seconds_bucket{db="orders",le="0.05"} %b
        app_db_acquire_seconds_bucket{db="orders",le="0.5"} %c
        app_db_acquire_seconds_bucket{db="orders",le="+Inf"} %d
        app_db_acquire_seconds_count{db="orders"} %d
        # TYPE app_db_in_use gauge
        app_db_in_use{db="orders"} 2
        """

    static func histogram(_ counts: [Int]) -> [UInt8] {
        var text = histogramText
        for (placeholder, count) in zip(["%a", "%b", "%c", "%d"], counts) { text = text.replacingOccurrences(of: placeholder, with: "\(count)") }
        return Array(text.utf8)
    }

    @Test func histogramQuantilesOverTheIntervalLikeHistogramQuantile() throws {
        let mapping = AppMetricsMapping(
            poolLabel: "db", database: .label("db"), values: [.active: .init("app_db_in_use")],
            acquireSeconds: .init("app_db_acquire_seconds"))
        // First round: no increase yet, so no quantile (absent, never a guess).
        let first = try map(Self.histogram([100, 100, 100, 100]), mapping)
        #expect(!first.families.contains { $0.name == "poolwatch_pool_acquire_duration_seconds" })
        // 100 new observations: 50 ≤ 5ms, 40 in (5ms, 50ms], 10 in (50ms, 500ms].
        let second = try map(Self.histogram([150, 190, 200, 200]), mapping, previous: first.state)
        let p50 = sampleValue(second.families, "poolwatch_pool_acquire_duration_seconds", ["quantile": "0.5"])
        let p95 = sampleValue(second.families, "poolwatch_pool_acquire_duration_seconds", ["quantile": "0.95"])
        // histogram_quantile: rank 50 is the last of the first bucket; rank 95 is half into the third.
        #expect(p50 == 0.005)
        #expect(abs((p95 ?? 0) - 0.275) < 1e-12)
        // No new observation: no quantile.
        let third = try map(Self.histogram([150, 190, 200, 200]), mapping, previous: second.state)
        #expect(!third.families.contains { $0.name == "poolwatch_pool_acquire_duration_seconds" })
    }

    @Test func histogramQuantileEdgeCases() {
        typealias B = HistogramQuantile.Bucket
        #expect(HistogramQuantile.quantile(0.99, [B(1, 10), B(.infinity, 20)]) == 1)  // rank in +Inf: largest finite bound
        #expect(HistogramQuantile.quantile(0.5, [B(1, 10)]) == nil)  // no +Inf bucket
        #expect(HistogramQuantile.quantile(0.5, [B(1, 0), B(.infinity, 0)]) == nil)  // no observations
        #expect(HistogramQuantile.quantile(0.5, [B(2, 10), B(.infinity, 10)]) == 1)
        // A reset (counts went down) uses the current counts.
        #expect(HistogramQuantile.increase([B(1, 3), B(.infinity, 4)], since: [B(1, 10), B(.infinity, 12)]) == [B(1, 3), B(.infinity, 4)])
    }

    @Test func parserReadsTheFormat() throws {
        let text = """
            # HELP x_total A \\"quoted\\" help
            # TYPE x_total counter
            x_total{a="1",b="with \\"quote\\" and \\\\ and \\n",} 3 1700000000000
            x_total{a="2"} +Inf
            x_total NaN
            up 1
            # EOF
            """
        let document = try PrometheusText.parse(Array(text.utf8))
        #expect(document.types["x_total"] == "counter")
        let samples = try #require(document.samples["x_total"])
        #expect(samples.count == 3)
        #expect(samples[0].label("b") == "with \"quote\" and \\ and \n")
        #expect(samples[0].value == 3)
        #expect(samples[1].value == .infinity)
        #expect(samples[2].value.isNaN)
        #expect(document.samples["up"]?.first?.value == 1)
    }

    @Test func parserErrorsNameTheLine() {
        func error(_ text: String, _ limits: PrometheusText.Limits = .init()) -> String? {
            do {
                _ = try PrometheusText.parse(Array(text.utf8), limits: limits)
                return nil
            } catch {
                return error.description
            }
        }
        #expect(error("up 1\nbroken{a=\"1\" 2\n") == "line 2: expected ',' or '}' in the labels of broken")
        #expect(error("up one\n") == "line 1: \"one\" is not a sample value")
        #expect(error("up{a=\"1\",a=\"2\"} 1") == "line 1: label a appears twice")
        #expect(error("up{a=\"unterminated} 1") == "line 1: unterminated label value")
        #expect(error("{\"utf8.name\"} 1") == "line 1: expected a metric name")
        #expect(error("a 1\nb 2\nc 3", .init(maxSeries: 2)) == "line 3: more than 2 samples")
        #expect(error("a 1\n" + String(repeating: "x", count: 100) + " 1", .init(maxLineLength: 50)) == "line 2: longer than 50 bytes")
        #expect(error("a{" + (0..<5).map { "l\($0)=\"v\"" }.joined(separator: ",") + "} 1", .init(maxLabels: 4)) == "line 1: more than 4 labels")
    }

    @Test func hostileInputIsHarmless() throws {
        let mapping = AppMetricsPreset.hikaricp.mapping()
        // Binary garbage, a value that is not a number, a gigantic exponent: each fails with a line, nothing crashes.
        for body in [[UInt8](repeating: 0xff, count: 5000), Array("hikaricp_connections_active{pool=\"a\"} 0x10\n".utf8),
                     Array("hikaricp_connections_active{pool=\"a\"} 1e999999\n".utf8)] {
            #expect(throws: CollectorError.self) { _ = try map(body, mapping) }
        }
        // Many pools: only max_pools are kept, the rest counted.
        let many = (0..<500).map { "hikaricp_connections_active{pool=\"p\($0)\"} 1" }.joined(separator: "\n")
        let (families, _) = try map(Array(many.utf8), mapping, maxPools: 10)
        #expect(families.first { $0.name == "poolwatch_pool_clients" }?.samples.count == 10)
        #expect(sampleValue(families, "poolwatch_app_pool_pools_dropped") == 490)
        // NaN and Inf values are absent, not zero.
        let odd = "hikaricp_connections_active{pool=\"a\"} 1\nhikaricp_connections_max{pool=\"a\"} NaN\nhikaricp_connections_idle{pool=\"a\"} +Inf\n"
        let (oddFamilies, _) = try map(Array(odd.utf8), mapping)
        #expect(!oddFamilies.contains { $0.name == "poolwatch_pool_size_limit" })
        #expect(sampleValue(oddFamilies, "poolwatch_pool_servers", ["state": "idle"]) == nil)
    }

    @Test func encodedModelPassesTheNamingRules() throws {
        let (families, _) = try map(try appMetricsFixture("db-pool-rs.prom"), AppMetricsPreset.dbPoolRs.mapping())
        for family in families {
            #expect((family.type == .counter) == family.name.hasSuffix("_total"), "\(family.name)")
        }
    }
}
