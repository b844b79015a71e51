/// What every payload needs besides the notification itself.
public struct PayloadContext: Sendable, Equatable {
    public var clusterID: String
    /// PagerDuty's `client_url` (this poolwatch's alert page), when configured.
    public var clientURL: String?
    /// poolwatch's version, shown in Slack footers.
    public var version: String

    public init(clusterID: String, clientURL: String? = nil, version: String) {
        self.clusterID = clusterID
        self.clientURL = clientURL
        self.version = version
    }
}

/// PagerDuty Events API v2 bodies (docs/alert-delivery.md §1 and §9), **without** `routing_key`: bodies
/// are stored in the outbox, and the key is injected only at send time by ``withRoutingKey(_:routingKey:)``.
public enum PagerDutyPayload {
    /// PagerDuty refuses a longer `payload.summary` with 400.
    public static let summaryLimit = 1024
    /// `custom_details` larger than this is replaced by a reduced set.
    public static let customDetailsLimit = 16 * 1024
    static let descriptionLimit = 4000
    static let labelValueLimit = 512
    /// Top holders in a page: enough to name the culprit, small beside the 16 KB limit.
    static let holderLimit = 5
    static let holderLength = 400

    /// A trigger or resolve for one alert instance.
    public static func event(_ notification: AlertNotification, dedupKey: String, context: PayloadContext) -> OrderedJSON {
        .fields([
            "event_action": .string(notification.kind.rawValue),
            "dedup_key": .string(dedupKey),
            "client": .string("poolwatch"),
            "client_url": .optionalString(context.clientURL),
            "payload": .fields([
                "summary": .string(summary(notification)),
                "source": .string(notification.source(clusterID: context.clusterID)),
                "severity": .string(notification.severity.rawValue),
                "timestamp": .string(AlertText.rfc3339(notification.startsAt)),
                "group": .string(context.clusterID),
                "class": .string(notification.alertName),
                "custom_details": customDetails(notification, context: context),
            ]),
            "links": notification.runbookURL.map { .array([.fields(["href": .string($0), "text": .string("Runbook")])]) },
        ])
    }

    /// The minimal body resent once after a 400: the required fields only.
    public static func degraded(_ notification: AlertNotification, dedupKey: String, context: PayloadContext) -> OrderedJSON {
        guard notification.kind == .trigger else {
            return .fields(["event_action": .string("resolve"), "dedup_key": .string(dedupKey)])
        }
        return .fields([
            "event_action": .string("trigger"),
            "dedup_key": .string(dedupKey),
            "payload": .fields([
                "summary": .string(summary(notification)),
                "source": .string(notification.source(clusterID: context.clusterID)),
                "severity": .string(notification.severity.rawValue),
            ]),
        ])
    }

    /// An event poolwatch raises about itself: a delivery failure escalated from another receiver, or
    /// a self-test.
    public static func notice(
        action: AlertNotification.Kind, dedupKey: String, summary: String, severity: NotificationSeverity, at: Double,
        details: OrderedJSON?, context: PayloadContext
    ) -> OrderedJSON {
        .fields([
            "event_action": .string(action.rawValue),
            "dedup_key": .string(dedupKey),
            "client": .string("poolwatch"),
            "client_url": .optionalString(context.clientURL),
            "payload": .fields([
                "summary": .string(AlertText.truncate(AlertText.singleLine(summary), to: summaryLimit)),
                "source": .string("poolwatch:\(context.clusterID)"),
                "severity": .string(severity.rawValue),
                "timestamp": .string(AlertText.rfc3339(at)),
                "group": .string(context.clusterID),
                "class": .string("poolwatch_notifier"),
                "custom_details": details,
            ]),
        ])
    }

    /// `[FIRING] <summary>` / `[RESOLVED] <summary>`, one line, at most 1024 characters.
    static func summary(_ notification: AlertNotification) -> String {
        let word = notification.kind == .trigger ? "[FIRING]" : "[RESOLVED]"
        return AlertText.truncate(AlertText.singleLine("\(word) \(notification.headline)"), to: summaryLimit)
    }

    static func customDetails(_ notification: AlertNotification, context: PayloadContext) -> OrderedJSON {
        let labels = OrderedJSON.object(notification.identityLabels.map {
            .init($0.name, .string(AlertText.truncate($0.value, to: labelValueLimit)))
        })
        let description = notification.description.trimmingSpaces()
        let full = OrderedJSON.fields([
            "rule": .string(notification.alertName),
            "value": .number(notification.value),
            "threshold": notification.threshold.map { .number($0) },
            "firing_since": .string(AlertText.rfc3339(notification.startsAt)),
            "resolved_at": notification.kind == .resolve ? .string(AlertText.rfc3339(notification.at)) : nil,
            "resolve_reason": .optionalString(notification.kind == .resolve ? notification.resolveReason : nil),
            "labels": labels,
            "holders": notification.holders.isEmpty ? nil
                : .array(notification.holders.prefix(holderLimit).map { .string(AlertText.truncate($0, to: holderLength)) }),
            "description": description.isEmpty ? nil : .string(AlertText.truncate(description, to: descriptionLimit)),
            "runbook_url": .optionalString(notification.runbookURL),
            "cluster_id": .string(context.clusterID),
        ])
        guard full.text.utf8.count > customDetailsLimit else { return full }
        return .fields([
            "rule": .string(notification.alertName),
            "value": .number(notification.value),
            "threshold": notification.threshold.map { .number($0) },
            "firing_since": .string(AlertText.rfc3339(notification.startsAt)),
            "runbook_url": .optionalString(notification.runbookURL.map { AlertText.truncate($0, to: 2048) }),
            "note": .string("labels and description removed: custom details exceeded 16 KB"),
        ])
    }

    /// The body to POST: `body` (a JSON object stored without secrets) with `"routing_key"` as its
    /// first member.
    public static func withRoutingKey(_ body: String, routingKey: String) -> [UInt8] {
        var text = "{\"routing_key\":" + OrderedJSON.quoted(routingKey)
        let rest = body.drop { $0 == " " }.dropFirst()  // after "{"
        text += rest.first == "}" ? "" : ","
        text += rest
        return Array(text.utf8)
    }
}
