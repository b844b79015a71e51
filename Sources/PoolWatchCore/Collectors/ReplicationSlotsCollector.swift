/// `pg_replication_slots`: whether each slot is in use and how much WAL it holds back.
///
/// An inactive slot keeps every WAL segment since its `restart_lsn`, so a forgotten slot fills the disk;
/// `pg_replication_slots_pg_wal_lsn_diff` (postgres_exporter's name) is that retained WAL in bytes.
/// `wal_status` and `safe_wal_size` exist from PostgreSQL 13; before that their families are absent.
/// Slots are bounded by `max_replication_slots`, and the LIMIT guards a server configured with thousands.
public struct ReplicationSlotsCollector: SQLCollector {
    public let name = "replication_slots"
    public static let maxSlots = 100
    public init() {}

    public func statements(for server: ServerFacts) -> [String] {
        let current = "CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END"
        let since13 = server.versionNumber >= 130000 ? ", s.wal_status, s.safe_wal_size" : ""
        return ["""
            SELECT s.slot_name, s.slot_type, coalesce(s.database, '') AS database, s.active, \
            pg_wal_lsn_diff(c.lsn, s.restart_lsn) AS retained_bytes\(since13) \
            FROM pg_replication_slots s CROSS JOIN (SELECT \(current) AS lsn) c \
            ORDER BY s.slot_name LIMIT \(Self.maxSlots)
            """]
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        let rows = result.namedRows
        func key(_ row: QueryResult.Row) -> [Label] {
            [Label("slot_name", row.label("slot_name")), Label("slot_type", row.label("slot_type")),
             Label("database", row.label("database"))]
        }
        var families = [
            MetricFamily("pg_replication_slots_active", help: "1 if a connection is using the slot.",
                         samples: rows.compactMap { row in row.double("active").map { Sample(key(row), $0) } }),
            MetricFamily("pg_replication_slots_pg_wal_lsn_diff",
                         help: "WAL retained by the slot (from its restart_lsn to the current position), bytes.",
                         samples: rows.compactMap { row in row.double("retained_bytes").map { Sample(key(row), $0) } }),
        ]
        if result.columns.contains("wal_status") {
            families.append(MetricFamily(
                "pg_replication_slots_wal_status", help: "1 for the slot's wal_status (reserved, extended, unreserved, lost).",
                samples: rows.compactMap { row in row["wal_status"].map { Sample(key(row) + [Label("wal_status", $0)], 1) } }))
        }
        if result.columns.contains("safe_wal_size") {
            families.append(MetricFamily(
                "pg_replication_slots_safe_wal_size_bytes",
                help: "WAL that can still be written before the slot is lost to max_slot_wal_keep_size, bytes (absent when unlimited).",
                samples: rows.compactMap { row in row.double("safe_wal_size").map { Sample(key(row), $0) } }))
        }
        return families
    }
}
