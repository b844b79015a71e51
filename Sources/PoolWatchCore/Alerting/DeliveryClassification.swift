/// Why a delivery attempt failed, as logs and metrics name it (docs/alert-delivery.md §13).
public enum DeliveryErrorClass: String, Sendable, Hashable, CaseIterable {
    case network, timeout, tls
    case rateLimited = "rate_limited"
    case server, client, config, redirect
}

/// A transfer that produced no HTTP response, as the notifier's HTTP layer reports it.
public enum TransportFailure: Sendable, Hashable {
    /// Connect or total timeout, or the low-speed abort (a stalled response).
    case timeout
    /// DNS, connect refused, reset, closed early.
    case network
    /// TLS handshake failure.
    case tls
    /// The server's certificate did not verify: retried slowly, it will not fix itself soon.
    case tlsVerification
    /// The request could not be sent as configured (bad URL, refused protocol): a config error.
    case invalidRequest
    /// The response body exceeded the client's cap.
    case responseTooLarge
    /// The send was aborted because poolwatch is shutting down.
    case cancelled
}

/// What one attempt's result means for the record (docs/alert-delivery.md §7).
public enum DeliveryClassification: Sendable, Equatable {
    /// PagerDuty 2xx; Slack 200 `ok`.
    case delivered
    /// Network errors, timeouts, 408, 5xx: retry with backoff A.
    case transient(DeliveryErrorClass)
    /// 429: retry after `Retry-After` (seconds, from the header or Slack's body) and pause the receiver.
    case rateLimited(retryAfter: Double?)
    /// 400 and other payload complaints: one degraded resend, then dead.
    case rejectedPayload
    /// 401/403/404/410 (`reloadSecret`: the secret may have been rotated), 3xx, an unusable request:
    /// dead at once, escalated to the other receivers.
    case permanent(DeliveryErrorClass, reloadSecret: Bool)
    /// Aborted by shutdown: back to pending, the attempt does not count.
    case interrupted

    /// Classifies an HTTP response.
    public static func classify(type: ReceiverType, status: Int, body: [UInt8], retryAfter: Double?) -> DeliveryClassification {
        switch status {
        case 200..<300:
            guard type == .slack else { return .delivered }
            // Incoming webhooks answer `ok`; the Web API answers JSON with "ok": true / false.
            let text = String(decoding: body.prefix(4096), as: UTF8.self).trimmingSpaces()
            if text == "ok" { return .delivered }
            if case let .object(members)? = try? JSONValue.parse(Array(text.utf8)), case .bool(false)? = members["ok"] {
                return .permanent(.client, reloadSecret: false)
            }
            return .delivered
        case 300..<400:
            return .permanent(.redirect, reloadSecret: false)
        case 408:
            return .transient(.timeout)
        case 429:
            return .rateLimited(retryAfter: retryAfter ?? slackBodyRetryAfter(body))
        case 401, 403, 404, 410:
            return .permanent(.config, reloadSecret: true)
        case 400..<500:
            return .rejectedPayload
        case 500..<600:
            return .transient(.server)
        default:
            return .transient(.server)
        }
    }

    /// Classifies a transfer that got no response.
    public static func classify(_ failure: TransportFailure) -> DeliveryClassification {
        switch failure {
        case .timeout: return .transient(.timeout)
        case .network: return .transient(.network)
        case .tls, .tlsVerification: return .transient(.tls)
        case .invalidRequest: return .permanent(.config, reloadSecret: false)
        case .responseTooLarge: return .transient(.server)
        case .cancelled: return .interrupted
        }
    }

    /// Slack's 429 body: `{"retry_after":1,"ok":false,"error":"rate_limited"}`.
    static func slackBodyRetryAfter(_ body: [UInt8]) -> Double? {
        guard case let .object(members)? = try? JSONValue.parse(Array(body.prefix(4096))),
              case let .number(seconds)? = members["retry_after"], seconds.isFinite, seconds >= 0 else { return nil }
        return seconds
    }
}

/// The notifier's timing rules: backoff, pauses, TTLs, grouping (docs/alert-delivery.md §6–§8).
/// Tests scale these down; production uses ``standard``.
public struct NotifierPolicy: Sendable, Equatable {
    /// Backoff A: `min(cap, base × 2^(n-1))`, jittered uniformly in `[0.5·d, d]`.
    public var transientBase: Double = 2
    public var transientCap: Double = 60
    /// Certificate problems do not fix themselves within seconds.
    public var tlsFloor: Double = 60
    /// Slack 429: `Retry-After` clamped to `[min, max]` plus up to `rateLimitJitter`; the default when absent.
    public var slackRateLimitDefault: Double = 30
    public var rateLimitMin: Double = 1
    public var rateLimitMax: Double = 300
    public var rateLimitJitter: Double = 1
    /// PagerDuty 429: `max(Retry-After, floor)`, doubling on each consecutive 429 up to `rateLimitMax`.
    public var pagerDutyRateLimitFloor: Double = 30
    /// Escalate when a receiver has had no success for this long while it holds triggers.
    public var staleEscalationAfter: Double = 900
    public var slackTTL: Double = 3600
    public var pagerDutyResolveTTL: Double = 86400
    /// Slack records wait this long, so the transitions of one evaluation tick can be grouped.
    public var slackGroupWait: Double = 2
    /// More than this many instances of one rule pending for one Slack receiver become one message.
    public var groupThreshold: Int = 3
    /// Finished records stay visible (and deduplicate re-enqueues) for this long.
    public var finishedRetention: Double = 3600
    /// In-flight sends get this long to finish at shutdown.
    public var shutdownGrace: Double = 5
    /// A record scheduled further ahead than this is due now: the wall clock stepped back.
    public var maxScheduleAhead: Double = 600

    public init() {}

    public static let standard = NotifierPolicy()

    /// Backoff A for attempt `attempt` (1-based); `random` is uniform in `[0, 1)`.
    public func transientDelay(attempt: Int, errorClass: DeliveryErrorClass, random: Double) -> Double {
        let exponent = Double(min(max(attempt, 1) - 1, 30))
        let ceiling = min(transientCap, transientBase * pow2(exponent))
        let delay = ceiling * (0.5 + 0.5 * random)
        return errorClass == .tls ? max(tlsFloor, delay) : delay
    }

    /// Backoff B: how long to pause a receiver after its `consecutive`-th 429 in a row.
    public func rateLimitPause(type: ReceiverType, retryAfter: Double?, consecutive: Int, random: Double) -> Double {
        switch type {
        case .slack:
            let base = retryAfter.map { min(max($0, rateLimitMin), rateLimitMax) } ?? slackRateLimitDefault
            return base + rateLimitJitter * random
        case .pagerduty:
            let base = max(retryAfter ?? 0, pagerDutyRateLimitFloor)
            return min(rateLimitMax, base * pow2(Double(min(max(consecutive, 1) - 1, 20))))
        }
    }

    private func pow2(_ exponent: Double) -> Double {
        var result = 1.0
        for _ in 0..<Int(exponent) { result *= 2 }
        return result
    }
}

/// A token bucket plus an optional sliding-window ceiling (PagerDuty: 60 events per minute per key).
public struct DeliveryRateLimiter: Sendable, Equatable {
    public let rate: Double
    public let burst: Double
    public private(set) var tokens: Double
    private var last: Double?
    public let windowLimit: Int?
    public let window: Double
    private var sent: [Double] = []

    public init(_ limit: RateLimit, windowLimit: Int? = nil, window: Double = 60) {
        rate = max(limit.perSecond, 0.001)
        burst = Double(max(limit.burst, 1))
        tokens = burst
        self.windowLimit = windowLimit
        self.window = window
    }

    private mutating func refill(_ now: Double) {
        if let last, now > last { tokens = min(burst, tokens + (now - last) * rate) }
        last = now  // a clock that stepped back only restarts the refill
        if windowLimit != nil { sent.removeAll { $0 <= now - window } }
    }

    /// Takes a token if one is available now.
    public mutating func tryAcquire(now: Double) -> Bool {
        refill(now)
        guard tokens >= 1 else { return false }
        if let windowLimit {
            guard sent.count < windowLimit else { return false }
            sent.append(now)
        }
        tokens -= 1
        return true
    }

    /// When the next token will be available (≤ `now` if one is).
    public func nextAvailable(now: Double) -> Double {
        var copy = self
        copy.refill(now)
        var at = copy.tokens >= 1 ? now : now + (1 - copy.tokens) / rate
        if let windowLimit, copy.sent.count >= windowLimit, let oldest = copy.sent.first { at = max(at, oldest + window) }
        return at
    }
}
