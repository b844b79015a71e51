import Testing

@testable import PoolWatchCore

/// Parsing of the top-level `alerting:` and `receivers:` sections; errors named by key path, secrets
/// only from files or the environment and never quoted.
@Suite struct AlertingReceiversConfigTests {
    struct NoFile: Error, CustomStringConvertible { var description: String { "No such file or directory" } }

    static let slackURL = "https://hooks.slack.com/services/T0001/B0001/s3cretW3bh00kT0ken"
    static let routingKey = "R0UT1NGK3Y0123456789abcdef012345"

    /// Parses `yaml` (a whole config file) the way `ConfigLoader.load` calls ``ConfigLoader/parseAlerting(_:reader:)``.
    func parse(_ yaml: String, env: [String: String] = [:], files: [String: String] = [:]) throws
        -> (config: AlertingConfig, errors: [String])
    {
        let loader = ConfigLoader(environment: env, readFile: { path in
            guard let text = files[path] else { throw NoFile() }
            return text
        })
        var reader = NodeReader()
        let node = try #require(try YAML.compose(yaml: yaml))
        let top = reader.mapping(node, path: "", allowed: ConfigLoader.alertingTopKeys) ?? [:]
        let config = loader.parseAlerting(top, reader: &reader)
        let errors = reader.errors.map(\.description)
        for error in errors {
            #expect(!error.contains("s3cretW3bh00kT0ken"), "error quotes the Slack secret: \(error)")
            #expect(!error.contains(Self.routingKey), "error quotes the routing key: \(error)")
        }
        return (config, errors)
    }

    @Test func fullConfigWithDefaults() throws {
        let (config, errors) = try parse("""
            alerting:
              cluster_id: prod-eu1
              client_url: https://poolwatch.example.net/alerts
            receivers:
              - name: oncall
                type: pagerduty
                routing_key_file: /run/secrets/pd
              - name: team
                type: slack
                webhook_url_env: SLACK_URL
                min_severity: info
                send_resolved: false
                rate_limit: 30/m
                rate_burst: 2
                timeout: 3s
            """, env: ["SLACK_URL": Self.slackURL], files: ["/run/secrets/pd": "  \(Self.routingKey)\n"])
        #expect(errors == [])
        #expect(config.clusterID == "prod-eu1")
        #expect(config.stateDirectory == nil, "no state_dir and no $STATE_DIRECTORY: memory only (README)")
        #expect(config.outboxMaxRecords == 2000)
        #expect(config.clientURL == "https://poolwatch.example.net/alerts")
        #expect(config.isEnabled)
        let pagerDuty = try #require(config.receiver(named: "oncall"))
        #expect(pagerDuty.type == .pagerduty)
        #expect(pagerDuty.secret.revealed == Self.routingKey)
        #expect(pagerDuty.secretSource == .file("/run/secrets/pd"))
        #expect(pagerDuty.minSeverity == .critical)
        #expect(pagerDuty.sendResolved)
        #expect(pagerDuty.url == "https://events.pagerduty.com/v2/enqueue")
        #expect(pagerDuty.rateLimit == RateLimit(perSecond: 2, burst: 10))
        #expect(pagerDuty.timeout == 15)
        #expect(pagerDuty.endpointHost == "events.pagerduty.com")
        #expect(!pagerDuty.allowsPlainHTTP)
        let slack = try #require(config.receiver(named: "team"))
        #expect(slack.secret.revealed == Self.slackURL)
        #expect(slack.secretSource == .environment("SLACK_URL"))
        #expect(slack.url == nil)
        #expect(slack.minSeverity == .info)
        #expect(!slack.sendResolved)
        #expect(slack.rateLimit == RateLimit(perSecond: 0.5, burst: 2))
        #expect(slack.timeout == 3)
        #expect(slack.endpointHost == "hooks.slack.com")
        #expect(slack.displayName == "slack:team")
        #expect(slack.startupDescription.hasPrefix("receiver=slack:team host=hooks.slack.com secret=env:SLACK_URL sha256_8="))
        #expect(!"\(slack)".contains("s3cretW3bh00kT0ken"))
    }

    @Test func stateDirDefaultsToSystemdStateDirectoryElseMemoryOnly() throws {
        #expect(try parse("alerting:\n  cluster_id: c\n").config.stateDirectory == nil)
        #expect(try parse("alerting:\n  cluster_id: c\n", env: ["STATE_DIRECTORY": "/var/lib/poolwatch"]).config.stateDirectory
            == "/var/lib/poolwatch")
        // systemd passes several directories separated by colons: the first is ours.
        #expect(try parse("alerting:\n  cluster_id: c\n", env: ["STATE_DIRECTORY": "/var/lib/pw:/var/lib/other"]).config.stateDirectory
            == "/var/lib/pw")
        #expect(try parse("alerting:\n  state_dir: /tmp/pw\n", env: ["STATE_DIRECTORY": "/var/lib/pw"]).config.stateDirectory == "/tmp/pw")
    }

    @Test func noSectionsMeansDisabled() throws {
        let (config, errors) = try parse("alerting:\n  state_dir: /tmp/pw\n")
        #expect(errors == [])
        #expect(!config.isEnabled)
        #expect(config.stateDirectory == "/tmp/pw")
    }

    @Test func inlineSecretsAreRefusedWithTheReason() throws {
        let (_, errors) = try parse("""
            alerting: {cluster_id: c}
            receivers:
              - {name: team, type: slack, webhook_url: "\(Self.slackURL)"}
              - {name: oncall, type: pagerduty, routing_key: \(Self.routingKey)}
            """)
        #expect(errors == [
            "receivers[0].webhook_url: inline secrets are not accepted (a Slack webhook URL is itself the credential): put it in a file (webhook_url_file) or an environment variable (webhook_url_env)",
            "receivers[1].routing_key: inline secrets are not accepted (a PagerDuty routing key is a credential): put it in a file (routing_key_file) or an environment variable (routing_key_env)",
        ])
    }

    @Test func secretSourceMistakes() throws {
        let (_, errors) = try parse("""
            alerting: {cluster_id: c}
            receivers:
              - {name: a, type: slack}
              - {name: b, type: slack, webhook_url_file: /x, webhook_url_env: X}
              - {name: c, type: slack, webhook_url_file: /missing}
              - {name: d, type: pagerduty, routing_key_file: /empty}
              - {name: e, type: pagerduty, routing_key_env: UNSET}
              - {name: f, type: pagerduty, routing_key_env: PD, webhook_url_env: PD}
              - {name: g, type: slack, webhook_url_env: SLACK, url: "https://example.com"}
            """, env: ["PD": Self.routingKey, "SLACK": Self.slackURL], files: ["/x": "y", "/empty": " \n"])
        #expect(errors == [
            "receivers[0].webhook_url_file: is required (or webhook_url_env): where to read the secret from",
            "receivers[1].webhook_url_env: conflicts with receivers[1].webhook_url_file: give only one of webhook_url_file, webhook_url_env",
            "receivers[2].webhook_url_file: cannot read \"/missing\": No such file or directory",
            "receivers[3].routing_key_file: file \"/empty\" is empty",
            "receivers[4].routing_key_env: environment variable UNSET is not set",
            "receivers[5].webhook_url_env: applies only to type slack, not pagerduty",
            "receivers[6].url: applies only to type pagerduty (a Slack webhook URL is a secret: use webhook_url_file or webhook_url_env)",
        ])
    }

    @Test func endpointsMustBeHTTPSExceptOnLoopback() throws {
        let (config, errors) = try parse("""
            alerting: {cluster_id: c}
            receivers:
              - {name: local, type: pagerduty, routing_key_env: PD, url: "http://127.0.0.1:8080/v2/enqueue"}
              - {name: eu, type: pagerduty, routing_key_env: PD, url: "https://events.eu.pagerduty.com/v2/enqueue"}
              - {name: plain, type: pagerduty, routing_key_env: PD, url: "http://events.pagerduty.com/v2/enqueue"}
              - {name: s1, type: slack, webhook_url_env: PLAIN}
              - {name: s2, type: slack, webhook_url_env: LOCAL}
              - {name: s3, type: slack, webhook_url_env: BROKEN}
              - {name: s4, type: pagerduty, routing_key_env: SPACED}
            """, env: [
                "PD": Self.routingKey, "PLAIN": "http://hooks.slack.com/services/T0001/B0001/s3cretW3bh00kT0ken",
                "LOCAL": "http://localhost:9999/services/T0001/B0001/s3cretW3bh00kT0ken", "BROKEN": "hooks s3cretW3bh00kT0ken",
                "SPACED": "abc def",
            ])
        #expect(errors == [
            "receivers[2].url: \"http://events.pagerduty.com/v2/enqueue\" must use https (plain http is allowed only on 127.0.0.1 / localhost)",
            "receivers[3].webhook_url_env: the webhook URL must use https (plain http is allowed only on 127.0.0.1 / localhost)",
            "receivers[5].webhook_url_env: the webhook URL is not a usable URL: it contains spaces or control characters",
            "receivers[6].routing_key_env: the routing key contains spaces or control characters",
        ])
        #expect(config.receiver(named: "local")?.allowsPlainHTTP == true)
        #expect(config.receiver(named: "local")?.endpointHost == "127.0.0.1")
        #expect(config.receiver(named: "eu")?.endpointHost == "events.eu.pagerduty.com")
        #expect(config.receiver(named: "s2")?.allowsPlainHTTP == true)
    }

    @Test func clusterIDIsRequiredWithReceiversAndNamesAreChecked() throws {
        let (_, errors) = try parse("""
            alerting: {state_dir: relative/dir, outbox_max_records: 5, cluster_id: "prod eu"}
            receivers:
              - {name: "bad name", type: slack, webhook_url_env: SLACK}
              - {name: team, type: teams, webhook_url_env: SLACK}
              - {name: dup, type: slack, webhook_url_env: SLACK, min_severity: page, rate_limit: fast, send_resolved: maybe}
              - {name: dup, type: slack, webhook_url_env: SLACK, timeout: 10m}
              - {name: x, type: slack, webhook_url_env: SLACK, rate_limit: 1/s, rate_burst: 0, chanel: "#x"}
            """, env: ["SLACK": Self.slackURL])
        #expect(errors == [
            "alerting.cluster_id: \"prod eu\" may use only letters, digits, '-', '_' and '.' (at most 64)",
            "alerting.state_dir: \"relative/dir\" must be an absolute path (e.g. /var/lib/poolwatch)",
            "alerting.outbox_max_records: 5 is out of range (10 to 1000000)",
            "receivers[0].name: \"bad name\" may use only letters, digits, '-', '_' and '.' (at most 64)",
            "receivers[1].type: \"teams\" is not valid (expected one of: slack, pagerduty)",
            "receivers[2].min_severity: \"page\" is not valid (expected one of: info, warning, critical)",
            "receivers[2].send_resolved: \"maybe\" is not a boolean (use true or false)",
            "receivers[2].rate_limit: \"fast\" is not a rate up to 100/s (use 1/s, 30/m)",
            "receivers[3].timeout: \"10m\" is not a duration from 100ms to 2m (use 10s)",
            "receivers[4].chanel: unknown key; expected one of: \(ConfigLoader.receiverKeys.joined(separator: ", "))",
            "receivers[4].rate_burst: 0 is out of range (1 to 1000)",
        ])
        let (_, missing) = try parse("""
            receivers:
              - {name: a, type: slack, webhook_url_env: SLACK}
              - {name: a, type: slack, webhook_url_env: SLACK}
            """, env: ["SLACK": Self.slackURL])
        #expect(missing == [
            "receivers[1].name: duplicate receiver name \"a\" (also used by receivers[0])",
            "alerting.cluster_id: is required with receivers: a stable name for this deployment (e.g. prod-eu1), the same on every replica, so their PagerDuty events merge",
        ])
    }

    @Test func rates() {
        #expect(ConfigLoader.rate("1/s") == 1)
        #expect(ConfigLoader.rate("30/m") == 0.5)
        #expect(ConfigLoader.rate(" 120 / min ") == 2)
        #expect(ConfigLoader.rate("3600/h") == 1)
        #expect(ConfigLoader.rate("1") == nil)
        #expect(ConfigLoader.rate("x/s") == nil)
    }

    @Test func acceptsBySeverityAndResolvePolicy() {
        let receiver = ReceiverConfig(name: "r", type: .slack, secret: Secret("x"), secretSource: .environment("X"), sendResolved: false)
        var notification = AlertingFixtures.firing(severity: .info)
        #expect(!receiver.accepts(notification))
        notification.severity = .warning
        #expect(receiver.accepts(notification))
        notification.kind = .resolve
        #expect(!receiver.accepts(notification))
    }
}
