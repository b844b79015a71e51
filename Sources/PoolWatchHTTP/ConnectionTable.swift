/// Which HTTP connections to close so that the open ones stay within a limit: a value that decides,
/// with no I/O (``ConnectionGuard`` performs what it returns).
///
/// Refusing new connections at the limit would let a flood of idle sockets lock Prometheus out until
/// they time out. Instead every connection is accepted, and when one too many is open the
/// connection that has been idle longest is closed: a flood of sockets that never send a request
/// evicts itself, and a scrape (busy for milliseconds) gets through. Only when every open connection
/// is in the middle of a request is the newcomer closed.
public struct ConnectionTable: Sendable, Equatable {
    struct Entry: Sendable, Equatable {
        var busy = false
        /// When the connection last finished a response (or opened), in ``tick``s.
        var idleSince: Int
    }

    public let limit: Int
    private(set) var entries: [Int: Entry] = [:]
    /// A logical clock: every event advances it, so "idle longest" needs no time source.
    private var tick = 0
    /// Connections closed to stay within the limit, since start.
    public private(set) var evicted = 0

    public init(limit: Int) {
        self.limit = max(1, limit)
    }

    public var open: Int { entries.count }

    /// A connection was accepted; returns the connections to close (possibly the new one).
    public mutating func opened(_ id: Int) -> [Int] {
        tick += 1
        entries[id] = Entry(idleSince: tick)
        guard entries.count > limit else { return [] }
        let idle = entries.filter { $0.key != id && !$0.value.busy }
        let victim = idle.min { ($0.value.idleSince, $0.key) < ($1.value.idleSince, $1.key) }?.key ?? id
        entries[victim] = nil
        evicted += 1
        return [victim]
    }

    /// The connection received a request head.
    public mutating func requestStarted(_ id: Int) {
        entries[id]?.busy = true
    }

    /// The connection wrote the end of a response.
    public mutating func responseFinished(_ id: Int) {
        tick += 1
        entries[id]?.busy = false
        entries[id]?.idleSince = tick
    }

    public mutating func closed(_ id: Int) {
        entries[id] = nil
    }
}
