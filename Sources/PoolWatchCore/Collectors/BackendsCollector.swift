/// `pg_stat_activity` row by row, for diagnosis only: the client backends that are not idle (who runs,
/// who sits idle in a transaction, who waits on whose lock). The settings the advice quotes come from
/// SettingsCollector.swift, which reads them only when the configuration changes.
///
/// Exports no series: pids, client addresses and ports are unbounded, so they stay rows in the snapshot
/// (see ``ConnectionRows``). Bounded by `limit` rows, the oldest transactions first. `pg_blocking_pids`
/// takes the lock manager's locks, so it is called only for backends that wait on a lock.
public struct BackendsCollector: SQLCollector {
    public let name = "backends"
    public var limit: Int
    public var includeQuery: Bool
    public var queryLength: Int

    public init(limit: Int = 200, includeQuery: Bool = false, queryLength: Int = 120) {
        self.limit = limit
        self.includeQuery = includeQuery
        self.queryLength = queryLength
    }

    public func statements(for server: ServerFacts) -> [String] {
        let query = includeQuery ? ", left(query, \(max(1, queryLength))) AS query" : ""
        return ["""
            SELECT pid, coalesce(datname, '') AS datname, coalesce(usename, '') AS usename, \
            coalesce(application_name, '') AS application_name, coalesce(host(client_addr), '') AS client_addr, client_port, \
            coalesce(state, '') AS state, extract(epoch FROM clock_timestamp() - xact_start) AS xact_age, \
            extract(epoch FROM xact_start) AS xact_start, extract(epoch FROM clock_timestamp() - state_change) AS state_age, \
            extract(epoch FROM clock_timestamp() - query_start) AS query_age, \
            coalesce(wait_event_type, '') AS wait_event_type, coalesce(wait_event, '') AS wait_event, \
            CASE WHEN wait_event_type = 'Lock' THEN array_to_string(pg_blocking_pids(pid), ',') END AS blocked_by\(query) \
            FROM pg_stat_activity \
            WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state IS DISTINCT FROM 'idle' \
            ORDER BY xact_start NULLS LAST, pid LIMIT \(max(1, limit))
            """]
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] { [] }

    public func rows(from results: [QueryResult]) -> ConnectionRows? {
        guard let result = results.first else { return nil }
        var rows = ConnectionRows()
        rows.backends = Backend.rows(result).map { backend in
            var masked = backend
            masked.query = backend.query.map(QueryTextMasking.mask)
            return masked
        }
        return rows
    }
}
