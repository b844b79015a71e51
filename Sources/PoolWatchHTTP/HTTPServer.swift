import FoundationEssentials
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import Logging
import NIOCore
import PoolWatchCore

/// The HTTP face of poolwatch: `/metrics`, `/healthz`, `/readyz` and a landing page at `/`.
///
/// Handlers only read cached state: `/metrics` copies the bytes encoded at the last collection round
/// and never touches a database, so a scrape costs microseconds whatever the targets are doing.
public enum HTTPServer {
    public static let metricsContentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Extra routes contributed by other components (e.g. `/alerts`).
    public typealias RouteInstaller = @Sendable (Router<BasicRequestContext>) -> Void

    /// Builds the application; it is a swift-service-lifecycle `Service`, run in the service group.
    public static func makeApplication(
        listen: ListenAddress, store: SnapshotStore, targets: @escaping @Sendable () -> [TargetConfig], logger: Logger,
        connectionGuard: ConnectionGuard = ConnectionGuard(limit: 512),
        firingAlerts: @escaping @Sendable (Double) -> [StatusAlert] = { _ in [] },
        extraRoutes: [RouteInstaller] = [],
        security: WebSecurity = .none,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) throws -> some ApplicationProtocol {
        let router = Router(options: .autoGenerateHeadEndpoints)
        // First: routes registered later (here and in `extraRoutes`) are wrapped in it.
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: ConfiguredHeadersMiddleware(security: security))
        // After the header middlewares, so a 401 carries their headers too.
        router.add(middleware: BasicAuthMiddleware(authenticator: security.authenticator))
        router.get("/metrics") { request, _ -> Response in
            let gzip = acceptsGzip(request.headers[values: .acceptEncoding])
            let body = store.scrape(gzip: gzip, extra: connectionGuard.families)
            var headers: HTTPFields = [.contentType: metricsContentType, .vary: "Accept-Encoding"]
            if gzip { headers[.contentEncoding] = "gzip" }
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/healthz") { _, _ -> Response in
            plain(.ok, "ok\n")
        }
        router.get("/readyz") { _, _ -> Response in
            let (ready, reason) = store.readiness()
            return plain(ready ? .ok : .serviceUnavailable, reason + "\n")
        }
        // Who holds the pool, from the latest rounds' rows: no SQL on request. `targets` is read per
        // request: a reload may have changed them.
        router.get("/diagnose") { _, _ -> Response in
            let diagnosis = Diagnosis.make(snapshots: store.snapshots, pairs: Diagnosis.pairs(for: targets()), now: store.now())
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            let body = (try? encoder.encode(diagnosis)).map { Array($0) } ?? Array("{}".utf8)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
        }
        router.get("/") { _, _ -> Response in
            let now = store.now()
            let snapshots = store.snapshots
            let targets = targets()
            let page = LandingPage.render(
                targets: targets, snapshots: snapshots,
                diagnosis: Diagnosis.make(snapshots: snapshots, pairs: Diagnosis.pairs(for: targets), now: now),
                alerts: firingAlerts(now), now: now)
            return Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(string: page)))
        }
        for install in extraRoutes { install(router) }
        // Between requests a connection may stay idle this long (Prometheus reuses it for the next
        // scrape; Go's client retries a GET whose idle connection was closed under it).
        let allowedSANs = security.tls?.config.clientAllowedSANs ?? []
        let http1 = HTTPServerBuilder.http1(configuration: .init(
            additionalChannelHandlers: [connectionGuard.handler()] + (allowedSANs.isEmpty ? [] : [ClientSANHandler(allowed: allowedSANs)]),
            idleTimeout: .seconds(60)))
        let server = try security.tls.map { try HTTPServerBuilder.tls(http1, configuration: $0.channelConfiguration()) } ?? http1
        return Application(
            router: router,
            server: server,
            configuration: .init(address: .hostname(listen.host, port: listen.port), serverName: nil),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? listen.port) },
            logger: logger)
    }

    static func plain(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }

    /// True if the client accepts gzip (and did not refuse it with `q=0`).
    public static func acceptsGzip(_ values: [String]) -> Bool {
        for value in values {
            for part in value.split(separator: ",") {
                let pieces = part.split(separator: ";").map { String($0.filter { $0 != " " && $0 != "\t" }).lowercased() }
                guard let coding = pieces.first, coding == "gzip" || coding == "*" else { continue }
                let quality = pieces.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
                if quality > 0 { return true }
            }
        }
        return false
    }
}
