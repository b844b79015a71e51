/// `pg_stat_activity`, aggregated in SQL so the cost and the series count never grow with the
/// number of backends.
///
/// The grouped query returns one row per (datname, state, usename, application_name, backend_type,
/// wait_event_type). The mapping then bounds `application_name`: the `topApplications` names with the
/// most backends keep their name, every other name becomes `other`, and the groups are re-aggregated.
public struct ActivityCollector: SQLCollector {
    public let name = "stat_activity"
    public var topApplications: Int

    public init(topApplications: Int = 10) {
        self.topApplications = topApplications
    }

    public static let groupColumns = ["datname", "state", "usename", "application_name", "backend_type", "wait_event_type"]

    public static let query = """
        SELECT coalesce(datname, '') AS datname, coalesce(state, '') AS state, coalesce(usename, '') AS usename, \
        coalesce(application_name, '') AS application_name, coalesce(backend_type, '') AS backend_type, \
        coalesce(wait_event_type, '') AS wait_event_type, \
        count(*) AS count, \
        coalesce(max(extract(epoch FROM clock_timestamp() - xact_start)), 0) AS max_tx_duration, \
        coalesce(max(extract(epoch FROM clock_timestamp() - state_change)) FILTER \
        (WHERE state IN ('idle in transaction', 'idle in transaction (aborted)')), 0) AS max_idle_in_tx, \
        coalesce(max(extract(epoch FROM clock_timestamp() - query_start)) FILTER (WHERE state = 'active'), 0) \
        AS max_query_duration, \
        count(*) FILTER (WHERE CASE WHEN wait_event_type = 'Lock' THEN cardinality(pg_blocking_pids(pid)) > 0 \
        ELSE false END) AS blocked \
        FROM pg_stat_activity WHERE pid <> pg_backend_pid() \
        GROUP BY 1, 2, 3, 4, 5, 6
        """

    public func statements(for server: ServerFacts) -> [String] { [Self.query] }

    /// One grouped row of the query, typed.
    public struct Group: Sendable, Equatable {
        public var keys: [String]  // values for `groupColumns`, in order
        public var count: Double
        public var maxTxDuration: Double
        public var maxIdleInTransaction: Double
        public var maxQueryDuration: Double
        public var blocked: Double
    }

    public func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily] {
        guard let result = results.first else { return [] }
        let groups = result.namedRows.map { row in
            Group(
                keys: Self.groupColumns.map { row.label($0) },
                count: row.double("count") ?? 0,
                maxTxDuration: row.double("max_tx_duration") ?? 0,
                maxIdleInTransaction: row.double("max_idle_in_tx") ?? 0,
                maxQueryDuration: row.double("max_query_duration") ?? 0,
                blocked: row.double("blocked") ?? 0)
        }
        return Self.families(from: Self.boundApplications(groups, top: topApplications))
    }

    /// Keeps the `top` application names with the most backends (ties broken by name, so the choice is
    /// stable) and folds every other name into `other`, merging groups that become equal.
    public static func boundApplications(_ groups: [Group], top: Int) -> [Group] {
        let appIndex = groupColumns.firstIndex(of: "application_name")!
        var totals: [String: Double] = [:]
        for group in groups { totals[group.keys[appIndex], default: 0] += group.count }
        let kept = Set(totals.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(max(0, top)).map(\.key))
        var merged: [[String]: Group] = [:]
        var order: [[String]] = []
        for var group in groups {
            if !kept.contains(group.keys[appIndex]) { group.keys[appIndex] = "other" }
            if var existing = merged[group.keys] {
                existing.count += group.count
                existing.maxTxDuration = max(existing.maxTxDuration, group.maxTxDuration)
                existing.maxIdleInTransaction = max(existing.maxIdleInTransaction, group.maxIdleInTransaction)
                existing.maxQueryDuration = max(existing.maxQueryDuration, group.maxQueryDuration)
                existing.blocked += group.blocked
                merged[group.keys] = existing
            } else {
                merged[group.keys] = group
                order.append(group.keys)
            }
        }
        return order.map { merged[$0]! }
    }

    static func families(from groups: [Group]) -> [MetricFamily] {
        var count = MetricFamily(
            "pg_stat_activity_backends", help: "Backends (postgres_exporter: pg_stat_activity_count) per database, state, user, application, backend type and wait event type.")
        var maxTx = MetricFamily(
            "pg_stat_activity_max_tx_duration", help: "Longest running transaction in the group, seconds.")
        // The poolwatch-specific families are per (datname, usename, application_name): that is what an
        // on-call engineer needs to find the leaking application, without the state/wait dimensions.
        var idle: [[String]: Double] = [:]
        var query: [[String]: Double] = [:]
        var blocked: [[String]: Double] = [:]
        var lockWaiting: [[String]: Double] = [:]
        for group in groups {
            let labels = zip(groupColumns, group.keys).map { Label($0, $1) }
            count.samples.append(Sample(labels, group.count))
            maxTx.samples.append(Sample(labels, group.maxTxDuration))
            let who = [group.keys[0], group.keys[2], group.keys[3]]
            idle[who] = max(idle[who] ?? 0, group.maxIdleInTransaction)
            query[who] = max(query[who] ?? 0, group.maxQueryDuration)
            blocked[who, default: 0] += group.blocked
            lockWaiting[who, default: 0] += group.keys[5] == "Lock" ? group.count : 0
        }
        func family(_ name: String, _ help: String, _ values: [[String]: Double]) -> MetricFamily {
            MetricFamily(name, help: help, samples: values.map { key, value in
                Sample([Label("datname", key[0]), Label("usename", key[1]), Label("application_name", key[2])], value)
            })
        }
        return [
            count, maxTx,
            family("pg_stat_activity_max_idle_in_transaction_seconds",
                   "Age of the oldest 'idle in transaction' session (since its last state change), seconds; 0 if none.", idle),
            family("pg_stat_activity_max_query_duration_seconds",
                   "Longest running active query, seconds; 0 if none.", query),
            family("pg_stat_activity_blocked", "Backends waiting on a lock held by another backend (pg_blocking_pids).", blocked),
            family("pg_stat_activity_lock_waiting", "Backends whose wait_event_type is Lock.", lockWaiting),
        ]
    }
}
