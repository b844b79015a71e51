import Testing

@testable import PoolWatchCore

/// The notifier's pacing and answer decisions on explicit times: nothing sleeps.
@Suite struct DeliveryPacerTests {
    static func receiver(_ name: String, _ type: ReceiverType, rate: Double = 1, burst: Int = 1,
                         secret: ReceiverConfig.SecretSource = .environment("S")) -> ReceiverConfig {
        ReceiverConfig(name: name, type: type, secret: Secret("secret-\(name)"), secretSource: secret,
                       rateLimit: RateLimit(perSecond: rate, burst: burst))
    }

    @Test func tokensSpaceSendsPerReceiver() {
        var pacer = DeliveryPacer(receivers: [Self.receiver("team", .slack, rate: 2), Self.receiver("oncall", .pagerduty)])
        func may(_ name: String, _ now: Double) -> Bool { pacer.mayStart(name, now: now) }
        #expect(may("team", 100))
        #expect(!may("team", 100.2))
        #expect(pacer.earliest("team", due: 100.2, now: 100.2) == 100.5)
        #expect(may("team", 100.5))
        #expect(may("oncall", 100.5), "one receiver's bucket never holds another's")
        #expect(!may("nobody", 100))
    }

    @Test func pagerDutyPausesDoubleOnConsecutive429sAndResetOnSuccess() {
        let oncall = Self.receiver("oncall", .pagerduty, rate: 100, burst: 100)
        var pacer = DeliveryPacer(receivers: [oncall])
        func may(_ name: String, _ now: Double) -> Bool { pacer.mayStart(name, now: now) }
        let policy = NotifierPolicy()
        func rateLimited(at now: Double) -> DeliveryPacer.Decision {
            pacer.decide(.rateLimited(retryAfter: nil), status: 429, detail: "HTTP 429", receiver: oncall, attempt: 1,
                         policy: policy, random: 0, mayRereadSecret: true, now: now)
        }
        #expect(rateLimited(at: 0).retryIn == 30)
        #expect(!may("oncall", 29) && may("oncall", 30))
        #expect(rateLimited(at: 30).retryIn == 60)
        #expect(rateLimited(at: 90).retryIn == 120)
        #expect(pacer.earliest("oncall", due: 100, now: 100) == 210)
        let delivered = pacer.decide(.delivered, status: 202, detail: "", receiver: oncall, attempt: 4, policy: policy, random: 0,
                                     mayRereadSecret: true, now: 210)
        #expect(delivered.outcome == .delivered(status: 202))
        #expect(rateLimited(at: 211).retryIn == 30, "the doubling starts again after a success")
    }

    @Test func answersBecomeOutcomes() {
        let team = Self.receiver("team", .slack, secret: .file("/run/secrets/slack"))
        var pacer = DeliveryPacer(receivers: [team])
        func may(_ name: String, _ now: Double) -> Bool { pacer.mayStart(name, now: now) }
        let policy = NotifierPolicy()
        func decide(_ classification: DeliveryClassification, mayReread: Bool = true) -> DeliveryPacer.Decision {
            pacer.decide(classification, status: 500, detail: "HTTP 500", receiver: team, attempt: 1, policy: policy, random: 0.5,
                         mayRereadSecret: mayReread, now: 1000)
        }
        let transient = decide(.transient(.server))
        #expect(transient.outcome == .retry(notBefore: 1000 + transient.retryIn!, status: 500, error: "HTTP 500") && transient.level == .warning)
        #expect(decide(.rejectedPayload).outcome == .degrade(status: 500, error: "HTTP 500"))
        #expect(decide(.interrupted).outcome == .interrupted && decide(.interrupted).level == .info)
        // A refused secret read from a file: re-read it first, once per record.
        let refused = decide(.permanent(.client, reloadSecret: true))
        #expect(refused.outcome == .dead(status: 500, error: "HTTP 500") && refused.rereadSecretFirst)
        #expect(!decide(.permanent(.client, reloadSecret: true), mayReread: false).rereadSecretFirst)
        #expect(!decide(.permanent(.client, reloadSecret: false)).rereadSecretFirst)
        var fromEnvironment = DeliveryPacer(receivers: [Self.receiver("env", .slack)])
        let environmentSecret = fromEnvironment.decide(.permanent(.client, reloadSecret: true), status: 404, detail: "",
            receiver: Self.receiver("env", .slack), attempt: 1, policy: policy, random: 0, mayRereadSecret: true, now: 0)
        #expect(!environmentSecret.rereadSecretFirst, "a secret from the environment cannot have changed")
    }

    @Test func reloadKeepsTheBucketOfAnUnchangedReceiver() {
        var pacer = DeliveryPacer(receivers: [Self.receiver("team", .slack), Self.receiver("ops", .slack)])
        func may(_ name: String, _ now: Double) -> Bool { pacer.mayStart(name, now: now) }
        #expect(may("team", 0) && may("ops", 0))
        pacer.reconfigure([Self.receiver("team", .slack), Self.receiver("ops", .slack, rate: 5)])
        #expect(!may("team", 0.1), "same rate: the spent token stays spent")
        #expect(may("ops", 0.1), "new rate: a fresh bucket")
        pacer.reconfigure([Self.receiver("ops", .slack, rate: 5)])
        #expect(!may("team", 10))
    }
}
