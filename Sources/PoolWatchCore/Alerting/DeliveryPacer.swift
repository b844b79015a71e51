/// The notifier's decisions about when a receiver may be sent to and what one attempt's answer means,
/// as a value: ``NotifierStateMachine`` asks it (send, wait until, retry at, give up, re-read the
/// secret file) and the notifier (Sources/PoolWatchAlerts/Notifier.swift) performs the result; tests
/// drive it with explicit times instead of sleeping.
///
/// Per receiver it keeps a token bucket (`DeliveryRateLimiter`), the pause a 429 imposed, and how many
/// 429s came in a row (PagerDuty's pause doubles with each).
public struct DeliveryPacer: Sendable, Equatable {
    private var limiters: [String: DeliveryRateLimiter] = [:]
    public private(set) var pausedUntil: [String: Double] = [:]
    private var consecutiveRateLimits: [String: Int] = [:]
    private var receivers: [String: ReceiverConfig] = [:]

    public init(receivers: [ReceiverConfig]) {
        reconfigure(receivers)
    }

    /// New receivers (a reload): one whose type and rate limit did not change keeps its bucket and any
    /// pause; the others start fresh; removed ones are forgotten.
    public mutating func reconfigure(_ new: [ReceiverConfig]) {
        var kept: [String: DeliveryRateLimiter] = [:]
        for receiver in new {
            if let previous = receivers[receiver.name], previous.type == receiver.type, previous.rateLimit == receiver.rateLimit,
               let limiter = limiters[receiver.name] {
                kept[receiver.name] = limiter
            } else {
                kept[receiver.name] = DeliveryRateLimiter(receiver.rateLimit, windowLimit: receiver.type == .pagerduty ? 60 : nil)
            }
        }
        let names = Set(new.map(\.name))
        limiters = kept
        pausedUntil = pausedUntil.filter { names.contains($0.key) }
        consecutiveRateLimits = consecutiveRateLimits.filter { names.contains($0.key) }
        receivers = Dictionary(new.map { ($0.name, $0) }, uniquingKeysWith: { _, last in last })
    }

    /// Whether a send to `receiver` may start now; takes a token when it may.
    public mutating func mayStart(_ receiver: String, now: Double) -> Bool {
        if let until = pausedUntil[receiver], until > now { return false }
        return limiters[receiver]?.tryAcquire(now: now) ?? false
    }

    /// The earliest time a record of `receiver` due at `due` can go out: after any pause and the next token.
    public func earliest(_ receiver: String, due: Double, now: Double) -> Double {
        var at = due
        if let until = pausedUntil[receiver] { at = max(at, until) }
        if let limiter = limiters[receiver] { at = max(at, limiter.nextAvailable(now: now)) }
        return at
    }

    /// What the driver does with an attempt's answer.
    public struct Decision: Sendable, Equatable {
        public enum Level: Sendable, Equatable { case info, warning }
        /// For the outbox (`OutboxState.complete`).
        public var outcome: DeliveryOutcome
        /// Before recording `outcome`: re-read the receiver's secret file; if it changed, retry now with
        /// the new secret instead (a rotated Slack URL or routing key answers 401/403/404/410 first).
        public var rereadSecretFirst: Bool
        /// Seconds until the retry, for the log.
        public var retryIn: Double?
        public var message: String
        public var level: Level
    }

    /// Decides what `classification` means for a record on its `attempt`-th try, at `now`. `random`
    /// in 0..<1 spreads retries (jitter); `mayRereadSecret` is false once a re-read was tried for this record.
    public mutating func decide(
        _ classification: DeliveryClassification, status: Int?, detail: String, receiver: ReceiverConfig, attempt: Int,
        policy: NotifierPolicy, random: Double, mayRereadSecret: Bool, now: Double
    ) -> Decision {
        let name = receiver.name
        switch classification {
        case .delivered:
            consecutiveRateLimits[name] = 0
            return Decision(outcome: .delivered(status: status ?? 200), rereadSecretFirst: false, retryIn: nil,
                            message: "notification delivered", level: .info)
        case let .transient(errorClass):
            let delay = policy.transientDelay(attempt: attempt, errorClass: errorClass, random: random)
            return Decision(outcome: .retry(notBefore: now + delay, status: status, error: detail), rereadSecretFirst: false,
                            retryIn: delay, message: "notification delivery failed", level: .warning)
        case let .rateLimited(retryAfter):
            let consecutive = (consecutiveRateLimits[name] ?? 0) + 1
            consecutiveRateLimits[name] = consecutive
            let pause = policy.rateLimitPause(type: receiver.type, retryAfter: retryAfter, consecutive: consecutive, random: random)
            pausedUntil[name] = now + pause
            return Decision(outcome: .retry(notBefore: now + pause, status: status, error: detail), rereadSecretFirst: false,
                            retryIn: pause, message: "receiver rate limited; pausing it", level: .warning)
        case .rejectedPayload:
            return Decision(outcome: .degrade(status: status ?? 400, error: detail), rereadSecretFirst: false, retryIn: nil,
                            message: "notification rejected; resending a minimal payload once", level: .warning)
        case let .permanent(_, reloadSecret):
            var rereads = false
            if reloadSecret, mayRereadSecret, case .file = receiver.secretSource { rereads = true }
            return Decision(outcome: .dead(status: status, error: detail), rereadSecretFirst: rereads, retryIn: nil,
                            message: "notification delivery failed", level: .warning)
        case .interrupted:
            return Decision(outcome: .interrupted, rereadSecretFirst: false, retryIn: nil,
                            message: "notification send interrupted by shutdown; it stays queued", level: .info)
        }
    }
}
