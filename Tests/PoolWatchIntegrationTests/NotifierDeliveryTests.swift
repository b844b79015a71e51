import Foundation
import Logging
@testable import PoolWatchAlerts
import PoolWatchCore
import PoolWatchCurl
import Synchronization
import Testing
import PoolWatchRuntime

/// The notifier against fake Slack and PagerDuty receivers on 127.0.0.1: exact bodies on the wire,
/// retry classes and timing classes (never exact times), final outcomes, escalation, rate limits,
/// storm grouping, test notifications, metrics; and no secret in any log line or state file.
@Suite struct NotifierDeliveryTests {
    typealias N = NotifierFixtures

    static let pagerDutyTrigger = """
        {"routing_key":"PDR0UT1NGK3YN0tT0BeL0gged000001","event_action":"trigger",\
        "dedup_key":"poolwatch/v1/it/PoolClientsWaiting/f0a005ea426bcd39","client":"poolwatch",\
        "payload":{"summary":"[FIRING] Pool pgb-1/orders/app: 12 clients waiting","source":"pgb-1","severity":"critical",\
        "timestamp":"2026-03-02T10:13:30.000Z","group":"it","class":"PoolClientsWaiting","custom_details":{"rule":"PoolClientsWaiting",\
        "value":12,"threshold":0,"firing_since":"2026-03-02T10:13:30.000Z","labels":{"target":"pgb-1","database":"orders","user":"app"},\
        "description":"Clients are queueing for a server connection.","runbook_url":"https://runbooks.example.com/pgbouncer#waiting",\
        "cluster_id":"it"}},"links":[{"href":"https://runbooks.example.com/pgbouncer#waiting","text":"Runbook"}]}
        """

    static let slackTrigger = #"""
        {"text":":red_circle: [FIRING] Pool pgb-1/orders/app: 12 clients waiting","attachments":[{"color":"#d63232",\#
        "fallback":"[FIRING] Pool pgb-1/orders/app: 12 clients waiting","title":"PoolClientsWaiting (critical, it)",\#
        "title_link":"https://runbooks.example.com/pgbouncer#waiting","text":"*Value:* 12 (threshold 0)\n\#
        *Firing since:* 2026-03-02T10:13:30Z (for 2m)\n*Labels:* target=pgb-1, database=orders, user=app\n\#
        Clients are queueing for a server connection.\n*Runbook:* <https://runbooks.example.com/pgbouncer#waiting>",\#
        "footer":"poolwatch test • dedup poolwatch/v1/it/PoolClientsWaiting/f0a005ea426bcd39","mrkdwn_in":["text"]}]}
        """#

    @Test func bothReceiversGetTheExactPayloads() async throws {
        let harness = try NotifierHarness()
        let notifier = try await harness.run([N.firing()]) { await NotifierHarness.settled($0) }
        #expect(await notifier.outboxState().records.allSatisfy { $0.state == .delivered })

        let pagerDuty = try #require(harness.pagerDuty.received.first)
        #expect(pagerDuty.method == "POST" && pagerDuty.path == "/v2/enqueue")
        #expect(pagerDuty.contentType == "application/json")
        #expect(pagerDuty.body == Self.pagerDutyTrigger)
        let slack = try #require(harness.slack.received.first)
        #expect(slack.path == harness.slack.path && slack.path.hasSuffix("/\(FakeReceiver.slackToken)"))
        #expect(slack.contentType == "application/json")
        #expect(slack.body == Self.slackTrigger)
        #expect(harness.pagerDuty.received.count == 1 && harness.slack.received.count == 1)

        let families = await notifier.metricFamilies()
        #expect(NotifierHarness.value(families, "poolwatch_notifier_deliveries_total", ["receiver": "oncall", "outcome": "delivered"]) == 1)
        #expect(NotifierHarness.value(families, "poolwatch_notifier_deliveries_total", ["receiver": "team", "outcome": "delivered"]) == 1)
        #expect(NotifierHarness.value(families, "poolwatch_notifier_http_responses_total", ["receiver": "oncall", "code": "202"]) == 1)
        #expect(NotifierHarness.value(families, "poolwatch_notifier_http_responses_total", ["receiver": "team", "code": "200"]) == 1)
        #expect(NotifierHarness.value(families, "poolwatch_notifier_outbox_pending", ["receiver": "oncall"]) == 0)
        #expect(NotifierHarness.value(families, "poolwatch_notifier_outbox_oldest_pending_age_seconds", ["receiver": "team"]) == 0)
        #expect((NotifierHarness.value(families, "poolwatch_notifier_last_success_timestamp_seconds", ["receiver": "oncall"]) ?? 0) > 1e9)
        #expect((NotifierHarness.value(families, "poolwatch_notifier_delivery_latency_seconds", ["receiver": "team"]) ?? -1) >= 0)
        // What /metrics got through publishMetrics.
        #expect(harness.published.withLock { $0 }.contains { $0.name == "poolwatch_notifier_deliveries_total" })
        let delivered = harness.logs.withMessage("notification delivered")
        try #require(delivered.count == 2)
        #expect(delivered.contains { $0.contains("receiver=\"pagerduty:oncall\"") && $0.contains("http_status=\"202\"") })
        harness.expectNoSecrets()
        await harness.cleanUp()
    }

    @Test func transientFailuresAreRetriedWithGrowingBackoff() async throws {
        // 500, a reset connection and a stalled response (1 s timeout), then accepted.
        let harness = try NotifierHarness(pagerDuty: [.serverError(""), .reset, .stall(3)])
        let notifier = try await harness.run([N.firing()], config: harness.config(harness.yaml(receivers: ["oncall"]))) {
            await NotifierHarness.settled($0)
        }
        #expect(await notifier.outboxState().records.first?.state == .delivered)

        let received = harness.pagerDuty.received
        try #require(received.count == 4)
        #expect(Set(received.map(\.body)) == [Self.pagerDutyTrigger])  // the same event every time
        let gaps = zip(received, received.dropFirst()).map { $0.at.seconds(to: $1.at) }
        // Backoff A with base 0.2 s: attempt n waits within [0.5, 1] × 0.2 × 2^(n-1).
        #expect(gaps[0] >= 0.09 && gaps[0] < 1)
        #expect(gaps[1] >= 0.19 && gaps[1] < 1.5)
        // The stall is cut by the 1 s request timeout, then backoff 3 (≥ 0.4 s).
        #expect(gaps[2] >= 1.3 && gaps[2] < 4)
        #expect(await notifier.outboxState().records.first?.attempts == 4)
        let failures = harness.logs.withMessage("notification delivery failed")
        try #require(failures.count == 3)
        #expect(failures[0].contains("error_class=\"server\"") && failures[0].contains("http_status=\"500\""))
        #expect(failures[1].contains("error_class=\"network\""))
        #expect(failures[2].contains("error_class=\"timeout\""))
        #expect(failures.allSatisfy { $0.contains("level=warning") && $0.contains("retry_in_ms=") })
        harness.expectNoSecrets()
        await harness.cleanUp()
    }

    @Test func slackRateLimitHonoursRetryAfterAndPausesTheReceiver() async throws {
        let harness = try NotifierHarness(slack: [.slackRateLimited(retryAfter: 2), .serverError("rollup_error")])
        // Two rules (not grouped): the 429 on the first pauses the whole receiver.
        let notifier = try await harness.run([N.firing(), N.firing(rule: "PoolSaturated")],
                                             config: harness.config(harness.yaml(receivers: ["team"]))) { await NotifierHarness.settled($0) }
        #expect(await notifier.outboxState().records.allSatisfy { $0.state == .delivered })

        let received = harness.slack.received
        try #require(received.count == 4)
        // Nothing reaches Slack until Retry-After (2 s) has passed.
        #expect(received[0].at.seconds(to: received[1].at) >= 1.95)
        #expect(received[0].at.seconds(to: received[1].at) < 4)
        let paused = try #require(harness.logs.withMessage("receiver rate limited; pausing it").first)
        #expect(paused.contains("error_class=\"rate_limited\"") && paused.contains("http_status=\"429\""))
        #expect(harness.logs.withMessage("notification delivery failed").first?.contains("HTTP 500: rollup_error") == true)
        harness.expectNoSecrets()
        await harness.cleanUp()
    }

    @Test func pagerDutyRateLimitWaitsAtLeastTheFloor() async throws {
        let harness = try NotifierHarness(pagerDuty: [.pagerDutyRateLimited(retryAfter: nil)])
        let notifier = try await harness.run([N.firing()], config: harness.config(harness.yaml(receivers: ["oncall"]))) {
            await NotifierHarness.settled($0)
        }
        let received = harness.pagerDuty.received
        try #require(received.count == 2)
        // The test policy's floor is 0.5 s (production: 30 s, doubling to 300 s).
        #expect(received[0].at.seconds(to: received[1].at) >= 0.49)
        #expect(await notifier.outboxState().records.first?.state == .delivered)
        await harness.cleanUp()
    }

    @Test func slackRejectionGetsOneMinimalResendThenIsEscalatedToPagerDuty() async throws {
        let harness = try NotifierHarness(slack: [.slackError(400, "invalid_payload"), .slackError(400, "no_text")])
        let notifier = try await harness.run([N.firing()]) { await NotifierHarness.settled($0) }

        let slack = harness.slack.received
        try #require(slack.count == 2)
        #expect(slack[0].body == Self.slackTrigger)
        #expect(slack[1].body == #"""
            {"text":":red_circle: [FIRING] Pool pgb-1/orders/app: 12 clients waiting\n*Value:* 12 (threshold 0)\n\#
            *Firing since:* 2026-03-02T10:13:30Z (for 2m)\n*Labels:* target=pgb-1, database=orders, user=app\n\#
            Clients are queueing for a server connection.\n*Runbook:* <https://runbooks.example.com/pgbouncer#waiting>"}
            """#)
        // PagerDuty: the page itself, then the escalation (once) with the notifier key.
        let pagerDuty = harness.pagerDuty.received
        try #require(pagerDuty.count == 2)
        let escalation = try #require(pagerDuty.first { $0.string("dedup_key") == "poolwatch/v1/it/notifier/team" })
        #expect(escalation.string("event_action") == "trigger")
        #expect(escalation.body.contains(#""summary":"poolwatch cannot deliver to Slack receiver team (HTTP 400: no_text): [FIRING] Pool pgb-1/orders/app: 12 clients waiting (since 2026-03-02T10:13:30Z)","source":"poolwatch:it","severity":"critical""#))
        let record = try #require(await notifier.outboxState().records.first { $0.receiver == "team" && $0.event == .trigger })
        #expect(record.state == .dead && record.attempts == 2 && record.lastStatus == 400)
        let dead = try #require(harness.logs.withMessage("notification undeliverable").first)
        #expect(dead.contains("level=error") && dead.contains("receiver=\"slack:team\""))
        #expect(harness.logs.withMessage("delivery failure escalated to another receiver").count == 1)
        let families = await notifier.metricFamilies()
        #expect(NotifierHarness.value(families, "poolwatch_notifier_deliveries_total", ["receiver": "team", "outcome": "dead"]) == 1)
        #expect(NotifierHarness.value(families, "poolwatch_notifier_escalations_total", ["receiver": "team"]) == 1)
        harness.expectNoSecrets()
        await harness.cleanUp()
    }

    @Test(arguments: [(403, "action_prohibited"), (403, "invalid_token"), (404, "no_service"), (404, "channel_not_found"),
                      (410, "channel_is_archived")])
    func permanentSlackFailuresAreDeadAtOnceAndEscalated(status: Int, word: String) async throws {
        let harness = try NotifierHarness(slackThen: .slackError(status, word))
        let notifier = try await harness.run([N.firing()]) { await NotifierHarness.settled($0) }
        #expect(harness.slack.received.count == 1)
        #expect(harness.pagerDuty.received.count == 2)
        #expect(harness.pagerDuty.received.last?.body.contains("(HTTP \(status): \(word))") == true)
        let record = try #require(await notifier.outboxState().records.first { $0.receiver == "team" })
        #expect(record.state == .dead)
        #expect(record.lastError == "HTTP \(status): \(word)")
        harness.expectNoSecrets()
        await harness.cleanUp()
    }

    @Test func pagerDutyInvalidEventIsDegradedOnceThenEscalatedToSlack() async throws {
        let error = "Description is too long (maximum is 1024 characters)"
        let harness = try NotifierHarness(pagerDutyThen: .pagerDutyInvalid([error]))
        _ = try await harness.run([N.firing()]) { await NotifierHarness.settled($0) }

        let pagerDuty = harness.pagerDuty.received
        try #require(pagerDuty.count == 2)
        #expect(pagerDuty[1].body == """
            {"routing_key":"PDR0UT1NGK3YN0tT0BeL0gged000001","event_action":"trigger","dedup_key":"\(N.key)",\
            "payload":{"summary":"[FIRING] Pool pgb-1/orders/app: 12 clients waiting","source":"pgb-1","severity":"critical"}}
            """)
        let notice = try #require(harness.slack.received.first { $0.body.contains(":warning:") })
        #expect(notice.body.hasPrefix(##"{"text":":warning: poolwatch cannot deliver to PagerDuty receiver oncall (HTTP 400: Event object is invalid; \##(error))","attachments":[{"color":"#daa038""##))
        #expect(notice.body.contains(#"*Undelivered:* [FIRING] Pool pgb-1/orders/app: 12 clients waiting (since 2026-03-02T10:13:30Z)"#))
        #expect(harness.slack.received.count == 2)
        harness.expectNoSecrets()
        await harness.cleanUp()
    }

    @Test func redirectsAreNeverFollowed() async throws {
        let elsewhere = try FakeReceiver.pagerDuty()
        let target = elsewhere.url + "?token=l3aked"
        let harness = try NotifierHarness(pagerDutyThen: .redirect(target))
        let notifier = try await harness.run([N.firing()], config: harness.config(harness.yaml(receivers: ["oncall"]))) {
            await NotifierHarness.settled($0)
        }
        #expect(harness.pagerDuty.received.count == 1)
        #expect(elsewhere.received.isEmpty)
        let record = try #require(await notifier.outboxState().records.first)
        #expect(record.lastError == "HTTP 301 (redirect to 127.0.0.1:\(URL(string: elsewhere.url)!.port!) not followed)")
        #expect(!harness.logs.text.contains("l3aked"))
        elsewhere.stop()
        await harness.cleanUp()
    }

    /// Slack's webhook URL read from a file, rotated after start-up (the notifier still holds a revoked
    /// URL, which Slack answers with 404) and left with `mode`; one warning sent and settled.
    static func slackSecretRotated(toMode mode: mode_t) async throws -> (NotifierHarness, String, Notifier) {
        let harness = try NotifierHarness(slack: [.slackError(404, "no_service")])
        let secretFile = IntegrationEnvironment.tmp + "/" + IntegrationEnvironment.uniqueName("slack-url")
        let oldURL = harness.slack.url.replacingOccurrences(of: FakeReceiver.slackToken, with: "0ldT0kenRev0ked")
        try oldURL.write(toFile: secretFile, atomically: true, encoding: .utf8)
        let config = try harness.config(harness.yaml(receivers: ["team"], slackSecret: "webhook_url_file: \(secretFile)"))
        try (harness.slack.url + "\n").write(toFile: secretFile, atomically: true, encoding: .utf8)
        chmod(secretFile, mode)
        let notifier = try await harness.run([N.firing(severity: .warning)], config: config) { await NotifierHarness.settled($0) }
        return (harness, secretFile, notifier)
    }

    @Test func aRotatedSecretFileOthersMayReadIsNotUsed() async throws {
        let (harness, secretFile, notifier) = try await Self.slackSecretRotated(toMode: 0o644)
        #expect(await notifier.outboxState().records.first?.state == .dead, "a secret file others may read is refused, as at start")
        #expect(harness.slack.received.count == 1)
        try? FileManager.default.removeItem(atPath: secretFile)
        await harness.cleanUp()
    }

    @Test func rotatedSecretFileIsReadAgainOnceAfter404() async throws {
        let (harness, secretFile, notifier) = try await Self.slackSecretRotated(toMode: 0o600)
        #expect(await notifier.outboxState().records.first?.state == .delivered)
        let oldPath = harness.slack.path.replacingOccurrences(of: FakeReceiver.slackToken, with: "0ldT0kenRev0ked")
        #expect(harness.slack.received.map(\.path) == [oldPath, harness.slack.path])
        #expect(harness.logs.withMessage("receiver refused the secret; the secret file changed, retrying with the new one").count == 1)
        #expect(!harness.logs.text.contains("0ldT0kenRev0ked"))
        harness.expectNoSecrets()
        try? FileManager.default.removeItem(atPath: secretFile)
        await harness.cleanUp()
    }

    @Test func responseBodiesQuotingTheSecretAreRedacted() async throws {
        let harness = try NotifierHarness()
        harness.slack.answer([], then: .slackError(404, "no_service for \(harness.slack.path)"))
        let notifier = try await harness.run([N.firing()], config: harness.config(harness.yaml(receivers: ["team"]))) {
            await NotifierHarness.settled($0)
        }
        #expect(await notifier.outboxState().records.first?.lastError == "HTTP 404: no_service for <redacted>")
        #expect(harness.logs.text.contains("no_service for <redacted>"))
        harness.expectNoSecrets()
        await harness.cleanUp()
    }

    @Test func manyInstancesOfOneRuleBecomeOneSlackMessage() async throws {
        let harness = try NotifierHarness()
        let storm = (0..<25).map { N.firing(labels: [Label("target", "pgb-\($0)")]) }
        let notifier = try await harness.run(storm) { await NotifierHarness.settled($0) }
        #expect(await notifier.outboxState().records.allSatisfy { $0.state == .delivered })
        // PagerDuty: one event per instance. Slack: one message for the lot.
        #expect(Set(harness.pagerDuty.received.compactMap { $0.string("dedup_key") }).count == 25)
        #expect(harness.slack.received.count == 1)
        let message = try #require(harness.slack.received.first)
        #expect(message.body.hasPrefix(#"{"text":":red_circle: [FIRING] PoolClientsWaiting: 25 firing (it)""#))
        #expect(message.body.contains(#"• [FIRING] Pool pgb-0: 12 clients waiting (since 2026-03-02T10:13:30Z)\n"#))
        #expect(message.body.contains("…and 5 more"))
        let grouped = harness.logs.withMessage("notification delivered").filter { $0.contains("grouped=\"25\"") }
        #expect(grouped.count == 1)
        await harness.cleanUp()
    }

    @Test func rateLimitSpacesMessages() async throws {
        let harness = try NotifierHarness()
        _ = try await harness.run([N.firing(rule: "A"), N.firing(rule: "B"), N.firing(rule: "C")],
                                  config: harness.config(harness.yaml(receivers: ["team"], slackRate: "2/s", slackBurst: 1))) {
            await NotifierHarness.settled($0)
        }
        let received = harness.slack.received
        // 2/s with burst 1: a token every 0.5 s. The bucket's decisions are unit-tested on an
        // injected clock (AlertingOutboxTests); here the class is "the receiver sees the spacing",
        // measured at arrival, so each bound leaves 0.2 s for a send delayed by scheduling on a
        // busy 2-core machine (CI once saw a 0.25 s gap arrive as 0.146 s).
        try #require(received.count == 3)
        #expect(received[0].at.seconds(to: received[1].at) >= 0.3)
        #expect(received[1].at.seconds(to: received[2].at) >= 0.3)
        #expect(received[0].at.seconds(to: received[2].at) >= 0.8)
        await harness.cleanUp()
    }

    @Test func testNotificationGoesStraightToTheReceiver() async throws {
        let harness = try NotifierHarness()
        let notifier = try harness.makeNotifier()
        let slack = try await notifier.testNotification(receiver: "team")
        #expect(slack.succeeded)
        #expect(slack.description.hasPrefix("slack:team message: delivered (HTTP 200: ok, "))
        #expect(harness.slack.received.first?.body
            == #"{"text":":white_check_mark: poolwatch test notification for receiver team (cluster it): Slack delivery works."}"#)
        let pagerDuty = try await notifier.testNotification(receiver: "oncall")
        #expect(pagerDuty.succeeded && pagerDuty.steps.map(\.event) == ["trigger", "resolve"])
        #expect(harness.pagerDuty.received.map { $0.string("event_action") } == ["trigger", "resolve"])
        #expect(harness.pagerDuty.received.allSatisfy { $0.string("dedup_key") == "poolwatch/v1/it/selftest" })
        #expect(harness.pagerDuty.received.allSatisfy { $0.string("routing_key") == NotifierHarness.routingKey })
        // Not through the outbox.
        #expect(await notifier.outboxState().records.isEmpty)
        await #expect(throws: NotifierError.self) { try await notifier.testNotification(receiver: "nobody") }
        harness.expectNoSecrets()
        await notifier.simulateCrash()
        await harness.cleanUp()
    }

    @Test func statusViewShowsTheOutboxWithoutSecrets() async throws {
        let harness = try NotifierHarness(pagerDutyThen: .serverError(""))
        let notifier = try harness.makeNotifier()
        let task = harness.start(notifier)
        await notifier.enqueue(N.firing())
        #expect(await harness.pagerDuty.waitFor(2))
        let status = await notifier.statusJSON()
        // The same view embedded in a Foundation-encoded document (the /alerts page) has the same keys.
        let encoded = String(decoding: try JSONEncoder().encode(await notifier.status()), as: UTF8.self)
        #expect(encoded.contains(#""dedup_key":"poolwatch\/v1\/it\/PoolClientsWaiting\/f0a005ea426bcd39""#))
        #expect(encoded.contains(#""secret":"<secret>""#))
        await harness.stop(notifier, task)
        #expect(status.contains(#""name":"oncall","type":"pagerduty","endpoint_host":"127.0.0.1","secret":"<secret>""#))
        #expect(status.contains(#""dedup_key":"poolwatch/v1/it/PoolClientsWaiting/f0a005ea426bcd39""#))
        #expect(status.contains(#""state":"pending""#) || status.contains(#""state":"in_flight""#))
        #expect(status.contains(#""last_status":500"#))
        for secret in harness.secrets { #expect(!status.contains(secret)) }
        let families = await notifier.metricFamilies()
        #expect(NotifierHarness.value(families, "poolwatch_notifier_outbox_pending", ["receiver": "oncall"]) == 1)
        #expect((NotifierHarness.value(families, "poolwatch_notifier_outbox_oldest_pending_age_seconds", ["receiver": "oncall"]) ?? 0) > 0)
        #expect(NotifierHarness.value(families, "poolwatch_notifier_attempts_total", ["receiver": "oncall", "result": "retryable"]) ?? 0 >= 2)
        harness.expectNoSecrets()
        await harness.cleanUp()
    }
}

// MARK: - Harness

/// Collects log lines in memory, rendered like the real handler (`level msg key=value …`).
final class LogCapture: Sendable {
    private let stored = Mutex<[String]>([])

    var lines: [String] { stored.withLock { $0 } }
    var text: String { lines.joined(separator: "\n") }

    func logger() -> Logger { Logger(label: "poolwatch") { _ in CapturingLogHandler(capture: self) } }

    fileprivate func append(_ line: String) { stored.withLock { $0.append(line) } }

    /// Lines whose message is `message`.
    func withMessage(_ message: String) -> [String] { lines.filter { $0.contains("msg=\"\(message)\"") } }
}

struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let fields = merged.keys.sorted().map { "\($0)=\"\(merged[$0]!)\"" }
        capture.append((["level=\(event.level.rawValue)", "msg=\"\(event.message)\""] + fields).joined(separator: " "))
    }
}

/// Alert notifications with fixed times, so payloads are exact.
enum NotifierFixtures {
    static let labels = [Label("target", "pgb-1"), Label("database", "orders"), Label("user", "app")]
    /// 2026-03-02T10:13:30Z.
    static let firedAt = 1_772_446_410.0
    static let key = "poolwatch/v1/it/PoolClientsWaiting/f0a005ea426bcd39"

    static func firing(labels: [Label] = labels, rule: String = "PoolClientsWaiting", severity: NotificationSeverity = .critical,
                       at: Double = firedAt + 120.123) -> AlertNotification {
        AlertNotification(
            kind: .trigger, alertName: rule, severity: severity, identityLabels: labels,
            summary: "Pool \(labels.map(\.value).joined(separator: "/")): 12 clients waiting",
            description: "Clients are queueing for a server connection.", runbookURL: "https://runbooks.example.com/pgbouncer#waiting",
            value: 12, threshold: 0, startsAt: firedAt, at: at)
    }

    static func resolved(labels: [Label] = labels, rule: String = "PoolClientsWaiting", after seconds: Double = 27 * 60) -> AlertNotification {
        var notification = firing(labels: labels, rule: rule)
        notification.kind = .resolve
        notification.at = firedAt + seconds
        return notification
    }
}

/// One test's world: fake Slack and PagerDuty on loopback, a fresh state directory, captured logs,
/// and the config loaded through poolwatch's real config loader.
final class NotifierHarness: Sendable {
    static let routingKey = "PDR0UT1NGK3YN0tT0BeL0gged000001"

    let slack: FakeReceiver
    let pagerDuty: FakeReceiver
    let stateDirectory: String
    let logs = LogCapture()
    let pool = BlockingExecutor(threads: 3)
    let published = Mutex<[MetricFamily]>([])

    /// Test timing: the production rules scaled down about tenfold.
    static var policy: NotifierPolicy {
        var policy = NotifierPolicy()
        policy.transientBase = 0.2
        policy.transientCap = 1
        policy.tlsFloor = 1
        policy.slackRateLimitDefault = 1
        policy.rateLimitJitter = 0.1
        policy.pagerDutyRateLimitFloor = 0.5
        policy.slackGroupWait = 0.05
        policy.shutdownGrace = 2
        return policy
    }

    init(slack slackAnswers: [FakeReceiver.Answer] = [], slackThen: FakeReceiver.Answer = .slackOK,
         pagerDuty pagerDutyAnswers: [FakeReceiver.Answer] = [], pagerDutyThen: FakeReceiver.Answer = .pagerDutyAccepted) throws {
        slack = try .slack(slackAnswers, then: slackThen)
        pagerDuty = try .pagerDuty(pagerDutyAnswers, then: pagerDutyThen)
        stateDirectory = IntegrationEnvironment.tmp + "/" + IntegrationEnvironment.uniqueName("notifier") + "/state"
    }

    /// The `alerting:` and `receivers:` sections for the fake receivers.
    func yaml(receivers: [String] = ["oncall", "team"], pagerDutyTimeout: String = "1s", slackRate: String = "50/s", slackBurst: Int = 50,
              slackSecret: String = "webhook_url_env: SLACK_URL") -> String {
        var lines = ["alerting:", "  cluster_id: it", "  state_dir: \(stateDirectory)", "  outbox_max_records: 100", "receivers:"]
        if receivers.contains("oncall") {
            lines.append("  - {name: oncall, type: pagerduty, routing_key_env: PD_KEY, url: \"\(pagerDuty.url)\", timeout: \(pagerDutyTimeout), "
                         + "rate_limit: 50/s, rate_burst: 50}")
        }
        if receivers.contains("team") {
            lines.append("  - {name: team, type: slack, \(slackSecret), timeout: 1s, rate_limit: \(slackRate), rate_burst: \(slackBurst)}")
        }
        return lines.joined(separator: "\n")
    }

    func config(_ yaml: String? = nil) throws -> AlertingConfig {
        let loader = ConfigLoader(environment: ["PD_KEY": Self.routingKey, "SLACK_URL": slack.url], readFile: { path in
            try String(contentsOfFile: path, encoding: .utf8)
        })
        return try loader.load(yaml: yaml ?? self.yaml()).alerting
    }

    func makeNotifier(_ config: AlertingConfig? = nil, policy: NotifierPolicy = NotifierHarness.policy) throws -> Notifier {
        try Notifier(config: config ?? self.config(), version: "test", executor: pool, logger: logs.logger(), policy: policy,
                     directory: nil, clock: WallClock.now, random: { Double.random(in: 0..<1) },
                     publishMetrics: { [self] families in self.published.withLock { $0 = families } }, wiring: NotifierCrash().wiring)
    }

    /// Makes a notifier (from `config`, default: both receivers), runs it, enqueues `notifications`,
    /// waits until `done` holds (at most 15 s) and stops it.
    func run(_ notifications: [AlertNotification], config: AlertingConfig? = nil,
             until done: @escaping @Sendable (Notifier) async -> Bool,
             sourceLocation: SourceLocation = #_sourceLocation) async throws -> Notifier {
        let notifier = try makeNotifier(config)
        let task = start(notifier)
        await notifier.enqueue(notifications)
        #expect(await eventually(15) { await done(notifier) }, sourceLocation: sourceLocation)
        await stop(notifier, task)
        return notifier
    }

    /// True once every record of `notifier` is finished (delivered, dead, …).
    static func settled(_ notifier: Notifier) async -> Bool {
        await notifier.outboxState().records.allSatisfy { !$0.state.isOpen }
    }

    /// Runs `notifier` in a task; stop it with ``stop(_:_:)``.
    func start(_ notifier: Notifier) -> Task<Void, Never> {
        let task = Task { _ = try? await notifier.run() }
        notifier.crash.running(task)
        return task
    }

    func stop(_ notifier: Notifier, _ task: Task<Void, Never>) async {
        await notifier.shutdown()
        await task.value
    }

    /// Every file under the state directory (outbox, temp, corrupt copies, lock).
    func stateFiles() -> [String] {
        let root = (stateDirectory as NSString).deletingLastPathComponent
        guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
        return enumerator.compactMap { $0 as? String }.map { root + "/" + $0 }.filter {
            var isDirectory: ObjCBool = false
            return FileManager.default.fileExists(atPath: $0, isDirectory: &isDirectory) && !isDirectory.boolValue
        }
    }

    var secrets: [String] { [Self.routingKey, FakeReceiver.slackToken, slack.url, String(slack.path)] }

    /// Scans every state file and every captured log line for the secret values.
    func expectNoSecrets(sourceLocation: SourceLocation = #_sourceLocation) {
        let files = stateFiles()
        #expect(!files.isEmpty, sourceLocation: sourceLocation)
        for path in files {
            let content = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
            for secret in secrets {
                #expect(!content.contains(secret), "state file \(path) contains a secret", sourceLocation: sourceLocation)
            }
        }
        for line in logs.lines {
            for secret in secrets {
                #expect(!line.contains(secret), "log line contains a secret: \(line)", sourceLocation: sourceLocation)
            }
        }
    }

    func cleanUp() async {
        slack.stop()
        pagerDuty.stop()
        await pool.shutdown()
        try? FileManager.default.removeItem(atPath: (stateDirectory as NSString).deletingLastPathComponent)
    }

    /// The value of one sample in `families`.
    static func value(_ families: [MetricFamily], _ name: String, _ labels: [String: String] = [:]) -> Double? {
        families.first { $0.name == name }?.samples.first { sample in labels.allSatisfy { sample.label($0.key) == $0.value } }?.value
    }
}

extension ContinuousClock.Instant {
    /// Seconds from `self` to `later`.
    func seconds(to later: ContinuousClock.Instant) -> Double {
        let (seconds, attoseconds) = (later - self).components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
