import Hummingbird

/// Response headers every route gets, including errors (404, 405) and routes installed by other
/// components (`/alerts`). Added before any route, since Hummingbird wraps a route in the middlewares
/// present when the route is registered.
///
/// - `X-Content-Type-Options: nosniff` everywhere: a label value or an error text shown in a
///   `text/plain` page can never be sniffed into HTML by a browser.
/// - On HTML (the landing page) a `Content-Security-Policy` that allows nothing but the page's own inline
///   style: no script at all, no framing (`frame-ancestors 'none'`), no form targets, no `<base>`; so even
///   markup that slipped through the escaping could not run or load anything.
/// - `Cache-Control: no-store` everywhere: `/alerts` and the landing page show labels, annotations and
///   errors that a shared cache must not keep, and no response here is worth caching (`/metrics` is
///   served from memory in microseconds).
public struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    public init() {}

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        SecurityHeaders.add(to: &response.headers)
        return response
    }
}

/// The header values of `SecurityHeadersMiddleware` (a generic type cannot hold them).
enum SecurityHeaders {
    static let contentSecurityPolicy =
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    // Hummingbird re-exports HTTPFields but not HTTPField.
    static let referrerPolicy = HTTPFields.Element.Name("Referrer-Policy")!

    static func add(to headers: inout HTTPFields) {
        headers[.xContentTypeOptions] = "nosniff"
        headers[.cacheControl] = "no-store"
        if headers[.contentType]?.lowercased().hasPrefix("text/html") == true {
            headers[.contentSecurityPolicy] = contentSecurityPolicy
            headers[referrerPolicy] = "no-referrer"
        }
    }
}
