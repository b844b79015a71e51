/// Everything the notifier decides, as a value: what to send and when, what an answer means, when
/// the outbox must be written and when the loop must look again. The notifier
/// (Sources/PoolWatchAlerts/Notifier.swift) is a thin driver: it feeds events in with an explicit
/// `now` and performs what comes back (start a send, write the state file, log, publish metrics,
/// sleep until `wakeAt`), so every decision is tested without I/O or sleeping.
///
/// It holds the ``OutboxState`` (records), the ``DeliveryPacer`` (token buckets, 429 pauses) and the
/// driver's bookkeeping: which receiver has a send in flight (one at a time per receiver), which
/// generation of the state was changed and which is on disk (nothing is sent before the state that
/// contains it is saved), when housekeeping and the metrics publication last ran.
public struct NotifierStateMachine: Sendable {
    public private(set) var outbox: OutboxState
    public private(set) var pacer: DeliveryPacer
    public private(set) var environment: OutboxEnvironment
    /// The send in flight per receiver.
    public private(set) var sending: [String: Send] = [:]
    /// Set by ``stop()``: no new sends.
    public private(set) var stopping = false

    /// Bumped by every change of the outbox; `savedGeneration` is the one last written.
    public private(set) var generation = 0
    public private(set) var savedGeneration = 0
    /// A write of the state file is under way (one at a time).
    public private(set) var saving = false
    private var saveFailed = false

    /// Records whose 401/403/404/410 already led to a re-read of the secret file.
    private var secretReloadedFor: Set<String> = []
    /// The last failure signature logged per record, to log a warning only when it changes.
    private var lastFailure: [String: String] = [:]
    private var lastHousekeeping = -Double.infinity
    private var lastPublish = -Double.infinity
    private var metricsDirty = true

    public init(outbox: OutboxState, environment: OutboxEnvironment) {
        self.outbox = outbox
        self.environment = environment
        self.pacer = DeliveryPacer(receivers: environment.receivers)
    }

    /// One send to start: the dispatch and the receiver as configured when it started.
    public struct Send: Sendable, Equatable {
        public var dispatch: OutboxDispatch
        public var receiver: ReceiverConfig
    }

    // MARK: Start-up and input

    /// The loaded outbox after a restart or a loss of state: in-flight records go back to pending,
    /// records of receivers no longer configured die, and — when records were lost — resolves whose
    /// trigger is gone are cancelled; when the whole file was lost, Slack receivers get `notice`.
    public mutating func recover(recordsLost: Bool, stateLostNotice notice: OrderedJSON?, now: Double) -> [OutboxChange] {
        var changes = outbox.recover(environment: environment, now: now)
        if recordsLost { changes += outbox.cancelOrphanResolves(now: now) }
        if let notice {
            let key = DedupKey.notifierFailure(clusterID: environment.payload.clusterID, receiver: "state")
            for receiver in environment.receivers where receiver.type == .slack {
                let record = outbox.addNotice(to: receiver, dedupKey: key, severity: .warning, line: "alert outbox state lost",
                                              body: notice, degradedBody: notice, environment: environment, now: now)
                changes.append(.queued(record))
            }
        }
        return changes
    }

    /// The changes of ``recover(recordsLost:stateLostNotice:now:)``, taken in when the service starts:
    /// they are persisted then.
    public mutating func started(with changes: [OutboxChange]) {
        note(changes)
        if !changes.isEmpty { markChanged() }
    }

    /// Queues one notification (see ``OutboxState/enqueue(_:environment:now:)``). The caller writes
    /// the state (``startSave()``) before it reports the notification accepted.
    public mutating func enqueue(_ notification: AlertNotification, now: Double) -> [OutboxChange] {
        let changes = outbox.enqueue(notification, environment: environment, now: now)
        note(changes)
        if changes.contains(where: \.changesState) { markChanged() }
        return changes
    }

    /// A reloaded configuration: receivers (a receiver whose type and rate limit did not change keeps
    /// its token bucket and any 429 pause), the outbox cap and `client_url`. Queued records of a
    /// removed receiver die with a reason.
    public mutating func reconfigure(receivers: [ReceiverConfig], maxRecords: Int, clientURL: String?, now: Double) -> [OutboxChange] {
        environment.receivers = receivers
        environment.maxRecords = maxRecords
        environment.payload.clientURL = clientURL
        pacer.reconfigure(receivers)
        let changes = outbox.retire(environment: environment, now: now)
        note(changes)
        markChanged()
        return changes
    }

    /// No new sends from now on (shutdown); sends in flight may still finish.
    public mutating func stop() {
        stopping = true
    }

    // MARK: The loop

    /// What the loop does now.
    public struct Tick: Sendable, Equatable {
        /// What housekeeping did (expiry, stale escalation, compaction, retired receivers): to log.
        public var changes: [OutboxChange] = []
        /// Sends to start, at most one per receiver; their records are already marked in flight.
        public var sends: [Send] = []
        /// A generation of the state to write now (see ``saveFinished(_:succeeded:)``).
        public var save: Int?
        public var publishMetrics = false
        /// When to look again at the latest (the earliest due record, pause end or token,
        /// housekeeping or metrics publication; at most 5 s ahead). While a write is under way, due
        /// records do not count: the driver looks again when the write ends.
        public var wakeAt: Double = 0
    }

    /// Runs housekeeping (once a second), starts the sends that are due and allowed, and says when to
    /// look again. Nothing is sent while a change is not yet on disk, nor after ``stop()``.
    public mutating func tick(now: Double) -> Tick {
        var tick = Tick()
        if now - lastHousekeeping >= 1 || now < lastHousekeeping {
            lastHousekeeping = now
            tick.changes = outbox.housekeeping(environment: environment, now: now) + outbox.retire(environment: environment, now: now)
            if !tick.changes.isEmpty {
                note(tick.changes)
                markChanged()
            }
            if saveFailed {
                // Try the failed write again.
                saveFailed = false
                markChanged()
            }
        }
        tick.sends = startDueSends(now: now)
        if now - lastPublish >= (metricsDirty ? 1 : 15) || now < lastPublish {
            lastPublish = now
            metricsDirty = false
            tick.publishMetrics = true
        }
        tick.save = startSave()
        tick.wakeAt = nextWake(now: now)
        return tick
    }

    private mutating func startDueSends(now: Double) -> [Send] {
        // Nothing is sent before the state that contains it is on disk.
        guard savedGeneration == generation, !stopping else { return [] }
        var sends: [Send] = []
        for receiver in environment.receivers where sending[receiver.name] == nil {
            if let until = pacer.pausedUntil[receiver.name], until > now { continue }
            guard let dispatch = outbox.nextDispatch(for: receiver, environment: environment, now: now) else { continue }
            guard pacer.mayStart(receiver.name, now: now) else { continue }
            outbox.begin(dispatch)
            let send = Send(dispatch: dispatch, receiver: receiver)
            sending[receiver.name] = send
            sends.append(send)
        }
        return sends
    }

    private func nextWake(now: Double) -> Double {
        var next = now + 5
        next = min(next, lastHousekeeping + 1)
        next = min(next, lastPublish + (metricsDirty ? 1 : 15))
        // Due records wait for the write under way (it wakes the loop when it ends), or for nothing
        // after a stop.
        guard savedGeneration == generation, !stopping else { return next }
        for receiver in environment.receivers where sending[receiver.name] == nil {
            guard var due = outbox.nextDueTime(for: receiver.name) else { continue }
            if due - now > environment.policy.maxScheduleAhead { due = now }
            next = min(next, pacer.earliest(receiver.name, due: due, now: now))
        }
        return next
    }

    // MARK: Answers

    /// What an answer means, before it is recorded: the driver re-reads the secret file at
    /// `rereadSecret` (when set) and passes whether it changed to ``finish(_:verdict:secretChanged:now:)``.
    public struct Verdict: Sendable, Equatable {
        public var decision: DeliveryPacer.Decision
        public var classification: DeliveryClassification
        public var status: Int?
        public var detail: String
        /// The secret file to re-read first: a rotated Slack URL or routing key answers 401/403/404/410.
        public var rereadSecret: String?
    }

    /// The send of `send` ended with `classification` (`status`, `detail`): frees the receiver for its
    /// next send and decides what the answer means. `random` in 0..<1 spreads retries.
    public mutating func answered(
        _ send: Send, classification: DeliveryClassification, status: Int?, detail: String, random: Double, now: Double
    ) -> Verdict {
        sending[send.receiver.name] = nil
        let id = send.dispatch.recordIDs[0]
        let decision = pacer.decide(
            classification, status: status, detail: detail, receiver: send.receiver, attempt: send.dispatch.attempt,
            policy: environment.policy, random: random, mayRereadSecret: !secretReloadedFor.contains(id), now: now)
        var reread: String?
        if decision.rereadSecretFirst, case let .file(path) = send.receiver.secretSource {
            secretReloadedFor.insert(id)
            reread = path
        }
        return Verdict(decision: decision, classification: classification, status: status, detail: detail, rereadSecret: reread)
    }

    /// The log line for one attempt; nil: none (a record that dies gets its line from its change).
    public struct AttemptLog: Sendable, Equatable {
        public enum Level: Sendable, Equatable { case debug, info, warning }
        public var level: Level
        public var message: String
        /// With `error`, `error_class` and `retry_in_ms`: a failed attempt that is retried.
        public var failure: Bool
        public var retryIn: Double?
    }

    /// Records the verdict in the outbox; `secretChanged`: the re-read secret file held a new secret,
    /// so the record is retried now with it. Returns the attempt's log line and the outbox changes;
    /// the state is then to be written (``startSave()``), except after a send interrupted by shutdown.
    public mutating func finish(_ send: Send, verdict: Verdict, secretChanged: Bool, now: Double) -> (log: AttemptLog?, changes: [OutboxChange]) {
        let dispatch = send.dispatch
        var outcome = verdict.decision.outcome
        var log = AttemptLog(level: verdict.decision.level == .info ? .info : .warning, message: verdict.decision.message,
                             failure: false, retryIn: nil)
        if verdict.rereadSecret != nil, secretChanged {
            outcome = .retry(notBefore: now, status: verdict.status, error: verdict.detail)
            log.message = "receiver refused the secret; the secret file changed, retrying with the new one"
            log.level = .info
        }
        let dies: Bool
        switch outcome {
        case .dead: dies = true
        case .degrade: dies = dispatch.degraded
        default: dies = false
        }
        var line: AttemptLog?
        switch outcome {
        case .delivered:
            line = AttemptLog(level: .info, message: "notification delivered", failure: false, retryIn: nil)
        case .interrupted:
            line = log
        case _ where dies:
            line = nil
        default:
            log.failure = true
            log.retryIn = verdict.decision.retryIn
            let signature = "\(verdict.classification.errorClass)/\(verdict.status ?? 0)"
            let changed = lastFailure[dispatch.recordIDs[0]] != signature
            lastFailure[dispatch.recordIDs[0]] = signature
            if log.level == .warning, !changed, dispatch.attempt % 10 != 0 { log.level = .debug }
            line = log
        }
        let changes = outbox.complete(dispatch, outcome: outcome, environment: environment, now: now)
        note(changes)
        if case .interrupted = outcome {} else { markChanged() }
        return (line, changes)
    }

    // MARK: Persistence

    /// Notes a change of the outbox that must be written.
    public mutating func markChanged() {
        generation += 1
        metricsDirty = true
    }

    /// The generation to write now, if one is unsaved and no write is under way; the caller writes
    /// ``outbox`` and reports ``saveFinished(_:succeeded:)``.
    public mutating func startSave() -> Int? {
        guard !saving, savedGeneration < generation else { return nil }
        saving = true
        return generation
    }

    /// A write of `generation` ended. A failed write counts as written (sends go on: the state lives
    /// in memory) and is tried again at the next housekeeping. What changed meanwhile is written by
    /// the next caller of ``startSave()``: the loop's next tick, or an enqueue waiting for it.
    public mutating func saveFinished(_ generation: Int, succeeded: Bool) {
        if !succeeded { saveFailed = true }
        savedGeneration = max(savedGeneration, generation)
        saving = false
    }

    // MARK: Bookkeeping

    private mutating func note(_ changes: [OutboxChange]) {
        guard !changes.isEmpty else { return }
        metricsDirty = true
        for change in changes {
            switch change {
            case let .cancelled(record, _), let .delivered(record), let .dead(record), let .expired(record), let .dropped(record):
                lastFailure[record.id] = nil
                secretReloadedFor.remove(record.id)
            default:
                break
            }
        }
    }

    /// The outbox for `/alerts` (see ``OutboxState/status(environment:now:pausedUntil:)``).
    public func status(now: Double) -> OutboxStatus {
        outbox.status(environment: environment, now: now, pausedUntil: pacer.pausedUntil)
    }
}

extension DeliveryClassification {
    /// The `error_class` of an attempt, for logs.
    public var errorClass: String {
        switch self {
        case .delivered: return "none"
        case let .transient(errorClass): return errorClass.rawValue
        case .rateLimited: return DeliveryErrorClass.rateLimited.rawValue
        case .rejectedPayload: return DeliveryErrorClass.client.rawValue
        case let .permanent(errorClass, _): return errorClass.rawValue
        case .interrupted: return "interrupted"
        }
    }

    /// The `result` an attempt counts as in the notifier's metrics; nil: not counted (aborted by shutdown).
    public var attemptResult: String? {
        switch self {
        case .delivered: return "success"
        case .transient, .rateLimited: return "retryable"
        case .rejectedPayload, .permanent: return "fatal"
        case .interrupted: return nil
        }
    }
}
