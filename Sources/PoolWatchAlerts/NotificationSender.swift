import PoolWatchCore
import PoolWatchCurl

/// The result of one HTTP attempt, classified, with a short secret-free description.
public struct DeliveryAttempt: Sendable {
    public var classification: DeliveryClassification
    /// The HTTP status, when a response arrived.
    public var status: Int?
    /// `Retry-After` in seconds, when the response had one.
    public var retryAfter: Double?
    /// `HTTP 404: no_service`, `timeout: …`: capped, control characters removed, secrets redacted.
    public var detail: String
    /// Seconds the request took.
    public var latency: Double
}

/// Sends one body to one receiver through libcurl, with the option set of docs/alert-delivery.md §11:
/// `https` only (plain `http` only for loopback endpoints), redirects never followed, bounded
/// timeouts, small response cap. The secret (Slack URL, PagerDuty routing key) is used here and
/// nowhere else.
public struct NotificationSender: Sendable {
    public let client: CurlClient

    public init(client: CurlClient) { self.client = client }

    static let maxResponseBytes = 64 * 1024

    /// POSTs `body` (stored JSON, without secrets) to `receiver`, injecting `secret`.
    public func send(body: String, to receiver: ReceiverConfig, secret: Secret, redactor: SecretRedactor) async -> DeliveryAttempt {
        let url: String
        let payload: [UInt8]
        switch receiver.type {
        case .slack:
            url = secret.revealed
            payload = Array(body.utf8)
        case .pagerduty:
            url = receiver.url ?? ReceiverConfig.defaultPagerDutyURL
            payload = PagerDutyPayload.withRoutingKey(body, routingKey: secret.revealed)
        }
        var request = CurlRequest.postJSON(url, displayName: receiver.displayName, body: payload)
        request.timeout = .seconds(receiver.timeout)
        request.connectTimeout = .seconds(min(5, receiver.timeout))
        request.lowSpeedTime = .seconds(10)
        request.maxResponseBytes = Self.maxResponseBytes
        request.protocols = receiver.allowsPlainHTTP ? .httpAndHTTPS : .httpsOnly

        let clock = ContinuousClock()
        let started = clock.now
        do {
            let response = try await client.execute(request)
            let latency = (clock.now - started).seconds
            let retryAfter = response.retryAfterSeconds.map(Double.init)
            let classification = DeliveryClassification.classify(
                type: receiver.type, status: response.status, body: response.body, retryAfter: retryAfter)
            var detail = "HTTP \(response.status)"
            let summary = Self.responseSummary(response.body)
            if !summary.isEmpty { detail += ": \(summary)" }
            if (300..<400).contains(response.status) {
                // Never the full Location: it may carry a token. The host is enough to act on.
                let host = response.header("location").map(Self.host) ?? "none"
                detail += " (redirect to \(host) not followed)"
            }
            return DeliveryAttempt(classification: classification, status: response.status, retryAfter: retryAfter,
                                   detail: redactor.redact(detail), latency: latency)
        } catch {
            let latency = (clock.now - started).seconds
            return DeliveryAttempt(classification: .classify(Self.transportFailure(error.code)), status: nil, retryAfter: nil,
                                   detail: redactor.redact("\(error.code): \(error.summary)"), latency: latency)
        }
    }

    static func transportFailure(_ code: CurlError.Code) -> TransportFailure {
        switch code {
        case .timeout: return .timeout
        case .tls: return .tls
        case .tlsVerification: return .tlsVerification
        case .invalidRequest: return .invalidRequest
        case .responseTooLarge: return .responseTooLarge
        case .cancelled: return .cancelled
        default: return .network
        }
    }

    /// A short description of a response body: PagerDuty's `message` and `errors`, Slack's plain
    /// text (`no_service`), at most 160 characters, one line.
    static func responseSummary(_ body: [UInt8]) -> String {
        let text: String
        if case let .object(members)? = try? JSONValue.parse(Array(body.prefix(8192))) {
            var parts: [String] = []
            if case let .string(message)? = members["message"] { parts.append(message) }
            if case let .string(error)? = members["error"] { parts.append(error) }
            if case let .array(errors)? = members["errors"] {
                parts += errors.compactMap { if case let .string(text) = $0 { return text } else { return nil } }
            }
            text = parts.joined(separator: "; ")
        } else {
            text = String(decoding: body.prefix(512), as: UTF8.self)
        }
        return AlertText.truncate(AlertText.singleLine(text), to: 160).trimmingCharacters()
    }

    static func host(_ location: String) -> String {
        guard let start = location.firstRange(of: "://")?.upperBound else { return "(relative)" }
        var authority = location[start...].prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        return AlertText.singleLine(String(authority))
    }

}

extension String {
    func trimmingCharacters() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}

/// Replaces every known secret (webhook URLs, their paths, routing keys) in a text with `<redacted>`.
/// Applied to everything the notifier logs or stores that came from outside: response bodies and
/// transport errors.
public struct SecretRedactor: Sendable {
    private var secrets: [String] = []

    public init(_ values: [Secret] = []) {
        for value in values { add(value) }
    }

    /// Adds a secret; for a URL, its path and query (the Slack token) are added as well.
    public mutating func add(_ secret: Secret) {
        let value = secret.revealed
        guard value.count >= 4 else { return }
        secrets.append(value)
        if let schemeEnd = value.firstRange(of: "://")?.upperBound,
           let slash = value[schemeEnd...].firstIndex(where: { $0 == "/" || $0 == "?" }) {
            let path = String(value[slash...])
            if path.count >= 8 { secrets.append(path) }
        }
        secrets.sort { $0.count > $1.count }
    }

    public func redact(_ text: String) -> String {
        var result = text
        for secret in secrets where result.contains(secret) {
            result = result.replacing(secret, with: "<redacted>")
        }
        return result
    }
}
