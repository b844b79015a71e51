import Testing

@testable import PoolWatchCore

/// The `kind: app_metrics` keys of a target and the new http_json fields, errors named by key path.
@Suite struct AppMetricsConfigTests {
    func load(_ targets: String) -> (config: PoolwatchConfig?, errors: [String]) {
        do {
            return (try ConfigLoader(environment: [:], readFile: { _ in "" }).load(yaml: "targets:\n" + targets), [])
        } catch {
            return (nil, error.errors.map(\.description))
        }
    }

    @Test func presetsParse() throws {
        let (config, errors) = load("""
              - {name: java, kind: app_metrics, url: "http://127.0.0.1:8080/actuator/prometheus", preset: hikaricp, database_value: orders}
              - {name: go, kind: app_metrics, url: "http://127.0.0.1:2112/metrics", preset: pgxpool, pool_label: db_name, database_label: db_name}
              - name: rust
                kind: app_metrics
                url: http://127.0.0.1:9000/metrics
                preset: db_pool_rs
                prefix: orders_pool
                user_value: orders_rw
                max_response_bytes: 1MiB
                mapping:
                  query_seconds: {family: orders_query_seconds, scale: 1}
            """)
        #expect(errors == [])
        let targets = try #require(config?.targets)
        #expect(targets.map(\.kind) == [.appMetrics, .appMetrics, .appMetrics])
        let java = try #require(targets[0].appMetrics)
        #expect(java.mapping.values[.active]?.family == "hikaricp_connections_active")
        #expect(java.mapping.database == .literal("orders"))
        #expect(java.maxResponseBytes == AppMetricsTargetConfig.defaultMaxResponseBytes)
        #expect(targets[0].redactedDSN == "http://127.0.0.1:8080/actuator/prometheus")
        let go = try #require(targets[1].appMetrics)
        #expect(go.mapping.poolLabel == "db_name" && go.mapping.database == .label("db_name"))
        let rust = try #require(targets[2].appMetrics)
        #expect(rust.mapping.values[.queriesTotal]?.family == "orders_pool_queries_total")
        #expect(rust.mapping.values[.queryP99] == .init("orders_pool_query_latency_p99", scale: 0.001))
        #expect(rust.mapping.querySeconds?.family == "orders_query_seconds")
        #expect(rust.mapping.user == .literal("orders_rw"))
        #expect(rust.maxResponseBytes == 1 << 20)
    }

    @Test func mappingAloneParses() throws {
        let (config, errors) = load("""
              - name: py
                kind: app_metrics
                url: http://127.0.0.1:8000/metrics
                pool_label: engine
                mapping:
                  active: sqlalchemy_pool_checked_out
                  idle: {family: sqlalchemy_pool_checked_in}
                  max: sqlalchemy_pool_size
                  acquire_seconds: sqlalchemy_pool_acquire_seconds
                  queries_per_second: app_db_qps
            """)
        #expect(errors == [])
        let mapping = try #require(config?.targets.first?.appMetrics?.mapping)
        #expect(mapping.poolLabel == "engine")
        #expect(mapping.values.count == 4)
        #expect(mapping.acquireSeconds?.family == "sqlalchemy_pool_acquire_seconds")

        // A rate configured over a preset's counter replaces it.
        let (rated, rateErrors) = load("""
              - {name: rs, kind: app_metrics, url: "http://127.0.0.1/metrics", preset: db_pool_rs, mapping: {queries_per_second: db_pool_rs_queries_per_second}}
            """)
        #expect(rateErrors == [])
        let values = try #require(rated?.targets.first?.appMetrics?.mapping.values)
        #expect(values[.queriesTotal] == nil && values[.queriesPerSecond]?.family == "db_pool_rs_queries_per_second")
    }

    @Test func mistakesAreNamed() {
        let (_, errors) = load("""
              - {name: a, kind: app_metrics, url: "http://127.0.0.1/metrics"}
              - {name: b, kind: app_metrics, url: "http://127.0.0.1/metrics", preset: hikari}
              - {name: c, kind: app_metrics, url: "http://127.0.0.1/metrics", preset: hikaricp, prefix: x}
              - {name: d, kind: app_metrics, preset: pgxpool, dsn: "host=x"}
              - {name: e, kind: app_metrics, url: "http://127.0.0.1/metrics", mapping: {active: "not a name"}}
              - {name: f, kind: app_metrics, url: "http://127.0.0.1/metrics", mapping: {idle: x, bogus: y}}
              - {name: g, kind: http_json, url: "http://127.0.0.1/", preset: hikaricp, pools: {fields: {active: $.a, idle: $.i, waiting: $.w, max: $.m}}}
              - {name: h, kind: app_metrics, url: "http://127.0.0.1/metrics", preset: pgxpool, database_label: db, database_value: x}
              - {name: i, kind: app_metrics, url: "http://127.0.0.1/metrics", mapping: {active: a, queries_total: q, queries_per_second: qps}}
            """)
        #expect(errors.contains("targets[8].mapping.queries_per_second: conflicts with targets[8].mapping.queries_total: give the counter when the application has one, else the rate"))
        #expect(errors.contains("targets[0].preset: is required for kind app_metrics unless mapping is given (one of: hikaricp, pgxpool, db_pool_rs)"))
        #expect(errors.contains { $0.hasPrefix("targets[1].preset: ") })
        #expect(errors.contains("targets[2].prefix: applies only to preset db_pool_rs"))
        #expect(errors.contains("targets[3].dsn: does not apply to kind app_metrics (give url, url_file or url_env)"))
        #expect(errors.contains("targets[3].url: is required for kind app_metrics (or url_file / url_env when the URL holds a secret)"))
        #expect(errors.contains { $0.hasPrefix("targets[4].mapping.active: ") && $0.contains("is not a metric family name") })
        #expect(errors.contains { $0.hasPrefix("targets[5].mapping.bogus") })
        #expect(errors.contains("targets[6].preset: applies only to kind app_metrics, not http_json"))
        #expect(errors.contains("targets[7].database_value: conflicts with targets[7].database_label: give a label or a literal value, not both"))
    }

    @Test func httpJSONExtendedFieldsParse() throws {
        let (config, errors) = load("""
              - name: rs
                kind: http_json
                url: http://127.0.0.1:9000/pool-stats
                pools:
                  items: "$.pools"
                  fields:
                    active: "$.active_connections"
                    idle: "$.idle_connections"
                    waiting: "$.waiting_queue_length"
                    max: "$.max_connections"
                    acquire_p99: "$.acquire_latency_p99_ms"
                    acquire_latency_scale: 0.001
                    query_p50: "$.query_latency_p50_ms"
                    query_p99: "$.query_latency_p99_ms"
                    query_latency_scale: 0.001
                    queries_total: "$.queries_total"
                    query_errors_total: "$.query_errors_total"
                    slow_queries_total: "$.slow_queries_total"
            """)
        #expect(errors == [])
        let pools = try #require(config?.targets.first?.httpJSON?.pools)
        #expect(pools.extended.count == 6)
        #expect(pools.acquireLatencyScale == 0.001 && pools.queryLatencyScale == 0.001)

        let (_, conflict) = load("""
              - name: rs
                kind: http_json
                url: http://127.0.0.1:9000/pool-stats
                pools: {fields: {active: $.a, idle: $.i, waiting: $.w, max: $.m, queries_total: $.q, queries_per_second: $.qps, query_latency_scale: 0.001}}
            """)
        #expect(conflict.contains { $0.hasPrefix("targets[0].pools.fields.queries_per_second: conflicts with") })
        #expect(conflict.contains("targets[0].pools.fields.query_latency_scale: is given without targets[0].pools.fields.query_p99"))
    }
}
