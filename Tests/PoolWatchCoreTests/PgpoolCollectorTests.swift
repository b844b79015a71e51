import Foundation
import Testing

@testable import PoolWatchCore

@Suite struct PgpoolCollectorTests {
    @Test func poolNodesCapturedFrom43() throws {
        let families = try mapFixture(PgpoolNodesCollector(), "pgpool-4.3", "pool_nodes")
        let node = ["hostname": "127.0.0.1", "port": "54479", "role": "primary"]
        #expect(value(families, "pgpool2_pool_nodes_status", node) == 1)
        #expect(value(families, "pgpool2_pool_nodes_select_cnt_total", node) == 5)
        #expect(value(families, "pgpool2_pool_nodes_replication_delay", node) == 0)
        #expect(labelNames(families, "pgpool2_pool_nodes_status") == ["hostname", "port", "role"])
        #expect(family(families, "pgpool2_pool_nodes_select_cnt_total")?.type == .counter)
        #expect(family(families, "pgpool2_pool_nodes_status")?.type == .gauge)
        #expect(families.count == 3)
        expectCleanExposition(families)
    }

    @Test func poolNodesStatusMappingAndDelayUnits() throws {
        let families = try mapFixture(PgpoolNodesCollector(), "pgpool-4.3", "pool_nodes-two-nodes")
        let primary = ["hostname": "db-primary", "port": "5432", "role": "primary"]
        let down = ["hostname": "db-standby", "port": "5432", "role": "standby"]
        let waiting = ["hostname": "db-standby2", "port": "5432", "role": "standby"]
        #expect(value(families, "pgpool2_pool_nodes_status", primary) == 1)
        #expect(value(families, "pgpool2_pool_nodes_status", down) == 0)
        #expect(value(families, "pgpool2_pool_nodes_status", waiting) == 1)
        #expect(value(families, "pgpool2_pool_nodes_select_cnt_total", primary) == 120345)
        #expect(value(families, "pgpool2_pool_nodes_replication_delay", down) == 1_048_576)
        #expect(value(families, "pgpool2_pool_nodes_replication_delay", waiting) == 0.25)
        expectCleanExposition(families)
    }

    @Test func poolNodesWithEqualLabelsAreMerged() {
        // pgpool2_exporter#16: two nodes with an empty hostname and port made duplicate series.
        let result = QueryResult(
            columns: ["node_id", "hostname", "port", "status", "role", "select_cnt"],
            rows: [["0", "", "", "down", "standby", "3"], ["1", "", "", "up", "standby", "4"], ["2", nil, nil, nil, "standby", nil]])
        let families = PgpoolNodesCollector.table.families(result)
        let empty = ["hostname": "", "port": "", "role": "standby"]
        #expect(value(families, "pgpool2_pool_nodes_status", empty) == 1)
        #expect(value(families, "pgpool2_pool_nodes_select_cnt_total", empty) == 7)
        #expect(family(families, "pgpool2_pool_nodes_status")?.samples.count == 1)
        #expect(family(families, "pgpool2_pool_nodes_replication_delay") == nil)
        expectCleanExposition(families)
    }

    @Test func processesCountChildrenWithClients() throws {
        let families = try mapFixture(PgpoolProcessesCollector(), "pgpool-4.3", "pool_processes")
        #expect(value(families, "pgpool2_frontend_processes") == 4)
        #expect(value(families, "pgpool2_frontend_used", ["username": "postgres", "database": "postgres"]) == 2)
        #expect(value(families, "pgpool2_frontend_used", ["username": "postgres", "database": "template1"]) == 1)
        #expect(labelNames(families, "pgpool2_frontend_used") == ["username", "database"])
        #expect(value(families, "pgpool2_frontend_used_ratio") == 0.75)
        expectCleanExposition(families)
    }

    @Test func processesWithoutClientsOrColumns() throws {
        let idle = QueryResult(columns: ["pool_pid", "database", "username", "status"],
                               rows: [["1", "", "", "Wait for connection"], ["2", nil, nil, "Wait for connection"]])
        let families = try PgpoolProcessesCollector().map([idle], server: ServerFacts(versionNumber: 0))
        #expect(value(families, "pgpool2_frontend_processes") == 2)
        #expect(family(families, "pgpool2_frontend_used") == nil)
        #expect(value(families, "pgpool2_frontend_used_ratio") == 0)

        let bare = QueryResult(columns: ["pool_pid"], rows: [["1"]])
        let bareFamilies = try PgpoolProcessesCollector().map([bare], server: ServerFacts(versionNumber: 0))
        #expect(value(bareFamilies, "pgpool2_frontend_processes") == 1)
        #expect(value(bareFamilies, "pgpool2_frontend_used_ratio") == 0)

        let empty = try PgpoolProcessesCollector().map([QueryResult(columns: [], rows: [])], server: ServerFacts(versionNumber: 0))
        #expect(value(empty, "pgpool2_frontend_processes") == 0)
        #expect(family(empty, "pgpool2_frontend_used_ratio") == nil)
    }

    @Test func versionInfoAndFacts() throws {
        let collector = PgpoolVersionCollector()
        let result = try fixture("pgpool-4.3", "pool_version")
        #expect(collector.facts(from: [result]) == ServerFacts(versionNumber: 40305))
        let families = try collector.map([result], server: ServerFacts(versionNumber: 40305))
        #expect(value(families, "pgpool2_version", ["version": "4.3.5"]) == 1)
        let odd = QueryResult(columns: ["pool_version"], rows: [["devel"]])
        #expect(value(try collector.map([odd], server: ServerFacts(versionNumber: 0)), "pgpool2_version", ["version": "devel"]) == 1)
        #expect(try collector.map([QueryResult(columns: [], rows: [])], server: ServerFacts(versionNumber: 0)).isEmpty)
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: promtoolPath)))
    func promtoolCheckMetricsPrintsNothing() throws {
        var round = try mapFixture(PgpoolVersionCollector(), "pgpool-4.3", "pool_version")
        round += try mapFixture(PgpoolNodesCollector(), "pgpool-4.3", "pool_nodes-two-nodes")
        round += try mapFixture(PgpoolProcessesCollector(), "pgpool-4.3", "pool_processes")
        round += PoolModel.families(from: round)
        expectCleanExposition(round)
        #expect(try promtoolProblems(["pgpool": round]) == "")
    }
}
