import CLibPQ
import PoolWatchCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A libpq failure, with a message a person can act on. It never contains the DSN or password:
/// libpq's own messages name host and port but not credentials.
public struct PQError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable { case connect, query, cancelled }
    public var kind: Kind
    public var message: String
    /// The SQLSTATE of a query error (e.g. `42P01` undefined table, `57014` query cancelled).
    public var sqlState: String?

    public var description: String { message }
}

/// One libpq connection.
///
/// `@unchecked Sendable` is safe here because every use of the `PGconn *` goes through `connLock`
/// (libpq forbids concurrent use of one connection), and `cancel()` only touches the separate
/// `PGcancel *`, which libpq documents as safe to use from another thread while a query runs.
/// All methods block: call them on the blocking thread pool, never on the cooperative pool.
public final class PQConnection: @unchecked Sendable {
    /// A raw libpq pointer. `@unchecked Sendable` because it is only ever dereferenced under the
    /// mutex that holds it.
    struct Handle: @unchecked Sendable {
        var pointer: OpaquePointer?
    }

    private let connLock: Mutex<Handle>
    private let cancelLock: Mutex<Handle>
    /// True while a cancel request is under way (see ``cancel()``).
    private let cancelling = Atomic<Bool>(false)

    private init(conn: OpaquePointer) {
        connLock = Mutex(Handle(pointer: conn))
        cancelLock = Mutex(Handle(pointer: PQgetCancel(conn)))
    }

    deinit {
        cancelLock.withLock { cancel in
            if let handle = cancel.pointer { PQfreeCancel(handle) }
            cancel.pointer = nil
        }
        connLock.withLock { conn in
            if let handle = conn.pointer { PQfinish(handle) }
            conn.pointer = nil
        }
    }

    /// Connects with `PQconnectdbParams(expand_dbname=1)`. Parameters later in the list override
    /// those expanded from the DSN earlier in the list, which is how poolwatch enforces its timeouts.
    public static func connect(parameters: [(String, String)]) throws(PQError) -> PQConnection {
        let conn: OpaquePointer? = withCStrings(parameters.map(\.0)) { keywords in
            withCStrings(parameters.map(\.1)) { values in
                PQconnectdbParams(keywords, values, 1)
            }
        }
        guard let conn else { throw PQError(kind: .connect, message: "out of memory creating a libpq connection") }
        guard PQstatus(conn) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines()
            PQfinish(conn)
            throw PQError(kind: .connect, message: message.isEmpty ? "connection failed" : message)
        }
        return PQConnection(conn: conn)
    }

    /// True while the connection is usable.
    public var isOK: Bool {
        connLock.withLock { conn in conn.pointer.map { PQstatus($0) == CONNECTION_OK } ?? false }
    }

    /// The database the connection is to, as libpq resolved it from the DSN and the environment.
    public var database: String {
        connLock.withLock { conn in conn.pointer.flatMap { PQdb($0) }.map { String(cString: $0) } ?? "" }
    }

    /// Closes the connection now, on the calling thread (a pool thread: PQfinish writes to the socket);
    /// later statements fail with "connection is closed". Without it the connection closes when the
    /// last reference goes, on whatever thread that is.
    public func finish() {
        connLock.withLock { conn in
            if let handle = conn.pointer { PQfinish(handle) }
            conn.pointer = nil
        }
    }

    /// The server's version number as libpq saw it at connect time (0 for PgBouncer's console).
    public var serverVersion: Int {
        connLock.withLock { conn in conn.pointer.map { Int(PQserverVersion($0)) } ?? 0 }
    }

    /// Runs one statement with the simple query protocol (`PQexec`), the only protocol PgBouncer's
    /// and Pgpool-II's admin consoles accept, and returns all rows as text.
    /// With `singleStatement`, uses the extended protocol (`PQexecParams`), which refuses a string holding
    /// more than one statement (see CustomQueryCollector).
    public func exec(_ sql: String, singleStatement: Bool = false) throws(PQError) -> QueryResult {
        let outcome: Result<QueryResult, PQError> = connLock.withLock { handle in
            guard let conn = handle.pointer else { return .failure(PQError(kind: .query, message: "connection is closed")) }
            let sent = singleStatement ? PQexecParams(conn, sql, 0, nil, nil, nil, nil, 0) : PQexec(conn, sql)
            guard let result = sent else {
                return .failure(PQError(kind: .query, message: String(cString: PQerrorMessage(conn)).trimmingTrailingNewlines()))
            }
            defer { PQclear(result) }
            let status = PQresultStatus(result)
            guard status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK else {
                let message = String(cString: PQresultErrorMessage(result)).trimmingTrailingNewlines()
                let state = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
                let kind: PQError.Kind = state == "57014" ? .cancelled : .query
                return .failure(PQError(kind: kind, message: message.isEmpty ? "query failed" : message, sqlState: state))
            }
            return .success(Self.read(result))
        }
        return try outcome.get()
    }

    /// True inside a transaction block (open or aborted): a failed collector left it, and it must be
    /// rolled back before the next statement.
    public var inTransaction: Bool {
        connLock.withLock { handle in
            guard let conn = handle.pointer else { return false }
            let status = PQtransactionStatus(conn)
            return status == PQTRANS_INTRANS || status == PQTRANS_INERROR
        }
    }

    /// Asks the server to cancel the running statement. Safe from any thread; a no-op when idle.
    ///
    /// `PQcancel` opens a new connection to the same server, so against a frozen server it blocks until
    /// the server wakes up: call it on a pool thread (``BlockingExecutor/detach(_:)``), never where a
    /// deadline waits. A second call while one is under way returns at once, so a frozen server holds
    /// at most one thread per connection here.
    public func cancel() {
        guard cancelling.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        defer { cancelling.store(false, ordering: .releasing) }
        cancelLock.withLock { handle in
            guard let cancel = handle.pointer else { return }
            var buffer = [CChar](repeating: 0, count: 256)
            _ = PQcancel(cancel, &buffer, Int32(buffer.count))
        }
    }

    private static func read(_ result: OpaquePointer) -> QueryResult {
        let columnCount = Int(PQnfields(result))
        let rowCount = Int(PQntuples(result))
        let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
        var rows: [[String?]] = []
        rows.reserveCapacity(rowCount)
        for row in 0..<rowCount {
            var cells: [String?] = []
            cells.reserveCapacity(columnCount)
            for column in 0..<columnCount {
                if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                    cells.append(nil)
                } else {
                    let length = Int(PQgetlength(result, Int32(row), Int32(column)))
                    let pointer = PQgetvalue(result, Int32(row), Int32(column))!
                    // Decoding replaces invalid UTF-8 (a hostile application_name, a LATIN1 user name)
                    // with U+FFFD, so nothing invalid can reach the exposition.
                    let bytes = UnsafeRawBufferPointer(start: pointer, count: length)
                    cells.append(String(decoding: bytes, as: UTF8.self))
                }
            }
            rows.append(cells)
        }
        return QueryResult(columns: columns, rows: rows)
    }
}

/// Calls `body` with a NULL-terminated array of C strings that live for the duration of the call.
private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let duplicates = strings.map { strdup($0) }
    defer { duplicates.forEach { free($0) } }
    let pointers: [UnsafePointer<CChar>?] = duplicates.map { $0.map { UnsafePointer($0) } } + [nil]
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = Substring(self)
        while let last = text.last, last.isNewline || last == " " { text = text.dropLast() }
        return String(text)
    }
}
