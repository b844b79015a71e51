/// One notification for one receiver, persisted before it is sent (docs/alert-delivery.md §6).
///
/// The body is stored **without secrets**: a PagerDuty body has no `routing_key` (it is injected at
/// send time) and a Slack record names its receiver, never its webhook URL.
public struct OutboxRecord: Sendable, Equatable {
    public enum State: String, Sendable, Hashable, CaseIterable {
        case pending
        case inFlight = "in_flight"
        case delivered, cancelled, dead, expired, dropped

        /// Pending or being sent: still owed to the receiver.
        public var isOpen: Bool { self == .pending || self == .inFlight }
    }

    public enum Event: String, Sendable, Hashable, CaseIterable {
        /// An alert instance fired.
        case trigger
        /// An alert instance resolved.
        case resolve
        /// poolwatch about itself: an escalated delivery failure, a recovery, an expiry summary.
        case notice
        /// A manual test notification.
        case test
    }

    /// `{dedup_key}#{event}#{transition time in ms}#{receiver}` for alert transitions, so enqueueing the
    /// same transition twice is a no-op.
    public var id: String
    /// Enqueue order; FIFO per dedup key and receiver follows it.
    public var seq: Int
    public var receiver: String
    public var receiverType: ReceiverType
    public var event: Event
    public var dedupKey: String
    /// The rule's name ("" for notices): the grouping key of storm control.
    public var rule: String
    public var severity: NotificationSeverity
    /// One plain line for a person (`[FIRING] … (since …)`): grouped messages, escalations, `/alerts`.
    public var line: String
    /// Seconds since the epoch.
    public var createdAt: Double
    public var notBefore: Double
    public var expiresAt: Double?
    public var attempts: Int
    public var state: State
    /// True once the receiver rejected the full payload (400): the minimal body is sent instead.
    public var degraded: Bool
    /// True for a resolve that replaced (or may follow) a trigger that was never confirmed delivered:
    /// a new trigger for the same key must then be sent, not swallowed.
    public var coalesced: Bool
    /// Slack alert transitions, which storm control may merge into one message.
    public var groupable: Bool
    /// Whether a permanent failure is escalated to the other receivers (not for notices: no loops).
    public var escalate: Bool
    public var lastStatus: Int?
    /// A short, secret-free reason for the last failure.
    public var lastError: String?
    public var finishedAt: Double?
    /// The JSON body (without secrets); emptied once the record is finished.
    public var body: String
    /// The minimal body for the one resend after a 400.
    public var degradedBody: String

    public init(
        id: String, seq: Int, receiver: String, receiverType: ReceiverType, event: Event, dedupKey: String, rule: String,
        severity: NotificationSeverity, line: String, createdAt: Double, notBefore: Double, expiresAt: Double?,
        body: String, degradedBody: String, groupable: Bool = false, escalate: Bool = false, coalesced: Bool = false,
        attempts: Int = 0, state: State = .pending, degraded: Bool = false, lastStatus: Int? = nil, lastError: String? = nil,
        finishedAt: Double? = nil
    ) {
        self.id = id
        self.seq = seq
        self.receiver = receiver
        self.receiverType = receiverType
        self.event = event
        self.dedupKey = dedupKey
        self.rule = rule
        self.severity = severity
        self.line = line
        self.createdAt = createdAt
        self.notBefore = notBefore
        self.expiresAt = expiresAt
        self.body = body
        self.degradedBody = degradedBody
        self.groupable = groupable
        self.escalate = escalate
        self.coalesced = coalesced
        self.attempts = attempts
        self.state = state
        self.degraded = degraded
        self.lastStatus = lastStatus
        self.lastError = lastError
        self.finishedAt = finishedAt
    }
}

/// Per-receiver delivery health, persisted with the outbox.
public struct ReceiverHealth: Sendable, Equatable {
    public var lastSuccessAt: Double?
    /// The first failure since the last success.
    public var failingSince: Double?
    /// Set once the "no success for 15 min while holding triggers" escalation went out.
    public var staleEscalated: Bool = false
    /// Receivers that were told this one is failing; they hear when it works again.
    public var escalatedTo: [String] = []
    /// Slack records that expired undelivered, summarized once the receiver works again.
    public var expiredCount: Int = 0
    public var expiredFrom: Double?
    public var expiredUntil: Double?

    public init() {}
}

/// One HTTP request's worth of work: a single record, or a grouped Slack message for several.
public struct OutboxDispatch: Sendable, Equatable {
    public var receiver: String
    public var recordIDs: [String]
    /// The JSON body without secrets.
    public var body: String
    public var degraded: Bool
    /// The first record's event, dedup key and attempt number (1-based), for logs.
    public var event: OutboxRecord.Event
    public var dedupKey: String
    public var attempt: Int
    public var createdAt: Double

    public var isGrouped: Bool { recordIDs.count > 1 }
}

/// How an attempt ended, decided by the notifier from the response and ``NotifierPolicy``.
public enum DeliveryOutcome: Sendable, Equatable {
    case delivered(status: Int)
    case retry(notBefore: Double, status: Int?, error: String)
    /// The payload was refused: resend the minimal body once (dead if already degraded).
    case degrade(status: Int, error: String)
    case dead(status: Int?, error: String)
    /// Aborted at shutdown: back to pending, not counted as an attempt.
    case interrupted

    /// The HTTP status, when there was a response.
    public var status: Int? {
        switch self {
        case let .delivered(status), let .degrade(status, _): return status
        case let .retry(_, status, _), let .dead(status, _): return status
        case .interrupted: return nil
        }
    }

    /// The failure reason, when it failed.
    public var error: String? {
        switch self {
        case let .retry(_, _, error), let .degrade(_, error), let .dead(_, error): return error
        case .delivered, .interrupted: return nil
        }
    }
}

/// Something the outbox did, for the notifier's log lines and counters.
public enum OutboxChange: Sendable, Equatable {
    case queued(OutboxRecord)
    /// The same transition was enqueued before; nothing changed.
    case duplicate(id: String)
    /// Not queued: the receiver already has this (`reason`); nothing changed.
    case suppressed(id: String, reason: String)
    /// A record was cancelled by coalescing (a resolve met its undelivered trigger, a flap).
    case cancelled(OutboxRecord, reason: String)
    case delivered(OutboxRecord)
    case dead(OutboxRecord)
    case expired(OutboxRecord)
    /// Dropped to keep the outbox within its cap (Slack records only).
    case dropped(OutboxRecord)
    /// A notice to `record.receiver` about a failure of `failing`.
    case escalated(OutboxRecord, failing: String, reason: String)
}

extension OutboxChange {
    /// False for the changes that leave the outbox as it was (nothing to persist).
    public var changesState: Bool {
        switch self {
        case .duplicate, .suppressed: return false
        default: return true
        }
    }
}

/// What the outbox operations need to know: receivers, payload context and timing policy.
public struct OutboxEnvironment: Sendable, Equatable {
    public var receivers: [ReceiverConfig]
    public var payload: PayloadContext
    public var policy: NotifierPolicy
    public var maxRecords: Int

    public init(receivers: [ReceiverConfig], payload: PayloadContext, policy: NotifierPolicy = .standard,
                maxRecords: Int = AlertingConfig.defaultOutboxMaxRecords) {
        self.receivers = receivers
        self.payload = payload
        self.policy = policy
        self.maxRecords = maxRecords
    }

    func receiver(_ name: String) -> ReceiverConfig? { receivers.first { $0.name == name } }
}
