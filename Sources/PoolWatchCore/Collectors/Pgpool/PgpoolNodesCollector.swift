/// `SHOW POOL_NODES` → `pgpool2_pool_nodes_*{hostname,port,role}`, one series per backend node, with
/// pgpool2_exporter's names and labels (docs/metric-names.md §4).
///
/// - `pgpool2_pool_nodes_status`: 1 when the node is `up` or `waiting` (attached, no client used it
///   yet), 0 when `down`, `unused` or anything else, as the peer maps it.
/// - `pgpool2_pool_nodes_select_cnt_total`: the peer exports this cumulative SELECT count as
///   `pgpool2_pool_nodes_select_cnt` typed counter but without `_total`, which Prometheus naming
///   (and `promtool check metrics`) require; poolwatch adds the suffix. Queries written against the
///   peer need `pgpool2_pool_nodes_select_cnt` → `pgpool2_pool_nodes_select_cnt_total`.
/// - `pgpool2_pool_nodes_replication_delay`: the standby's lag as Pgpool-II reports it — bytes of WAL,
///   or seconds when `delay_threshold_by_time` is set (4.4+). The leading number of the cell is read, so
///   a unit word after it does not lose the sample.
/// Rows with equal labels (e.g. two nodes with an empty hostname, pgpool2_exporter#16) are merged instead
/// of producing duplicate series.
public struct PgpoolNodesCollector: SQLCollector {
    public let name = "pgpool_nodes"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] { ["SHOW POOL_NODES"] }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        Self.table.families(results.first)
    }

    static let table = ColumnTable(
        labels: [.init("hostname", from: "hostname"), .init("port", from: "port"), .init("role", from: "role")],
        metrics: [
            ColumnTable.Metric(
                "pgpool2_pool_nodes_status", help: "Backend node status: 1 for up or waiting, 0 for down or unused.",
                merge: .max, value: nodeStatus),
            .column(["select_cnt"], "pgpool2_pool_nodes_select_cnt_total",
                    help: "SELECT statements issued to the backend (pgpool2_exporter: pgpool2_pool_nodes_select_cnt).",
                    type: .counter),
            ColumnTable.Metric(
                "pgpool2_pool_nodes_replication_delay",
                help: "Replication delay of the backend as Pgpool-II reports it: bytes of WAL, or seconds with delay_threshold_by_time.",
                merge: .max, value: { leadingNumber($0["replication_delay"]) }),
        ])

    static func nodeStatus(_ row: QueryResult.Row) -> Double? {
        guard let status = row["status"] else { return nil }
        switch status.lowercased() {
        case "up", "waiting", "true": return 1
        default: return 0
        }
    }

    /// The number at the start of `text` ("1048576", "0.5 second"), or nil.
    static func leadingNumber(_ text: String?) -> Double? {
        guard let text else { return nil }
        let trimmed = text.trimmingSpaces()
        return Double(trimmed) ?? Double(trimmed.prefix { $0.isNumber || $0 == "." || $0 == "-" })
    }
}
