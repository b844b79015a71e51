import Testing

@testable import PoolWatchCore

/// `labels`, `database_sizes`, `table_stats`, `connection_budget`, `queries` and `queries_file`
/// (postgres_exporter's queries.yaml).
@Suite struct CoverageConfigTests {
    static let exporterQueries = """
        pg_replication:
          query: "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 ELSE 1 END AS lag"
          master: true
          metrics:
            - lag:
                usage: "GAUGE"
                description: "Replication lag behind master in seconds"
        app_jobs:
          query: "SELECT queue, count(*) AS jobs, 0 AS ignored FROM jobs GROUP BY 1"
          cache_seconds: 60
          metrics:
            - queue: {usage: "LABEL", description: "Queue"}
            - jobs: {usage: "COUNTER", description: "Jobs"}
            - ignored: {usage: "DISCARD", description: "x"}
        """

    func load(_ yaml: String, files: [String: String] = [:]) throws(ConfigErrors) -> PoolwatchConfig {
        try ConfigLoader(environment: [:], readFile: { path in
            guard let text = files[path] else { throw CollectorError("No such file or directory") }
            return text
        }).load(yaml: yaml)
    }

    func errors(_ yaml: String, files: [String: String] = [:]) -> [String] {
        do {
            _ = try load(yaml, files: files)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func labelsSizesAndQueriesParse() throws {
        let config = try load("""
            targets:
              - name: pg
                kind: postgres
                labels: {env: prod, cluster: prod-eu1}
                database_sizes: 10m
                queries:
                  - name: app_queue
                    sql: SELECT queue, count(*) AS depth FROM jobs GROUP BY queue
                    interval: 1m
                    timeout: 2s
                    labels: [queue]
                    gauges: [depth]
                    help: {depth: Jobs waiting.}
                queries_file: /etc/queries.yaml
              - {name: pg2, kind: postgres, database_sizes: "off"}
            """, files: ["/etc/queries.yaml": Self.exporterQueries])
        let target = config.targets[0]
        #expect(target.labels == [Label("cluster", "prod-eu1"), Label("env", "prod")])
        #expect(target.seriesLabels.first == Label("target", "pg"))
        #expect(target.databaseSizeInterval == .seconds(600))
        #expect(config.targets[1].databaseSizeInterval == nil)
        #expect(TargetConfig(name: "x", kind: .postgres).databaseSizeInterval == .seconds(300))
        #expect(target.queries.map(\.name) == ["app_queue", "pg_replication", "app_jobs"])
        #expect(target.queries[0].interval == .seconds(60) && target.queries[0].timeout == .seconds(2) && target.queries[0].help["depth"] == "Jobs waiting.")
        #expect(target.queries[1].gauges == ["lag"] && target.queries[1].help["lag"] == "Replication lag behind master in seconds")
        #expect(target.queries[2].labels == ["queue"] && target.queries[2].counters == ["jobs"] && target.queries[2].gauges.isEmpty)
        #expect(target.queries[2].interval == .seconds(60))
    }

    @Test func mistakesAreReported() {
        let found = errors("""
            targets:
              - name: pg
                kind: postgres
                labels: {target: x, __bad: y}
                database_sizes: sometimes
                queries:
                  - {name: 1bad, sql: SELECT 1 AS x, gauges: [x]}
                  - {name: nothing, sql: SELECT 1}
                  - {name: twice, sql: SELECT 1 AS x, labels: [x], gauges: [x]}
              - name: bouncer
                kind: pgbouncer
                dsn: host=x dbname=pgbouncer
                queries: []
            """)
        #expect(found.contains { $0.contains("labels.target") && $0.contains("not a usable label name") })
        #expect(found.contains { $0.contains("labels.__bad") })
        #expect(found.contains { $0.contains("database_sizes") && $0.contains("\"sometimes\"") })
        #expect(found.contains { $0.contains("queries[0].name") && $0.contains("not a metric name") })
        #expect(found.contains { $0.contains("queries[1]") && $0.contains("no gauges or counters") })
        #expect(found.contains { $0.contains("queries[2]") && $0.contains("listed twice") })
        #expect(found.contains { $0.contains("targets[1].queries") && $0.contains("only to kind postgres") })
    }

    @Test func unsupportedExporterFeaturesAreRefused() {
        let file = """
            mapped:
              query: SELECT 1 AS a
              runonserver: ">=10.0.0"
              metrics:
                - a: {usage: MAPPEDMETRIC, description: x}
            """
        let found = errors("targets: [{name: pg, kind: postgres, queries_file: /q.yaml}]", files: ["/q.yaml": file])
        #expect(found.contains { $0.contains("runonserver") && $0.contains("not supported") })
        #expect(found.contains { $0.contains("MAPPEDMETRIC") && $0.contains("not supported") })
        #expect(errors("targets: [{name: pg, kind: postgres, queries_file: /missing.yaml}]").contains { $0.contains("cannot read") })
    }

    @Test func otherDatabasesAndTheBudgetParse() throws {
        let config = try load("""
            targets:
              - name: pg
                kind: postgres
                connection_budget: 3
                table_stats: {databases: [app, billing], limit: 5}
                queries:
                  - {name: jobs, sql: SELECT 1 AS n, gauges: [n], databases: [app, billing]}
                  - {name: here, sql: SELECT 1 AS n, gauges: [n]}
              - {name: all, kind: postgres, table_stats: {databases: all, max_databases: 7}}
              - {name: capped, kind: postgres, table_stats: {databases: all}}
              - {name: plain, kind: postgres}
            """)
        let target = config.targets[0]
        #expect(target.connectionBudget == 3)
        #expect(target.tableStatsDatabases == .list(["app", "billing"]))
        #expect(target.queries[0].databases == ["app", "billing"])
        #expect(target.queries[1].databases == nil)
        #expect(config.targets[1].tableStatsDatabases == .all(max: 7))
        #expect(config.targets[2].tableStatsDatabases == .all(max: DatabaseSelection.defaultMaxDatabases))
        #expect(config.targets[3].tableStatsDatabases == nil && config.targets[3].connectionBudget == 1)
    }

    @Test func otherDatabaseMistakesAreReportedWithTheirKeyPath() {
        let found = errors("""
            targets:
              - name: pg
                kind: postgres
                connection_budget: 0
                table_stats: {databases: some, max_databases: 5}
                queries:
                  - {name: jobs, sql: SELECT 1 AS n, gauges: [n], databases: all}
                  - {name: twice, sql: SELECT 1 AS n, gauges: [n], databases: [app, app]}
                  - {name: none, sql: SELECT 1 AS n, gauges: [n], databases: []}
              - {name: listed, kind: postgres, table_stats: {databases: [app], max_databases: 5}}
              - {name: capless, kind: postgres, table_stats: {max_databases: 5}}
              - {name: huge, kind: postgres, connection_budget: 100, table_stats: {databases: all, max_databases: 0}}
              - {name: bouncer, kind: pgbouncer, dsn: host=x dbname=pgbouncer, connection_budget: 2}
            """)
        #expect(found.contains { $0.contains("targets[0].connection_budget") && $0.contains("out of range") }, "\(found)")
        #expect(found.contains { $0.contains("targets[0].table_stats.databases") && $0.contains("\"some\"") })
        #expect(found.contains { $0.contains("targets[0].queries[0].databases") && $0.contains("only by table_stats") })
        #expect(found.contains { $0.contains("targets[0].queries[1].databases[1]") && $0.contains("listed twice") })
        #expect(found.contains { $0.contains("targets[0].queries[2].databases") && $0.contains("is empty") })
        #expect(found.contains { $0.contains("targets[1].table_stats.max_databases") && $0.contains("only with databases: all") })
        #expect(found.contains { $0.contains("targets[2].table_stats.max_databases") && $0.contains("only with databases: all") })
        #expect(found.contains { $0.contains("targets[3].connection_budget") && $0.contains("out of range") })
        #expect(found.contains { $0.contains("targets[3].table_stats.max_databases") && $0.contains("out of range") })
        #expect(found.contains { $0.contains("targets[4].connection_budget") && $0.contains("only to kind postgres") })
    }
}
