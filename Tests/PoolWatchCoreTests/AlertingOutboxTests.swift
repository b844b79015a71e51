import Foundation
import Testing

@testable import PoolWatchCore

/// The outbox as a pure value: which records exist, in which order they go out, how a resolve meets
/// its trigger, grouping, escalation, expiry, compaction, and the state file round trip.
@Suite struct AlertingOutboxTests {
    typealias F = AlertingFixtures

    static func receiver(_ name: String, _ type: ReceiverType, min: NotificationSeverity? = nil, sendResolved: Bool = true)
        -> ReceiverConfig
    {
        let secret = type == .slack ? "https://hooks.slack.com/services/T0/B0/secret-\(name)" : "routing-key-\(name)"
        return ReceiverConfig(name: name, type: type, secret: Secret(secret), secretSource: .environment("SECRET_\(name)"),
                              minSeverity: min, sendResolved: sendResolved)
    }

    static let pagerDuty = receiver("oncall", .pagerduty)
    static let slack = receiver("team", .slack)

    static func environment(_ receivers: [ReceiverConfig] = [pagerDuty, slack], maxRecords: Int = 100) -> OutboxEnvironment {
        var policy = NotifierPolicy()
        policy.slackGroupWait = 0
        return OutboxEnvironment(receivers: receivers, payload: F.context, policy: policy, maxRecords: maxRecords)
    }

    let now = F.firedAt + 200

    func open(_ state: OutboxState, _ receiver: String) -> [OutboxRecord] {
        state.records.filter { $0.receiver == receiver && $0.state.isOpen }
    }

    /// Sends the next dispatch of `receiver` and applies `outcome`.
    @discardableResult
    func deliverNext(_ state: inout OutboxState, _ receiver: ReceiverConfig, _ outcome: DeliveryOutcome, env: OutboxEnvironment,
                     at time: Double? = nil) -> (OutboxDispatch?, [OutboxChange]) {
        let time = time ?? now
        guard let dispatch = state.nextDispatch(for: receiver, environment: env, now: time) else { return (nil, []) }
        state.begin(dispatch)
        return (dispatch, state.complete(dispatch, outcome: outcome, environment: env, now: time))
    }

    @Test func enqueueCreatesOneRecordPerAcceptingReceiver() {
        let env = Self.environment([Self.pagerDuty, Self.slack, Self.receiver("quiet", .slack, sendResolved: false)])
        var state = OutboxState()
        _ = state.enqueue(F.firing(severity: .warning), environment: env, now: now)
        // PagerDuty defaults to min_severity critical, Slack to warning.
        #expect(state.records.map(\.receiver) == ["team", "quiet"])
        _ = state.enqueue(F.firing(), environment: env, now: now)
        #expect(state.records.map(\.receiver) == ["team", "quiet", "oncall"])
        let record = state.records.last!
        #expect(record.dedupKey == F.key)
        #expect(record.id == "\(F.key)#trigger#1772446530123#oncall")
        #expect(record.event == .trigger && record.state == .pending && record.escalate)
        #expect(record.expiresAt == nil)
        #expect(record.body == PagerDutyPayload.event(F.firing(), dedupKey: F.key, context: F.context).text)
        #expect(!record.body.contains("routing-key"))
        #expect(state.records.first { $0.receiver == "team" }?.expiresAt == now + 3600)
    }

    @Test func sameTransitionTwiceIsANoOp() {
        let env = Self.environment()
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        let again = state.enqueue(F.firing(), environment: env, now: now + 5)
        #expect(state.records.count == 2)
        #expect(again.allSatisfy { if case .duplicate = $0 { true } else { false } })
    }

    @Test func resolveWaitsForItsTriggerInFlight() {
        let env = Self.environment([Self.pagerDuty])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        let trigger = state.nextDispatch(for: Self.pagerDuty, environment: env, now: now)!
        state.begin(trigger)
        _ = state.enqueue(F.resolved(), environment: env, now: now)
        // The trigger is in flight: the resolve is queued behind it, not sent past it.
        #expect(open(state, "oncall").map(\.event) == [.trigger, .resolve])
        #expect(state.nextDispatch(for: Self.pagerDuty, environment: env, now: now + 100) == nil)
        // A retry keeps the order too.
        _ = state.complete(trigger, outcome: .retry(notBefore: now + 10, status: 500, error: "HTTP 500"), environment: env, now: now)
        #expect(state.nextDispatch(for: Self.pagerDuty, environment: env, now: now + 5) == nil)
        let again = state.nextDispatch(for: Self.pagerDuty, environment: env, now: now + 10)!
        #expect(again.event == .trigger && again.attempt == 2)
        state.begin(again)
        _ = state.complete(again, outcome: .delivered(status: 202), environment: env, now: now + 10)
        #expect(state.nextDispatch(for: Self.pagerDuty, environment: env, now: now + 10)?.event == .resolve)
    }

    @Test func otherKeysProceedWhileOneIsInBackoff() {
        let env = Self.environment([Self.pagerDuty])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        _ = state.enqueue(F.firing(labels: [Label("target", "pgb-2")]), environment: env, now: now)
        deliverNext(&state, Self.pagerDuty, .retry(notBefore: now + 60, status: 503, error: "HTTP 503"), env: env)
        let next = state.nextDispatch(for: Self.pagerDuty, environment: env, now: now + 1)
        #expect(next?.dedupKey != F.key)
        #expect(next != nil)
    }

    @Test func resolveCancelsUndeliveredPagerDutyTrigger() {
        let env = Self.environment([Self.pagerDuty])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        let changes = state.enqueue(F.resolved(), environment: env, now: now + 1)
        // Nobody was paged and the problem is gone: nothing is sent.
        #expect(open(state, "oncall").isEmpty)
        #expect(state.records.map(\.state) == [.cancelled])
        #expect(changes.count == 1)
        #expect(state.nextDispatch(for: Self.pagerDuty, environment: env, now: now + 100) == nil)
    }

    @Test func resolveAfterAnAmbiguousPagerDutyAttemptIsStillSent() {
        let env = Self.environment([Self.pagerDuty])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        // A timeout: PagerDuty may have received the trigger.
        deliverNext(&state, Self.pagerDuty, .retry(notBefore: now + 30, status: nil, error: "timeout"), env: env)
        _ = state.enqueue(F.resolved(), environment: env, now: now + 1)
        #expect(open(state, "oncall").map(\.event) == [.resolve])
        #expect(open(state, "oncall").first?.coalesced == true)
        #expect(state.nextDispatch(for: Self.pagerDuty, environment: env, now: now + 1)?.event == .resolve)
    }

    @Test func resolveReplacesUndeliveredSlackTriggerWithOneMessage() {
        let env = Self.environment([Self.slack])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        _ = state.enqueue(F.resolved(), environment: env, now: now + 1)
        let pending = open(state, "team")
        #expect(pending.count == 1)
        #expect(pending[0].event == .resolve && pending[0].coalesced && !pending[0].groupable)
        #expect(pending[0].body == SlackPayload.message(F.resolved(), dedupKey: F.key, context: F.context, delayed: true).text)
        #expect(state.records.first?.state == .cancelled)
    }

    @Test func flapBackToFiringCancelsTheUndeliveredResolve() {
        let env = Self.environment([Self.pagerDuty])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        deliverNext(&state, Self.pagerDuty, .delivered(status: 202), env: env)
        _ = state.enqueue(F.resolved(), environment: env, now: now + 1)
        _ = state.enqueue(F.firing(at: F.firedAt + 2000), environment: env, now: now + 2)
        // The incident is still open on PagerDuty: nothing new to send.
        #expect(open(state, "oncall").isEmpty)
        #expect(state.records.map(\.state) == [.delivered, .cancelled])
    }

    @Test func triggerAfterACoalescedResolveIsSent() {
        let env = Self.environment([Self.slack])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        _ = state.enqueue(F.resolved(), environment: env, now: now + 1)
        _ = state.enqueue(F.firing(at: F.firedAt + 2000), environment: env, now: now + 2)
        // Slack never showed anything: the new firing must go out.
        #expect(open(state, "team").map(\.event) == [.trigger])
    }

    @Test func secondTriggerForAnOpenTriggerIsDropped() {
        let env = Self.environment([Self.pagerDuty])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        _ = state.enqueue(F.firing(at: F.firedAt + 999), environment: env, now: now + 1)
        #expect(state.records.count == 1)
    }

    @Test func manyInstancesOfOneRuleBecomeOneSlackMessage() {
        let env = Self.environment([Self.slack, Self.pagerDuty])
        var state = OutboxState()
        for index in 0..<6 {
            _ = state.enqueue(F.firing(labels: [Label("target", "pgb-\(index)")]), environment: env, now: now)
        }
        _ = state.enqueue(F.firing(rule: "OtherRule"), environment: env, now: now)
        let dispatch = state.nextDispatch(for: Self.slack, environment: env, now: now)!
        #expect(dispatch.recordIDs.count == 6)
        #expect(dispatch.body.contains(":red_circle: [FIRING] PoolClientsWaiting: 6 firing (prod-eu1)"))
        state.begin(dispatch)
        _ = state.complete(dispatch, outcome: .delivered(status: 200), environment: env, now: now)
        #expect(state.nextDispatch(for: Self.slack, environment: env, now: now)?.recordIDs.count == 1)
        // PagerDuty is never grouped: one event per instance.
        #expect(state.nextDispatch(for: Self.pagerDuty, environment: env, now: now)?.recordIDs.count == 1)
    }

    @Test func threeInstancesAreSentOneByOne() {
        let env = Self.environment([Self.slack])
        var state = OutboxState()
        for index in 0..<3 {
            _ = state.enqueue(F.firing(labels: [Label("target", "pgb-\(index)")]), environment: env, now: now)
        }
        #expect(state.nextDispatch(for: Self.slack, environment: env, now: now)?.recordIDs.count == 1)
    }

    @Test func slackWaitsForItsGroupWindow() {
        var env = Self.environment([Self.slack])
        env.policy.slackGroupWait = 2
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        #expect(state.nextDispatch(for: Self.slack, environment: env, now: now + 1) == nil)
        #expect(state.nextDueTime(for: "team") == now + 2)
        #expect(state.nextDispatch(for: Self.slack, environment: env, now: now + 2) != nil)
        // A wall clock stepped far back does not strand the record.
        #expect(state.nextDispatch(for: Self.slack, environment: env, now: now - 5000) != nil)
    }

    @Test func rejectedPayloadIsResentDegradedOnceThenDeadAndEscalated() {
        let env = Self.environment()
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        let (first, _) = deliverNext(&state, Self.slack, .degrade(status: 400, error: "HTTP 400: invalid_payload"), env: env)
        #expect(first?.degraded == false)
        let second = state.nextDispatch(for: Self.slack, environment: env, now: now)!
        #expect(second.degraded)
        #expect(second.body == SlackPayload.degraded(F.firing()).text)
        state.begin(second)
        let changes = state.complete(second, outcome: .degrade(status: 400, error: "HTTP 400: invalid_payload"), environment: env, now: now)
        #expect(state.records.first { $0.receiver == "team" }?.state == .dead)
        // Escalated once, to PagerDuty, as a critical page with the notifier key.
        let escalations = changes.compactMap { change -> OutboxRecord? in
            if case let .escalated(record, failing, _) = change, failing == "team" { record } else { nil }
        }
        #expect(escalations.count == 1)
        let page = escalations[0]
        #expect(page.receiver == "oncall" && page.event == .notice && page.severity == .critical && !page.escalate)
        #expect(page.dedupKey == "poolwatch/v1/prod-eu1/notifier/team")
        #expect(page.body.contains(#""summary":"poolwatch cannot deliver to Slack receiver team (HTTP 400: invalid_payload): [FIRING] Pool orders/app on pgb-1: 12 clients waiting (since 2026-03-02T10:13:30Z)""#))
        #expect(!page.body.contains("hooks.slack.com"))
        #expect(state.health["team"]?.escalatedTo == ["oncall"])
    }

    @Test func deadPagerDutyTriggerGoesToSlackAndNoticesDoNotLoop() {
        let env = Self.environment()
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        deliverNext(&state, Self.pagerDuty, .dead(status: 404, error: "HTTP 404"), env: env)
        let notice = open(state, "team").first { $0.event == .notice }
        #expect(notice?.body.contains(":warning: poolwatch cannot deliver to PagerDuty receiver oncall (HTTP 404)") == true)
        // The Slack notice itself dies: no escalation back to PagerDuty (only the dead Slack trigger is).
        while let dispatch = state.nextDispatch(for: Self.slack, environment: env, now: now) {
            state.begin(dispatch)
            let changes = state.complete(dispatch, outcome: .dead(status: 410, error: "HTTP 410: channel_is_archived"), environment: env, now: now)
            if dispatch.event == .notice {
                #expect(!changes.contains { if case .escalated = $0 { true } else { false } })
            }
        }
        #expect(open(state, "oncall").map(\.dedupKey) == ["poolwatch/v1/prod-eu1/notifier/team"])
    }

    @Test func recoveryResolvesTheEscalation() {
        let env = Self.environment()
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        deliverNext(&state, Self.slack, .dead(status: 404, error: "HTTP 404: no_service"), env: env)
        _ = state.enqueue(F.firing(rule: "Other"), environment: env, now: now + 1)
        // PagerDuty: the original trigger, the escalation, the "Other" trigger. Deliver all.
        while deliverNext(&state, Self.pagerDuty, .delivered(status: 202), env: env, at: now + 2).0 != nil {}
        // Slack works again (the secret was rotated): PagerDuty gets the resolve of the escalation.
        deliverNext(&state, Self.slack, .delivered(status: 200), env: env, at: now + 3)
        let resolve = open(state, "oncall").last
        #expect(resolve?.dedupKey == "poolwatch/v1/prod-eu1/notifier/team")
        #expect(resolve?.body.contains(#""event_action":"resolve""#) == true)
        #expect(state.health["team"]?.escalatedTo == [])
        #expect(state.health["team"]?.lastSuccessAt == now + 3)
    }

    @Test func expiredSlackRecordsAreSummarizedOnRecovery() {
        let env = Self.environment([Self.slack])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        deliverNext(&state, Self.slack, .retry(notBefore: now + 10, status: 500, error: "HTTP 500"), env: env)
        let changes = state.housekeeping(environment: env, now: now + 3601)
        #expect(changes.contains { if case .expired = $0 { true } else { false } })
        #expect(state.records[0].state == .expired)
        _ = state.enqueue(F.firing(rule: "Later"), environment: env, now: now + 3700)
        deliverNext(&state, Self.slack, .delivered(status: 200), env: env, at: now + 3700)
        let summary = open(state, "team").first
        #expect(summary?.event == .notice)
        #expect(summary?.body.contains("1 notification was not delivered between 2026-03-02T10:16:50Z and 2026-03-02T10:16:50Z") == true)
    }

    @Test func pagerDutyTriggersNeverExpireButEscalateWhenStale() {
        let env = Self.environment()
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        deliverNext(&state, Self.slack, .delivered(status: 200), env: env)
        deliverNext(&state, Self.pagerDuty, .retry(notBefore: now + 60, status: 503, error: "HTTP 503"), env: env)
        let early = state.housekeeping(environment: env, now: now + 899)
        #expect(early.isEmpty)
        let changes = state.housekeeping(environment: env, now: now + 900)
        #expect(state.records.first { $0.receiver == "oncall" }?.state.isOpen == true)
        let escalated = changes.compactMap { if case let .escalated(record, _, reason) = $0 { (record, reason) } else { nil } }
        #expect(escalated.count == 1)
        #expect(escalated.first?.0.receiver == "team")
        #expect(escalated.first?.1 == "no successful delivery for 15m, 1 page waiting")
        // Only once.
        let later = state.housekeeping(environment: env, now: now + 2000)
        #expect(!later.contains { if case .escalated = $0 { true } else { false } })
    }

    @Test func compactionKeepsPagerDutyAndDropsOldestSlack() {
        let env = Self.environment(maxRecords: 10)
        var state = OutboxState()
        for index in 0..<8 {
            _ = state.enqueue(F.firing(labels: [Label("target", "pgb-\(index)")]), environment: env, now: now + Double(index))
        }
        #expect(state.records.count == 16)
        let changes = state.housekeeping(environment: env, now: now + 10)
        #expect(state.records.count == 10)
        #expect(state.records.filter { $0.receiverType == .pagerduty }.count == 8)
        #expect(changes.filter { if case .dropped = $0 { true } else { false } }.count == 6)
        // The oldest Slack records went first.
        let kept = ["pgb-6", "pgb-7"].map {
            DedupKey.instance(clusterID: "prod-eu1", rule: "PoolClientsWaiting", identityLabels: [Label("target", $0)])
        }
        #expect(state.records.filter { $0.receiverType == .slack }.map(\.dedupKey) == kept)
    }

    @Test func finishedRecordsAreCompactedAway() {
        let env = Self.environment([Self.pagerDuty])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        deliverNext(&state, Self.pagerDuty, .delivered(status: 202), env: env)
        #expect(state.records.first?.body == "")
        _ = state.housekeeping(environment: env, now: now + 3599)
        #expect(state.records.count == 1)
        _ = state.housekeeping(environment: env, now: now + 3601)
        #expect(state.records.isEmpty)
    }

    @Test func recoverMakesInFlightPendingAndKillsUnknownReceivers() {
        let env = Self.environment()
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        state.begin(state.nextDispatch(for: Self.pagerDuty, environment: env, now: now)!)
        let changes = state.recover(environment: Self.environment([Self.pagerDuty]), now: now)
        #expect(state.records.first { $0.receiver == "oncall" }?.state == .pending)
        #expect(state.records.first { $0.receiver == "team" }?.state == .dead)
        #expect(state.records.first { $0.receiver == "team" }?.lastError == "receiver team is no longer configured")
        #expect(changes.count == 1)
    }

    @Test func stateFileRoundTrips() throws {
        let env = Self.environment()
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        _ = state.enqueue(F.firing(labels: [Label("target", "a\"b\nc")]), environment: env, now: now + 0.5)
        deliverNext(&state, Self.slack, .dead(status: 404, error: "HTTP 404: no_service"), env: env)
        deliverNext(&state, Self.pagerDuty, .retry(notBefore: now + 2.25, status: nil, error: "timeout"), env: env)
        let text = state.encoded(clusterID: "prod-eu1", now: now)
        #expect(text.hasPrefix(#"{"schema":1,"cluster_id":"prod-eu1","written_at":"2026-03-02T10:16:50.000Z","next_seq":"#))
        let decoded = try OutboxState.decode(Array(text.utf8))
        #expect(decoded == state)
        for secret in env.receivers.map(\.secret.revealed) { #expect(!text.contains(secret)) }
        #expect(!text.contains("hooks.slack.com/services"))
    }

    @Test func corruptStateFilesAreRejectedWithAPath() {
        #expect(throws: OutboxDecodeError.self) { try OutboxState.decode(Array("{\"schema\":1,".utf8)) }
        do {
            _ = try OutboxState.decode(Array(#"{"schema":1,"next_seq":1,"receivers":[],"records":[{"id":"x"}]}"#.utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "records[0].seq: expected a number, found nothing")
        }
        do {
            _ = try OutboxState.decode(Array(#"{"schema":2,"next_seq":1,"receivers":[],"records":[]}"#.utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.message == "unsupported schema 2 (this poolwatch reads schema 1)")
        }
    }

    /// A file with three records, the second one carrying `field: value` instead of what it had.
    func fileWithOneBadRecord(_ field: String, _ value: String) -> (text: String, state: OutboxState) {
        let env = Self.environment([Self.pagerDuty])
        var state = OutboxState()
        for (offset, target) in ["a", "b", "c"].enumerated() {
            _ = state.enqueue(F.firing(labels: [Label("target", target)]), environment: env, now: now + Double(offset))
        }
        var text = state.encoded(clusterID: "prod-eu1", now: now)
        let second = text.range(of: #"{"id":"#, range: text.range(of: #""records":"#)!.upperBound..<text.endIndex)!
        let third = text.range(of: #"},{"id":"#, range: second.upperBound..<text.endIndex)!
        let member = text.range(of: "\"\(field)\":", range: third.upperBound..<text.endIndex)!
        let valueEnd = text[member.upperBound...].firstIndex { $0 == "," || $0 == "}" }!
        text.replaceSubrange(member.upperBound..<valueEnd, with: value)
        return (text, state)
    }

    @Test func oneImpossibleRecordIsQuarantinedAndTheOthersKept() throws {
        for (field, value, reason) in [
            ("state", #""exploded""#, #"records[1].state: "exploded" is not one of pending, in_flight"#),
            ("attempts", "-3", "records[1].attempts: -3 is less than 0"),
            ("seq", "1e300", "records[1].seq: expected a whole number"),
            ("receiver_type", #""fax""#, #"records[1].receiver_type: "fax" is not one of"#),
        ] {
            let (text, original) = fileWithOneBadRecord(field, value)
            let (state, quarantined) = try OutboxState.decodeSalvaging(Array(text.utf8))
            #expect(state.records.map(\.id) == [original.records[0].id, original.records[2].id], "\(field)")
            #expect(quarantined.count == 1)
            #expect(quarantined.first?.path == "records[1]")
            #expect(quarantined.first?.id == original.records[1].id)
            #expect(quarantined.first?.reason.hasPrefix(reason) == true, "\(quarantined.first?.reason ?? "")")
            #expect(throws: OutboxDecodeError.self) { try OutboxState.decode(Array(text.utf8)) }
            // The quarantine document keeps the entry as it was, for a person.
            let document = QuarantinedEntry.document(appending: quarantined, to: nil, file: "outbox.json", now: now)
            #expect(document.hasPrefix(#"{"quarantined":[{"at":"2026-03-02T10:16:50.000Z","file":"outbox.json","path":"records[1]","id":""#))
            let again = QuarantinedEntry.document(appending: quarantined, to: try JSONValue.parse(Array(document.utf8)), file: "outbox.json", now: now)
            #expect(again.components(separatedBy: #""path":"records[1]""#).count == 3, "appended, the earlier entry kept")
        }
    }

    /// A delivered trigger is remembered until a resolve for it is over, beyond the hour finished
    /// records are kept: a second FIRING for the same incident is never queued (Slack has no dedup).
    @Test func anAnnouncedIncidentIsNotAnnouncedAgain() throws {
        let env = Self.environment()
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        deliverNext(&state, Self.pagerDuty, .delivered(status: 202), env: env)
        deliverNext(&state, Self.slack, .delivered(status: 200), env: env)
        #expect(state.announced == [AnnouncedIncident(receiver: "oncall", dedupKey: F.key), AnnouncedIncident(receiver: "team", dedupKey: F.key)])
        // Two days later, after compaction and a restart with a truncated alerts.json: the engine fires anew.
        let later = now + 2 * 86400
        _ = state.housekeeping(environment: env, now: later)
        #expect(state.records.isEmpty)
        state = try OutboxState.decode(Array(state.encoded(clusterID: "prod-eu1", now: later).utf8))
        let refire = state.enqueue(F.firing(at: later - 30), environment: env, now: later)
        #expect(refire.allSatisfy { if case .suppressed = $0 { true } else { false } } && refire.count == 2, "\(refire)")
        #expect(state.reconciliation(firing: [F.firing(at: later - 30)], environment: env).isEmpty)
        // Its resolve goes out and ends the incident; the next firing is a new incident.
        _ = state.enqueue(F.resolved(after: 2 * 86400), environment: env, now: later)
        deliverNext(&state, Self.pagerDuty, .delivered(status: 202), env: env, at: later)
        deliverNext(&state, Self.slack, .delivered(status: 200), env: env, at: later)
        #expect(state.announced.isEmpty)
        let next = state.enqueue(F.firing(at: later + 60), environment: env, now: later + 60)
        #expect(next.filter { if case .queued = $0 { true } else { false } }.count == 2)
    }

    @Test func aTriggerAfterAnAttemptedResolveIsSent() {
        let env = Self.environment([Self.slack])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        deliverNext(&state, Self.slack, .delivered(status: 200), env: env)
        _ = state.enqueue(F.resolved(), environment: env, now: now + 1)
        deliverNext(&state, Self.slack, .retry(notBefore: now + 5, status: 500, error: "HTTP 500"), env: env, at: now + 1)
        // The resolve may have landed: the new firing must follow it rather than be swallowed.
        let changes = state.enqueue(F.firing(at: now + 2), environment: env, now: now + 2)
        #expect(changes.count == 1 && { if case .queued = changes[0] { true } else { false } }())
    }

    @Test func reconciliationQueuesOnlyTriggersNotKnownToBeSent() {
        let env = Self.environment()
        var state = OutboxState()
        let sent = F.firing(labels: [Label("target", "sent")])
        let queued = F.firing(labels: [Label("target", "queued")])
        let lost = F.firing(labels: [Label("target", "lost")])
        let warning = F.firing(labels: [Label("target", "warn")], severity: .warning)
        _ = state.enqueue(sent, environment: env, now: now)
        deliverNext(&state, Self.pagerDuty, .delivered(status: 202), env: env)
        deliverNext(&state, Self.slack, .delivered(status: 200), env: env)
        _ = state.enqueue(queued, environment: env, now: now)
        let plan = state.reconciliation(firing: [sent, queued, lost, warning], environment: env)
        #expect(plan == [lost, warning])
        // Each receiver gets what it lacks: PagerDuty (critical only) does not take the warning.
        let changes = plan.flatMap { state.enqueue($0, environment: env, now: now) }
        #expect(changes.compactMap { if case let .queued(record) = $0 { record.receiver } else { nil } } == ["oncall", "team", "team"])
    }

    @Test func filesWithoutTheJournalRebuildItFromDeliveredHistory() throws {
        let env = Self.environment([Self.slack])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        deliverNext(&state, Self.slack, .delivered(status: 200), env: env)
        var text = state.encoded(clusterID: "prod-eu1", now: now)
        text = String(text[..<text.range(of: #","announced":"#)!.lowerBound]) + "}\n"
        #expect(try OutboxState.decode(Array(text.utf8)).announced == [AnnouncedIncident(receiver: "team", dedupKey: F.key)])
    }

    @Test func aResolveWhoseTriggerWasQuarantinedIsNotSent() throws {
        let env = Self.environment([Self.slack])
        var state = OutboxState()
        let other = F.firing(labels: [Label("target", "other")])
        _ = state.enqueue(other, environment: env, now: now)
        deliverNext(&state, Self.slack, .delivered(status: 200), env: env)
        _ = state.enqueue(F.firing(), environment: env, now: now)
        // In flight when the resolve comes (so the resolve does not replace it), when the process dies.
        state.begin(try #require(state.nextDispatch(for: Self.slack, environment: env, now: now)))
        _ = state.enqueue(F.resolved(), environment: env, now: now + 1)
        var otherResolve = other
        otherResolve.kind = .resolve
        otherResolve.at += 60
        _ = state.enqueue(otherResolve, environment: env, now: now + 1)
        // The file loses the trigger of F.firing() (quarantined): its resolve has nothing to close.
        var text = state.encoded(clusterID: "prod-eu1", now: now + 1)
        text = text.replacingOccurrences(of: #""state":"in_flight""#, with: #""state":"exploded""#)
        var (loaded, quarantined) = try OutboxState.decodeSalvaging(Array(text.utf8))
        #expect(quarantined.count == 1)
        let changes = loaded.cancelOrphanResolves(now: now + 2)
        #expect(changes.count == 1)
        #expect(loaded.records.filter { $0.event == .resolve }.map(\.state) == [.cancelled, .pending], "the announced incident's resolve still goes out")
    }

    @Test func aReceiverWithoutResolvesHearsTheNextFiring() {
        let quiet = Self.receiver("team", .slack, sendResolved: false)
        let env = Self.environment([quiet])
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        deliverNext(&state, quiet, .delivered(status: 200), env: env)
        #expect(state.announced.count == 1)
        #expect(state.enqueue(F.resolved(), environment: env, now: now + 1).isEmpty)
        #expect(state.announced.isEmpty)
        let again = state.enqueue(F.firing(at: now + 100), environment: env, now: now + 100)
        #expect(again.count == 1 && { if case .queued = again[0] { true } else { false } }())
    }

    @Test func statusViewHasNoSecrets() {
        let env = Self.environment()
        var state = OutboxState()
        _ = state.enqueue(F.firing(), environment: env, now: now)
        let status = state.status(environment: env, now: now + 30, pausedUntil: ["team": now + 60])
        #expect(status.outbox.count == 2 && status.receivers.map(\.name) == ["oncall", "team"])
        let text = status.json.text
        #expect(text.contains(#""secret":"<secret>""#))
        #expect(text.contains(#""pending":1,"oldest_pending_age_seconds":30"#))
        #expect(text.contains(#""paused_until":"2026-03-02T10:17:50.000Z""#))
        #expect(text.contains(#""summary":"[FIRING] Pool orders/app on pgb-1: 12 clients waiting (since 2026-03-02T10:13:30Z)""#))
        for secret in env.receivers.map(\.secret.revealed) { #expect(!text.contains(secret)) }
    }
}

@Suite struct AlertingDeliveryTests {
    @Test func classificationFollowsTheTable() {
        func slack(_ status: Int, _ body: String = "", retryAfter: Double? = nil) -> DeliveryClassification {
            .classify(type: .slack, status: status, body: Array(body.utf8), retryAfter: retryAfter)
        }
        func pagerDuty(_ status: Int, _ body: String = "") -> DeliveryClassification {
            .classify(type: .pagerduty, status: status, body: Array(body.utf8), retryAfter: nil)
        }
        #expect(slack(200, "ok") == .delivered)
        #expect(slack(200, #"{"ok":false,"error":"invalid_auth"}"#) == .permanent(.client, reloadSecret: false))
        #expect(pagerDuty(202, #"{"status":"success"}"#) == .delivered)
        #expect(slack(400, "invalid_payload") == .rejectedPayload)
        #expect(pagerDuty(400, #"{"status":"invalid event"}"#) == .rejectedPayload)
        #expect(pagerDuty(413) == .rejectedPayload)
        for status in [401, 403, 404, 410] { #expect(slack(status, "no_service") == .permanent(.config, reloadSecret: true)) }
        #expect(slack(301) == .permanent(.redirect, reloadSecret: false))
        #expect(slack(408) == .transient(.timeout))
        #expect(slack(500, "rollup_error") == .transient(.server))
        #expect(pagerDuty(503) == .transient(.server))
        #expect(slack(429, "", retryAfter: 2) == .rateLimited(retryAfter: 2))
        #expect(slack(429, #"{"retry_after":7,"ok":false,"error":"rate_limited"}"#) == .rateLimited(retryAfter: 7))
        #expect(pagerDuty(429) == .rateLimited(retryAfter: nil))
        #expect(DeliveryClassification.classify(.timeout) == .transient(.timeout))
        #expect(DeliveryClassification.classify(.network) == .transient(.network))
        #expect(DeliveryClassification.classify(.tlsVerification) == .transient(.tls))
        #expect(DeliveryClassification.classify(.invalidRequest) == .permanent(.config, reloadSecret: false))
        #expect(DeliveryClassification.classify(.cancelled) == .interrupted)
    }

    @Test func backoffIsCappedAndJittered() {
        let policy = NotifierPolicy.standard
        #expect(policy.transientDelay(attempt: 1, errorClass: .server, random: 0) == 1)
        #expect(policy.transientDelay(attempt: 1, errorClass: .server, random: 0.999_999) < 2)
        #expect(policy.transientDelay(attempt: 3, errorClass: .network, random: 0.5) == 6)
        #expect(policy.transientDelay(attempt: 50, errorClass: .server, random: 0.999_999) <= 60)
        #expect(policy.transientDelay(attempt: 50, errorClass: .server, random: 0) == 30)
        #expect(policy.transientDelay(attempt: 1, errorClass: .tls, random: 0) == 60)
        // 429: Slack honours Retry-After (clamped, plus up to 1 s), 30 s without one.
        #expect(policy.rateLimitPause(type: .slack, retryAfter: 2, consecutive: 1, random: 0) == 2)
        #expect(policy.rateLimitPause(type: .slack, retryAfter: 0, consecutive: 1, random: 0.5) == 1.5)
        #expect(policy.rateLimitPause(type: .slack, retryAfter: 9999, consecutive: 1, random: 0) == 300)
        #expect(policy.rateLimitPause(type: .slack, retryAfter: nil, consecutive: 1, random: 0) == 30)
        // PagerDuty: at least 30 s, doubling to 300 s.
        #expect(policy.rateLimitPause(type: .pagerduty, retryAfter: 2, consecutive: 1, random: 0) == 30)
        #expect(policy.rateLimitPause(type: .pagerduty, retryAfter: 45, consecutive: 2, random: 0) == 90)
        #expect(policy.rateLimitPause(type: .pagerduty, retryAfter: nil, consecutive: 9, random: 0) == 300)
    }

    @Test func tokenBucketAllowsBurstThenRate() {
        var limiter = DeliveryRateLimiter(RateLimit(perSecond: 1, burst: 4))
        let burst = (0..<4).map { _ in limiter.tryAcquire(now: 100) }
        #expect(burst == [true, true, true, true])
        let fifth = limiter.tryAcquire(now: 100)
        #expect(!fifth)
        #expect(limiter.nextAvailable(now: 100) == 101)
        let early = limiter.tryAcquire(now: 100.5)
        let onTime = limiter.tryAcquire(now: 101.01)
        // A clock that steps back does not mint tokens.
        let stepBack = limiter.tryAcquire(now: 50)
        #expect(!early && onTime && !stepBack)
    }

    @Test func pagerDutyCeilingOf60PerMinute() {
        var limiter = DeliveryRateLimiter(RateLimit(perSecond: 100, burst: 100), windowLimit: 60)
        let sixty = (0..<60).map { limiter.tryAcquire(now: 1000 + Double($0) * 0.1) }
        #expect(sixty.allSatisfy { $0 })
        let sixtyFirst = limiter.tryAcquire(now: 1010)
        #expect(!sixtyFirst)
        #expect(limiter.nextAvailable(now: 1010) == 1060)
        let nextMinute = limiter.tryAcquire(now: 1060.01)
        #expect(nextMinute)
    }
}
