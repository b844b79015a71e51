import Hummingbird
import PoolWatchCore
import Synchronization

/// What `--web.config.file` asks of the HTTP server: basic auth, extra response headers, TLS.
/// Users and headers can be replaced while serving (a reloaded web config); the TLS store re-reads its
/// certificate files by itself.
public final class WebSecurity: Sendable {
    public let authenticator: BasicAuthenticator
    public let tls: TLSCertificateStore?
    private let headers: Mutex<[WebConfig.HeaderSetting]>

    public init(config: WebConfig) throws {
        authenticator = BasicAuthenticator(users: config.basicAuthUsers)
        headers = Mutex(config.headers)
        tls = try config.tls.map { try TLSCertificateStore(config: $0) }
    }

    /// No web config: plain HTTP, no auth, no extra headers.
    public static let none = try! WebSecurity(config: WebConfig())

    /// Applies the parts that can change without a new listening socket (users, headers).
    public func update(users: [String: Secret], headers newHeaders: [WebConfig.HeaderSetting]) {
        authenticator.update(users: users)
        headers.withLock { $0 = newHeaders }
    }

    var configuredHeaders: [WebConfig.HeaderSetting] { headers.withLock { $0 } }
}

/// `http_server_config.headers` on every answer, after poolwatch's own (a configured value wins).
struct ConfiguredHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    let security: WebSecurity

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response = try await next(request, context)
        for header in security.configuredHeaders {
            if let name = HTTPFields.Element.Name(header.name) { response.headers[name] = header.value }
        }
        return response
    }
}
