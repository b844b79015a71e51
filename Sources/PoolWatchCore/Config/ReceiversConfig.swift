/// Where alert notifications go, and how the notifier keeps its outbox.
///
/// ```yaml
/// alerting:
///   cluster_id: prod-eu1              # required with receivers; the same on HA replicas (dedup keys)
///   state_dir: /var/lib/poolwatch     # default $STATE_DIRECTORY, else none (memory only)
///   outbox_max_records: 2000          # default; undelivered PagerDuty events are never dropped
///   client_url: https://poolwatch.example.net/alerts   # optional; shown in PagerDuty
/// receivers:
///   - name: oncall
///     type: pagerduty
///     routing_key_file: /run/secrets/pagerduty-key     # or routing_key_env: PD_ROUTING_KEY
///     min_severity: critical          # default: critical for pagerduty, warning for slack
///     send_resolved: true             # default
///     url: https://events.eu.pagerduty.com/v2/enqueue  # optional endpoint override
///     rate_limit: 2/s                 # optional (pagerduty 2/s, slack 1/s); rate_burst: 10
///     timeout: 15s                    # optional, per request
///   - name: team
///     type: slack
///     webhook_url_file: /run/secrets/slack-webhook     # or webhook_url_env
/// ```
///
/// Secrets come only from files or the environment: an inline `webhook_url` or `routing_key` is an
/// error, so a credential never sits in a config file that is checked in or printed.
public struct AlertingConfig: Sendable, Equatable {
    /// Names this deployment in dedup keys; replicas watching the same pools must share it.
    public var clusterID: String
    /// Where alert state and the outbox live; nil: in memory only (lost at a restart).
    public var stateDirectory: String?
    /// The outbox's record cap; pending Slack records are dropped first, PagerDuty events never.
    public var outboxMaxRecords: Int
    /// A link to this poolwatch's alert page, sent as PagerDuty's `client_url`.
    public var clientURL: String?
    public var receivers: [ReceiverConfig]

    /// The default `state_dir`: systemd's `$STATE_DIRECTORY` (set by `StateDirectory=`; the first
    /// of a colon-separated list), else none.
    public static func defaultStateDirectory(environment: [String: String]) -> String? {
        guard let value = environment["STATE_DIRECTORY"], let first = value.split(separator: ":").first, first.hasPrefix("/") else {
            return nil
        }
        return String(first)
    }
    public static let defaultOutboxMaxRecords = 2000

    public init(clusterID: String = "", stateDirectory: String? = nil,
                outboxMaxRecords: Int = defaultOutboxMaxRecords, clientURL: String? = nil, receivers: [ReceiverConfig] = []) {
        self.clusterID = clusterID
        self.stateDirectory = stateDirectory
        self.outboxMaxRecords = outboxMaxRecords
        self.clientURL = clientURL
        self.receivers = receivers
    }

    /// True when at least one receiver is configured (otherwise there is nothing to run).
    public var isEnabled: Bool { !receivers.isEmpty }

    public func receiver(named name: String) -> ReceiverConfig? { receivers.first { $0.name == name } }
}

public enum ReceiverType: String, Sendable, Hashable, CaseIterable {
    case slack, pagerduty

    /// `Slack` / `PagerDuty`, for messages.
    public var displayName: String { self == .slack ? "Slack" : "PagerDuty" }
}

/// A client-side token bucket: `perSecond` sustained, `burst` at once.
public struct RateLimit: Sendable, Equatable {
    public var perSecond: Double
    public var burst: Int
    public init(perSecond: Double, burst: Int) {
        self.perSecond = perSecond
        self.burst = burst
    }

    /// Slack: one message per second, short bursts allowed (api.slack.com/docs/rate-limits).
    public static let slackDefault = RateLimit(perSecond: 1, burst: 4)
    /// PagerDuty: 2 events/s, burst 10 (the notifier also keeps a 60 events/min ceiling per key).
    public static let pagerDutyDefault = RateLimit(perSecond: 2, burst: 10)
}

/// One Slack webhook or PagerDuty integration.
public struct ReceiverConfig: Sendable, Equatable {
    /// Where the secret was read from, for start-up logs and re-reading after a rotation.
    public enum SecretSource: Sendable, Equatable, CustomStringConvertible {
        case file(String)
        case environment(String)

        public var description: String {
            switch self {
            case let .file(path): return "file:\(path)"
            case let .environment(name): return "env:\(name)"
            }
        }
    }

    public var name: String
    public var type: ReceiverType
    public var minSeverity: NotificationSeverity
    public var sendResolved: Bool
    /// Slack: the webhook URL (the URL is the credential). PagerDuty: the routing key.
    public var secret: Secret
    public var secretSource: SecretSource
    /// PagerDuty's Events API endpoint (not a secret). Nil for Slack, whose URL is ``secret``.
    public var url: String?
    public var rateLimit: RateLimit
    /// Per-request timeout in seconds (connect + send + response).
    public var timeout: Double
    /// The endpoint's host, the only part of the URL that logs show.
    public var endpointHost: String
    /// True only when the endpoint is plain `http` on a loopback address (tests, local relays).
    public var allowsPlainHTTP: Bool

    public static let defaultPagerDutyURL = "https://events.pagerduty.com/v2/enqueue"

    public init(
        name: String, type: ReceiverType, secret: Secret, secretSource: SecretSource, minSeverity: NotificationSeverity? = nil,
        sendResolved: Bool = true, url: String? = nil, rateLimit: RateLimit? = nil, timeout: Double? = nil,
        endpointHost: String? = nil, allowsPlainHTTP: Bool = false
    ) {
        self.name = name
        self.type = type
        self.secret = secret
        self.secretSource = secretSource
        self.minSeverity = minSeverity ?? (type == .pagerduty ? .critical : .warning)
        self.sendResolved = sendResolved
        self.url = type == .pagerduty ? (url ?? Self.defaultPagerDutyURL) : nil
        self.rateLimit = rateLimit ?? (type == .pagerduty ? .pagerDutyDefault : .slackDefault)
        self.timeout = timeout ?? (type == .pagerduty ? 15 : 10)
        self.endpointHost = endpointHost ?? (type == .pagerduty ? "events.pagerduty.com" : "hooks.slack.com")
        self.allowsPlainHTTP = allowsPlainHTTP
    }

    /// `slack:team`, `pagerduty:oncall`: how logs, errors and request display names call it.
    public var displayName: String { "\(type.rawValue):\(name)" }

    /// The start-up line's fields: host, where the secret came from and a short fingerprint that lets
    /// an operator confirm a rotation without revealing anything.
    public var startupDescription: String {
        "receiver=\(displayName) host=\(endpointHost) secret=\(secretSource) sha256_8=\(Sha256.hex(secret.revealed).prefix(8))"
    }

    /// Whether a notification goes to this receiver.
    public func accepts(_ notification: AlertNotification) -> Bool {
        notification.severity >= minSeverity && (notification.kind == .trigger || sendResolved)
    }
}

extension ConfigLoader {
    /// Top-level keys that ``parseAlerting(_:reader:)`` reads.
    static let alertingTopKeys = ["receivers", "alerting"]
    static let alertingKeys = ["cluster_id", "state_dir", "outbox_max_records", "client_url"] + alertRulesKeys
    static let receiverKeys = [
        "name", "type", "min_severity", "send_resolved", "webhook_url", "webhook_url_file", "webhook_url_env",
        "routing_key", "routing_key_file", "routing_key_env", "url", "rate_limit", "rate_burst", "timeout",
    ]

    /// Parses the top-level `alerting:` and `receivers:` sections (absent: alerting disabled).
    ///
    /// Errors go to `reader`, each named by its key path (`receivers[1].webhook_url_file`); secrets
    /// are never quoted in them.
    func parseAlerting(_ top: [String: Node], reader: inout NodeReader) -> AlertingConfig {
        var config = AlertingConfig(stateDirectory: AlertingConfig.defaultStateDirectory(environment: environment))
        var clusterIDGiven = false
        if let node = top["alerting"], let fields = reader.mapping(node, path: "alerting", allowed: Self.alertingKeys) {
            if let node = fields["cluster_id"], let text = reader.scalar(node, path: "alerting.cluster_id") {
                clusterIDGiven = true
                if Self.isPlainName(text) {
                    config.clusterID = text
                } else {
                    reader.fail("alerting.cluster_id", "\(ConfigEcho.quoted(text)) may use only letters, digits, '-', '_' and '.' (at most 64)")
                }
            }
            if let node = fields["state_dir"], let text = reader.scalar(node, path: "alerting.state_dir") {
                if text.hasPrefix("/") { config.stateDirectory = text } else {
                    reader.fail("alerting.state_dir", "\(ConfigEcho.quoted(text)) must be an absolute path (e.g. /var/lib/poolwatch)")
                }
            }
            if let node = fields["outbox_max_records"] {
                config.outboxMaxRecords = reader.integer(node, path: "alerting.outbox_max_records", range: 10...1_000_000)
                    ?? config.outboxMaxRecords
            }
            if let node = fields["client_url"], let text = reader.scalar(node, path: "alerting.client_url") {
                if case .success = HTTPURL.parse(text) { config.clientURL = text } else {
                    reader.fail("alerting.client_url", "\(ConfigEcho.quoted(text)) is not an http or https URL")
                }
            }
        }
        guard let receiversNode = top["receivers"] else { return config }
        let items = reader.sequence(receiversNode, path: "receivers") ?? []
        var seen: [String: Int] = [:]
        for (index, item) in items.enumerated() {
            let path = "receivers[\(index)]"
            guard let receiver = parseReceiver(item, path: path, reader: &reader) else { continue }
            if let first = seen[receiver.name] {
                reader.fail("\(path).name", "duplicate receiver name \(ConfigEcho.quoted(receiver.name)) (also used by receivers[\(first)])")
                continue
            }
            seen[receiver.name] = index
            config.receivers.append(receiver)
        }
        if !items.isEmpty, !clusterIDGiven {
            reader.fail("alerting.cluster_id",
                        "is required with receivers: a stable name for this deployment (e.g. prod-eu1), the same on every replica, so their PagerDuty events merge")
        }
        return config
    }

    private static func isPlainName(_ text: String) -> Bool {
        !text.isEmpty && text.unicodeScalars.count <= 64 && DedupKey.sanitize(text) == text
    }

    private func parseReceiver(_ node: Node, path: String, reader: inout NodeReader) -> ReceiverConfig? {
        guard let fields = reader.mapping(node, path: path, allowed: Self.receiverKeys) else { return nil }
        let errorsBefore = reader.errors.count
        var name = ""
        if let node = fields["name"], let text = reader.scalar(node, path: "\(path).name") {
            name = text
            if !Self.isPlainName(text) {
                reader.fail("\(path).name", "\(ConfigEcho.quoted(text)) may use only letters, digits, '-', '_' and '.' (at most 64)")
            }
        } else if fields["name"] == nil {
            reader.fail("\(path).name", "is required (e.g. oncall)")
        }
        var type: ReceiverType?
        if let node = fields["type"], let text = reader.scalar(node, path: "\(path).type") {
            type = reader.oneOf(text, path: "\(path).type", ReceiverType.self)
        } else if fields["type"] == nil {
            reader.fail("\(path).type", "is required (one of: slack, pagerduty)")
        }
        guard let type else { return nil }

        let secretKey = type == .slack ? "webhook_url" : "routing_key"
        let otherKey = type == .slack ? "routing_key" : "webhook_url"
        for suffix in ["", "_file", "_env"] where fields[otherKey + suffix] != nil {
            reader.fail("\(path).\(otherKey)\(suffix)", "applies only to type \(type == .slack ? "pagerduty" : "slack"), not \(type.rawValue)")
        }
        if fields[secretKey] != nil {
            let what = type == .slack ? "a Slack webhook URL is itself the credential" : "a PagerDuty routing key is a credential"
            reader.fail("\(path).\(secretKey)",
                        "inline secrets are not accepted (\(what)): put it in a file (\(secretKey)_file) or an environment variable (\(secretKey)_env)")
        }
        let secret = parseReceiverSecret(fields, key: secretKey, path: path, reader: &reader)

        var minSeverity: NotificationSeverity?
        if let node = fields["min_severity"], let text = reader.scalar(node, path: "\(path).min_severity") {
            minSeverity = reader.oneOf(text, path: "\(path).min_severity", NotificationSeverity.self)
        }
        var sendResolved = true
        if let node = fields["send_resolved"] { sendResolved = reader.bool(node, path: "\(path).send_resolved") ?? true }

        var url: String?
        var host: String?
        var plainHTTP = false
        if let node = fields["url"] {
            if type == .slack {
                reader.fail("\(path).url", "applies only to type pagerduty (a Slack webhook URL is a secret: use webhook_url_file or webhook_url_env)")
            } else if let text = reader.scalar(node, path: "\(path).url") {
                switch Self.checkEndpoint(text) {
                case let .success(endpoint):
                    (url, host, plainHTTP) = (text, endpoint.host, endpoint.plainHTTP)
                case let .failure(problem):
                    reader.fail("\(path).url", "\(ConfigEcho.quoted(text)) \(problem.message)")
                }
            }
        }
        if type == .slack, let secret {
            // The URL itself is never quoted: it is the credential.
            switch Self.checkEndpoint(secret.value.revealed) {
            case let .success(endpoint): (host, plainHTTP) = (endpoint.host, endpoint.plainHTTP)
            case let .failure(problem): reader.fail(secret.path, "the webhook URL \(problem.message)")
            }
        }
        if type == .pagerduty, let secret,
           secret.value.revealed.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.properties.generalCategory == .control }) {
            reader.fail(secret.path, "the routing key contains spaces or control characters")
        }

        var rateLimit = type == .slack ? RateLimit.slackDefault : RateLimit.pagerDutyDefault
        if let node = fields["rate_limit"], let text = reader.scalar(node, path: "\(path).rate_limit") {
            if let perSecond = Self.rate(text), perSecond > 0, perSecond <= 100 {
                rateLimit.perSecond = perSecond
            } else {
                reader.fail("\(path).rate_limit", "\(ConfigEcho.quoted(text)) is not a rate up to 100/s (use 1/s, 30/m)")
            }
        }
        if let node = fields["rate_burst"] {
            rateLimit.burst = reader.integer(node, path: "\(path).rate_burst", range: 1...1000) ?? rateLimit.burst
        }
        var timeout: Double?
        if let node = fields["timeout"], let text = reader.scalar(node, path: "\(path).timeout") {
            if let seconds = DurationParser.seconds(text), seconds >= 0.1, seconds <= 120 { timeout = seconds } else {
                reader.fail("\(path).timeout", "\(ConfigEcho.quoted(text)) is not a duration from 100ms to 2m (use 10s)")
            }
        }
        guard reader.errors.count == errorsBefore, let secret else { return nil }
        return ReceiverConfig(
            name: name, type: type, secret: secret.value, secretSource: secret.source, minSeverity: minSeverity,
            sendResolved: sendResolved, url: url, rateLimit: rateLimit, timeout: timeout, endpointHost: host, allowsPlainHTTP: plainHTTP)
    }

    /// Exactly one of `<key>_file`, `<key>_env`; the trimmed file content or the variable's value.
    private func parseReceiverSecret(_ fields: [String: Node], key: String, path: String, reader: inout NodeReader)
        -> (value: Secret, source: ReceiverConfig.SecretSource, path: String)?
    {
        let given = ["\(key)_file", "\(key)_env"].filter { fields[$0] != nil }
        guard let chosen = given.first else {
            if fields[key] == nil { reader.fail("\(path).\(key)_file", "is required (or \(key)_env): where to read the secret from") }
            return nil
        }
        if given.count > 1 {
            reader.fail("\(path).\(given[1])", "conflicts with \(path).\(chosen): give only one of \(key)_file, \(key)_env")
            return nil
        }
        let keyPath = "\(path).\(chosen)"
        guard let text = reader.scalar(fields[chosen]!, path: keyPath) else { return nil }
        if chosen.hasSuffix("_file") {
            guard let content = readSecretFile(text, path: keyPath, reader: &reader) else { return nil }
            return (Secret(content), .file(text), keyPath)
        }
        guard let value = environment[text]?.trimmingSpaces(), !value.isEmpty else {
            reader.fail(keyPath, "environment variable \(ConfigEcho.value(text)) is not set")
            return nil
        }
        return (Secret(value), .environment(text), keyPath)
    }

    /// An endpoint must be `https`, or plain `http` on a loopback address only.
    static func checkEndpoint(_ text: String) -> Result<(host: String, plainHTTP: Bool), HTTPURL.Problem> {
        switch HTTPURL.parse(text) {
        case let .failure(problem):
            return .failure(HTTPURL.Problem(message: "is not a usable URL: \(problem.message)"))
        case let .success(url):
            let host = url.hostPort.hasPrefix("[")
                ? String(url.hostPort.prefix { $0 != "]" }.dropFirst())
                : String(url.hostPort.prefix { $0 != ":" })
            if url.scheme == "https" { return .success((host, false)) }
            if ["127.0.0.1", "localhost", "::1"].contains(host.lowercased()) { return .success((host, true)) }
            return .failure(HTTPURL.Problem(message: "must use https (plain http is allowed only on 127.0.0.1 / localhost)"))
        }
    }

    /// `2/s`, `30/m`, `0.5/s`, `120/min`, `3600/h` as events per second.
    static func rate(_ text: String) -> Double? {
        let parts = text.trimmingSpaces().split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let count = Double(String(parts[0]).trimmingSpaces()), count.isFinite else { return nil }
        switch String(parts[1]).trimmingSpaces().lowercased() {
        case "s", "sec", "second": return count
        case "m", "min", "minute": return count / 60
        case "h", "hour": return count / 3600
        default: return nil
        }
    }
}
