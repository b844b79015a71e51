/// The text result of one query, as libpq (or PgBouncer's console) returns it.
///
/// Every cell is text or NULL. Collectors read cells by column *name*, never by position, because
/// PgBouncer and PostgreSQL add and rename columns between releases.
public struct QueryResult: Sendable, Equatable {
    public var columns: [String]
    public var rows: [[String?]]

    public init(columns: [String], rows: [[String?]]) {
        self.columns = columns
        self.rows = rows
    }

    /// Rows with by-name access. Unknown columns read as `nil`.
    public var namedRows: [Row] {
        let index = columnIndex
        return rows.map { Row(index: index, cells: $0) }
    }

    /// Column name → position (the first, if a name repeats).
    public var columnIndex: [String: Int] {
        var index: [String: Int] = [:]
        for (position, name) in columns.enumerated() where index[name] == nil { index[name] = position }
        return index
    }

    public struct Row: Sendable {
        let index: [String: Int]
        let cells: [String?]

        public subscript(_ column: String) -> String? {
            guard let position = index[column], position < cells.count else { return nil }
            return cells[position]
        }

        /// True when the result has this column at all (NULL or not).
        public func has(_ column: String) -> Bool { index[column] != nil }

        /// The cell as a number. `t`/`f` (PostgreSQL booleans) read as 1/0; NULL, empty and
        /// unparsable text read as `nil`, so a missing value is skipped rather than exported as 0.
        public func double(_ column: String) -> Double? {
            Self.number(self[column])
        }

        /// A cell's text as a number, by the rules of ``double(_:)``.
        public static func number(_ text: String?) -> Double? {
            guard let text else { return nil }
            switch text {
            case "t", "true", "on", "yes": return 1
            case "f", "false", "off", "no": return 0
            default: return Double(text)
            }
        }

        /// The cell as a label value: NULL becomes the empty string.
        public func label(_ column: String) -> String { self[column] ?? "" }
    }
}

/// Facts about the server a collector may need to pick its SQL.
public struct ServerFacts: Sendable, Equatable {
    /// `server_version_num`, e.g. 150018.
    public var versionNumber: Int
    /// Which configuration the server runs: its start time and `pg_conf_load_time()`, which changes on
    /// every reload and restart (nil: unknown, e.g. a server too old or a pooler).
    public var configuration: String?

    public init(versionNumber: Int, configuration: String? = nil) {
        self.versionNumber = versionNumber
        self.configuration = configuration
    }
}

/// A collector: a fixed list of SQL statements (run one `PQexec` each) and a pure mapping from their
/// results to metric families. The runner owns all I/O; collectors are tested on captured fixtures.
public protocol SQLCollector: Sendable {
    /// Stable name used in `poolwatch_collector_*{collector=...}` and in logs.
    var name: String { get }
    /// The statements to run, in order, given what is known about the server.
    func statements(for server: ServerFacts) -> [String]
    /// Maps the results (one per statement, same order) to metric families.
    func map(_ results: [QueryResult], server: ServerFacts) throws -> [MetricFamily]
    /// Server facts learned from this collector's results, for the collectors after it (nil: none).
    func facts(from results: [QueryResult]) -> ServerFacts?
    /// Row-level facts for diagnosis (who holds which connection), kept in the snapshot, never as labels.
    func rows(from results: [QueryResult]) -> ConnectionRows?
    /// Time between runs for a collector too expensive for every round (nil: every round). Between
    /// runs the runner serves the families of the last successful run.
    var interval: Duration? { get }
    /// True for a collector whose results change only when the server's configuration does (settings):
    /// it runs again only when ``ServerFacts/configuration`` changes, and on a new connection.
    var onlyChangesWithConfiguration: Bool { get }
    /// True to send each statement with the extended protocol (`PQexecParams`), which accepts exactly one
    /// statement per call; PgBouncer's and Pgpool-II's consoles accept only the simple protocol.
    var extendedProtocol: Bool { get }
}

extension SQLCollector {
    public func facts(from results: [QueryResult]) -> ServerFacts? { nil }
    public func rows(from results: [QueryResult]) -> ConnectionRows? { nil }
    public var interval: Duration? { nil }
    public var onlyChangesWithConfiguration: Bool { false }
    public var extendedProtocol: Bool { false }
}

/// A mapping failure a collector reports when a result lacks what it needs.
public struct CollectorError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(_ description: String) { self.description = description }
}
