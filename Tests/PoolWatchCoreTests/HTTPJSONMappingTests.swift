import Testing

@testable import PoolWatchCore

/// The pure mapping of an application's pool-stats document to families, on captured-style fixtures.
@Suite struct HTTPJSONMappingTests {
    /// HikariCP-like stats of two pools, as a Spring Boot app might publish them.
    static let hikari = """
        {
          "service": "orders",
          "pools": [
            {"name": "primary", "database": "orders", "user": "orders_rw", "active": 8, "idle": 2, "pending": 0,
             "max": 10, "acquireTimeAvgMs": 1.5, "timeouts": 3},
            {"name": "reporting", "database": "orders", "user": "orders_ro", "active": 4, "idle": 0, "pending": 6,
             "max": 4, "acquireTimeAvgMs": 250, "timeouts": 41}
          ]
        }
        """

    static func path(_ text: String) -> JSONPath { try! JSONPath(parsing: text) }

    static let hikariMapping = HTTPJSONPoolMapping(
        items: path("$.pools[*]"), name: .path(path("$.name")), database: .path(path("$.database")), user: .path(path("$.user")),
        active: path("$.active"), idle: path("$.idle"), waiting: path("$.pending"), max: path("$.max"),
        acquireSeconds: path("$.acquireTimeAvgMs"), acquireSecondsScale: 0.001, timeoutsTotal: path("$.timeouts"))

    func families(_ json: String, _ mapping: HTTPJSONPoolMapping = hikariMapping) throws(CollectorError) -> [MetricFamily] {
        try HTTPJSONPoolCollector(mapping: mapping).map(body: Array(json.utf8))
    }

    func failure(_ json: String, _ mapping: HTTPJSONPoolMapping = hikariMapping) -> String? {
        do {
            _ = try families(json, mapping)
            return nil
        } catch {
            return error.description
        }
    }

    func value(_ families: [MetricFamily], _ name: String, _ labels: [String: String]) -> Double? {
        let matches = families.filter { $0.name == name }.flatMap(\.samples).filter { sample in
            labels.allSatisfy { sample.label($0.key) == $0.value }
        }
        return matches.count == 1 ? matches[0].value : nil
    }

    @Test func mapsHikariLikeDocument() throws {
        let result = try families(Self.hikari)
        #expect(result.map(\.name) == [
            "poolwatch_app_pool_connections", "poolwatch_app_pool_pending", "poolwatch_app_pool_max",
            "poolwatch_app_pool_acquire_seconds", "poolwatch_app_pool_timeouts_total",
            "poolwatch_pool_clients", "poolwatch_pool_servers", "poolwatch_pool_size_limit", "poolwatch_pool_utilization_ratio",
            "poolwatch_pool_saturated", "poolwatch_pool_timeouts_total", "poolwatch_app_pool_pools_dropped",
        ])
        let primary = ["pool": "primary", "database": "orders", "user": "orders_rw"]
        let reporting = ["pool": "reporting", "database": "orders", "user": "orders_ro"]
        #expect(value(result, "poolwatch_app_pool_connections", primary.merging(["state": "active"]) { $1 }) == 8)
        #expect(value(result, "poolwatch_app_pool_connections", primary.merging(["state": "idle"]) { $1 }) == 2)
        #expect(value(result, "poolwatch_app_pool_pending", reporting) == 6)
        #expect(value(result, "poolwatch_app_pool_max", reporting) == 4)
        #expect(value(result, "poolwatch_app_pool_acquire_seconds", primary) == 0.0015)
        #expect(value(result, "poolwatch_app_pool_acquire_seconds", reporting) == 0.25)
        #expect(value(result, "poolwatch_app_pool_timeouts_total", reporting) == 41)
        #expect(result.first { $0.name == "poolwatch_app_pool_timeouts_total" }?.type == .counter)

        // The normalized pool model.
        #expect(value(result, "poolwatch_pool_clients", primary.merging(["kind": "http_json", "state": "active"]) { $1 }) == 8)
        #expect(value(result, "poolwatch_pool_clients", reporting.merging(["state": "waiting"]) { $1 }) == 6)
        #expect(value(result, "poolwatch_pool_servers", primary.merging(["state": "idle"]) { $1 }) == 2)
        #expect(value(result, "poolwatch_pool_size_limit", primary) == 10)
        #expect(value(result, "poolwatch_pool_utilization_ratio", primary) == 0.8)
        #expect(value(result, "poolwatch_pool_utilization_ratio", reporting) == 1)
        #expect(value(result, "poolwatch_pool_saturated", primary) == 0)
        #expect(value(result, "poolwatch_pool_saturated", reporting) == 1)
        // No longest-wait field configured: the family is absent, not faked from the average.
        #expect(!result.contains { $0.name == "poolwatch_pool_wait_seconds_max" })

        // Label order is fixed: kind first on the normalized families, then pool, database, user.
        let clients = try #require(result.first { $0.name == "poolwatch_pool_clients" })
        #expect(clients.samples[0].labels.map(\.name) == ["kind", "pool", "database", "user", "state"])
        let connections = try #require(result.first { $0.name == "poolwatch_app_pool_connections" })
        #expect(connections.samples[0].labels.map(\.name) == ["pool", "database", "user", "state"])
    }

    /// A db-pool-rs-shaped document fills every figure of the model, in seconds.
    @Test func dbPoolRsDocumentFillsTheWholeModel() throws {
        var mapping = HTTPJSONPoolMapping(
            items: Self.path("$.pools"), name: .path(Self.path("$.name")), database: .path(Self.path("$.database")),
            user: .path(Self.path("$.user")), active: Self.path("$.active_connections"), idle: Self.path("$.idle_connections"),
            waiting: Self.path("$.waiting_queue_length"), max: Self.path("$.max_connections"),
            timeoutsTotal: Self.path("$.acquire_timeouts_total"))
        mapping.extended = [
            .acquireP99: Self.path("$.acquire_latency_p99_ms"), .queryP50: Self.path("$.query_latency_p50_ms"),
            .queryP99: Self.path("$.query_latency_p99_ms"), .queriesTotal: Self.path("$.queries_total"),
            .queryErrorsTotal: Self.path("$.query_errors_total"), .slowQueriesTotal: Self.path("$.slow_queries_total"),
        ]
        mapping.acquireLatencyScale = 0.001
        mapping.queryLatencyScale = 0.001
        let result = try HTTPJSONPoolCollector(mapping: mapping).map(body: try appMetricsFixture("db-pool-rs.json"))
        let pool = ["kind": "http_json", "pool": "primary", "database": "orders", "user": "orders_rw"]
        #expect(value(result, "poolwatch_pool_utilization_ratio", pool) == 0.84)
        #expect(value(result, "poolwatch_pool_acquire_duration_seconds", pool.merging(["quantile": "0.99"]) { $1 }) == 0.0125)
        #expect(value(result, "poolwatch_pool_query_duration_seconds", pool.merging(["quantile": "0.99"]) { $1 }) == 0.048)
        #expect(abs((value(result, "poolwatch_pool_query_duration_seconds", pool.merging(["quantile": "0.5"]) { $1 }) ?? 0) - 0.0031) < 1e-12)
        #expect(value(result, "poolwatch_pool_queries_total", pool) == 1_234_567)
        #expect(value(result, "poolwatch_pool_query_errors_total", pool) == 1234)
        #expect(value(result, "poolwatch_pool_slow_queries_total", pool) == 57)
        #expect(value(result, "poolwatch_pool_timeouts_total", pool) == 2)
        // Not configured, so absent: the rate gauges and the quantiles the document lacks.
        #expect(!result.contains { $0.name == "poolwatch_pool_queries_per_second" })
        #expect(value(result, "poolwatch_pool_acquire_duration_seconds", ["quantile": "0.5"]) == nil)

        // A rate instead of a counter, when that is all a document has; a null leaves the figure out.
        mapping.timeoutsTotal = nil
        mapping.extended = [.queriesPerSecond: Self.path("$.queries_per_second"), .queryErrorsPerSecond: Self.path("$.missing_but_null")]
        let json = #"{"pools": [{"name": "p", "database": "d", "user": "u", "active_connections": 1, "idle_connections": 1, "waiting_queue_length": 0, "max_connections": 2, "queries_per_second": 830.2, "missing_but_null": null}]}"#
        let rate = try HTTPJSONPoolCollector(mapping: mapping).map(body: Array(json.utf8))
        #expect(value(rate, "poolwatch_pool_queries_per_second", ["pool": "p"]) == 830.2)
        #expect(!rate.contains { $0.name == "poolwatch_pool_queries_total" || $0.name == "poolwatch_pool_query_errors_per_second" })
    }

    @Test func encodesToValidExposition() throws {
        let text = String(decoding: TextEncoder().encode(try families(Self.hikari)).bytes, as: UTF8.self)
        #expect(text.contains("# TYPE poolwatch_app_pool_timeouts_total counter"))
        #expect(text.contains(#"poolwatch_pool_clients{kind="http_json",pool="reporting",database="orders",user="orders_ro",state="waiting"} 6"#))
    }

    @Test func mapsNestedDocumentWithQuotedKeysAndNumericIds() throws {
        let json = """
            {"data": {"pool-stats": [
              {"id": 7, "db": {"name": "orders"}, "counts": {"in use": 3, "idle": 5, "waiting": 1, "limit": 8},
               "wait": {"longestMs": 1200}}
            ]}}
            """
        let mapping = HTTPJSONPoolMapping(
            items: Self.path("$.data['pool-stats']"), name: .path(Self.path("$.id")), database: .path(Self.path("$.db.name")),
            user: .literal("app"), active: Self.path("$.counts['in use']"), idle: Self.path("$.counts.idle"),
            waiting: Self.path("$.counts.waiting"), max: Self.path("$.counts.limit"),
            waitSecondsMax: Self.path("$.wait.longestMs"), waitSecondsMaxScale: 0.001)
        let result = try families(json, mapping)
        let labels = ["pool": "7", "database": "orders", "user": "app"]
        #expect(value(result, "poolwatch_app_pool_connections", labels.merging(["state": "active"]) { $1 }) == 3)
        #expect(value(result, "poolwatch_pool_wait_seconds_max", labels) == 1.2)
        #expect(value(result, "poolwatch_pool_saturated", labels) == 0)
        #expect(!result.contains { $0.name == "poolwatch_app_pool_acquire_seconds" })
    }

    @Test func singleObjectDocument() throws {
        let mapping = HTTPJSONPoolMapping(
            active: Self.path("$.active"), idle: Self.path("$.idle"), waiting: Self.path("$.waiting"), max: Self.path("$.max"))
        let result = try families(#"{"active": 0, "idle": 0, "waiting": 0, "max": 0}"#, mapping)
        #expect(value(result, "poolwatch_pool_size_limit", ["pool": "default", "database": "", "user": ""]) == 0)
        // max 0: no ratio rather than a division by zero.
        #expect(!result.contains { $0.name == "poolwatch_pool_utilization_ratio" })
    }

    @Test func emptyPoolListIsNotAnError() throws {
        #expect(try families(#"{"pools": []}"#).map(\.name) == ["poolwatch_app_pool_pools_dropped"])
    }

    @Test func nullOptionalFieldIsSkipped() throws {
        let json = #"{"pools": [{"name": "a", "database": "d", "user": "u", "active": 1, "idle": 1, "pending": 0, "max": 2, "acquireTimeAvgMs": null, "timeouts": 0}]}"#
        let result = try families(json)
        #expect(!result.contains { $0.name == "poolwatch_app_pool_acquire_seconds" })
        #expect(value(result, "poolwatch_app_pool_timeouts_total", ["pool": "a"]) == 0)
    }

    @Test func missingRequiredFieldNamesTheJSONPath() {
        let json = #"{"pools": [{"name": "a", "database": "d", "user": "u", "active": 1, "idle": 1, "pending": 0, "max": 2}, {"name": "b", "database": "d", "user": "u", "active": 1, "idle": 1, "max": 2}]}"#
        let mapping = { var m = Self.hikariMapping; m.acquireSeconds = nil; m.timeoutsTotal = nil; return m }()
        #expect(failure(json, mapping) == #"pools.fields.waiting: $.pools[1] has no member "pending""#)
    }

    @Test func missingConfiguredOptionalFieldIsAnError() {
        let json = #"{"pools": [{"name": "a", "database": "d", "user": "u", "active": 1, "idle": 1, "pending": 0, "max": 2, "timeouts": 0}]}"#
        #expect(failure(json) == #"pools.fields.acquire_seconds: $.pools[0] has no member "acquireTimeAvgMs""#)
    }

    @Test func wrongTypeNamesTheJSONPath() {
        let json = #"{"pools": [{"name": "a", "database": "d", "user": "u", "active": "8", "idle": 1, "pending": 0, "max": 2, "acquireTimeAvgMs": 1, "timeouts": 0}]}"#
        #expect(failure(json) == "pools.fields.active: $.pools[0].active is a string, expected a number")
        let nullRequired = #"{"pools": [{"name": "a", "database": "d", "user": "u", "active": null, "idle": 1, "pending": 0, "max": 2}]}"#
        #expect(failure(nullRequired) == "pools.fields.active: $.pools[0].active is null, expected a number")
        let objectName = #"{"pools": [{"name": {"x": 1}, "database": "d", "user": "u", "active": 1, "idle": 1, "pending": 0, "max": 2}]}"#
        #expect(failure(objectName) == "pools.name: $.pools[0].name is an object, expected a string")
    }

    @Test func intermediateOfWrongTypeNamesWhereItBroke() {
        let mapping = HTTPJSONPoolMapping(
            items: Self.path("$.pools"), active: Self.path("$.stats.active"), idle: Self.path("$.idle"),
            waiting: Self.path("$.waiting"), max: Self.path("$.max"))
        #expect(failure(#"{"pools": [{"stats": [1]}]}"#, mapping) == "pools.fields.active: $.pools[0].stats is an array, not an object")
    }

    @Test func missingItemsPath() {
        #expect(failure(#"{"data": []}"#) == #"pools.items $.pools[*]: $ has no member "pools""#)
        #expect(failure(#"{"pools": 3}"#) == "pools.items $.pools[*]: $.pools is a number; [*] needs an array or object")
    }

    @Test func badJSONIsReported() {
        #expect(failure(#"{"pools": [}"#) == "the response is not valid JSON: invalid JSON at line 1, column 12: unexpected '}', expected a value")
        #expect(failure("<html>502 Bad Gateway</html>")?.hasPrefix("the response is not valid JSON") == true)
    }

    @Test func deepNestingIsRefusedNotCrashed() {
        let hostile = String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000)
        #expect(failure(hostile) == "the response is not valid JSON: invalid JSON at line 1, column 65: nesting is deeper than 64 levels")
    }

    @Test func duplicatePoolLabelsAreRefused() {
        let json = #"{"pools": [{"name": "a", "database": "d", "user": "u", "active": 1, "idle": 1, "pending": 0, "max": 2, "acquireTimeAvgMs": 1, "timeouts": 0}, {"name": "a", "database": "d", "user": "u", "active": 1, "idle": 1, "pending": 0, "max": 2, "acquireTimeAvgMs": 1, "timeouts": 0}]}"#
        #expect(failure(json)?.hasPrefix(#"pools $.pools[0] and $.pools[1] have the same labels (pool="a", database="d", user="u")"#) == true)
    }

    /// The document does not decide how many series there are: pools beyond `max_pools` are dropped
    /// (the first ones in document order are kept) and counted.
    @Test func poolsBeyondMaxPoolsAreDroppedAndCounted() throws {
        let json = "[" + (0..<250).map { #"{"name": "p\#($0)", "active": 1, "idle": 1, "waiting": 0, "max": 2}"# }
            .joined(separator: ",") + "]"
        let mapping = HTTPJSONPoolMapping(
            items: Self.path("$[*]"), name: .path(Self.path("$.name")), active: Self.path("$.active"), idle: Self.path("$.idle"),
            waiting: Self.path("$.waiting"), max: Self.path("$.max"))
        for (limit, kept) in [(HTTPJSONTargetConfig.defaultMaxPools, 200), (10, 10), (1000, 250)] {
            let families = try HTTPJSONPoolCollector(mapping: mapping, maxPools: limit).map(body: Array(json.utf8))
            let pending = try #require(families.first { $0.name == "poolwatch_app_pool_pending" })
            #expect(pending.samples.count == kept)
            #expect(pending.samples.last?.label("pool") == "p\(kept - 1)")
            #expect(families.first { $0.name == "poolwatch_app_pool_pools_dropped" }?.samples.first?.value == Double(250 - kept))
        }
    }
}
