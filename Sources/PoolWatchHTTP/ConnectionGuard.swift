import Hummingbird
import NIOCore
import NIOHTTPTypes
import PoolWatchCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Keeps the HTTP port answering during a socket flood: at most ``ConnectionTable/limit`` connections
/// are open (the idle-longest one is closed to make room, see ``ConnectionTable``), and a connection
/// must send its first request head within ``headerTimeout`` or it is closed (slow-header clients).
/// Between requests Hummingbird's idle timeout applies.
///
/// The limit stays well below the process's file-descriptor limit, so a flood never takes the
/// descriptors that database connections, alert state and the outbox need.
public final class ConnectionGuard: Sendable {
    public let headerTimeout: TimeAmount
    public let limit: Int
    private struct State {
        var table: ConnectionTable
        var channels: [Int: any Channel] = [:]
        var nextID = 0
        var headerTimeouts = 0
    }

    private let state: Mutex<State>

    public init(limit: Int, headerTimeout: TimeAmount = .seconds(10)) {
        self.headerTimeout = headerTimeout
        self.limit = max(1, limit)
        state = Mutex(State(table: ConnectionTable(limit: limit)))
    }

    /// The default limit for a file-descriptor limit of `descriptors`: a quarter of it, at most 512
    /// (at least 16): with systemd's `LimitNOFILE=4096` that leaves 3,500 descriptors for everything else.
    public static func defaultLimit(descriptors: Int) -> Int {
        min(512, max(16, descriptors / 4))
    }

    /// Raises the soft file-descriptor limit to the hard one, as Go programs (Prometheus, the exporters)
    /// do at start, and returns the limit now in force.
    @discardableResult
    public static func raiseDescriptorLimit() -> Int {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1024 }
        if limit.rlim_cur < limit.rlim_max {
            var raised = limit
            raised.rlim_cur = limit.rlim_max
            if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &raised) == 0 { limit = raised }
        }
        // RLIM_INFINITY is all ones; anything beyond Int32 is as good as unlimited here.
        return Int(min(limit.rlim_cur, rlim_t(Int32.max)))
    }

    /// A handler for one new connection's pipeline.
    public func handler() -> any RemovableChannelHandler {
        ConnectionGuardHandler(guard: self)
    }

    /// Open connections, connections closed to stay within the limit, and header timeouts, for `/metrics`.
    public var families: [MetricFamily] {
        let (open, evicted, timeouts, limit) = state.withLock { ($0.table.open, $0.table.evicted, $0.headerTimeouts, $0.table.limit) }
        return [
            MetricFamily("poolwatch_http_connections_open", help: "HTTP connections open now.", value: Double(open)),
            MetricFamily("poolwatch_http_connections_limit", help: "HTTP connections that may be open at once.", value: Double(limit)),
            MetricFamily("poolwatch_http_connections_evicted_total",
                         help: "HTTP connections closed because the limit was reached (the longest idle first).",
                         type: .counter, value: Double(evicted)),
            MetricFamily("poolwatch_http_header_timeouts_total",
                         help: "HTTP connections closed because no request head arrived in time.",
                         type: .counter, value: Double(timeouts)),
        ]
    }

    fileprivate func opened(_ channel: any Channel) -> Int {
        let (id, close) = state.withLock { state in
            state.nextID += 1
            let id = state.nextID
            state.channels[id] = channel
            let close = state.table.opened(id).compactMap { state.channels.removeValue(forKey: $0) }
            return (id, close)
        }
        close.forEach { $0.close(promise: nil) }
        return id
    }

    fileprivate func requestStarted(_ id: Int) { state.withLock { $0.table.requestStarted(id) } }
    fileprivate func responseFinished(_ id: Int) { state.withLock { $0.table.responseFinished(id) } }
    fileprivate func headerTimedOut() { state.withLock { $0.headerTimeouts += 1 } }

    fileprivate func closed(_ id: Int) {
        state.withLock { state in
            state.table.closed(id)
            state.channels[id] = nil
        }
    }
}

/// Reports one connection's life to its ``ConnectionGuard``. Sits after the HTTP decoder, so it sees
/// request heads and response ends.
final class ConnectionGuardHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let connectionGuard: ConnectionGuard
    private var id: Int?
    private var sawRequest = false
    private var headerDeadline: Scheduled<Void>?

    init(guard connectionGuard: ConnectionGuard) {
        self.connectionGuard = connectionGuard
    }

    func handlerAdded(context: ChannelHandlerContext) {
        if context.channel.isActive { start(context) }
    }

    func channelActive(context: ChannelHandlerContext) {
        start(context)
        context.fireChannelActive()
    }

    private func start(_ context: ChannelHandlerContext) {
        guard id == nil else { return }
        id = connectionGuard.opened(context.channel)
        let channel = context.channel
        let connectionGuard = connectionGuard
        let loopBound = NIOLoopBound(self, eventLoop: context.eventLoop)
        headerDeadline = context.eventLoop.scheduleTask(in: connectionGuard.headerTimeout) {
            guard !loopBound.value.sawRequest else { return }
            connectionGuard.headerTimedOut()
            channel.close(promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data), let id {
            sawRequest = true
            headerDeadline?.cancel()
            connectionGuard.requestStarted(id)
        }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data), let id {
            connectionGuard.responseFinished(id)
        }
        context.write(data, promise: promise)
    }

    func channelInactive(context: ChannelHandlerContext) {
        headerDeadline?.cancel()
        if let id { connectionGuard.closed(id) }
        id = nil
        context.fireChannelInactive()
    }
}
