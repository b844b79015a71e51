import Testing

@testable import PoolWatchCore

/// Shared fixtures for the alerting tests: one firing pool alert and its resolve.
enum AlertingFixtures {
    static let context = PayloadContext(clusterID: "prod-eu1", clientURL: "https://poolwatch.example.net/alerts", version: "1.2.3")
    static let labels = [Label("target", "pgb-1"), Label("database", "orders"), Label("user", "app")]
    /// 2026-03-02T10:13:30Z and 10:15:30.123Z.
    static let firedAt = 1_772_446_410.0
    static let key = "poolwatch/v1/prod-eu1/PoolClientsWaiting/f0a005ea426bcd39"

    static func firing(labels: [Label] = labels, rule: String = "PoolClientsWaiting", severity: NotificationSeverity = .critical,
                       summary: String = "Pool orders/app on pgb-1: 12 clients waiting", at: Double = firedAt + 120.123)
        -> AlertNotification
    {
        AlertNotification(
            kind: .trigger, alertName: rule, severity: severity, identityLabels: labels, summary: summary,
            description: "Clients are queueing for a server connection.", runbookURL: "https://runbooks.example.com/pgbouncer#waiting",
            value: 12, threshold: 0, startsAt: firedAt, at: at)
    }

    static func resolved(labels: [Label] = labels, rule: String = "PoolClientsWaiting", severity: NotificationSeverity = .critical,
                         after seconds: Double = 27 * 60) -> AlertNotification
    {
        var notification = firing(labels: labels, rule: rule, severity: severity)
        notification.kind = .resolve
        notification.at = firedAt + seconds
        return notification
    }
}

@Suite struct AlertingPayloadTests {
    typealias F = AlertingFixtures

    /// The value at `keys` (object members) in the JSON text `json`.
    func member(_ json: String, _ keys: String...) throws -> JSONValue? {
        var value: JSONValue? = try JSONValue.parse(json)
        for key in keys {
            guard case let .object(members)? = value else { return nil }
            value = members[key]
        }
        return value
    }

    @Test func sha256KnownVectors() {
        #expect(Sha256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Sha256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        // Alertmanager's dedup_key for the group key of docs/alert-delivery.md §3 (item 1).
        #expect(Sha256.hex(#"{}/{severity="critical"}:{alertname="PgBouncerPoolSaturated"}"#)
            == "7641e125e766b5ff10f742d5301e7c3fc0e8d88696326116567c896b4de00671")
        // Padding edges (55, 56, 64 bytes) and a multi-block message.
        #expect(Sha256.hex(String(repeating: "x", count: 55)) == "d5e285683cd4efc02d021a5c62014694958901005d6f71e89e0989fac77e4072")
        #expect(Sha256.hex(String(repeating: "x", count: 56)) == "04c26261370ee7541549d16dee320c723e3fd14671e66a099afe0a377c16888e")
        #expect(Sha256.hex(String(repeating: "x", count: 64)) == "7ce100971f64e7001e8fe5a51973ecdfe1ced42befe7ee8d5fd6219506b5393c")
        #expect(Sha256.hex(String(repeating: "a", count: 1000)) == "41edece42d63e8d9bf515a9ba6932e1c20cbc9f5a5d134645adb5db1b9737ea3")
    }

    @Test func rfc3339Timestamps() {
        #expect(AlertText.rfc3339(1_772_446_530.123) == "2026-03-02T10:15:30.123Z")
        #expect(AlertText.rfc3339(1_772_446_530.123, milliseconds: false) == "2026-03-02T10:15:30Z")
        #expect(AlertText.rfc3339(0) == "1970-01-01T00:00:00.000Z")
        #expect(AlertText.rfc3339(1_709_164_800.5) == "2024-02-29T00:00:00.500Z")
        #expect(AlertText.rfc3339(951_782_400) == "2000-02-29T00:00:00.000Z")
        #expect(AlertText.rfc3339(4_102_444_800) == "2100-01-01T00:00:00.000Z")
        #expect(AlertText.rfc3339(-1.5) == "1969-12-31T23:59:58.500Z")
    }

    @Test func humanNumbersAndDurations() {
        #expect(AlertText.number(12) == "12")
        #expect(AlertText.number(0.853333) == "0.8533")
        #expect(AlertText.number(-3.5) == "-3.5")
        #expect(AlertText.number(.nan) == "NaN")
        #expect(AlertText.duration(27 * 60) == "27m")
        #expect(AlertText.duration(3900) == "1h5m")
        #expect(AlertText.duration(-5) == "0s")
    }

    @Test func jsonStringsAreEscaped() {
        let text = OrderedJSON.fields([
            "s": .string("quote \" backslash \\ nl \n tab \t nul \u{0} del \u{7F} ls \u{2028} é 😀"),
            "n": .number(12), "f": .number(0.25), "nan": .number(.nan), "i": .int(-3), "b": .bool(false), "z": nil,
            "a": .array([.null]),
        ]).text
        #expect(text == #"{"s":"quote \" backslash \\ nl \n tab \t nul \u0000 del \u007f ls \u2028 é 😀","n":12,"f":0.25,"nan":null,"i":-3,"b":false,"a":[null]}"#)
        // What we write, the core's strict parser reads back.
        let parsed = try? JSONValue.parse(text)
        guard case let .object(members)? = parsed else {
            Issue.record("not parsed back")
            return
        }
        #expect(members["s"] == .string("quote \" backslash \\ nl \n tab \t nul \u{0} del \u{7F} ls \u{2028} é 😀"))
    }

    @Test func dedupKeyIsStableAndOrderIndependent() {
        let key = DedupKey.instance(clusterID: "prod-eu1", rule: "PoolClientsWaiting", identityLabels: F.labels)
        #expect(key == F.key)
        // Two replicas with the same cluster_id compute the same key; label order does not matter.
        #expect(DedupKey.instance(clusterID: "prod-eu1", rule: "PoolClientsWaiting", identityLabels: F.labels.reversed()) == key)
        // Rule, cluster and any identity label change it.
        #expect(DedupKey.instance(clusterID: "prod-eu2", rule: "PoolClientsWaiting", identityLabels: F.labels) != key)
        #expect(DedupKey.instance(clusterID: "prod-eu1", rule: "PoolSaturated", identityLabels: F.labels) != key)
        #expect(DedupKey.instance(clusterID: "prod-eu1", rule: "PoolClientsWaiting",
                                  identityLabels: [Label("target", "pgb-2")] + F.labels.dropFirst()) != key)
        // Values matter, an empty identity is stable. (The canonical form of docs/alert-delivery.md §5
        // joins `name=value` pairs with NUL, which PostgreSQL and PgBouncer names cannot contain.)
        #expect(DedupKey.labelHash([Label("a", "b")]) != DedupKey.labelHash([Label("a", "c")]))
        #expect(DedupKey.labelHash([]) == String(Sha256.hex("").prefix(16)))
    }

    @Test func dedupKeyIsSanitizedAndBounded() {
        let long = String(repeating: "x", count: 500)
        let key = DedupKey.instance(clusterID: "prod eu/1" + long, rule: "rule/ä" + long, identityLabels: [Label("t", long)])
        #expect(key.count <= 255)
        #expect(key.hasPrefix("poolwatch/v1/prod_eu_1xx"))
        #expect(key.split(separator: "/").count == 5)
        #expect(DedupKey.notifierFailure(clusterID: "prod-eu1", receiver: "team") == "poolwatch/v1/prod-eu1/notifier/team")
        #expect(DedupKey.selfTest(clusterID: "prod-eu1") == "poolwatch/v1/prod-eu1/selftest")
    }

    @Test func pagerDutyTriggerExactJSON() {
        let body = PagerDutyPayload.event(F.firing(), dedupKey: F.key, context: F.context).text
        #expect(body == """
            {"event_action":"trigger","dedup_key":"poolwatch/v1/prod-eu1/PoolClientsWaiting/f0a005ea426bcd39","client":"poolwatch",\
            "client_url":"https://poolwatch.example.net/alerts","payload":{"summary":"[FIRING] Pool orders/app on pgb-1: 12 clients waiting",\
            "source":"pgb-1","severity":"critical","timestamp":"2026-03-02T10:13:30.000Z","group":"prod-eu1","class":"PoolClientsWaiting",\
            "custom_details":{"rule":"PoolClientsWaiting","value":12,"threshold":0,"firing_since":"2026-03-02T10:13:30.000Z",\
            "labels":{"target":"pgb-1","database":"orders","user":"app"},"description":"Clients are queueing for a server connection.",\
            "runbook_url":"https://runbooks.example.com/pgbouncer#waiting","cluster_id":"prod-eu1"}},\
            "links":[{"href":"https://runbooks.example.com/pgbouncer#waiting","text":"Runbook"}]}
            """)
    }

    @Test func pagerDutyResolveExactJSON() {
        let body = PagerDutyPayload.event(F.resolved(), dedupKey: F.key, context: F.context).text
        #expect(body == """
            {"event_action":"resolve","dedup_key":"poolwatch/v1/prod-eu1/PoolClientsWaiting/f0a005ea426bcd39","client":"poolwatch",\
            "client_url":"https://poolwatch.example.net/alerts","payload":{"summary":"[RESOLVED] Pool orders/app on pgb-1: 12 clients waiting",\
            "source":"pgb-1","severity":"critical","timestamp":"2026-03-02T10:13:30.000Z","group":"prod-eu1","class":"PoolClientsWaiting",\
            "custom_details":{"rule":"PoolClientsWaiting","value":12,"threshold":0,"firing_since":"2026-03-02T10:13:30.000Z",\
            "resolved_at":"2026-03-02T10:40:30.000Z","labels":{"target":"pgb-1","database":"orders","user":"app"},\
            "description":"Clients are queueing for a server connection.","runbook_url":"https://runbooks.example.com/pgbouncer#waiting",\
            "cluster_id":"prod-eu1"}},"links":[{"href":"https://runbooks.example.com/pgbouncer#waiting","text":"Runbook"}]}
            """)
    }

    @Test func holdersAreInBothPayloadsOfATriggerAndBounded() throws {
        var notification = F.firing()
        notification.holders = ["idle in transaction for 6m12s: leaky-orders from 10.0.0.7:53012, backend pid 48211, since 03:12:40 UTC"]
            + (1...9).map { "running for \($0) s: api from 10.0.0.9:400\($0), backend pid 500\($0)" }
        let page = PagerDutyPayload.event(notification, dedupKey: F.key, context: F.context).text
        guard case let .array(holders)? = try member(page, "payload", "custom_details", "holders") else {
            Issue.record("no holders in \(page)")
            return
        }
        #expect(holders.count == 5, "at most five holders")
        #expect(holders.first == .string(notification.holders[0]))
        let slack = SlackPayload.message(notification, dedupKey: F.key, context: F.context).text
        #expect(slack.contains("*Held by:*") && slack.contains("leaky-orders from 10.0.0.7:53012, backend pid 48211"))
        #expect(!SlackPayload.message(F.resolved(), dedupKey: F.key, context: F.context).text.contains("Held by"))
        #expect(try member(PagerDutyPayload.event(F.firing(), dedupKey: F.key, context: F.context).text,
                           "payload", "custom_details", "holders") == nil, "no holders, no member")
    }

    @Test func pagerDutyDegradedKeepsRequiredFieldsOnly() {
        #expect(PagerDutyPayload.degraded(F.firing(), dedupKey: F.key, context: F.context).text == """
            {"event_action":"trigger","dedup_key":"\(F.key)","payload":{"summary":"[FIRING] Pool orders/app on pgb-1: 12 clients waiting",\
            "source":"pgb-1","severity":"critical"}}
            """)
        #expect(PagerDutyPayload.degraded(F.resolved(), dedupKey: F.key, context: F.context).text
            == #"{"event_action":"resolve","dedup_key":"\#(F.key)"}"#)
    }

    @Test func routingKeyIsInjectedFirst() {
        let body = PagerDutyPayload.degraded(F.resolved(), dedupKey: F.key, context: F.context).text
        let sent = String(decoding: PagerDutyPayload.withRoutingKey(body, routingKey: "R0UT1NG\"KEY"), as: UTF8.self)
        #expect(sent == #"{"routing_key":"R0UT1NG\"KEY","event_action":"resolve","dedup_key":"\#(F.key)"}"#)
        #expect(String(decoding: PagerDutyPayload.withRoutingKey("{}", routingKey: "k"), as: UTF8.self) == #"{"routing_key":"k"}"#)
    }

    @Test func pagerDutySummaryIsCappedAt1024Characters() throws {
        let long = String(repeating: "é", count: 3000)
        let body = PagerDutyPayload.event(F.firing(summary: long), dedupKey: F.key, context: F.context).text
        guard case let .string(summary)? = try member(body, "payload", "summary") else {
            Issue.record("no summary")
            return
        }
        #expect(summary.unicodeScalars.count == 1024)
        #expect(summary.hasPrefix("[FIRING] éé"))
        #expect(summary.hasSuffix("é…"))
    }

    @Test func oversizedCustomDetailsAreReduced() throws {
        var notification = F.firing(labels: (0..<60).map { Label("l\($0)", String(repeating: "v", count: 600)) })
        notification.description = String(repeating: "d", count: 5000)
        let body = PagerDutyPayload.event(notification, dedupKey: F.key, context: F.context).text
        guard case let .object(details)? = try member(body, "payload", "custom_details") else {
            Issue.record("no custom_details")
            return
        }
        #expect(details["labels"] == nil)
        #expect(details["value"] == .number(12))
        #expect(details["note"] != nil)
        #expect(body.utf8.count < 64 * 1024)
    }

    @Test func pagerDutySourceFallsBack() {
        #expect(F.firing(labels: [Label("instance", "pgb-9:6432")]).source(clusterID: "c") == "pgb-9:6432")
        #expect(F.firing(labels: [Label("database", "orders")]).source(clusterID: "c") == "orders")
        #expect(F.firing(labels: []).source(clusterID: "c") == "poolwatch:c")
    }

    @Test func slackTriggerExactJSON() {
        let body = SlackPayload.message(F.firing(), dedupKey: F.key, context: F.context).text
        #expect(body == #"""
            {"text":":red_circle: [FIRING] Pool orders/app on pgb-1: 12 clients waiting","attachments":[{"color":"#d63232",\#
            "fallback":"[FIRING] Pool orders/app on pgb-1: 12 clients waiting","title":"PoolClientsWaiting (critical, prod-eu1)",\#
            "title_link":"https://runbooks.example.com/pgbouncer#waiting","text":"*Value:* 12 (threshold 0)\n\#
            *Firing since:* 2026-03-02T10:13:30Z (for 2m)\n*Labels:* target=pgb-1, database=orders, user=app\n\#
            Clients are queueing for a server connection.\n*Runbook:* <https://runbooks.example.com/pgbouncer#waiting>",\#
            "footer":"poolwatch 1.2.3 • dedup poolwatch/v1/prod-eu1/PoolClientsWaiting/f0a005ea426bcd39","mrkdwn_in":["text"]}]}
            """#)
        #expect(!body.contains("\"channel\""))
    }

    @Test func slackResolveExactJSON() {
        let body = SlackPayload.message(F.resolved(), dedupKey: F.key, context: F.context).text
        #expect(body == #"""
            {"text":":large_green_circle: [RESOLVED] Pool orders/app on pgb-1: 12 clients waiting after 27m","attachments":[{\#
            "color":"#2eb886","fallback":"[RESOLVED] Pool orders/app on pgb-1: 12 clients waiting after 27m",\#
            "title":"PoolClientsWaiting (critical, prod-eu1)","title_link":"https://runbooks.example.com/pgbouncer#waiting",\#
            "text":"*Value:* 12 (threshold 0)\n*Fired:* 2026-03-02T10:13:30Z, *resolved:* 2026-03-02T10:40:30Z\n\#
            *Labels:* target=pgb-1, database=orders, user=app\nClients are queueing for a server connection.\n\#
            *Runbook:* <https://runbooks.example.com/pgbouncer#waiting>",\#
            "footer":"poolwatch 1.2.3 • dedup poolwatch/v1/prod-eu1/PoolClientsWaiting/f0a005ea426bcd39","mrkdwn_in":["text"]}]}
            """#)
    }

    @Test func slackDelayedResolveSaysBothTimes() {
        let body = SlackPayload.message(F.resolved(), dedupKey: F.key, context: F.context, delayed: true).text
        #expect(body.hasPrefix(#"{"text":":large_green_circle: [RESOLVED] Pool orders/app on pgb-1: 12 clients waiting — fired at 2026-03-02T10:13:30Z, resolved at 2026-03-02T10:40:30Z (delivery was delayed)""#))
    }

    @Test func slackEscapesMrkdwnInLabelsAndSummary() {
        let notification = F.firing(labels: [Label("target", "a<b>&c")], summary: "<!channel> & friends")
        let body = SlackPayload.message(notification, dedupKey: F.key, context: F.context).text
        #expect(body.contains(#"[FIRING] &lt;!channel&gt; &amp; friends""#))
        #expect(body.contains("*Labels:* target=a&lt;b&gt;&amp;c"))
        #expect(!body.contains("<!channel>"))
        // PagerDuty gets the raw values (JSON needs no HTML escaping).
        let pagerDuty = PagerDutyPayload.event(notification, dedupKey: F.key, context: F.context).text
        #expect(pagerDuty.contains(#""target":"a<b>&c""#))
    }

    @Test func slackStaysWithinLengthLimits() throws {
        var notification = F.firing(labels: (0..<40).map { Label("label\($0)", String(repeating: "<", count: 300)) },
                                    summary: String(repeating: "s", count: 9000))
        notification.description = String(repeating: "&", count: 9000)
        let body = SlackPayload.message(notification, dedupKey: F.key, context: F.context).text
        guard case let .object(top) = try JSONValue.parse(body), case let .string(text)? = top["text"],
              case let .array(attachments)? = top["attachments"], case let .object(attachment)? = attachments.first else {
            Issue.record("unexpected shape")
            return
        }
        var total = text.count
        for key in ["fallback", "title", "text", "footer"] {
            if case let .string(value)? = attachment[key] { total += value.count }
        }
        #expect(text.count <= 3000)
        #expect(total <= 4000)
        let degraded = SlackPayload.degraded(notification).text
        guard case let .object(members) = try JSONValue.parse(degraded), case let .string(degradedText)? = members["text"] else {
            Issue.record("unexpected degraded shape")
            return
        }
        #expect(members.count == 1)
        #expect(degradedText.count <= 3000)
    }

    @Test func slackDegradedIsTextOnlyWithTheFacts() {
        #expect(SlackPayload.degraded(F.firing()).text == #"""
            {"text":":red_circle: [FIRING] Pool orders/app on pgb-1: 12 clients waiting\n*Value:* 12 (threshold 0)\n\#
            *Firing since:* 2026-03-02T10:13:30Z (for 2m)\n*Labels:* target=pgb-1, database=orders, user=app\n\#
            Clients are queueing for a server connection.\n*Runbook:* <https://runbooks.example.com/pgbouncer#waiting>"}
            """#)
    }

    @Test func slackGroupedMessageListsTwentyThenCounts() {
        let entries = (0..<25).map { SlackPayload.GroupEntry(firing: $0 != 3, line: "[FIRING] pool p\($0) <x>") }
        let body = SlackPayload.grouped(rule: "PoolClientsWaiting", entries: entries, context: F.context, degraded: false).text
        #expect(body.hasPrefix(##"{"text":":red_circle: [FIRING] PoolClientsWaiting: 24 firing, 1 resolved (prod-eu1)","attachments":[{"color":"#d63232""##))
        #expect(body.contains(#"• [FIRING] pool p0 &lt;x&gt;\n"#))
        #expect(body.contains(#"• [FIRING] pool p19 &lt;x&gt;\n…and 5 more""#))
        #expect(!body.contains("p20"))
        let degraded = SlackPayload.grouped(rule: "R", entries: Array(entries.prefix(4)), context: F.context, degraded: true).text
        #expect(degraded == #"{"text":":red_circle: [FIRING] R: 3 firing, 1 resolved (prod-eu1)\n• [FIRING] pool p0 &lt;x&gt;\n• [FIRING] pool p1 &lt;x&gt;\n• [FIRING] pool p2 &lt;x&gt;\n• [FIRING] pool p3 &lt;x&gt;"}"#)
    }

    @Test func recordLineIsPlainAndOneLine() {
        #expect(SlackPayload.line(F.firing(summary: "a\nb <c>")) == "[FIRING] a b <c> (since 2026-03-02T10:13:30Z)")
        #expect(SlackPayload.line(F.resolved()) == "[RESOLVED] Pool orders/app on pgb-1: 12 clients waiting (after 27m)")
        var unnamed = F.firing(summary: "  ")
        unnamed.identityLabels = [Label("target", "pgb-1")]
        #expect(SlackPayload.line(unnamed) == "[FIRING] PoolClientsWaiting on target=pgb-1 (since 2026-03-02T10:13:30Z)")
    }
}
