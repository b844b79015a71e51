import PoolWatchCore

/// What `poolwatch test-notification --receiver NAME` reports.
public struct TestNotificationResult: Sendable, CustomStringConvertible {
    public struct Step: Sendable {
        /// `message` (Slack), `trigger` or `resolve` (PagerDuty).
        public var event: String
        public var delivered: Bool
        public var status: Int?
        /// `HTTP 202: Event processed`, `timeout: …` (secret-free).
        public var detail: String
        public var latency: Double
    }

    public var receiver: String
    public var steps: [Step]

    public var succeeded: Bool { !steps.isEmpty && steps.allSatisfy(\.delivered) }

    public var description: String {
        steps.map { "\(receiver) \($0.event): \($0.delivered ? "delivered" : "FAILED") (\($0.detail), \(Int($0.latency * 1000)) ms)" }
            .joined(separator: "\n")
    }
}

/// Sending a test notification, usable without a running notifier (the CLI command needs no state
/// directory): build a ``NotificationSender`` and call ``send(to:context:sender:now:)``.
public enum TestNotification {
    public static func send(to receiver: ReceiverConfig, context: PayloadContext, sender: NotificationSender, now: Double) async
        -> TestNotificationResult
    {
        let redactor = SecretRedactor([receiver.secret])
        var steps: [TestNotificationResult.Step] = []
        func step(_ event: String, _ body: OrderedJSON) async -> Bool {
            let attempt = await sender.send(body: body.text, to: receiver, secret: receiver.secret, redactor: redactor)
            let delivered = attempt.classification == .delivered
            steps.append(.init(event: event, delivered: delivered, status: attempt.status, detail: attempt.detail, latency: attempt.latency))
            return delivered
        }
        switch receiver.type {
        case .slack:
            let text = ":white_check_mark: poolwatch test notification for receiver \(SlackPayload.escape(receiver.name)) "
                + "(cluster \(SlackPayload.escape(context.clusterID))): Slack delivery works."
            _ = await step("message", SlackPayload.notice(text))
        case .pagerduty:
            let key = DedupKey.selfTest(clusterID: context.clusterID)
            let summary = "poolwatch test notification for receiver \(receiver.name) (cluster \(context.clusterID)); resolves itself"
            let trigger = PagerDutyPayload.notice(action: .trigger, dedupKey: key, summary: summary, severity: .info, at: now,
                                                  details: nil, context: context)
            if await step("trigger", trigger) {
                let resolve = PagerDutyPayload.notice(action: .resolve, dedupKey: key, summary: summary, severity: .info, at: now,
                                                      details: nil, context: context)
                _ = await step("resolve", resolve)
            }
        }
        return TestNotificationResult(receiver: receiver.displayName, steps: steps)
    }
}
