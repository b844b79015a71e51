/// One HTTP header line. Values may be secrets (`Authorization`), so a header never prints its value,
/// not even through `dump` or `String(reflecting:)`.
public struct CurlHeader: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }

    public var description: String { "\(name): <redacted>" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["name": name, "value": "<redacted>"]) }
}

/// One HTTP request for ``CurlClient``.
///
/// The URL may be a secret (a Slack webhook URL is one), so it is never printed: `description` shows the
/// method and ``displayName`` only, and every ``CurlError`` names the destination by ``displayName``.
public struct CurlRequest: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public enum Method: String, Sendable {
        case get = "GET"
        case post = "POST"
    }

    /// Which URL schemes libcurl may use (`CURLOPT_PROTOCOLS_STR`). Nothing else (file, ftp, gopher, …)
    /// is ever allowed, whatever the URL says.
    public enum Protocols: String, Sendable {
        case httpAndHTTPS = "http,https"
        case httpsOnly = "https"
    }

    public var method: Method
    /// The full URL. Never printed; see ``displayName``.
    public var url: String
    /// How errors and logs name the destination: a target name, `slack:oncall`, or a URL with its
    /// secret parts removed. Chosen by the caller, who knows what is secret.
    public var displayName: String
    /// Extra request headers. `User-Agent` is set by the client; `Expect:` is always removed on POST.
    public var headers: [CurlHeader]
    /// The POST body (ignored for GET). Copied into a buffer that lives for the whole transfer.
    public var body: [UInt8]
    /// `CURLOPT_CONNECTTIMEOUT_MS`: TCP connect plus TLS handshake.
    public var connectTimeout: Duration
    /// `CURLOPT_TIMEOUT_MS`: the whole transfer, from name resolution to the last body byte.
    public var timeout: Duration
    /// Abort when less than 1 byte/s arrives for this long (`CURLOPT_LOW_SPEED_TIME`); nil: off.
    public var lowSpeedTime: Duration?
    /// The response body cap in bytes. A larger body aborts the transfer with ``CurlError/Code/responseTooLarge``.
    public var maxResponseBytes: Int
    public var protocols: Protocols
    /// A CA bundle to verify the server with instead of the system's (`CURLOPT_CAINFO`).
    public var caFile: String?

    public init(
        method: Method, url: String, displayName: String, headers: [CurlHeader] = [], body: [UInt8] = [],
        connectTimeout: Duration = .seconds(5), timeout: Duration = .seconds(10), lowSpeedTime: Duration? = nil,
        maxResponseBytes: Int = 1 << 20, protocols: Protocols = .httpAndHTTPS, caFile: String? = nil
    ) {
        self.method = method
        self.url = url
        self.displayName = displayName
        self.headers = headers
        self.body = body
        self.connectTimeout = connectTimeout
        self.timeout = timeout
        self.lowSpeedTime = lowSpeedTime
        self.maxResponseBytes = maxResponseBytes
        self.protocols = protocols
        self.caFile = caFile
    }

    /// A GET request.
    public static func get(_ url: String, displayName: String, headers: [CurlHeader] = []) -> CurlRequest {
        CurlRequest(method: .get, url: url, displayName: displayName, headers: headers)
    }

    /// A POST of a JSON document. `Content-Type: application/json` is added unless `headers` has one.
    public static func postJSON(_ url: String, displayName: String, body: [UInt8], headers: [CurlHeader] = []) -> CurlRequest {
        var all = headers
        if !all.contains(where: { $0.name.lowercased() == "content-type" }) {
            all.append(CurlHeader("Content-Type", "application/json"))
        }
        return CurlRequest(method: .post, url: url, displayName: displayName, headers: all, body: body)
    }

    public var description: String { "\(method.rawValue) \(displayName)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror {
        Mirror(self, children: ["method": method, "displayName": displayName, "url": "<redacted>", "headers": headers])
    }
}

/// What the server answered. Any status is a response, including 3xx (redirects are never followed),
/// 4xx and 5xx; only transport failures are ``CurlError``s.
public struct CurlResponse: Sendable {
    /// The HTTP status code (`CURLINFO_RESPONSE_CODE`).
    public var status: Int
    /// The headers of the final response, in order, names as sent.
    public var headers: [CurlHeader]
    /// The body, at most the request's `maxResponseBytes`.
    public var body: [UInt8]
    /// `Retry-After` in seconds (delta-seconds or HTTP date, via `CURLINFO_RETRY_AFTER`), clamped at 0;
    /// nil when the header is absent. A date in the past reads as 0.
    public var retryAfterSeconds: Int64?
    /// Wall time of the whole transfer.
    public var duration: Duration

    public init(status: Int, headers: [CurlHeader], body: [UInt8], retryAfterSeconds: Int64?, duration: Duration) {
        self.status = status
        self.headers = headers
        self.body = body
        self.retryAfterSeconds = retryAfterSeconds
        self.duration = duration
    }

    /// The first header called `name` (case-insensitive).
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.name.lowercased() == lowered }?.value
    }

    /// True for 2xx.
    public var isSuccess: Bool { (200..<300).contains(status) }

    /// The body decoded as UTF-8, invalid sequences replaced. For logs, use ``bodyExcerpt(limit:)``.
    public var bodyText: String { String(decoding: body, as: UTF8.self) }

    /// At most `limit` bytes of the body as text with control characters replaced, safe for a log line.
    public func bodyExcerpt(limit: Int = 256) -> String {
        CurlError.sanitize(String(decoding: body.prefix(limit), as: UTF8.self), limit: limit)
    }
}
