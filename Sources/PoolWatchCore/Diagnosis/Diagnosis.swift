/// Who holds the pool: the join of one round's rows, end to end, and a verdict per pool.
///
/// For a PgBouncer target paired with a PostgreSQL target, each connection is followed from the client
/// (`SHOW CLIENTS`: address, port, application) through its server connection (`SHOW SERVERS`: the
/// client's `link` is the server's `ptr`) to the backend (`pg_stat_activity` by the server's
/// `remote_pid`) and the pids that block it. Without a paired PostgreSQL target the story stops at
/// what PgBouncer knows; a PostgreSQL target on its own tells it from `pg_stat_activity`, per database.
///
/// Pure: snapshots in, a value out. `/diagnose`, `poolwatch diagnose`, the status page and the pages
/// sent to on-call all read this one value.
public struct Diagnosis: Sendable, Equatable, Codable {
    /// Epoch seconds the report was made.
    public var generatedAt: Double
    public var targets: [TargetStatus]
    public var pools: [PoolDiagnosis]

    public var troubled: [PoolDiagnosis] { pools.filter(\.troubled) }

    /// A target as the last round left it.
    public struct TargetStatus: Sendable, Equatable, Codable {
        public var name: String
        public var kind: String
        public var up: Bool
        public var error: String?
        /// Epoch seconds of the round.
        public var collectedAt: Double
        /// For a PgBouncer target: the PostgreSQL target its backends are read from.
        public var pairedWith: String?
    }

    /// Thresholds, as the built-in rules use them.
    public struct Thresholds: Sendable, Equatable {
        /// Idle in transaction longer than this is a leak (the seeds' PostgresIdleInTransaction: 300 s).
        public var leakSeconds: Double = 300
        /// A transaction older than this is long (PostgresLongTransaction).
        public var longTransactionSeconds: Double = 300
        /// How many holders a pool lists, at most (oldest transaction first).
        public var holderLimit: Int = 20

        public init() {}
    }
}

/// One pool (a PgBouncer `database/user`, or a PostgreSQL database) and what its connections do.
public struct PoolDiagnosis: Sendable, Equatable, Codable {
    public var target: String
    public var database: String
    public var user: String
    /// The first line an on-call engineer reads: what is wrong, who, since when.
    public var verdict: String
    public var troubled: Bool
    public var poolSize: Int?
    /// Server connections held by a client (PgBouncer) or non-idle backends (PostgreSQL).
    public var serversInUse: Int
    public var clientsActive: Int
    public var clientsWaiting: Int
    public var longestWaitSeconds: Double
    /// The holders, the most suspicious first (idle in transaction, blocking others, oldest transaction).
    public var holders: [Holder]
    /// Clients that wait for a server connection, the longest first.
    public var waiting: [WaitingClient]
    /// What follows from the facts: settings to change, and statements to run by hand (never run here).
    public var advice: [String]
}

/// One connection in use, end to end.
public struct Holder: Sendable, Equatable, Codable {
    public enum Activity: String, Sendable, Codable {
        case idleInTransaction = "idle in transaction"
        case waitingOnLock = "waiting on a lock"
        case running
        case other
    }

    public var activity: Activity
    public var application: String
    /// The application's address:port (PgBouncer's client, or PostgreSQL's client without a pooler).
    public var client: String
    public var clientState: String?
    public var serverState: String?
    public var backendPID: Int?
    public var backendState: String?
    public var transactionSeconds: Double?
    /// Seconds in the current state (how long idle in transaction, how long waiting).
    public var stateSeconds: Double?
    public var transactionStart: Double?
    public var waitEvent: String?
    public var blockedBy: [Int]
    /// The ends of the lock-wait chain: the blockers that wait on nobody (a session queued behind
    /// another waiter is blocked by that waiter first).
    public var rootBlockers: [Int]
    /// Backends this one blocks.
    public var blocking: [Int]
    public var query: String?
}

/// A client waiting for a server connection.
public struct WaitingClient: Sendable, Equatable, Codable {
    public var application: String
    public var client: String
    public var waitSeconds: Double
}

extension Diagnosis {
    /// The report for the latest snapshots. `pairs` maps a PgBouncer target to the PostgreSQL target
    /// its server connections reach (see ``pairs(for:)``).
    public static func make(snapshots: [TargetSnapshot], pairs: [String: String], now: Double,
                            thresholds: Thresholds = Thresholds()) -> Diagnosis {
        let byName = Dictionary(snapshots.map { ($0.target, $0) }, uniquingKeysWith: { $1 })
        var pools: [PoolDiagnosis] = []
        for snapshot in snapshots where snapshot.up {
            switch snapshot.kind {
            case .pgbouncer:
                let paired = pairs[snapshot.target].flatMap { byName[$0] }
                pools += bouncerPools(snapshot, postgres: paired?.up == true ? paired : nil, thresholds: thresholds)
            case .postgres:
                pools += databasePools(snapshot, thresholds: thresholds)
            default:
                continue
            }
        }
        let targets = snapshots.map {
            TargetStatus(name: $0.target, kind: $0.kind.rawValue, up: $0.up, error: $0.error, collectedAt: $0.timestamp,
                         pairedWith: pairs[$0.target])
        }
        return Diagnosis(generatedAt: now, targets: targets, pools: pools)
    }

    /// Which PostgreSQL target each PgBouncer target's server connections reach: the target's
    /// `postgres_target`, else — when the configuration has exactly one PostgreSQL target — that one.
    public static func pairs(for targets: [TargetConfig]) -> [String: String] {
        let postgres = targets.filter { $0.kind == .postgres }.map(\.name)
        var pairs: [String: String] = [:]
        for target in targets where target.kind == .pgbouncer {
            if let explicit = target.postgresTarget {
                pairs[target.name] = explicit
            } else if postgres.count == 1 {
                pairs[target.name] = postgres[0]
            }
        }
        return pairs
    }

    static func bouncerPools(_ snapshot: TargetSnapshot, postgres: TargetSnapshot?, thresholds: Thresholds) -> [PoolDiagnosis] {
        let rows = snapshot.rows
        let backends = Dictionary((postgres?.rows.backends ?? []).map { ($0.pid, $0) }, uniquingKeysWith: { $1 })
        let blocking = blockingMap(postgres?.rows.backends ?? [])
        let clientsByPtr = Dictionary(rows.clients.map { ($0.ptr, $0) }, uniquingKeysWith: { $1 })
        return rows.pools.filter { $0.database != "pgbouncer" }.map { pool in
            let inPool: (PoolerConnection) -> Bool = { $0.database == pool.database && $0.user == pool.user }
            let held = rows.servers.filter { inPool($0) && !$0.link.isEmpty }
            var holders = held.map { server -> Holder in
                let client = clientsByPtr[server.link]
                let backend = server.remotePID.flatMap { backends[$0] }
                return holder(application: client?.applicationName ?? server.applicationName, client: client?.endpoint ?? "",
                              clientState: client?.state, serverState: server.state, backend: backend,
                              blocking: server.remotePID.flatMap { blocking[$0] } ?? [], backends: backends)
            }
            holders = ranked(holders, limit: thresholds.holderLimit)
            let waiting = rows.clients.filter { inPool($0) && $0.state.hasPrefix("waiting") }
                .map { WaitingClient(application: $0.applicationName, client: $0.endpoint, waitSeconds: $0.waitSeconds) }
                .sorted { $0.waitSeconds > $1.waitSeconds }
            let poolSize = rows.poolSizes[pool.database]
            let inUse = max(held.count, pool.serversActive)
            let saturated = poolSize.map { $0 > 0 && inUse >= $0 } ?? false
            let longestWait = max(pool.maxWaitSeconds, waiting.first?.waitSeconds ?? 0)
            var diagnosis = PoolDiagnosis(
                target: snapshot.target, database: pool.database, user: pool.user, verdict: "", troubled: false,
                poolSize: poolSize, serversInUse: inUse, clientsActive: pool.clientsActive, clientsWaiting: pool.clientsWaiting,
                longestWaitSeconds: longestWait, holders: holders, waiting: waiting, advice: [])
            let leaks = holders.filter { $0.activity == .idleInTransaction && ($0.stateSeconds ?? 0) >= thresholds.leakSeconds }
            let blocked = holders.filter { $0.activity == .waitingOnLock && !$0.blockedBy.isEmpty }
            diagnosis.troubled = saturated || pool.clientsWaiting > 0 || !leaks.isEmpty || !blocked.isEmpty
            diagnosis.verdict = verdict(diagnosis, saturated: saturated, thresholds: thresholds)
            diagnosis.advice = advice(diagnosis, settings: postgres?.rows.settings ?? [:], postgresTarget: postgres?.target,
                                      saturated: saturated, thresholds: thresholds)
            return diagnosis
        }
    }

    /// PostgreSQL without a pooler: one entry per database that has non-idle client backends.
    static func databasePools(_ snapshot: TargetSnapshot, thresholds: Thresholds) -> [PoolDiagnosis] {
        let backends = snapshot.rows.backends
        let byPID = Dictionary(backends.map { ($0.pid, $0) }, uniquingKeysWith: { $1 })
        let blocking = blockingMap(backends)
        let databases = Array(Set(backends.map(\.database))).sorted()
        return databases.map { database in
            let mine = backends.filter { $0.database == database }
            let holders = ranked(mine.map { backend in
                holder(application: backend.applicationName, client: backend.endpoint, clientState: nil, serverState: nil,
                       backend: backend, blocking: blocking[backend.pid] ?? [], backends: byPID)
            }, limit: thresholds.holderLimit)
            var diagnosis = PoolDiagnosis(
                target: snapshot.target, database: database, user: "", verdict: "", troubled: false, poolSize: nil,
                serversInUse: mine.count, clientsActive: mine.count, clientsWaiting: 0, longestWaitSeconds: 0,
                holders: holders, waiting: [], advice: [])
            diagnosis.troubled = holders.contains { h in
                (h.activity == .idleInTransaction && (h.stateSeconds ?? 0) >= thresholds.leakSeconds)
                    || (h.activity == .waitingOnLock && !h.blockedBy.isEmpty)
                    || (h.transactionSeconds ?? 0) >= thresholds.longTransactionSeconds
            }
            diagnosis.verdict = verdict(diagnosis, saturated: false, thresholds: thresholds)
            diagnosis.advice = advice(diagnosis, settings: snapshot.rows.settings, postgresTarget: snapshot.target,
                                      saturated: false, thresholds: thresholds)
            return diagnosis
        }
    }

    static func holder(application: String, client: String, clientState: String?, serverState: String?, backend: Backend?,
                       blocking: [Int], backends: [Int: Backend]) -> Holder {
        let activity: Holder.Activity
        switch backend {
        case let backend? where backend.isIdleInTransaction: activity = .idleInTransaction
        case let backend? where backend.isWaitingOnLock: activity = .waitingOnLock
        case let backend? where backend.state == "active": activity = .running
        case nil where serverState == "active": activity = .running
        default: activity = .other
        }
        return Holder(
            activity: activity, application: application, client: client, clientState: clientState, serverState: serverState,
            backendPID: backend?.pid, backendState: backend?.state, transactionSeconds: backend?.transactionAge,
            stateSeconds: backend?.stateAge, transactionStart: backend?.transactionStart,
            waitEvent: backend.flatMap { $0.waitEventType.isEmpty ? nil : "\($0.waitEventType):\($0.waitEvent)" },
            blockedBy: backend?.blockedBy ?? [], rootBlockers: rootBlockers(of: backend, in: backends), blocking: blocking,
            query: backend?.query)
    }

    /// Follows `blockedBy` through `backends` to the blockers that wait on nobody (bounded, cycle-safe).
    static func rootBlockers(of backend: Backend?, in backends: [Int: Backend]) -> [Int] {
        guard let backend, !backend.blockedBy.isEmpty else { return [] }
        var roots: Set<Int> = []
        var seen: Set<Int> = [backend.pid]
        var frontier = backend.blockedBy
        for _ in 0..<16 where !frontier.isEmpty {
            var next: [Int] = []
            for pid in frontier where seen.insert(pid).inserted {
                let above = backends[pid]?.blockedBy ?? []
                if above.isEmpty { roots.insert(pid) } else { next += above }
            }
            frontier = next
        }
        return roots.sorted()
    }

    /// pid → the pids it blocks.
    static func blockingMap(_ backends: [Backend]) -> [Int: [Int]] {
        var map: [Int: [Int]] = [:]
        for backend in backends {
            for blocker in backend.blockedBy { map[blocker, default: []].append(backend.pid) }
        }
        return map.mapValues { $0.sorted() }
    }

    /// Blockers first, then idle in transaction, then waiting, then by transaction age.
    static func ranked(_ holders: [Holder], limit: Int) -> [Holder] {
        func rank(_ h: Holder) -> Int {
            if !h.blocking.isEmpty { return 0 }
            switch h.activity {
            case .idleInTransaction: return 1
            case .waitingOnLock: return 2
            case .running: return 3
            case .other: return 4
            }
        }
        return Array(holders.sorted {
            (rank($0), -($0.transactionSeconds ?? 0), $0.backendPID ?? 0) < (rank($1), -($1.transactionSeconds ?? 0), $1.backendPID ?? 0)
        }.prefix(limit))
    }

    static func verdict(_ pool: PoolDiagnosis, saturated: Bool, thresholds: Thresholds) -> String {
        var parts: [String] = []
        if let size = pool.poolSize {
            parts.append("\(saturated ? "saturated: " : "")\(pool.serversInUse)/\(size) server connections held")
        } else {
            parts.append("\(pool.serversInUse) \(pool.serversInUse == 1 ? "backend" : "backends") not idle")
        }
        let idle = pool.holders.filter { $0.activity == .idleInTransaction }
        if let oldest = idle.max(by: { ($0.stateSeconds ?? 0) < ($1.stateSeconds ?? 0) }) {
            var text = "\(idle.count) idle in transaction"
            if let seconds = oldest.stateSeconds { text += " for \(DiagnosisFormat.duration(seconds))" }
            text += " by \(describe(oldest))"
            parts.append(text)
        }
        for blocked in pool.holders where blocked.activity == .waitingOnLock && !blocked.blockedBy.isEmpty {
            var text = "1 blocked by pid \(blocked.blockedBy.map(String.init).joined(separator: ", ")) on a lock"
                + (blocked.backendPID.map { " (pid \($0), \(blocked.application.isEmpty ? "no application_name" : blocked.application))" } ?? "")
            if !blocked.rootBlockers.isEmpty, blocked.rootBlockers != blocked.blockedBy.sorted() {
                text += ", queued behind pid \(blocked.rootBlockers.map(String.init).joined(separator: ", "))"
            }
            parts.append(text)
        }
        let long = pool.holders.filter { $0.activity != .idleInTransaction && ($0.transactionSeconds ?? 0) >= thresholds.longTransactionSeconds }
        if let oldest = long.first {
            parts.append("\(long.count) transaction\(long.count == 1 ? "" : "s") open longer than \(DiagnosisFormat.duration(thresholds.longTransactionSeconds)), the oldest by \(describe(oldest))")
        }
        if pool.clientsWaiting > 0 {
            parts.append("\(pool.clientsWaiting) client\(pool.clientsWaiting == 1 ? "" : "s") waiting, longest \(DiagnosisFormat.duration(pool.longestWaitSeconds))")
        }
        return (pool.troubled ? "" : "healthy: ") + parts.joined(separator: "; ")
    }

    /// "leaky-orders from 10.0.0.7:53012, backend pid 48211, since 03:12:40"
    static func describe(_ holder: Holder) -> String {
        var text = holder.application.isEmpty ? "(no application_name)" : holder.application
        if !holder.client.isEmpty { text += " from \(holder.client)" }
        if let pid = holder.backendPID { text += ", backend pid \(pid)" }
        if let start = holder.transactionStart { text += ", since \(DiagnosisFormat.timeOfDay(start)) UTC" }
        return text
    }

    static func advice(_ pool: PoolDiagnosis, settings: [String: String], postgresTarget: String?, saturated: Bool,
                       thresholds: Thresholds) -> [String] {
        guard pool.troubled else { return [] }
        var advice: [String] = []
        let leaks = pool.holders.filter { $0.activity == .idleInTransaction }
        if !leaks.isEmpty, let timeout = settings["idle_in_transaction_session_timeout"], timeout == "0" || timeout == "0ms" {
            advice.append("idle_in_transaction_session_timeout is 0 on \(postgresTarget ?? "PostgreSQL"): a leaked transaction holds "
                          + "its connection and its locks forever; set it (e.g. ALTER SYSTEM SET idle_in_transaction_session_timeout = '5min')")
        }
        let blockers = Set(pool.holders.flatMap(\.blockedBy) + pool.holders.flatMap(\.rootBlockers))
        for holder in pool.holders where holder.backendPID != nil
            && (holder.activity == .idleInTransaction && (holder.stateSeconds ?? 0) >= thresholds.leakSeconds
                || blockers.contains(holder.backendPID!)) {
            advice.append("to end \(describe(holder)): SELECT pg_terminate_backend(\(holder.backendPID!));  -- shown, never run by poolwatch")
        }
        if pool.backendsUnknown {
            advice.append("server connections are held but no backend is known: pair this PgBouncer target with its PostgreSQL "
                          + "target (postgres_target:) to see what they do")
        }
        if saturated, leaks.isEmpty, blockers.isEmpty, let size = pool.poolSize {
            var text = "every one of the \(size) server connections is busy with work"
            if let max = settings["max_connections"] { text += "; PostgreSQL allows max_connections = \(max)" }
            advice.append(text + ": raise pool_size only if the database has headroom, or find why queries got slower")
        }
        return advice
    }
}

extension PoolDiagnosis {
    /// Held server connections whose backend the report could not find (no paired PostgreSQL target).
    var backendsUnknown: Bool { !holders.isEmpty && holders.allSatisfy { $0.backendPID == nil } && poolSize != nil }
}

/// How the report writes times.
public enum DiagnosisFormat {
    /// "41 s", "6m12s", "2h05m".
    public static func duration(_ seconds: Double) -> String {
        let total = Int(seconds.rounded())
        if total < 60 { return "\(total) s" }
        if total < 3_600 { return "\(total / 60)m\(pad(total % 60))s" }
        return "\(total / 3_600)h\(pad(total % 3_600 / 60))m"
    }

    /// "03:12:40" (UTC) of epoch seconds.
    public static func timeOfDay(_ epoch: Double) -> String {
        let second = Int(epoch) % 86_400
        return "\(pad(second / 3_600)):\(pad(second % 3_600 / 60)):\(pad(second % 60))"
    }

    static func pad(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
}

extension Diagnosis {
    /// The rules whose pages name the holders: the pool is full, clients wait, or a session holds on.
    public static let holderRules: Set<String> = [
        "PoolwatchPoolSaturated", "PoolwatchClientsWaitingTooLong", "PoolwatchPoolUtilizationHigh",
        "PoolwatchIdleInTransactionTooLong", "PoolwatchLongTransaction", "PoolwatchLongQuery",
    ]

    /// One line per holder of the pools an alert's labels point at (its `target`, and `database` /
    /// `datname`, `user` / `usename` when it has them), the most suspicious first.
    public func holderLines(for labels: [Label], limit: Int = 5) -> [String] {
        func value(_ names: String...) -> String? { labels.first { names.contains($0.name) && !$0.value.isEmpty }?.value }
        guard let target = value("target") else { return [] }
        let database = value("database", "datname")
        let user = value("user", "usename")
        let matching = pools.filter { pool in
            pool.target == target && (database == nil || pool.database == database)
                && (user == nil || pool.user.isEmpty || pool.user == user)
        }
        return Array(Self.ranked(matching.flatMap(\.holders), limit: limit).map(Self.line))
    }

    /// `idle in transaction for 6m12s: leaky-orders from 10.0.0.7:53012, backend pid 48211, since 03:12:40 UTC`
    static func line(_ holder: Holder) -> String {
        var text = holder.activity.rawValue
        if let seconds = holder.stateSeconds { text += " for \(DiagnosisFormat.duration(seconds))" }
        text += ": " + describe(holder)
        if !holder.blockedBy.isEmpty { text += ", blocked by pid " + holder.blockedBy.map(String.init).joined(separator: ", ") }
        if !holder.blocking.isEmpty { text += ", blocking pid " + holder.blocking.map(String.init).joined(separator: ", ") }
        return text
    }
}
