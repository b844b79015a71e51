import Testing

@testable import PoolWatchCore

/// The notifier's decisions on explicit times, without I/O or sleeping: when a send may start, what
/// an answer does to the outbox, when the state is written and when the loop looks again.
@Suite struct NotifierStateMachineTests {
    typealias F = AlertingFixtures
    typealias Machine = NotifierStateMachine

    static func receiver(_ name: String, _ type: ReceiverType, rate: Double = 10, burst: Int = 10,
                         secret: ReceiverConfig.SecretSource = .environment("S")) -> ReceiverConfig {
        ReceiverConfig(name: name, type: type, secret: Secret("secret-\(name)"), secretSource: secret,
                       rateLimit: RateLimit(perSecond: rate, burst: burst))
    }

    static let oncall = receiver("oncall", .pagerduty)
    static let team = receiver("team", .slack)

    let now = F.firedAt + 200

    static func machine(_ receivers: [ReceiverConfig] = [oncall, team], groupWait: Double = 0) -> Machine {
        var policy = NotifierPolicy()
        policy.slackGroupWait = groupWait
        return Machine(outbox: OutboxState(), environment: OutboxEnvironment(receivers: receivers, payload: F.context, policy: policy))
    }

    /// Writes every pending change, as the driver does.
    static func save(_ machine: inout Machine) {
        while let generation = machine.startSave() { machine.saveFinished(generation, succeeded: true) }
    }

    /// Enqueues `notifications`, writes the state and returns the sends that start at `now`.
    static func enqueueAndTick(_ machine: inout Machine, _ notifications: [AlertNotification], now: Double) -> [Machine.Send] {
        for notification in notifications { _ = machine.enqueue(notification, now: now) }
        save(&machine)
        return machine.tick(now: now).sends
    }

    /// Answers `send` at `now` and records it (no secret change).
    static func answer(_ machine: inout Machine, _ send: Machine.Send, _ classification: DeliveryClassification, status: Int?,
                       now: Double) -> (log: Machine.AttemptLog?, changes: [OutboxChange]) {
        let verdict = machine.answered(send, classification: classification, status: status, detail: "HTTP \(status ?? 0)", random: 0.5,
                                       now: now)
        return machine.finish(send, verdict: verdict, secretChanged: false, now: now)
    }

    @Test func nothingIsSentBeforeTheStateHoldingItIsSaved() throws {
        var machine = Self.machine([Self.oncall])
        _ = machine.enqueue(F.firing(), now: now)
        let first = machine.tick(now: now)
        #expect(first.sends.isEmpty)
        #expect(first.wakeAt == now + 1, "the record is due, but the end of the write wakes the loop, not a timer")
        let generation = try #require(first.save)
        #expect(machine.tick(now: now + 0.1).sends.isEmpty && machine.tick(now: now + 0.1).save == nil, "still being written")
        machine.saveFinished(generation, succeeded: true)
        let second = machine.tick(now: now + 0.2)
        #expect(second.sends.map(\.receiver.name) == ["oncall"])
        #expect(machine.outbox.records.map(\.state) == [.inFlight])
    }

    @Test func aFailedWriteLetsSendsGoOnAndIsTriedAgain() throws {
        var machine = Self.machine([Self.oncall])
        _ = machine.enqueue(F.firing(), now: now)
        let generation = try #require(machine.tick(now: now).save)
        machine.saveFinished(generation, succeeded: false)
        let next = machine.tick(now: now + 0.1)
        #expect(next.sends.count == 1, "the state lives in memory: sending goes on")
        #expect(machine.tick(now: now + 1).save != nil, "the next housekeeping writes again")
    }

    @Test func aDeliveredAnswerIsRecordedAndSaved() throws {
        var machine = Self.machine([Self.oncall])
        let send = try #require(Self.enqueueAndTick(&machine, [F.firing()], now: now).first)
        let generation = machine.generation
        let (log, changes) = Self.answer(&machine, send, .delivered, status: 202, now: now + 1)
        #expect(log == Machine.AttemptLog(level: .info, message: "notification delivered", failure: false, retryIn: nil))
        guard case .delivered? = changes.first else { Issue.record("\(changes)"); return }
        #expect(machine.sending.isEmpty)
        #expect(machine.outbox.records.map(\.state) == [.delivered])
        #expect(machine.startSave() == generation + 1)
    }

    @Test func aServerErrorIsRetriedAtTheBackoffTime() throws {
        var machine = Self.machine([Self.oncall])
        let send = try #require(Self.enqueueAndTick(&machine, [F.firing()], now: now).first)
        let verdict = machine.answered(send, classification: .transient(.server), status: 500, detail: "HTTP 500", random: 0.5,
                                       now: now + 0.5)
        let retryIn = try #require(verdict.decision.retryIn)
        let (log, _) = machine.finish(send, verdict: verdict, secretChanged: false, now: now + 0.5)
        #expect(log == Machine.AttemptLog(level: .warning, message: "notification delivery failed", failure: true, retryIn: retryIn))
        let record = try #require(machine.outbox.records.first)
        #expect(record.state == .pending && record.notBefore == now + 0.5 + retryIn && record.lastStatus == 500)
        Self.save(&machine)
        #expect(machine.tick(now: record.notBefore - 0.01).sends.isEmpty)
        let retry = machine.tick(now: record.notBefore).sends
        #expect(retry.map(\.dispatch.attempt) == [2])
        // The same failure again is a debug line: a warning only when the failure changes.
        let (again, _) = Self.answer(&machine, retry[0], .transient(.server), status: 500, now: record.notBefore + 0.1)
        #expect(again?.level == .debug)
    }

    @Test func tooManyRequestsPausesTheReceiver() throws {
        var machine = Self.machine([Self.oncall])
        let sends = Self.enqueueAndTick(&machine, [F.firing(), F.firing(labels: [Label("target", "pgb-2")])], now: now)
        let send = try #require(sends.first)
        _ = Self.answer(&machine, send, .rateLimited(retryAfter: 40), status: 429, now: now + 1)
        let until = try #require(machine.pacer.pausedUntil["oncall"])
        #expect(until >= now + 41)
        Self.save(&machine)
        #expect(machine.tick(now: now + 2).sends.isEmpty, "no other record goes to a paused receiver")
        #expect(machine.tick(now: until).sends.count == 1)
    }

    @Test func aRefusedSecretFromAFileIsReReadOncePerRecord() throws {
        let team = Self.receiver("team", .slack, secret: .file("/run/secrets/slack"))
        var machine = Self.machine([team])
        let send = try #require(Self.enqueueAndTick(&machine, [F.firing()], now: now).first)
        let refused = DeliveryClassification.permanent(.client, reloadSecret: true)
        let verdict = machine.answered(send, classification: refused, status: 404, detail: "HTTP 404: no_service", random: 0, now: now + 1)
        #expect(verdict.rereadSecret == "/run/secrets/slack")
        // The file held a new secret: the record is retried now with it.
        let (log, _) = machine.finish(send, verdict: verdict, secretChanged: true, now: now + 1)
        #expect(log?.level == .info && log?.message == "receiver refused the secret; the secret file changed, retrying with the new one")
        #expect(machine.outbox.records.first?.state == .pending && machine.outbox.records.first?.notBefore == now + 1)
        Self.save(&machine)
        let retry = try #require(machine.tick(now: now + 1).sends.first)
        let second = machine.answered(retry, classification: refused, status: 404, detail: "HTTP 404: no_service", random: 0, now: now + 2)
        #expect(second.rereadSecret == nil, "once per record")
        let (none, changes) = machine.finish(retry, verdict: second, secretChanged: false, now: now + 2)
        #expect(none == nil, "a record that dies is logged by its change")
        guard case .dead? = changes.first else { Issue.record("\(changes)"); return }
    }

    @Test func shutdownStartsNoNewSendsAndAnInterruptedSendStaysQueued() throws {
        var machine = Self.machine([Self.oncall])
        let sends = Self.enqueueAndTick(&machine, [F.firing(), F.firing(labels: [Label("target", "pgb-2")])], now: now)
        #expect(sends.count == 1)
        machine.stop()
        let generation = machine.generation
        let (log, _) = Self.answer(&machine, sends[0], .interrupted, status: nil, now: now + 1)
        #expect(log?.message == "notification send interrupted by shutdown; it stays queued")
        #expect(machine.generation == generation, "nothing to write: the record is as it was on disk")
        #expect(machine.outbox.records.allSatisfy { $0.state == .pending })
        #expect(machine.tick(now: now + 2).sends.isEmpty)
    }

    @Test func oneSendPerReceiverAtATime() throws {
        var machine = Self.machine([Self.oncall])
        let first = Self.enqueueAndTick(&machine, [F.firing(), F.firing(labels: [Label("target", "pgb-2")])], now: now)
        #expect(first.count == 1)
        #expect(machine.tick(now: now + 0.5).sends.isEmpty, "the first is still in flight")
        _ = Self.answer(&machine, first[0], .delivered, status: 202, now: now + 0.6)
        Self.save(&machine)
        let second = machine.tick(now: now + 0.6).sends
        #expect(second.count == 1 && second[0].dispatch.recordIDs != first[0].dispatch.recordIDs)
    }

    @Test func theLoopWakesAtTheEarliestDeadline() throws {
        // A Slack record due in 0.25 s, before the next housekeeping (1 s).
        var machine = Self.machine([Self.team], groupWait: 0.25)
        _ = machine.enqueue(F.firing(), now: now)
        Self.save(&machine)
        let waiting = machine.tick(now: now)
        #expect(waiting.sends.isEmpty && waiting.wakeAt == now + 0.25)
        // The next token: 4 per second, burst 1.
        var paced = Self.machine([Self.receiver("oncall", .pagerduty, rate: 4, burst: 1)])
        let sends = Self.enqueueAndTick(&paced, [F.firing(), F.firing(labels: [Label("target", "pgb-2")])], now: now)
        _ = Self.answer(&paced, sends[0], .delivered, status: 202, now: now + 0.01)
        Self.save(&paced)
        let tick = paced.tick(now: now + 0.01)
        #expect(tick.sends.isEmpty && tick.wakeAt == now + 0.25)
        // Nothing due: the next housekeeping.
        var idle = Self.machine()
        #expect(idle.tick(now: now).wakeAt == now + 1)
    }

    @Test func aDeadTriggerIsEscalatedToTheOtherReceiverAfterItsOwnSend() throws {
        var machine = Self.machine([Self.oncall, Self.team])
        let sends = Self.enqueueAndTick(&machine, [F.firing()], now: now)
        #expect(sends.map(\.receiver.name) == ["oncall", "team"])
        let (log, changes) = Self.answer(&machine, sends[0], .permanent(.config, reloadSecret: false), status: 400, now: now + 1)
        #expect(log == nil)
        guard case .dead? = changes.first, case let .escalated(notice, failing, _)? = changes.last else { Issue.record("\(changes)"); return }
        #expect(notice.receiver == "team" && failing == "oncall")
        Self.save(&machine)
        #expect(machine.tick(now: now + 1).sends.isEmpty, "team's own send is still in flight")
        _ = Self.answer(&machine, sends[1], .delivered, status: 200, now: now + 1.1)
        Self.save(&machine)
        let next = machine.tick(now: now + 1.1).sends
        #expect(next.map(\.dispatch.recordIDs) == [[notice.id]])
    }

    @Test func housekeepingExpiresAndTheChangeIsWritten() throws {
        var machine = Self.machine([Self.team], groupWait: 30)
        _ = machine.enqueue(F.firing(), now: now)
        Self.save(&machine)
        let generation = machine.generation
        let tick = machine.tick(now: now + NotifierPolicy().slackTTL + 1)
        guard case .expired? = tick.changes.first else { Issue.record("\(tick.changes)"); return }
        #expect(tick.save == generation + 1 && tick.sends.isEmpty)
    }

    @Test func reconfigureRetiresRecordsOfARemovedReceiver() throws {
        var machine = Self.machine([Self.oncall, Self.team], groupWait: 30)
        _ = machine.enqueue(F.firing(), now: now)
        Self.save(&machine)
        let generation = machine.generation
        let changes = machine.reconfigure(receivers: [Self.oncall], maxRecords: 100, clientURL: nil, now: now + 1)
        #expect(changes.count == 1)
        guard case let .dead(record)? = changes.first else { Issue.record("\(changes)"); return }
        #expect(record.receiver == "team" && record.lastError == "receiver team is no longer configured")
        #expect(machine.generation == generation + 1 && machine.environment.receivers == [Self.oncall])
    }
}
