/// `SHOW MEM` → PgBouncer's internal allocation caches, labelled by cache `name` (`user_cache`,
/// `client_cache`, `iobuf_cache`, …). Not exported by pgbouncer_exporter.
///
/// Why: a PgBouncer whose `client_cache` or `iobuf_cache` keeps growing is leaking connections or
/// buffering slow clients; `memtotal` shows it before the OOM killer does. Columns are `name, size`
/// (bytes per item), `used`, `free` (items) and `memtotal` (bytes allocated for the cache).
public struct PgBouncerMemCollector: SQLCollector {
    public let name = "pgbouncer_mem"
    public init() {}

    public func statements(for server: ServerFacts) -> [String] { ["SHOW MEM"] }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        Self.table.families(results.first)
    }

    static let table = ColumnTable(
        labels: [.init("name", from: "name")],
        metrics: [
            .column(["size"], "pgbouncer_mem_item_size_bytes", help: "Size of one item of the cache, bytes."),
            .column(["used"], "pgbouncer_mem_used_items", help: "Items of the cache in use."),
            .column(["free"], "pgbouncer_mem_free_items", help: "Items of the cache allocated but free."),
            .column(["memtotal"], "pgbouncer_mem_allocated_bytes", help: "Memory allocated for the cache, bytes (memtotal)."),
        ])
}
