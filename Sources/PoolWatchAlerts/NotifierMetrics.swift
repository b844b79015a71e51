import PoolWatchCore

/// The notifier's counters and last values, rendered as metric families for
/// `SnapshotStore.publishExtra("notifier", families:)`. Labels are receiver names only.
struct NotifierMetrics: Sendable {
    static let outcomes = ["delivered", "dead", "cancelled", "expired", "dropped"]
    static let attemptResults = ["success", "retryable", "fatal"]

    var deliveries: [String: [String: Int]] = [:]
    var attempts: [String: [String: Int]] = [:]
    var httpResponses: [String: [Int: Int]] = [:]
    var enqueued: [String: [String: Int]] = [:]
    var escalations: [String: Int] = [:]
    var latency: [String: Double] = [:]
    var persistErrors = 0
    var corruptStateFiles = 0

    mutating func delivery(_ receiver: String, _ outcome: String) { deliveries[receiver, default: [:]][outcome, default: 0] += 1 }
    mutating func attempt(_ receiver: String, _ result: String) { attempts[receiver, default: [:]][result, default: 0] += 1 }
    mutating func response(_ receiver: String, _ status: Int) { httpResponses[receiver, default: [:]][status, default: 0] += 1 }
    mutating func queued(_ receiver: String, _ event: String) { enqueued[receiver, default: [:]][event, default: 0] += 1 }

    func families(receivers: [ReceiverConfig], outbox: OutboxState, now: Double) -> [MetricFamily] {
        let names = receivers.map(\.name)
        func label(_ name: String) -> Label { Label("receiver", name) }
        var families: [MetricFamily] = []
        families.append(MetricFamily(
            "poolwatch_notifier_deliveries_total", help: "Outbox records finished, by receiver and outcome.", type: .counter,
            samples: names.flatMap { name in
                Self.outcomes.map { Sample([label(name), Label("outcome", $0)], Double(deliveries[name]?[$0] ?? 0)) }
            }))
        families.append(MetricFamily(
            "poolwatch_notifier_attempts_total", help: "HTTP delivery attempts, by receiver and result.", type: .counter,
            samples: names.flatMap { name in
                Self.attemptResults.map { Sample([label(name), Label("result", $0)], Double(attempts[name]?[$0] ?? 0)) }
            }))
        families.append(MetricFamily(
            "poolwatch_notifier_http_responses_total", help: "HTTP responses from receivers, by status code.", type: .counter,
            samples: names.flatMap { name in
                (httpResponses[name] ?? [:]).sorted { $0.key < $1.key }.map { Sample([label(name), Label("code", String($0.key))], Double($0.value)) }
            }))
        families.append(MetricFamily(
            "poolwatch_notifier_events_enqueued_total", help: "Records added to the outbox, by receiver and event.", type: .counter,
            samples: names.flatMap { name in
                (enqueued[name] ?? [:]).sorted { $0.key < $1.key }.map { Sample([label(name), Label("event", $0.key)], Double($0.value)) }
            }))
        families.append(MetricFamily(
            "poolwatch_notifier_escalations_total", help: "Permanent or prolonged delivery failures reported to the other receivers.",
            type: .counter, samples: names.map { Sample([label($0)], Double(escalations[$0] ?? 0)) }))
        families.append(MetricFamily(
            "poolwatch_notifier_delivery_latency_seconds", help: "Seconds from enqueue to delivery of the last delivered record.",
            samples: names.compactMap { name in latency[name].map { Sample([label(name)], $0) } }))
        families.append(MetricFamily(
            "poolwatch_notifier_outbox_pending", help: "Outbox records not yet delivered (pending or in flight).",
            samples: names.map { Sample([label($0)], Double(outbox.openCount(receiver: $0))) }))
        families.append(MetricFamily(
            "poolwatch_notifier_outbox_oldest_pending_age_seconds", help: "Age of the oldest undelivered outbox record (0 when none).",
            samples: names.map { Sample([label($0)], outbox.oldestOpenAge(receiver: $0, now: now)) }))
        families.append(MetricFamily(
            "poolwatch_notifier_last_success_timestamp_seconds", help: "When the receiver last accepted a notification.",
            samples: names.compactMap { name in outbox.health[name]?.lastSuccessAt.map { Sample([label(name)], $0) } }))
        families.append(MetricFamily(
            "poolwatch_notifier_state_persist_errors_total", help: "Failed writes of the outbox state file.", type: .counter,
            value: Double(persistErrors)))
        families.append(MetricFamily(
            "poolwatch_notifier_state_file_corrupt_total", help: "Unreadable outbox state files moved aside at start-up.", type: .counter,
            value: Double(corruptStateFiles)))
        return families
    }
}
