/// The row-level facts of one round that diagnosis needs: who is connected, to what, doing what.
///
/// They stay in the snapshot as rows and are never turned into labels (pids, client addresses and
/// ports are unbounded). Every field is read by column name, and a column a release lacks reads as
/// absent, as everywhere in the collectors.
public struct ConnectionRows: Sendable, Equatable, Codable {
    /// PgBouncer `SHOW CLIENTS`.
    public var clients: [PoolerConnection] = []
    /// PgBouncer `SHOW SERVERS`.
    public var servers: [PoolerConnection] = []
    /// PgBouncer `SHOW POOLS`.
    public var pools: [PoolerPool] = []
    /// PgBouncer `SHOW DATABASES`: pool_size by database name.
    public var poolSizes: [String: Int] = [:]
    /// PostgreSQL `pg_stat_activity`: client backends that are not idle.
    public var backends: [Backend] = []
    /// PostgreSQL settings diagnosis gives advice on (name → setting, with its unit as PostgreSQL shows it).
    public var settings: [String: String] = [:]

    public init() {}

    public var isEmpty: Bool { self == ConnectionRows() }

    /// Adds what `other` holds; a later collector's facts win where both have a value.
    public mutating func merge(_ other: ConnectionRows) {
        clients += other.clients
        servers += other.servers
        pools += other.pools
        poolSizes.merge(other.poolSizes) { $1 }
        backends += other.backends
        settings.merge(other.settings) { $1 }
    }
}

/// One row of PgBouncer's `SHOW CLIENTS` or `SHOW SERVERS`.
public struct PoolerConnection: Sendable, Equatable, Codable {
    public var database: String
    public var user: String
    public var state: String
    public var address: String
    public var port: Int?
    /// This connection's id on the console, and the id of the connection it is paired with (a client's
    /// `link` is its server's `ptr` and the other way round); empty when unpaired.
    public var ptr: String
    public var link: String
    /// For a server connection: the PostgreSQL backend's pid.
    public var remotePID: Int?
    public var applicationName: String
    /// Epoch seconds of `connect_time` and `request_time`.
    public var connectedAt: Double?
    public var requestAt: Double?
    /// For a waiting client: seconds it has waited for a server connection.
    public var waitSeconds: Double

    public init(database: String, user: String, state: String, address: String = "", port: Int? = nil, ptr: String = "",
                link: String = "", remotePID: Int? = nil, applicationName: String = "", connectedAt: Double? = nil,
                requestAt: Double? = nil, waitSeconds: Double = 0) {
        self.database = database
        self.user = user
        self.state = state
        self.address = address
        self.port = port
        self.ptr = ptr
        self.link = link
        self.remotePID = remotePID
        self.applicationName = applicationName
        self.connectedAt = connectedAt
        self.requestAt = requestAt
        self.waitSeconds = waitSeconds
    }

    /// `addr:port` as a person reads it (IPv6 in brackets); PgBouncer shows `unix` for socket clients.
    public var endpoint: String {
        guard let port, port > 0 else { return address }
        return address.contains(":") ? "[\(address)]:\(port)" : "\(address):\(port)"
    }

    /// The rows of a `SHOW CLIENTS` / `SHOW SERVERS` result.
    public static func rows(_ result: QueryResult) -> [PoolerConnection] {
        result.namedRows.map { row in
            PoolerConnection(
                database: row.label("database"), user: row.label("user"), state: row.label("state"),
                address: row.label("addr"), port: row.double("port").map { Int($0) },
                ptr: row.label("ptr"), link: row.label("link"),
                remotePID: row.double("remote_pid").flatMap { $0 > 0 ? Int($0) : nil },
                applicationName: row.label("application_name"),
                connectedAt: PgBouncerTime.epoch(row["connect_time"]), requestAt: PgBouncerTime.epoch(row["request_time"]),
                waitSeconds: (row.double("wait") ?? 0) + (row.double("wait_us") ?? 0) / 1e6)
        }
    }
}

/// One row of PgBouncer's `SHOW POOLS`.
public struct PoolerPool: Sendable, Equatable, Codable {
    public var database: String
    public var user: String
    public var clientsActive: Int
    public var clientsWaiting: Int
    public var serversActive: Int
    public var serversIdle: Int
    public var serversUsed: Int
    public var maxWaitSeconds: Double
    public var mode: String

    public init(database: String, user: String, clientsActive: Int = 0, clientsWaiting: Int = 0, serversActive: Int = 0,
                serversIdle: Int = 0, serversUsed: Int = 0, maxWaitSeconds: Double = 0, mode: String = "") {
        self.database = database
        self.user = user
        self.clientsActive = clientsActive
        self.clientsWaiting = clientsWaiting
        self.serversActive = serversActive
        self.serversIdle = serversIdle
        self.serversUsed = serversUsed
        self.maxWaitSeconds = maxWaitSeconds
        self.mode = mode
    }

    public static func rows(_ result: QueryResult) -> [PoolerPool] {
        result.namedRows.map { row in
            func int(_ column: String) -> Int { Int(row.double(column) ?? 0) }
            return PoolerPool(
                database: row.label("database"), user: row.label("user"), clientsActive: int("cl_active"),
                clientsWaiting: int("cl_waiting"), serversActive: int("sv_active"), serversIdle: int("sv_idle"),
                serversUsed: int("sv_used"), maxWaitSeconds: (row.double("maxwait") ?? 0) + (row.double("maxwait_us") ?? 0) / 1e6,
                mode: row.label("pool_mode"))
        }
    }
}

/// One client backend of `pg_stat_activity`, with the pids that block it.
public struct Backend: Sendable, Equatable, Codable {
    public var pid: Int
    public var database: String
    public var user: String
    public var applicationName: String
    public var clientAddress: String
    public var clientPort: Int?
    public var state: String
    /// Seconds since the transaction, the current state and the running query began.
    public var transactionAge: Double?
    public var stateAge: Double?
    public var queryAge: Double?
    /// Epoch seconds when the transaction began.
    public var transactionStart: Double?
    public var waitEventType: String
    public var waitEvent: String
    /// `pg_blocking_pids(pid)`, read only for backends waiting on a lock.
    public var blockedBy: [Int]
    /// Truncated, with literals masked; only when the target has `include_query: true`.
    public var query: String?

    public init(pid: Int, database: String = "", user: String = "", applicationName: String = "", clientAddress: String = "",
                clientPort: Int? = nil, state: String, transactionAge: Double? = nil, stateAge: Double? = nil,
                queryAge: Double? = nil, transactionStart: Double? = nil, waitEventType: String = "", waitEvent: String = "",
                blockedBy: [Int] = [], query: String? = nil) {
        self.pid = pid
        self.database = database
        self.user = user
        self.applicationName = applicationName
        self.clientAddress = clientAddress
        self.clientPort = clientPort
        self.state = state
        self.transactionAge = transactionAge
        self.stateAge = stateAge
        self.queryAge = queryAge
        self.transactionStart = transactionStart
        self.waitEventType = waitEventType
        self.waitEvent = waitEvent
        self.blockedBy = blockedBy
        self.query = query
    }

    public var endpoint: String {
        guard let clientPort, clientPort > 0 else { return clientAddress.isEmpty ? "local socket" : clientAddress }
        return clientAddress.contains(":") ? "[\(clientAddress)]:\(clientPort)" : "\(clientAddress):\(clientPort)"
    }

    public var isIdleInTransaction: Bool { state.hasPrefix("idle in transaction") }
    public var isWaitingOnLock: Bool { waitEventType == "Lock" }

    public static func rows(_ result: QueryResult) -> [Backend] {
        result.namedRows.compactMap { row in
            guard let pid = row.double("pid").map({ Int($0) }) else { return nil }
            return Backend(
                pid: pid, database: row.label("datname"), user: row.label("usename"),
                applicationName: row.label("application_name"), clientAddress: row.label("client_addr"),
                clientPort: row.double("client_port").flatMap { $0 > 0 ? Int($0) : nil }, state: row.label("state"),
                transactionAge: row.double("xact_age"), stateAge: row.double("state_age"), queryAge: row.double("query_age"),
                transactionStart: row.double("xact_start"), waitEventType: row.label("wait_event_type"),
                waitEvent: row.label("wait_event"),
                blockedBy: row.label("blocked_by").split(separator: ",").compactMap { Int($0) },
                query: row["query"])
        }
    }
}

/// PgBouncer prints times as `2026-11-22 03:51:17 UTC` (or with microseconds in newer releases).
enum PgBouncerTime {
    static func epoch(_ text: String?) -> Double? {
        guard let text, text.count >= 19 else { return nil }
        let digits = text.split { !$0.isNumber && $0 != "." }
        guard digits.count >= 6, let year = Int(digits[0]), let month = Int(digits[1]), let day = Int(digits[2]),
              let hour = Int(digits[3]), let minute = Int(digits[4]), let second = Double(digits[5]),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        return Double(daysFromCivil(year: year, month: month, day: day) * 86_400 + hour * 3_600 + minute * 60) + second
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}
