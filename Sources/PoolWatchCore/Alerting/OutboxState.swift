/// The durable outbox as a value: records in enqueue order plus per-receiver health.
///
/// Every operation is pure (time comes in as `now`), so ordering, coalescing, grouping, escalation
/// and compaction are tested without I/O. The notifier persists the value after each change and
/// before any send that depends on it.
///
/// Invariants:
/// - per receiver and dedup key, records are sent in `seq` order: a resolve never overtakes its trigger;
/// - a resolve that meets its own trigger still undelivered cancels it (PagerDuty: nothing is sent;
///   Slack: one "fired at X, resolved at Y" message replaces both);
/// - a trigger that meets an undelivered resolve of the same key (a flap) cancels the resolve and
///   sends nothing new, since the incident is still open;
/// - PagerDuty records are never dropped to honour the cap; Slack records are, oldest first;
/// - a trigger for an incident the receiver already has open (``announced``) and no resolve on its
///   way is not sent again: Slack has no dedup key, so a second FIRING would be a second page.
public struct OutboxState: Sendable, Equatable {
    public var records: [OutboxRecord]
    public var nextSeq: Int
    public var health: [String: ReceiverHealth]
    /// Incidents open at a receiver: its trigger was delivered and no resolve has finished since.
    /// Kept apart from `records` because finished records are compacted after an hour, while an
    /// incident can stay open for days; it is what a restart consults so it never re-announces.
    public var announced: Set<AnnouncedIncident>

    public init(records: [OutboxRecord] = [], nextSeq: Int = 1, health: [String: ReceiverHealth] = [:],
                announced: Set<AnnouncedIncident> = []) {
        self.records = records
        self.nextSeq = nextSeq
        self.health = health
        self.announced = announced
    }

    public func record(_ id: String) -> OutboxRecord? { records.first { $0.id == id } }

    // MARK: Enqueue and coalescing

    /// Adds one record per receiver that accepts `notification`, coalescing with records still owed
    /// for the same dedup key.
    public mutating func enqueue(_ notification: AlertNotification, environment: OutboxEnvironment, now: Double) -> [OutboxChange] {
        let key = DedupKey.instance(clusterID: environment.payload.clusterID, rule: notification.alertName,
                                    identityLabels: notification.identityLabels)
        var changes: [OutboxChange] = []
        if notification.kind == .resolve {
            // A receiver that takes no resolves (`send_resolved: false`) is done with the incident
            // now: its next firing is a new one and must be sent.
            for receiver in environment.receivers where !receiver.accepts(notification) {
                announced.remove(AnnouncedIncident(receiver: receiver.name, dedupKey: key))
            }
        }
        for receiver in environment.receivers where receiver.accepts(notification) {
            let id = "\(key)#\(notification.kind.rawValue)#\(Int64((notification.at * 1000).rounded()))#\(receiver.name)"
            if records.contains(where: { $0.id == id }) {
                changes.append(.duplicate(id: id))
                continue
            }
            let open = records.indices.filter {
                records[$0].receiver == receiver.name && records[$0].dedupKey == key && records[$0].state.isOpen
            }
            switch notification.kind {
            case .resolve:
                if let index = open.last(where: { records[$0].event == .trigger && records[$0].state == .pending }) {
                    let neverSent = records[index].attempts == 0
                    changes.append(cancel(index, reason: "resolved before the trigger was delivered", now: now))
                    if receiver.type == .pagerduty {
                        // Never sent: nobody was paged and the problem is gone. Tried before (a timeout
                        // may have reached PagerDuty): send the resolve, which closes any such incident.
                        if neverSent { continue }
                        changes.append(add(notification, key: key, id: id, receiver: receiver, environment: environment,
                                           now: now, coalesced: true))
                    } else {
                        changes.append(add(notification, key: key, id: id, receiver: receiver, environment: environment,
                                           now: now, coalesced: true))
                    }
                    continue
                }
            case .trigger:
                if let index = open.last(where: { records[$0].event == .resolve && records[$0].state == .pending && records[$0].attempts == 0 }) {
                    let resolveWasCoalesced = records[index].coalesced
                    changes.append(cancel(index, reason: "fired again before the resolve was delivered", now: now))
                    // The incident is still open, unless that resolve stood for a trigger never confirmed.
                    if !resolveWasCoalesced { continue }
                } else if open.contains(where: { records[$0].event == .trigger }) {
                    changes.append(.duplicate(id: id))
                    continue
                } else if announced.contains(AnnouncedIncident(receiver: receiver.name, dedupKey: key)),
                          !open.contains(where: { records[$0].event == .resolve }) {
                    // Already announced and not resolved since: the engine lost its state (a
                    // truncated alerts.json) and fired again. A resolve still open would close the
                    // incident, so then the new trigger must go out after it.
                    changes.append(.suppressed(id: id, reason: "the receiver already has this incident open"))
                    continue
                }
            }
            changes.append(add(notification, key: key, id: id, receiver: receiver, environment: environment, now: now, coalesced: false))
        }
        return changes
    }

    private mutating func cancel(_ index: Int, reason: String, now: Double) -> OutboxChange {
        records[index].state = .cancelled
        records[index].finishedAt = now
        records[index].lastError = reason
        records[index].body = ""
        records[index].degradedBody = ""
        return .cancelled(records[index], reason: reason)
    }

    private mutating func add(
        _ notification: AlertNotification, key: String, id: String, receiver: ReceiverConfig, environment: OutboxEnvironment,
        now: Double, coalesced: Bool
    ) -> OutboxChange {
        let policy = environment.policy
        let context = environment.payload
        let body: OrderedJSON
        let degradedBody: OrderedJSON
        let expiresAt: Double?
        var line = SlackPayload.line(notification)
        switch receiver.type {
        case .pagerduty:
            body = PagerDutyPayload.event(notification, dedupKey: key, context: context)
            degradedBody = PagerDutyPayload.degraded(notification, dedupKey: key, context: context)
            expiresAt = notification.kind == .resolve ? now + policy.pagerDutyResolveTTL : nil
        case .slack:
            // A Slack resolve that replaced its own undelivered trigger says both times.
            body = SlackPayload.message(notification, dedupKey: key, context: context, delayed: coalesced)
            degradedBody = SlackPayload.degraded(notification, delayed: coalesced)
            expiresAt = now + policy.slackTTL
            if coalesced { line += " (fired and resolved while undelivered)" }
        }
        let record = OutboxRecord(
            id: id, seq: nextSeq, receiver: receiver.name, receiverType: receiver.type,
            event: notification.kind == .trigger ? .trigger : .resolve, dedupKey: key, rule: notification.alertName,
            severity: notification.severity, line: line, createdAt: now,
            notBefore: receiver.type == .slack ? now + policy.slackGroupWait : now, expiresAt: expiresAt,
            body: body.text, degradedBody: degradedBody.text, groupable: receiver.type == .slack && !coalesced,
            escalate: notification.kind == .trigger, coalesced: coalesced)
        nextSeq += 1
        records.append(record)
        return .queued(record)
    }

    /// Adds a notice (escalation, recovery, summary, self-test) for `receiver`.
    @discardableResult
    public mutating func addNotice(
        to receiver: ReceiverConfig, event: OutboxRecord.Event = .notice, dedupKey: String, severity: NotificationSeverity,
        line: String, body: OrderedJSON, degradedBody: OrderedJSON, environment: OutboxEnvironment, now: Double
    ) -> OutboxRecord {
        let ttl = receiver.type == .slack ? environment.policy.slackTTL : environment.policy.pagerDutyResolveTTL
        let record = OutboxRecord(
            id: "\(dedupKey)#\(event.rawValue)#\(nextSeq)#\(receiver.name)", seq: nextSeq, receiver: receiver.name,
            receiverType: receiver.type, event: event, dedupKey: dedupKey, rule: "", severity: severity, line: line,
            createdAt: now, notBefore: now, expiresAt: now + ttl, body: body.text, degradedBody: degradedBody.text)
        nextSeq += 1
        records.append(record)
        return record
    }

    // MARK: Dispatch

    private func isDue(_ record: OutboxRecord, now: Double, policy: NotifierPolicy) -> Bool {
        record.notBefore <= now || record.notBefore - now > policy.maxScheduleAhead
    }

    /// Indices of `receiver`'s records that head their dedup key's queue, in order. A key whose
    /// earliest open record is in flight or waiting blocks the records behind it.
    private func heads(of receiver: String) -> [Int] {
        var seen = Set<String>()
        var heads: [Int] = []
        for index in records.indices where records[index].receiver == receiver && records[index].state.isOpen {
            if seen.insert(records[index].dedupKey).inserted, records[index].state == .pending { heads.append(index) }
        }
        return heads
    }

    /// The next request for `receiver`, if one is due: the oldest due record at the head of its key's
    /// queue, or — storm control for Slack — one message for all due instances of its rule when there
    /// are more than `groupThreshold`.
    public func nextDispatch(for receiver: ReceiverConfig, environment: OutboxEnvironment, now: Double) -> OutboxDispatch? {
        let policy = environment.policy
        let due = heads(of: receiver.name).filter { isDue(records[$0], now: now, policy: policy) }
        guard let first = due.first else { return nil }
        let head = records[first]
        if receiver.type == .slack, head.groupable {
            let group = due.filter { records[$0].groupable && records[$0].rule == head.rule }
            if group.count > policy.groupThreshold {
                let degraded = group.contains { records[$0].degraded }
                let entries = group.map { SlackPayload.GroupEntry(firing: records[$0].event == .trigger, line: records[$0].line) }
                let body = SlackPayload.grouped(rule: head.rule, entries: entries, context: environment.payload, degraded: degraded)
                return OutboxDispatch(receiver: receiver.name, recordIDs: group.map { records[$0].id }, body: body.text,
                                      degraded: degraded, event: head.event, dedupKey: head.dedupKey,
                                      attempt: head.attempts + 1, createdAt: head.createdAt)
            }
        }
        return OutboxDispatch(receiver: receiver.name, recordIDs: [head.id], body: head.degraded ? head.degradedBody : head.body,
                              degraded: head.degraded, event: head.event, dedupKey: head.dedupKey,
                              attempt: head.attempts + 1, createdAt: head.createdAt)
    }

    /// The earliest time a record of `receiver` that heads its queue becomes due (nil: none waiting).
    public func nextDueTime(for receiver: String) -> Double? {
        heads(of: receiver).map { records[$0].notBefore }.min()
    }

    /// Marks the dispatch's records in flight.
    public mutating func begin(_ dispatch: OutboxDispatch) {
        for index in records.indices where dispatch.recordIDs.contains(records[index].id) { records[index].state = .inFlight }
    }

    /// Applies an attempt's outcome to the dispatch's records; a dead trigger is escalated to the
    /// other receivers, and a success after failures tells those receivers it works again.
    public mutating func complete(_ dispatch: OutboxDispatch, outcome: DeliveryOutcome, environment: OutboxEnvironment, now: Double)
        -> [OutboxChange]
    {
        var changes: [OutboxChange] = []
        var deadToEscalate: [OutboxRecord] = []
        var deadReason = ""
        for index in records.indices where dispatch.recordIDs.contains(records[index].id) {
            switch outcome {
            case let .delivered(status):
                records[index].attempts += 1
                records[index].lastStatus = status
                finish(index, .delivered, now: now)
                if records[index].event == .trigger { announced.insert(AnnouncedIncident(records[index])) }
                changes.append(.delivered(records[index]))
            case let .retry(notBefore, status, error):
                records[index].attempts += 1
                records[index].state = .pending
                records[index].notBefore = notBefore
                records[index].lastStatus = status
                records[index].lastError = error
            case let .degrade(status, error) where !records[index].degraded:
                records[index].attempts += 1
                records[index].state = .pending
                records[index].degraded = true
                records[index].notBefore = now
                records[index].lastStatus = status
                records[index].lastError = error
            case .degrade, .dead:
                records[index].attempts += 1
                records[index].lastStatus = outcome.status
                records[index].lastError = outcome.error
                finish(index, .dead, now: now)
                changes.append(.dead(records[index]))
                deadReason = outcome.error ?? "rejected"
                if records[index].escalate { deadToEscalate.append(records[index]) }
            case .interrupted:
                records[index].state = .pending
            }
        }
        var health = self.health[dispatch.receiver] ?? ReceiverHealth()
        switch outcome {
        case .delivered:
            let recovered = health.escalatedTo
            let expired = (health.expiredCount, health.expiredFrom, health.expiredUntil)
            health.lastSuccessAt = now
            health.failingSince = nil
            health.staleEscalated = false
            health.escalatedTo = []
            health.expiredCount = 0
            health.expiredFrom = nil
            health.expiredUntil = nil
            self.health[dispatch.receiver] = health
            if let failing = environment.receiver(dispatch.receiver) {
                changes += announceRecovery(of: failing, to: recovered, environment: environment, now: now)
                if expired.0 > 0, let from = expired.1, let until = expired.2 {
                    changes += summarizeExpired(failing, count: expired.0, from: from, until: until, environment: environment, now: now)
                }
            }
        case .interrupted:
            break
        default:
            if health.failingSince == nil { health.failingSince = now }
            self.health[dispatch.receiver] = health
        }
        if !deadToEscalate.isEmpty, let failing = environment.receiver(dispatch.receiver) {
            let first = deadToEscalate[0]
            let more = deadToEscalate.count > 1 ? " (and \(deadToEscalate.count - 1) more)" : ""
            changes += escalate(failing, reason: deadReason, undelivered: first.line + more, environment: environment, now: now)
        }
        return changes
    }

    private mutating func finish(_ index: Int, _ state: OutboxRecord.State, now: Double) {
        // A resolve that is over, sent or not, ends what this receiver knows of the incident: a
        // later trigger for the key is a new incident and must be sent.
        if records[index].event == .resolve { announced.remove(AnnouncedIncident(records[index])) }
        records[index].state = state
        records[index].finishedAt = now
        records[index].body = ""
        records[index].degradedBody = ""
    }

    // MARK: Escalation

    /// Tells every other receiver that `failing` cannot deliver: PagerDuty receivers get a critical
    /// trigger keyed `…/notifier/<failing>`, Slack receivers a warning message. Notices are never
    /// escalated themselves, so a failure cannot loop.
    public mutating func escalate(_ failing: ReceiverConfig, reason: String, undelivered: String, environment: OutboxEnvironment,
                                  now: Double) -> [OutboxChange] {
        let context = environment.payload
        let key = DedupKey.notifierFailure(clusterID: context.clusterID, receiver: failing.name)
        let since = health[failing.name]?.failingSince ?? now
        var changes: [OutboxChange] = []
        for other in environment.receivers where other.name != failing.name {
            let summary = "poolwatch cannot deliver to \(failing.type.displayName) receiver \(failing.name) (\(reason)): \(undelivered)"
            let record: OutboxRecord
            switch other.type {
            case .pagerduty:
                let details = OrderedJSON.fields([
                    "receiver": .string(failing.name), "receiver_type": .string(failing.type.rawValue), "reason": .string(reason),
                    "undelivered": .string(undelivered), "failing_since": .string(AlertText.rfc3339(since)),
                    "cluster_id": .string(context.clusterID),
                ])
                record = addNotice(
                    to: other, dedupKey: key, severity: .critical, line: summary,
                    body: PagerDutyPayload.notice(action: .trigger, dedupKey: key, summary: summary, severity: .critical, at: since,
                                                  details: details, context: context),
                    degradedBody: PagerDutyPayload.notice(action: .trigger, dedupKey: key, summary: summary, severity: .critical,
                                                          at: since, details: nil, context: context),
                    environment: environment, now: now)
            case .slack:
                let text = ":warning: poolwatch cannot deliver to \(failing.type.displayName) receiver "
                    + "\(SlackPayload.escape(failing.name)) (\(SlackPayload.escape(reason)))"
                let details = "*Undelivered:* \(SlackPayload.escape(undelivered))\n*Failing since:* \(AlertText.rfc3339(since, milliseconds: false))"
                record = addNotice(to: other, dedupKey: key, severity: .critical, line: summary,
                                   body: SlackPayload.notice(text, details: details),
                                   degradedBody: SlackPayload.notice(text + "\n" + details), environment: environment, now: now)
            }
            if !(health[failing.name]?.escalatedTo.contains(other.name) ?? false) {
                health[failing.name, default: ReceiverHealth()].escalatedTo.append(other.name)
            }
            changes.append(.escalated(record, failing: failing.name, reason: reason))
        }
        return changes
    }

    private mutating func announceRecovery(of receiver: ReceiverConfig, to names: [String], environment: OutboxEnvironment,
                                           now: Double) -> [OutboxChange] {
        let context = environment.payload
        let key = DedupKey.notifierFailure(clusterID: context.clusterID, receiver: receiver.name)
        let summary = "poolwatch delivers to \(receiver.type.displayName) receiver \(receiver.name) again"
        var changes: [OutboxChange] = []
        for name in names {
            guard let other = environment.receiver(name) else { continue }
            let body: OrderedJSON
            switch other.type {
            case .pagerduty:
                body = PagerDutyPayload.notice(action: .resolve, dedupKey: key, summary: summary, severity: .critical, at: now,
                                               details: nil, context: context)
            case .slack:
                body = SlackPayload.notice(":large_green_circle: " + SlackPayload.escape(summary))
            }
            let record = addNotice(to: other, dedupKey: key, severity: .critical, line: summary, body: body, degradedBody: body,
                                   environment: environment, now: now)
            changes.append(.queued(record))
        }
        return changes
    }

    private mutating func summarizeExpired(_ receiver: ReceiverConfig, count: Int, from: Double, until: Double,
                                           environment: OutboxEnvironment, now: Double) -> [OutboxChange] {
        guard receiver.type == .slack else { return [] }
        let text = ":warning: \(count) notification\(count == 1 ? " was" : "s were") not delivered between "
            + "\(AlertText.rfc3339(from, milliseconds: false)) and \(AlertText.rfc3339(until, milliseconds: false)) "
            + "(they expired undelivered; see poolwatch's /alerts page and logs)"
        let key = DedupKey.notifierFailure(clusterID: environment.payload.clusterID, receiver: receiver.name)
        let record = addNotice(to: receiver, dedupKey: key, severity: .warning, line: text, body: SlackPayload.notice(text),
                               degradedBody: SlackPayload.notice(text), environment: environment, now: now)
        return [.queued(record)]
    }

    // MARK: Reconciliation

    /// Whether `receiver` is known to have, or to be about to get, the trigger of `key`: the
    /// incident is announced there, or a trigger record for it is still open.
    public func knowsTrigger(receiver: String, dedupKey key: String) -> Bool {
        announced.contains(AnnouncedIncident(receiver: receiver, dedupKey: key))
            || records.contains { $0.receiver == receiver && $0.dedupKey == key && $0.event == .trigger && $0.state.isOpen }
    }

    /// What to queue again after a loss of state (a moved-aside or missing outbox, quarantined
    /// records): of the triggers of alerts firing now (`firing`, from the rule engine's restored
    /// state), those that some accepting receiver is not known to have. ``enqueue(_:environment:now:)``
    /// then skips the receivers that do have them, so nothing announced is announced again, and a
    /// resolve later always follows a trigger that was queued.
    public func reconciliation(firing: [AlertNotification], environment: OutboxEnvironment) -> [AlertNotification] {
        firing.filter { notification in
            guard notification.kind == .trigger else { return false }
            let key = DedupKey.instance(clusterID: environment.payload.clusterID, rule: notification.alertName,
                                        identityLabels: notification.identityLabels)
            return environment.receivers.contains { $0.accepts(notification) && !knowsTrigger(receiver: $0.name, dedupKey: key) }
        }
    }

    /// After entries were quarantined: cancels the resolves still owed for incidents the receiver
    /// never heard of (no trigger record for the key, not announced): their trigger was among the
    /// quarantined entries. A resolve is sent only for an incident whose trigger was sent.
    public mutating func cancelOrphanResolves(now: Double) -> [OutboxChange] {
        var changes: [OutboxChange] = []
        for index in records.indices where records[index].event == .resolve && records[index].state == .pending
            && records[index].attempts == 0 && !records[index].coalesced
        {
            let resolve = records[index]
            guard !announced.contains(AnnouncedIncident(resolve)),
                  !records.contains(where: { $0.receiver == resolve.receiver && $0.dedupKey == resolve.dedupKey && $0.event == .trigger })
            else { continue }
            changes.append(cancel(index, reason: "its trigger was quarantined from the state file; the receiver never heard of this incident", now: now))
        }
        return changes
    }

    // MARK: Housekeeping

    /// Startup after a crash or restart: in-flight records go back to pending (at least once), and
    /// records for receivers no longer configured die with a clear reason.
    public mutating func recover(environment: OutboxEnvironment, now: Double) -> [OutboxChange] {
        for index in records.indices where records[index].state == .inFlight { records[index].state = .pending }
        return retire(environment: environment, now: now)
    }

    /// Open records of receivers no longer configured (a restart or a reload removed them) die with a
    /// clear reason; a record being sent right now is left to finish its attempt.
    public mutating func retire(environment: OutboxEnvironment, now: Double) -> [OutboxChange] {
        var changes: [OutboxChange] = []
        announced = announced.filter { environment.receiver($0.receiver) != nil }
        for index in records.indices where records[index].state.isOpen && records[index].state != .inFlight {
            if environment.receiver(records[index].receiver) == nil {
                records[index].lastError = "receiver \(records[index].receiver) is no longer configured"
                finish(index, .dead, now: now)
                changes.append(.dead(records[index]))
            }
        }
        return changes
    }

    /// Expires records past their TTL, escalates receivers that have failed for too long while
    /// holding triggers, and compacts: finished records after `finishedRetention`, then — above the
    /// cap — the oldest pending Slack records. PagerDuty records are never dropped.
    public mutating func housekeeping(environment: OutboxEnvironment, now: Double) -> [OutboxChange] {
        var changes: [OutboxChange] = []
        let policy = environment.policy
        for index in records.indices where records[index].state == .pending {
            guard let expiresAt = records[index].expiresAt, expiresAt <= now else { continue }
            records[index].lastError = "expired undelivered" + (records[index].lastError.map { " (last error: \($0))" } ?? "")
            finish(index, .expired, now: now)
            changes.append(.expired(records[index]))
            if records[index].receiverType == .slack {
                var health = self.health[records[index].receiver] ?? ReceiverHealth()
                health.expiredCount += 1
                health.expiredFrom = min(health.expiredFrom ?? records[index].createdAt, records[index].createdAt)
                health.expiredUntil = max(health.expiredUntil ?? records[index].createdAt, records[index].createdAt)
                self.health[records[index].receiver] = health
            }
        }
        for receiver in environment.receivers {
            let waiting = records.filter { $0.receiver == receiver.name && $0.state.isOpen && $0.event == .trigger }
            guard let oldest = waiting.map(\.createdAt).min(), now - oldest >= policy.staleEscalationAfter else { continue }
            var health = self.health[receiver.name] ?? ReceiverHealth()
            guard !health.staleEscalated, (health.lastSuccessAt ?? -.infinity) < oldest else { continue }
            health.staleEscalated = true
            if health.failingSince == nil { health.failingSince = oldest }
            self.health[receiver.name] = health
            let reason = "no successful delivery for \(AlertText.duration(now - oldest)), \(waiting.count) page\(waiting.count == 1 ? "" : "s") waiting"
            changes += escalate(receiver, reason: reason, undelivered: waiting.first { $0.createdAt == oldest }?.line ?? "",
                                environment: environment, now: now)
        }
        changes += compact(environment: environment, now: now)
        return changes
    }

    private mutating func compact(environment: OutboxEnvironment, now: Double) -> [OutboxChange] {
        let retention = environment.policy.finishedRetention
        records.removeAll { !$0.state.isOpen && ($0.finishedAt ?? now) < now - retention }
        // Keep at most a tenth of the cap as finished history, newest first.
        let maxFinished = max(10, environment.maxRecords / 10)
        let finished = records.filter { !$0.state.isOpen }
        if finished.count > maxFinished {
            let drop = Set(finished.sorted { ($0.finishedAt ?? 0, $0.seq) < ($1.finishedAt ?? 0, $1.seq) }
                .prefix(finished.count - maxFinished).map(\.id))
            records.removeAll { drop.contains($0.id) }
        }
        var changes: [OutboxChange] = []
        var excess = records.count - environment.maxRecords
        if excess > 0 {
            records.removeAll { !$0.state.isOpen }
            excess = records.count - environment.maxRecords
        }
        while excess > 0, let index = records.firstIndex(where: { $0.receiverType == .slack && $0.state == .pending }) {
            var record = records.remove(at: index)
            if record.event == .resolve { announced.remove(AnnouncedIncident(record)) }
            record.state = .dropped
            record.finishedAt = now
            record.lastError = "dropped: the outbox exceeded \(environment.maxRecords) records"
            changes.append(.dropped(record))
            excess -= 1
        }
        return changes
    }

    // MARK: Views

    /// Open (pending or in-flight) records of `receiver`.
    public func openCount(receiver: String) -> Int {
        records.reduce(0) { $0 + ($1.receiver == receiver && $1.state.isOpen ? 1 : 0) }
    }

    /// Seconds since the oldest open record of `receiver` was created (0 when none).
    public func oldestOpenAge(receiver: String, now: Double) -> Double {
        guard let oldest = records.filter({ $0.receiver == receiver && $0.state.isOpen }).map(\.createdAt).min() else { return 0 }
        return max(0, now - oldest)
    }
}

/// One receiver's open incident: the trigger for `dedupKey` was delivered to `receiver`.
public struct AnnouncedIncident: Sendable, Hashable, Comparable {
    public var receiver: String
    public var dedupKey: String

    public init(receiver: String, dedupKey: String) {
        self.receiver = receiver
        self.dedupKey = dedupKey
    }

    init(_ record: OutboxRecord) { self.init(receiver: record.receiver, dedupKey: record.dedupKey) }

    public static func < (a: Self, b: Self) -> Bool { (a.receiver, a.dedupKey) < (b.receiver, b.dedupKey) }
}
