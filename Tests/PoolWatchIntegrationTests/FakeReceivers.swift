import Foundation
import PoolWatchCore
import Synchronization

/// Local stand-ins for Slack incoming webhooks and PagerDuty's Events API v2 on 127.0.0.1, answering
/// the way the real services do (docs/alert-delivery.md §1, §2): Slack's plain-text `ok` / error words,
/// PagerDuty's JSON bodies, 429 with `Retry-After`, 5xx, redirects, a reset connection and a stalled
/// response. Built on the raw-socket ``LoopbackHTTPServer``.
///
/// Each receiver plays a script of answers in order, then repeats its fallback answer, and records
/// every request with the time it arrived.
final class FakeReceiver: Sendable {
    enum Answer: Sendable {
        /// Slack: 200 `ok`.
        case slackOK
        /// Slack: an error status with its plain-text word (`invalid_payload`, `no_service`, …).
        case slackError(Int, String)
        /// Slack: 429 with `Retry-After` and the JSON body Slack sends.
        case slackRateLimited(retryAfter: Int)
        /// PagerDuty: 202 with the event's dedup key echoed.
        case pagerDutyAccepted
        /// PagerDuty: 400 `invalid event` with these errors.
        case pagerDutyInvalid([String])
        /// PagerDuty: 429, optionally with `Retry-After`.
        case pagerDutyRateLimited(retryAfter: Int?)
        /// 500 with a body.
        case serverError(String)
        /// 301 to `location`.
        case redirect(String)
        /// Read the request, then reset the connection.
        case reset
        /// Read the request, answer nothing for this long.
        case stall(Double)
    }

    struct Received: Sendable {
        var at: ContinuousClock.Instant
        var method: String
        var path: String
        var contentType: String?
        var body: String

        /// The body parsed by poolwatch's own strict JSON parser.
        var json: JSONValue? { try? JSONValue.parse(body) }

        /// A top-level string member of the JSON body.
        func string(_ key: String) -> String? {
            guard case let .object(members)? = json, case let .string(value)? = members[key] else { return nil }
            return value
        }
    }

    /// State shared with the server's handler (its own threads).
    private final class Script: Sendable {
        struct State {
            var answers: [Answer]
            var fallback: Answer
            var received: [Received] = []
        }

        let state: Mutex<State>
        init(_ answers: [Answer], fallback: Answer) { state = Mutex(State(answers: answers, fallback: fallback)) }
    }

    private let script: Script
    private let server: LoopbackHTTPServer
    let path: String

    /// Slack's webhook path carries the secret token, like the real one.
    static let slackToken = "xS1ackW3bh00kT0kenN0tT0BeL0gged"

    private init(path: String, answers: [Answer], fallback: Answer) throws {
        let script = Script(answers, fallback: fallback)
        self.script = script
        self.path = path
        let prefix = Self.ownPrefix(of: path)
        server = try LoopbackHTTPServer { request in
            let body = String(decoding: request.body, as: UTF8.self)
            // Tests run in parallel, and a port one test's receiver released can be handed to
            // another's: a notifier of the first still retrying must not land in this record.
            guard request.path.hasPrefix(prefix) else {
                return .send(status: 404, headers: [("Content-Type", "text/plain; charset=utf-8")], body: Array("no_service".utf8))
            }
            let answer = script.state.withLock { state -> Answer in
                state.received.append(Received(at: .now, method: request.method, path: request.path,
                                               contentType: request.header("Content-Type"), body: body))
                return state.answers.isEmpty ? state.fallback : state.answers.removeFirst()
            }
            return Self.reply(answer, requestBody: body)
        }
    }

    static func slack(_ answers: [Answer] = [], then fallback: Answer = .slackOK) throws -> FakeReceiver {
        let instance = String(UInt32.random(in: 0x1000_0000 ... .max), radix: 16, uppercase: true)
        return try FakeReceiver(path: "/services/T0001/B\(instance)/\(slackToken)", answers: answers, fallback: fallback)
    }

    /// The part of `path` that only this receiver's clients use: a Slack webhook's path up to the
    /// token (the B… part is unique per receiver); PagerDuty's fixed path otherwise.
    private static func ownPrefix(of path: String) -> String {
        guard path.hasPrefix("/services/"), let cut = path.lastIndex(of: "/") else { return path }
        return String(path[...cut])
    }

    static func pagerDuty(_ answers: [Answer] = [], then fallback: Answer = .pagerDutyAccepted) throws -> FakeReceiver {
        try FakeReceiver(path: "/v2/enqueue", answers: answers, fallback: fallback)
    }

    var url: String { server.url(path) }
    var received: [Received] { script.state.withLock { $0.received } }

    /// Replaces what the receiver answers from now on.
    func answer(_ answers: [Answer], then fallback: Answer) {
        script.state.withLock { state in
            state.answers = answers
            state.fallback = fallback
        }
    }

    /// Waits until at least `count` requests arrived (true) or `seconds` passed (false).
    func waitFor(_ count: Int, within seconds: Double = 10) async -> Bool {
        await eventually(seconds) { received.count >= count }
    }

    func stop() { server.stop() }

    private static func reply(_ answer: Answer, requestBody: String) -> LoopbackHTTPServer.Reply {
        let text = [("Content-Type", "text/plain; charset=utf-8")]
        let json = [("Content-Type", "application/json")]
        switch answer {
        case .slackOK:
            return .send(status: 200, headers: text, body: Array("ok".utf8))
        case let .slackError(status, word):
            return .send(status: status, headers: text, body: Array(word.utf8))
        case let .slackRateLimited(retryAfter):
            return .send(status: 429, headers: json + [("Retry-After", "\(retryAfter)")],
                         body: Array(#"{"retry_after":\#(retryAfter),"ok":false,"error":"rate_limited"}"#.utf8))
        case .pagerDutyAccepted:
            var key = ""
            if case let .object(members)? = try? JSONValue.parse(requestBody), case let .string(value)? = members["dedup_key"] { key = value }
            return .send(status: 202, headers: json,
                         body: Array(#"{"status":"success","message":"Event processed","dedup_key":\#(OrderedJSON.quoted(key))}"#.utf8))
        case let .pagerDutyInvalid(errors):
            let list = errors.map(OrderedJSON.quoted).joined(separator: ",")
            return .send(status: 400, headers: json,
                         body: Array(#"{"status":"invalid event","message":"Event object is invalid","errors":[\#(list)]}"#.utf8))
        case let .pagerDutyRateLimited(retryAfter):
            return .send(status: 429, headers: json + (retryAfter.map { [("Retry-After", "\($0)")] } ?? []),
                         body: Array(#"{"status":"throttle event","message":"Request Limit Exceeded"}"#.utf8))
        case let .serverError(body):
            return .send(status: 500, headers: text, body: Array(body.utf8))
        case let .redirect(location):
            return .send(status: 301, headers: [("Location", location)])
        case .reset:
            return .reset
        case let .stall(seconds):
            return .stall(seconds: seconds)
        }
    }
}

/// A directory with the secret files of a Slack and a PagerDuty receiver (`slack`: the webhook URL,
/// `pd`: the routing key), 0600 as poolwatch requires of secret files.
func receiverSecrets(slackURL: String, routingKey: String) throws -> String {
    let directory = IntegrationEnvironment.tmp + "/" + IntegrationEnvironment.uniqueName("secrets")
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    for (file, value) in [("slack", slackURL), ("pd", routingKey)] {
        try value.write(toFile: directory + "/" + file, atomically: true, encoding: .utf8)
        chmod(directory + "/" + file, 0o600)
    }
    return directory
}
