/// Slack incoming-webhook bodies (docs/alert-delivery.md §2 and §9): a concise top-level `text` plus one
/// legacy attachment for the coloured bar. No `channel` (app webhooks are bound to one channel).
///
/// Every text that came from labels, summaries or descriptions is mrkdwn-escaped (`&`, `<`, `>`), and
/// every part is capped so the whole message stays under Slack's advised 4,000 characters.
public enum SlackPayload {
    public static let firingColor = "#d63232"
    public static let resolvedColor = "#2eb886"
    public static let noticeColor = "#daa038"

    static let textLimit = 1000
    static let fallbackLimit = 500
    static let titleLimit = 200
    static let attachmentTextLimit = 2000
    static let footerLimit = 250
    /// The degraded (text-only) resend after a 400.
    static let degradedLimit = 3000
    /// A grouped message lists at most this many instances, then "…and N more".
    public static let groupListLimit = 20
    static let lineLimit = 90

    /// The message for one alert instance. `delayed` marks a resolve that replaced its own undelivered
    /// trigger: the message then says when it fired and when it resolved.
    public static func message(_ notification: AlertNotification, dedupKey: String, context: PayloadContext, delayed: Bool = false)
        -> OrderedJSON
    {
        let headline = headline(notification, delayed: delayed)
        return .fields([
            "text": .string(AlertText.truncate("\(emoji(notification)) \(headline)", to: textLimit)),
            "attachments": .array([.fields([
                "color": .string(notification.kind == .trigger ? firingColor : resolvedColor),
                "fallback": .string(AlertText.truncate(headline, to: fallbackLimit)),
                "title": .string(AlertText.truncate(
                    "\(escape(notification.alertName)) (\(notification.severity.rawValue), \(escape(context.clusterID)))", to: titleLimit)),
                "title_link": .optionalString(notification.runbookURL),
                "text": .string(AlertText.truncate(detailLines(notification).joined(separator: "\n"), to: attachmentTextLimit)),
                "footer": .string(AlertText.truncate("poolwatch \(context.version) • dedup \(dedupKey)", to: footerLimit)),
                "mrkdwn_in": .array([.string("text")]),
            ])]),
        ])
    }

    /// The text-only body resent once after a 400, still saying where, how bad, since when and the
    /// runbook.
    public static func degraded(_ notification: AlertNotification, delayed: Bool = false) -> OrderedJSON {
        let text = ([ "\(emoji(notification)) \(headline(notification, delayed: delayed))"] + detailLines(notification))
            .joined(separator: "\n")
        return .fields(["text": .string(AlertText.truncate(text, to: degradedLimit))])
    }

    /// One plain line per instance (outbox records keep it for grouped messages, escalations and the
    /// status page): `[FIRING] <summary> (since …)`. Not escaped; ``grouped(rule:entries:context:degraded:)`` escapes.
    public static func line(_ notification: AlertNotification) -> String {
        let word = notification.kind == .trigger ? "[FIRING]" : "[RESOLVED]"
        let when = notification.kind == .trigger
            ? "since \(AlertText.rfc3339(notification.startsAt, milliseconds: false))"
            : "after \(AlertText.duration(notification.at - notification.startsAt))"
        let summary = AlertText.truncate(AlertText.singleLine(notification.headline), to: lineLimit)
        return "\(word) \(summary) (\(when))"
    }

    /// One entry of a grouped message.
    public struct GroupEntry: Sendable, Equatable {
        public var firing: Bool
        /// Plain text (see ``line(_:)``); escaped when the message is built.
        public var line: String
        public init(firing: Bool, line: String) {
            self.firing = firing
            self.line = line
        }
    }

    /// Storm control: many instances of one rule pending at once become one message.
    public static func grouped(rule: String, entries: [GroupEntry], context: PayloadContext, degraded: Bool) -> OrderedJSON {
        let firing = entries.filter(\.firing).count
        let resolved = entries.count - firing
        let counts = [firing > 0 ? "\(firing) firing" : nil, resolved > 0 ? "\(resolved) resolved" : nil].compactMap { $0 }
            .joined(separator: ", ")
        let emoji = firing > 0 ? ":red_circle:" : ":large_green_circle:"
        let headline = "[\(firing > 0 ? "FIRING" : "RESOLVED")] \(escape(rule)): \(counts) (\(escape(context.clusterID)))"
        var lines = entries.prefix(groupListLimit).map { "• \(escape($0.line))" }
        if entries.count > groupListLimit { lines.append("…and \(entries.count - groupListLimit) more") }
        let list = lines.joined(separator: "\n")
        if degraded {
            return .fields(["text": .string(AlertText.truncate("\(emoji) \(headline)\n\(list)", to: degradedLimit))])
        }
        return .fields([
            "text": .string(AlertText.truncate("\(emoji) \(headline)", to: textLimit)),
            "attachments": .array([.fields([
                "color": .string(firing > 0 ? firingColor : resolvedColor),
                "fallback": .string(AlertText.truncate(headline, to: fallbackLimit)),
                "title": .string(AlertText.truncate("\(escape(rule)) (\(escape(context.clusterID)))", to: titleLimit)),
                "text": .string(AlertText.truncate(list, to: attachmentTextLimit)),
                "footer": .string(AlertText.truncate("poolwatch \(context.version) • \(entries.count) notifications grouped", to: footerLimit)),
                "mrkdwn_in": .array([.string("text")]),
            ])]),
        ])
    }

    /// A message poolwatch sends about itself (escalations, summaries, self-tests). `text` and
    /// `details` must already be escaped.
    public static func notice(_ text: String, details: String? = nil, color: String = noticeColor) -> OrderedJSON {
        let text = AlertText.truncate(text, to: textLimit)
        guard let details else { return .fields(["text": .string(text)]) }
        return .fields([
            "text": .string(text),
            "attachments": .array([.fields([
                "color": .string(color),
                "fallback": .string(AlertText.truncate(text, to: fallbackLimit)),
                "text": .string(AlertText.truncate(details, to: attachmentTextLimit)),
                "mrkdwn_in": .array([.string("text")]),
            ])]),
        ])
    }

    public static func escape(_ text: String) -> String { AlertText.mrkdwnEscape(text) }

    static func emoji(_ notification: AlertNotification) -> String {
        notification.kind == .trigger ? ":red_circle:" : ":large_green_circle:"
    }

    static func headline(_ notification: AlertNotification, delayed: Bool) -> String {
        let summary = escape(AlertText.singleLine(notification.headline))
        guard notification.kind == .resolve else { return "[FIRING] \(summary)" }
        if delayed {
            return "[RESOLVED] \(summary) — fired at \(AlertText.rfc3339(notification.startsAt, milliseconds: false)), "
                + "resolved at \(AlertText.rfc3339(notification.at, milliseconds: false)) (delivery was delayed)"
        }
        return "[RESOLVED] \(summary) after \(AlertText.duration(notification.at - notification.startsAt))"
    }

    /// Value and threshold, since when, which labels, the description and the runbook.
    static func detailLines(_ notification: AlertNotification) -> [String] {
        var lines: [String] = []
        let value = AlertText.number(notification.value)
        lines.append(notification.threshold.map { "*Value:* \(value) (threshold \(AlertText.number($0)))" } ?? "*Value:* \(value)")
        let since = AlertText.rfc3339(notification.startsAt, milliseconds: false)
        if notification.kind == .trigger {
            let pending = notification.at - notification.startsAt
            lines.append(pending >= 1 ? "*Firing since:* \(since) (for \(AlertText.duration(pending)))" : "*Firing since:* \(since)")
        } else {
            lines.append("*Fired:* \(since), *resolved:* \(AlertText.rfc3339(notification.at, milliseconds: false))")
            if let reason = notification.resolveReason {
                lines.append("*Resolved because:* \(escape(AlertText.truncate(AlertText.singleLine(reason), to: 300)))")
            }
        }
        if !notification.identityLabels.isEmpty {
            let labels = notification.identityLabels.map { "\($0.name)=\(AlertText.truncate(AlertText.singleLine($0.value), to: 200))" }
            lines.append("*Labels:* \(escape(labels.joined(separator: ", ")))")
        }
        if notification.kind == .trigger, !notification.holders.isEmpty {
            lines.append("*Held by:*")
            lines += notification.holders.prefix(PagerDutyPayload.holderLimit).map {
                "• " + escape(AlertText.truncate(AlertText.singleLine($0), to: PagerDutyPayload.holderLength))
            }
        }
        let description = notification.description.trimmingSpaces()
        if !description.isEmpty { lines.append(escape(AlertText.truncate(description, to: 1000))) }
        if let runbook = notification.runbookURL { lines.append("*Runbook:* <\(escape(runbook))>") }
        return lines
    }
}
