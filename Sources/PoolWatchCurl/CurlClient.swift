import CCurl
import Synchronization

/// A small libcurl HTTP client: one fresh easy handle per request, run on a dedicated thread pool.
///
/// Every request gets the same safe option set (docs/alert-delivery.md §11): `NOSIGNAL`, connect and total
/// timeouts, redirects never followed (a 3xx is returned as a response), TLS verification on, verbose
/// output forced off (it would print the URL), only `http`/`https` (or only `https`), `User-Agent`
/// `poolwatch/<version>`, no `Expect: 100-continue`. Proxy environment variables (`https_proxy`,
/// `no_proxy`, …) are honoured, as libcurl does by default.
///
/// Cancelling the calling task aborts the transfer through `CURLOPT_XFERINFOFUNCTION`. libcurl calls
/// that function about once a second while a transfer is idle, so an abort can take up to ~1 s.
///
/// ```swift
/// let client = CurlClient(userAgent: "poolwatch/0.1.0", executor: BlockingExecutor(threads: 2))
/// let response = try await client.execute(.postJSON(url, displayName: "slack:oncall", body: payload))
/// ```
public struct CurlClient: Sendable {
    public let userAgent: String
    private let executor: any CurlExecutor

    /// - Parameters:
    ///   - userAgent: sent as `User-Agent`, e.g. `poolwatch/0.1.0`.
    ///   - executor: where the blocking transfers run.
    public init(userAgent: String, executor: any CurlExecutor) {
        _ = Self.globalInit
        self.userAgent = userAgent
        self.executor = executor
    }

    /// `curl_global_init` exactly once per process, before the first handle (a `static let` is
    /// initialized once, thread-safely). Its result is checked at every request.
    static let globalInit: Int = Int(curl_global_init(ccurl_global_default()).rawValue)

    /// The libcurl version in use, e.g. `7.88.1`.
    public static var libcurlVersion: String { String(cString: ccurl_version_string()) }

    /// False when libcurl resolves names synchronously: with `NOSIGNAL` a DNS lookup then has no timeout.
    /// Log a warning at startup when this is false.
    public static var hasAsynchronousDNS: Bool { ccurl_has_async_dns() != 0 }

    /// Performs `request` and returns the server's response, whatever its status.
    ///
    /// - Throws: ``CurlError`` when no complete response arrived: timeout, connection refused or reset,
    ///   TLS failure, body larger than `maxResponseBytes`, cancellation, invalid request.
    public func execute(_ request: CurlRequest) async throws(CurlError) -> CurlResponse {
        let destination = request.displayName
        guard Self.globalInit == 0 else {
            throw CurlError(code: .other, destination: destination,
                            summary: "libcurl could not be initialised (curl_global_init returned \(Self.globalInit))")
        }
        if Task.isCancelled {
            throw CurlError(code: .cancelled, destination: destination, summary: "cancelled before the request was sent")
        }
        let abort = AbortFlag()
        let userAgent = userAgent
        do {
            return try await executor.run({
                try CurlTransfer(request: request, userAgent: userAgent, abort: abort).perform()
            }, onCancel: {
                abort.set()
            })
        } catch let error as CurlError {
            throw error
        } catch is CancellationError {
            throw CurlError(code: .cancelled, destination: destination, summary: "cancelled before the request was sent")
        } catch {
            // NIOThreadPoolError.ThreadPoolInactive: the pool was shut down.
            throw CurlError(code: .other, destination: destination, summary: "the transfer could not run: \(error)")
        }
    }

    /// GETs `url`.
    public func get(_ url: String, displayName: String, headers: [CurlHeader] = []) async throws(CurlError) -> CurlResponse {
        try await execute(.get(url, displayName: displayName, headers: headers))
    }

    /// POSTs `body` as `application/json` to `url`.
    public func postJSON(_ url: String, displayName: String, body: [UInt8], headers: [CurlHeader] = []) async throws(CurlError)
        -> CurlResponse
    {
        try await execute(.postJSON(url, displayName: displayName, body: body, headers: headers))
    }
}

/// Set by the task-cancellation handler (any thread), read by the transfer's progress callback (the
/// pool thread). An `Atomic`, so the class is genuinely `Sendable`.
final class AbortFlag: Sendable {
    private let value = Atomic<Bool>(false)
    func set() { value.store(true, ordering: .releasing) }
    var isSet: Bool { value.load(ordering: .acquiring) }
}
