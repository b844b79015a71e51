/// Why a state file could not be read. The notifier moves such a file aside and says so loudly.
public struct OutboxDecodeError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// An entry of a state file that could not be trusted: kept, with why, for a person to look at.
public struct QuarantinedEntry: Sendable, Equatable {
    /// `records[3]`, `receivers[0]`, `announced[1]`.
    public var path: String
    /// The record's `id`, when it has a readable one.
    public var id: String?
    public var reason: String
    /// The entry as it was in the file.
    public var raw: JSONValue

    public init(path: String, id: String?, reason: String, raw: JSONValue) {
        self.path = path
        self.id = id
        self.reason = reason
        self.raw = raw
    }
}

/// The outbox state file (`outbox.json`, schema 1) and the secret-free `/alerts` view.
///
/// ```json
/// {"schema":1,"cluster_id":"prod-eu1","written_at":"…","next_seq":42,
///  "receivers":[{"name":"oncall","last_success_at":…,"failing_since":null,…}],
///  "records":[{"id":"…","seq":41,"receiver":"oncall","receiver_type":"pagerduty","event":"trigger",…,"body":"{…}"}]}
/// ```
/// Records name their receiver; bodies carry no routing key and no webhook URL.
extension OutboxState {
    public static let schema = 1

    /// The state file's content.
    public func encoded(clusterID: String, now: Double) -> String {
        OrderedJSON.fields([
            "schema": .int(Int64(Self.schema)),
            "cluster_id": .string(clusterID),
            "written_at": .string(AlertText.rfc3339(now)),
            "next_seq": .int(Int64(nextSeq)),
            "receivers": .array(health.keys.sorted().map { name in
                let health = health[name]!
                return .fields([
                    "name": .string(name),
                    "last_success_at": health.lastSuccessAt.map { .number($0) },
                    "failing_since": health.failingSince.map { .number($0) },
                    "stale_escalated": .bool(health.staleEscalated),
                    "escalated_to": .array(health.escalatedTo.map { .string($0) }),
                    "expired_count": .int(Int64(health.expiredCount)),
                    "expired_from": health.expiredFrom.map { .number($0) },
                    "expired_until": health.expiredUntil.map { .number($0) },
                ])
            }),
            "records": .array(records.map(Self.encode)),
            "announced": .array(announced.sorted().map { .fields(["receiver": .string($0.receiver), "dedup_key": .string($0.dedupKey)]) }),
        ]).text + "\n"
    }

    static func encode(_ record: OutboxRecord) -> OrderedJSON {
        .fields([
            "id": .string(record.id),
            "seq": .int(Int64(record.seq)),
            "receiver": .string(record.receiver),
            "receiver_type": .string(record.receiverType.rawValue),
            "event": .string(record.event.rawValue),
            "dedup_key": .string(record.dedupKey),
            "rule": .string(record.rule),
            "severity": .string(record.severity.rawValue),
            "line": .string(record.line),
            "created_at": .number(record.createdAt),
            "not_before": .number(record.notBefore),
            "expires_at": record.expiresAt.map { .number($0) },
            "attempts": .int(Int64(record.attempts)),
            "state": .string(record.state.rawValue),
            "degraded": .bool(record.degraded),
            "coalesced": .bool(record.coalesced),
            "groupable": .bool(record.groupable),
            "escalate": .bool(record.escalate),
            "last_status": record.lastStatus.map { .int(Int64($0)) },
            "last_error": .optionalString(record.lastError),
            "finished_at": record.finishedAt.map { .number($0) },
            "body": .string(record.body),
            "degraded_body": .string(record.degradedBody),
        ])
    }

    /// Reads a state file strictly: any bad record is an error (tests, tools).
    public static func decode(_ bytes: [UInt8]) throws(OutboxDecodeError) -> OutboxState {
        let salvaged = try decodeSalvaging(bytes)
        if let first = salvaged.quarantined.first { throw OutboxDecodeError(first.reason) }
        return salvaged.state
    }

    /// Reads a state file, setting aside the entries that cannot be trusted instead of the whole
    /// file: one record with an impossible value must not cost the other records (their pages and
    /// the resolves that close them). Unknown members are ignored; missing or mistyped ones are
    /// reasons naming their path (`records[3].state`).
    ///
    /// - Throws: when the document itself is unusable (not JSON, wrong schema, no `records` array).
    public static func decodeSalvaging(_ bytes: [UInt8]) throws(OutboxDecodeError) -> (state: OutboxState, quarantined: [QuarantinedEntry]) {
        let document: JSONValue
        do {
            document = try JSONValue.parse(bytes)
        } catch {
            throw OutboxDecodeError("\(error)")
        }
        let top = try Members(document, path: "(document)")
        let schema = try top.int("schema")
        guard schema == Self.schema else {
            throw OutboxDecodeError("unsupported schema \(schema) (this poolwatch reads schema \(Self.schema))")
        }
        var state = OutboxState(nextSeq: try top.int("next_seq"))
        var quarantined: [QuarantinedEntry] = []
        for (index, item) in try top.array("receivers").enumerated() {
            do throws(OutboxDecodeError) {
                let (name, health) = try decodeHealth(item, path: "receivers[\(index)]")
                state.health[name] = health
            } catch {
                quarantined.append(QuarantinedEntry(path: "receivers[\(index)]", id: nil, reason: error.message, raw: item))
            }
        }
        var ids = Set<String>()
        var seqs = Set<Int>()
        for (index, item) in try top.array("records").enumerated() {
            let path = "records[\(index)]"
            do throws(OutboxDecodeError) {
                let record = try decodeRecord(item, path: path)
                guard ids.insert(record.id).inserted else { throw OutboxDecodeError("\(path).id: \"\(record.id)\" appears twice") }
                guard seqs.insert(record.seq).inserted else { throw OutboxDecodeError("\(path).seq: \(record.seq) appears twice") }
                state.records.append(record)
            } catch {
                var id: String?
                if case let .object(members) = item, case let .string(text)? = members["id"] { id = text }
                quarantined.append(QuarantinedEntry(path: path, id: id, reason: error.message, raw: item))
            }
        }
        // Absent in files written before the journal existed: rebuilt from the delivered history.
        if top.members["announced"] == nil {
            for record in state.records.sorted(by: { $0.seq < $1.seq }) where record.state == .delivered {
                if record.event == .trigger { state.announced.insert(AnnouncedIncident(record)) }
                if record.event == .resolve { state.announced.remove(AnnouncedIncident(record)) }
            }
        } else {
            for (index, item) in try top.array("announced").enumerated() {
                let path = "announced[\(index)]"
                do throws(OutboxDecodeError) {
                    let fields = try Members(item, path: path)
                    state.announced.insert(AnnouncedIncident(receiver: try fields.name("receiver"), dedupKey: try fields.name("dedup_key")))
                } catch {
                    quarantined.append(QuarantinedEntry(path: path, id: nil, reason: error.message, raw: item))
                }
            }
        }
        state.records.sort { $0.seq < $1.seq }
        if let last = state.records.last, last.seq >= state.nextSeq { state.nextSeq = last.seq + 1 }
        return (state, quarantined)
    }

    private static func decodeHealth(_ item: JSONValue, path: String) throws(OutboxDecodeError) -> (String, ReceiverHealth) {
        let fields = try Members(item, path: path)
        var health = ReceiverHealth()
        health.lastSuccessAt = try fields.optionalDouble("last_success_at")
        health.failingSince = try fields.optionalDouble("failing_since")
        health.staleEscalated = try fields.bool("stale_escalated")
        health.escalatedTo = try fields.array("escalated_to").enumerated().map { position, value throws(OutboxDecodeError) in
            guard case let .string(name) = value else { throw OutboxDecodeError("\(path).escalated_to[\(position)]: expected a string") }
            return name
        }
        health.expiredCount = try fields.int("expired_count", atLeast: 0)
        health.expiredFrom = try fields.optionalDouble("expired_from")
        health.expiredUntil = try fields.optionalDouble("expired_until")
        return (try fields.name("name"), health)
    }

    /// One record, with the values a record can really have: a positive `seq`, no negative
    /// attempts, an HTTP status in 100...599, a body while it is still owed.
    private static func decodeRecord(_ item: JSONValue, path: String) throws(OutboxDecodeError) -> OutboxRecord {
        let fields = try Members(item, path: path)
        let record = OutboxRecord(
            id: try fields.name("id"), seq: try fields.int("seq", atLeast: 1), receiver: try fields.name("receiver"),
            receiverType: try fields.value("receiver_type", ReceiverType.self), event: try fields.value("event", OutboxRecord.Event.self),
            dedupKey: try fields.name("dedup_key"), rule: try fields.string("rule"),
            severity: try fields.value("severity", NotificationSeverity.self), line: try fields.string("line"),
            createdAt: try fields.double("created_at"), notBefore: try fields.double("not_before"),
            expiresAt: try fields.optionalDouble("expires_at"), body: try fields.string("body"),
            degradedBody: try fields.string("degraded_body"), groupable: try fields.bool("groupable"),
            escalate: try fields.bool("escalate"), coalesced: try fields.bool("coalesced"), attempts: try fields.int("attempts", atLeast: 0),
            state: try fields.value("state", OutboxRecord.State.self), degraded: try fields.bool("degraded"),
            lastStatus: try fields.optionalInt("last_status"), lastError: try fields.optionalString("last_error"),
            finishedAt: try fields.optionalDouble("finished_at"))
        if let status = record.lastStatus, !(100...599).contains(status) {
            throw OutboxDecodeError("\(path).last_status: \(status) is not an HTTP status")
        }
        if record.state.isOpen, record.body.isEmpty {
            throw OutboxDecodeError("\(path).body: empty, but the record is still \(record.state.rawValue)")
        }
        return record
    }

    /// Typed access to one JSON object's members, with errors that name the member's path.
    private struct Members {
        let members: [String: JSONValue]
        let path: String

        init(_ value: JSONValue, path: String) throws(OutboxDecodeError) {
            guard case let .object(members) = value else { throw OutboxDecodeError("\(path): expected an object, found \(value.kindDescription)") }
            self.members = members
            self.path = path
        }

        private func fail(_ key: String, _ expected: String) -> OutboxDecodeError {
            OutboxDecodeError("\(path).\(key): expected \(expected), found \(members[key]?.kindDescription ?? "nothing")")
        }

        func string(_ key: String) throws(OutboxDecodeError) -> String {
            guard case let .string(text)? = members[key] else { throw fail(key, "a string") }
            return text
        }

        func optionalString(_ key: String) throws(OutboxDecodeError) -> String? {
            if members[key] == nil || members[key] == .null { return nil }
            return try string(key)
        }

        func double(_ key: String) throws(OutboxDecodeError) -> Double {
            guard case let .number(value)? = members[key], value.isFinite else { throw fail(key, "a number") }
            return value
        }

        func optionalDouble(_ key: String) throws(OutboxDecodeError) -> Double? {
            if members[key] == nil || members[key] == .null { return nil }
            return try double(key)
        }

        func int(_ key: String) throws(OutboxDecodeError) -> Int {
            let value = try double(key)
            guard value == value.rounded(), abs(value) < 1e15 else { throw fail(key, "a whole number") }
            return Int(value)
        }

        func int(_ key: String, atLeast minimum: Int) throws(OutboxDecodeError) -> Int {
            let value = try int(key)
            guard value >= minimum else { throw OutboxDecodeError("\(path).\(key): \(value) is less than \(minimum)") }
            return value
        }

        /// A non-empty string (ids, names, keys).
        func name(_ key: String) throws(OutboxDecodeError) -> String {
            let text = try string(key)
            guard !text.isEmpty else { throw fail(key, "a non-empty string") }
            return text
        }

        func optionalInt(_ key: String) throws(OutboxDecodeError) -> Int? {
            if members[key] == nil || members[key] == .null { return nil }
            return try int(key)
        }

        func bool(_ key: String) throws(OutboxDecodeError) -> Bool {
            guard case let .bool(value)? = members[key] else { throw fail(key, "true or false") }
            return value
        }

        func array(_ key: String) throws(OutboxDecodeError) -> [JSONValue] {
            guard case let .array(values)? = members[key] else { throw fail(key, "an array") }
            return values
        }

        func value<E: RawRepresentable & CaseIterable>(_ key: String, _ type: E.Type) throws(OutboxDecodeError) -> E where E.RawValue == String {
            let text = try string(key)
            guard let value = E(rawValue: text) else {
                throw OutboxDecodeError("\(path).\(key): \"\(text)\" is not one of \(E.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return value
        }
    }
}

/// The outbox as `/alerts` shows it: receivers (secrets shown as `<secret>`) and records newest first,
/// without bodies. `Codable` with snake_case keys, so it can be embedded in a `JSONEncoder` document;
/// ``json`` writes the same thing without Foundation.
public struct OutboxStatus: Sendable, Equatable, Codable {
    public struct Receiver: Sendable, Equatable, Codable {
        public var name: String
        public var type: String
        public var endpointHost: String
        public var secret: String
        public var minSeverity: String
        public var sendResolved: Bool
        public var pending: Int
        public var oldestPendingAgeSeconds: Double
        public var lastSuccessAt: String?
        public var failingSince: String?
        public var pausedUntil: String?

        enum CodingKeys: String, CodingKey {
            case name, type, secret, pending
            case endpointHost = "endpoint_host", minSeverity = "min_severity", sendResolved = "send_resolved"
            case oldestPendingAgeSeconds = "oldest_pending_age_seconds", lastSuccessAt = "last_success_at"
            case failingSince = "failing_since", pausedUntil = "paused_until"
        }
    }

    public struct Record: Sendable, Equatable, Codable {
        public var id: String
        public var receiver: String
        public var event: String
        public var dedupKey: String
        public var rule: String?
        public var severity: String
        public var summary: String
        public var state: String
        public var attempts: Int
        public var degraded: Bool
        public var createdAt: String
        public var nextAttemptAt: String?
        public var expiresAt: String?
        public var finishedAt: String?
        public var lastStatus: Int?
        public var lastError: String?

        enum CodingKeys: String, CodingKey {
            case id, receiver, event, rule, severity, summary, state, attempts, degraded
            case dedupKey = "dedup_key", createdAt = "created_at", nextAttemptAt = "next_attempt_at", expiresAt = "expires_at"
            case finishedAt = "finished_at", lastStatus = "last_status", lastError = "last_error"
        }
    }

    public var clusterID: String
    public var generatedAt: String
    public var receivers: [Receiver]
    public var outbox: [Record]

    enum CodingKeys: String, CodingKey {
        case receivers, outbox
        case clusterID = "cluster_id", generatedAt = "generated_at"
    }

    /// The same document as JSON text, members in declaration order.
    public var json: OrderedJSON {
        .fields([
            "cluster_id": .string(clusterID),
            "generated_at": .string(generatedAt),
            "receivers": .array(receivers.map { receiver in
                .fields([
                    "name": .string(receiver.name),
                    "type": .string(receiver.type),
                    "endpoint_host": .string(receiver.endpointHost),
                    "secret": .string(receiver.secret),
                    "min_severity": .string(receiver.minSeverity),
                    "send_resolved": .bool(receiver.sendResolved),
                    "pending": .int(Int64(receiver.pending)),
                    "oldest_pending_age_seconds": .number(receiver.oldestPendingAgeSeconds),
                    "last_success_at": .optionalString(receiver.lastSuccessAt),
                    "failing_since": .optionalString(receiver.failingSince),
                    "paused_until": .optionalString(receiver.pausedUntil),
                ])
            }),
            "outbox": .array(outbox.map { record in
                .fields([
                    "id": .string(record.id),
                    "receiver": .string(record.receiver),
                    "event": .string(record.event),
                    "dedup_key": .string(record.dedupKey),
                    "rule": .optionalString(record.rule),
                    "severity": .string(record.severity),
                    "summary": .string(record.summary),
                    "state": .string(record.state),
                    "attempts": .int(Int64(record.attempts)),
                    "degraded": .bool(record.degraded),
                    "created_at": .string(record.createdAt),
                    "next_attempt_at": .optionalString(record.nextAttemptAt),
                    "expires_at": .optionalString(record.expiresAt),
                    "finished_at": .optionalString(record.finishedAt),
                    "last_status": record.lastStatus.map { .int(Int64($0)) },
                    "last_error": .optionalString(record.lastError),
                ])
            }),
        ])
    }
}

extension OutboxState {
    /// The `/alerts` view of this outbox. `pausedUntil`: receivers paused after a 429.
    public func status(environment: OutboxEnvironment, now: Double, pausedUntil: [String: Double] = [:]) -> OutboxStatus {
        func time(_ value: Double?) -> String? { value.map { AlertText.rfc3339($0) } }
        return OutboxStatus(
            clusterID: environment.payload.clusterID,
            generatedAt: AlertText.rfc3339(now),
            receivers: environment.receivers.map { receiver in
                let health = health[receiver.name] ?? ReceiverHealth()
                return OutboxStatus.Receiver(
                    name: receiver.name, type: receiver.type.rawValue, endpointHost: receiver.endpointHost, secret: "<secret>",
                    minSeverity: receiver.minSeverity.rawValue, sendResolved: receiver.sendResolved,
                    pending: openCount(receiver: receiver.name), oldestPendingAgeSeconds: oldestOpenAge(receiver: receiver.name, now: now),
                    lastSuccessAt: time(health.lastSuccessAt), failingSince: time(health.failingSince),
                    pausedUntil: time(pausedUntil[receiver.name].flatMap { $0 > now ? $0 : nil }))
            },
            outbox: records.reversed().map { record in
                OutboxStatus.Record(
                    id: record.id, receiver: record.receiver, event: record.event.rawValue, dedupKey: record.dedupKey,
                    rule: record.rule.isEmpty ? nil : record.rule, severity: record.severity.rawValue, summary: record.line,
                    state: record.state.rawValue, attempts: record.attempts, degraded: record.degraded,
                    createdAt: AlertText.rfc3339(record.createdAt),
                    nextAttemptAt: record.state == .pending ? time(record.notBefore) : nil,
                    expiresAt: record.state.isOpen ? time(record.expiresAt) : nil, finishedAt: time(record.finishedAt),
                    lastStatus: record.lastStatus, lastError: record.lastError)
            })
    }
}

extension QuarantinedEntry {
    /// The quarantine file (`outbox.quarantine.json`) with `entries` appended to what `existing`
    /// (its earlier content, if it parses) already holds, so every quarantine stays for a person:
    /// `{"quarantined":[{"at":"…","file":"outbox.json","path":"records[3]","id":"…","reason":"…","entry":{…}}]}`.
    public static func document(appending entries: [QuarantinedEntry], to existing: JSONValue?, file: String, now: Double) -> String {
        var items: [OrderedJSON] = []
        if case let .object(members)? = existing, case let .array(earlier)? = members["quarantined"] {
            items = earlier.map(OrderedJSON.init)
        }
        items += entries.map { entry in
            .fields([
                "at": .string(AlertText.rfc3339(now)), "file": .string(file), "path": .string(entry.path),
                "id": .optionalString(entry.id), "reason": .string(entry.reason), "entry": OrderedJSON(entry.raw),
            ])
        }
        return OrderedJSON.fields(["quarantined": .array(items)]).text + "\n"
    }
}
