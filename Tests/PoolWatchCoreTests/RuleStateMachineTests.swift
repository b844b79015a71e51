#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Testing

@testable import PoolWatchCore

@Suite struct RuleStateMachineTests {
    typealias F = RuleFixtures

    func rule(
        _ name: String = "High", _ expression: String = "x > 0", expression named: String? = nil, for forDuration: Double = 0, keep: Double = 0,
        inhibits: Bool = false
    ) throws -> AlertRule {
        try AlertRule(
            name: name, expression: named ?? expression, forDuration: forDuration, keepFiringFor: keep, severity: .warning,
            summary: "{{ $labels.target }} is {{ $value }}", description: "d", runbookURL: "https://r/#\(name.lowercased())",
            threshold: 0, inhibitsSameTarget: inhibits)
    }

    /// Feeds `x{target="t"}` (nil: no sample) every 30 s from `start`; returns transitions per step.
    func run(
        _ engine: inout AlertEngine, _ values: [Double?], start: Double = 0, unavailable: Set<String> = []
    ) -> [[AlertTransition]] {
        values.enumerated().map { index, value in
            let points = value.map { [F.point("x", ["target": "t"], $0)] } ?? []
            return engine.step(F.families(points), at: start + Double(index) * 30, unavailableTargets: unavailable).transitions
        }
    }

    func phase(_ engine: AlertEngine, at time: Double = 0) -> AlertPhase? { engine.alerts(at: time).first?.instance.phase }

    @Test func pendingFiringHeldResolved() throws {
        var engine = AlertEngine(rules: [try rule(for: 60, keep: 60)])
        var phases: [AlertPhase?] = []
        var transitions: [[AlertTransition]] = []
        for (index, value) in [1.0, 1, 1, 1, 0, 0, 0].enumerated() {
            transitions += run(&engine, [value], start: Double(index) * 30)
            phases.append(phase(engine))
        }
        #expect(phases == [.pending, .pending, .firing, .firing, .held, .held, .resolved])
        #expect(transitions.map { $0.map(\.kind) } == [[], [], [.fired], [], [], [], [.resolved]])
        let fired = transitions[2][0]
        #expect(fired.ruleName == "High" && fired.severity == .warning && fired.value == 1 && fired.threshold == 0)
        #expect(fired.activeAt == 0 && fired.firedAt == 60 && fired.resolvedAt == nil)
        #expect(fired.labels == LabelSet(["alertname": "High", "severity": "warning", "target": "t"]))
        #expect(fired.identity == LabelSet(["target": "t"]))
        #expect(fired.key == "High{target=\"t\"}")
        #expect(fired.annotations == LabelSet(["summary": "t is 1", "description": "d", "runbook_url": "https://r/#high"]))
        #expect(transitions[6][0].resolvedAt == 180 && transitions[6][0].firedAt == 60)
    }

    /// An application with 500 pools in trouble pages `maxInstancesPerRule` times plus once for the rest,
    /// whose summary says how many; the grouped alert resolves once when the rest clears.
    @Test func instancesBeyondTheCapAreGroupedIntoOneNotification() throws {
        var engine = AlertEngine(rules: [try rule()], options: .init(maxInstancesPerRule: 25))
        func round(_ pools: Int, at time: Double, value: Double = 1) -> [AlertTransition] {
            let points = (0..<pools).map { F.point("x", ["target": "t", "pool": "p\(1000 + $0)"], value) }
            return engine.step(F.families(points), at: time).transitions
        }
        let fired = round(500, at: 0)
        #expect(fired.count == 26)
        #expect(Set(fired.compactMap { $0.identity["pool"] }) == Set((0..<25).map { "p\(1000 + $0)" }))
        let grouped = try #require(fired.first { $0.identity == LabelSet([AlertEngine.groupedLabel: "true", "target": "t"]) })
        #expect(grouped.value == 475)
        #expect(grouped.annotations["summary"] == "475 more High alerts on t than the 25 tracked one by one")
        #expect(grouped.labels["alertname"] == "High" && grouped.labels["severity"] == "warning")
        #expect(engine.alerts(at: 0).count == 26)
        // The same pools stay individual while the set changes; no new pages.
        #expect(round(499, at: 30).isEmpty)
        #expect(engine.alerts(at: 30).first { $0.instance.identity == grouped.identity }?.instance.value == 474)
        // Down to 25: the group resolves, the 25 individual alerts keep firing.
        let resolved = round(25, at: 60)
        #expect(resolved.map(\.kind) == [.resolved] && resolved.first?.identity == grouped.identity)
        #expect(round(0, at: 90).count == 25)
    }

    /// A grouped alert is frozen, not resolved, while its target delivers no data, like any other.
    @Test func groupedAlertIsNotResolvedByMissingData() throws {
        var engine = AlertEngine(rules: [try rule()], options: .init(resolveWarmUpEvaluations: 0, maxInstancesPerRule: 2))
        let points = (0..<5).map { F.point("x", ["target": "t", "pool": "p\($0)"], 1) }
        #expect(engine.step(F.families(points), at: 0).transitions.count == 3)
        #expect(engine.step([], at: 30, unavailableTargets: ["t"]).transitions.isEmpty)
        #expect(engine.step([], at: 60).transitions.map(\.kind) == [.resolved, .resolved, .resolved])
    }

    @Test func pendingThatClearsRestartsItsTimer() throws {
        var engine = AlertEngine(rules: [try rule(for: 60)])
        let transitions = run(&engine, [1, 1, 0, 1, 1, 1])
        #expect(transitions.flatMap { $0 }.map(\.firedAt) == [150])
    }

    @Test func flappingWithKeepFiringForSendsNoResolveTriggerPairs() throws {
        var engine = AlertEngine(rules: [try rule(keep: 60)])
        let transitions = run(&engine, [1, 0, 1, 0, 1, 0, 1, 0, 0, 0]).flatMap { $0 }
        #expect(transitions.map(\.kind) == [.fired, .resolved])
        #expect(transitions.last?.resolvedAt == 270)
        // Without keep_firing_for the same input pages four times.
        var plain = AlertEngine(rules: [try rule()])
        #expect(run(&plain, [1, 0, 1, 0, 1, 0, 1, 0, 0, 0]).flatMap { $0 }.filter { $0.kind == .fired }.count == 4)
    }

    @Test func missingDataNeverResolves() throws {
        var engine = AlertEngine(rules: [try rule()])
        var transitions = run(&engine, [1, 1])
        // Ten rounds where the target failed: no samples, and the target is reported unavailable.
        transitions += run(&engine, Array(repeating: nil, count: 10), start: 60, unavailable: ["t"])
        #expect(phase(engine) == .firing)
        transitions += run(&engine, [1], start: 360)
        #expect(transitions.flatMap { $0 }.map(\.kind) == [.fired])
        transitions += run(&engine, [nil], start: 390)  // fresh round without the series: resolves
        #expect(transitions.flatMap { $0 }.map(\.kind) == [.fired, .resolved])
    }

    @Test func missingDataFreezesThePendingTimer() throws {
        var engine = AlertEngine(rules: [try rule(for: 60)])
        var transitions = run(&engine, [1])
        transitions += run(&engine, Array(repeating: nil, count: 10), start: 30, unavailable: ["t"])
        #expect(phase(engine) == .pending)
        transitions += run(&engine, [1, 1, 1], start: 330)
        // 30 s of condition before the gap + 30 s after it make 60 s at t=360.
        #expect(transitions.flatMap { $0 }.map(\.firedAt) == [360])
        #expect(transitions.flatMap { $0 }.first?.activeAt == 300)
    }

    @Test func noResolveDuringWarmUp() throws {
        var engine = AlertEngine(rules: [try rule()], options: AlertEngine.Options(resolveWarmUpEvaluations: 3))
        let transitions = run(&engine, [1, 0, 0, 0])
        #expect(transitions.map { $0.map(\.kind) } == [[.fired], [], [.resolved], []])
    }

    @Test func restartKeepsFiringAlertsAndOwedResolves() throws {
        var first = AlertEngine(rules: [try rule()])
        #expect(run(&first, [1, 1]).flatMap { $0 }.map(\.kind) == [.fired])
        let data = try JSONEncoder().encode(first.persistentState(at: 30))
        let state = try JSONDecoder().decode(AlertEngineState.self, from: data)
        #expect(state == first.persistentState(at: 30))

        // Still firing after the restart: no second page.
        var second = AlertEngine(rules: [try rule()])
        second.restore(state, at: 600)
        #expect(run(&second, [1, 1], start: 600).flatMap { $0 }.isEmpty)

        // Cleared after the restart: the first round may not resolve (warm-up), the second does, and
        // the resolve goes out because the restored instance was notified.
        var third = AlertEngine(rules: [try rule()])
        third.restore(state, at: 600)
        let transitions = run(&third, [0, 0], start: 600)
        #expect(transitions.map { $0.map(\.kind) } == [[], [.resolved]])
        #expect(transitions[1].first?.firedAt == 0)
    }

    @Test func restoredPendingTimersRespectTheOutageTolerance() throws {
        var first = AlertEngine(rules: [try rule(for: 600)])
        _ = run(&first, [1, 1])
        let state = first.persistentState(at: 30)
        var shortOutage = AlertEngine(rules: [try rule(for: 600)])
        shortOutage.restore(state, at: 300)
        #expect(shortOutage.alerts(at: 300).first?.instance.activeAt == 0)
        var longOutage = AlertEngine(rules: [try rule(for: 600)])
        longOutage.restore(state, at: 30 + 601)
        #expect(longOutage.alerts(at: 631).isEmpty)
    }

    @Test func instancesOfRemovedRulesResolveAfterRestart() throws {
        var first = AlertEngine(rules: [try rule("Gone")])
        _ = run(&first, [1])
        var second = AlertEngine(rules: [try rule()])
        second.restore(first.persistentState(at: 0), at: 60)
        let transitions = run(&second, [0], start: 60).flatMap { $0 }
        #expect(transitions.map(\.kind) == [.resolved])
        #expect(transitions.first?.ruleName == "Gone" && transitions.first?.resolvedAt == 60)
    }

    @Test func reloadKeepsFiringAlertsAndResolvesThoseOfRemovedTargetsAndRules() throws {
        var engine = AlertEngine(rules: [try rule(), try rule("Other", "y > 0")])
        let points = { (time: Double, targets: [String]) in
            engine.step(F.families(targets.flatMap { [F.point("x", ["target": $0], 1), F.point("y", ["target": $0], 1)] }), at: time).transitions
        }
        #expect(points(0, ["t", "u"]).map(\.kind) == [.fired, .fired, .fired, .fired])

        // Same rules, target u removed, rule Other removed, High's threshold unchanged.
        engine.reconfigure(rules: [try rule()], silences: [], removedTargets: ["u"])
        let after = points(30, ["t"])
        #expect(after.map(\.kind) == [.resolved, .resolved, .resolved], "t's High stays firing: no second page")
        let reasons = Dictionary(after.map { ($0.key, $0.reason ?? "") }, uniquingKeysWith: { a, _ in a })
        #expect(reasons["High{target=\"u\"}"] == "target u was removed from the configuration")
        #expect(reasons["Other{target=\"t\"}"] == "rule Other was removed or disabled by a configuration reload")
        #expect(reasons["Other{target=\"u\"}"] == "rule Other was removed or disabled by a configuration reload")
        #expect(engine.alerts(at: 30).map(\.instance.key) == ["High{target=\"t\"}"])
        #expect(engine.alerts(at: 30).first?.instance.phase == .firing)
        #expect(points(60, ["t"]).isEmpty)
    }

    @Test func reloadedThresholdJudgesTheRunningInstanceWithItsHistory() throws {
        var engine = AlertEngine(rules: [try rule(for: 60)])
        _ = run(&engine, [1, 1])  // pending since 0
        engine.reconfigure(rules: [try rule(expression: "x > 5", for: 60)], silences: [], removedTargets: [])
        // Below the new threshold: the pending instance clears without a page.
        #expect(run(&engine, [1, 1, 1], start: 60).flatMap { $0 }.isEmpty)
        engine.reconfigure(rules: [try rule(for: 60)], silences: [], removedTargets: [])
        // Back to x > 0: a new pending period, fired after its for: 60s.
        #expect(run(&engine, [1, 1, 1], start: 150).map { $0.map(\.kind) } == [[], [], [.fired]])
    }

    @Test func silencesMuteFiringButNeverAnOwedResolve() throws {
        var engine = AlertEngine(rules: [try rule()])
        engine.silences = [try AlertSilence(id: "maint", matchers: "High{target=~\"t|u\"}", endsAt: 65)]
        // Fires at 0 while silenced; the silence ends at 65, so the page goes out at 90.
        let transitions = run(&engine, [1, 1, 1, 1])
        #expect(transitions.map { $0.map(\.kind) } == [[], [], [], [.fired]])
        #expect(transitions[3].first?.firedAt == 0)
        #expect(engine.alerts(at: 30).first?.silencedBy == ["maint"])

        // Silenced from the start and resolved while silenced: nothing at all.
        var quiet = AlertEngine(rules: [try rule()])
        quiet.silences = [try AlertSilence(id: "s", matchers: "{alertname=\"High\"}", endsAt: 1000)]
        #expect(run(&quiet, [1, 1, 0, 0]).flatMap { $0 }.isEmpty)

        // Paged, then silenced: the resolve still goes out.
        var paged = AlertEngine(rules: [try rule()])
        #expect(run(&paged, [1]).flatMap { $0 }.map(\.kind) == [.fired])
        paged.silences = [try AlertSilence(id: "late", matchers: "{target=\"t\"}", endsAt: 1000)]
        #expect(run(&paged, [0, 0], start: 30).flatMap { $0 }.map(\.kind) == [.resolved])
    }

    @Test func aDownTargetInhibitsItsOtherAlerts() throws {
        var engine = AlertEngine(rules: [
            try rule("Down", "up == 0", inhibits: true), try rule("Saturated", "sat == 1"),
        ])
        func round(upA: Double, at time: Double) -> [String] {
            let points = [
                F.point("up", ["target": "a"], upA), F.point("up", ["target": "b"], 1),
                F.point("sat", ["target": "a", "pool": "p"], 1), F.point("sat", ["target": "b", "pool": "p"], 1),
            ]
            return engine.step(F.families(points), at: time).transitions.map { "\($0.kind.rawValue) \($0.key)" }
        }
        #expect(round(upA: 0, at: 0) == ["fired Down{target=\"a\"}", "fired Saturated{pool=\"p\", target=\"b\"}"])
        #expect(engine.alerts(at: 0).filter(\.inhibited).map(\.instance.key) == ["Saturated{pool=\"p\", target=\"a\"}"])
        #expect(round(upA: 0, at: 30).isEmpty)
        // The target is back and its pool is still saturated: now that alert pages.
        #expect(round(upA: 1, at: 60) == ["resolved Down{target=\"a\"}", "fired Saturated{pool=\"p\", target=\"a\"}"])
    }

    @Test func aFailingRuleLeavesItsAlertsAlone() throws {
        var engine = AlertEngine(rules: [try rule("Ratio", "a / on(t) b")])
        let good = [F.point("a", ["t": "1"], 1), F.point("b", ["t": "1", "x": "1"], 1)]
        #expect(engine.step(F.families(good), at: 0).transitions.count == 1)
        let bad = good + [F.point("b", ["t": "1", "x": "2"], 1)]
        let outcome = engine.step(F.families(bad), at: 30)
        #expect(outcome.transitions.isEmpty)
        #expect(outcome.failures.map(\.rule) == ["Ratio"])
        #expect(outcome.failures.first?.message.contains("many-to-many matching not allowed") == true)
        #expect(engine.alerts(at: 30).first?.instance.phase == .firing)
        #expect(engine.failureCounts["Ratio"] == 1)
    }

    @Test func alertFamiliesCountInstancesPerState() throws {
        var engine = AlertEngine(rules: [try rule(for: 60), try rule("Other", "x > 5")])
        let points = [F.point("x", ["target": "t"], 1), F.point("x", ["target": "u"], 1)]
        _ = engine.step(F.families(points), at: 0)
        let alerts = engine.metricFamilies().first { $0.name == "poolwatch_alerts" }
        let values = alerts?.samples.map { "\($0.label("alertname")!) \($0.label("state")!) \($0.label("severity")!) \($0.value)" }
        #expect(values == ["High pending warning 2.0", "High firing warning 0.0", "Other pending warning 0.0", "Other firing warning 0.0"])
        #expect(engine.metricFamilies().map(\.name).contains("poolwatch_rule_history_series"))
    }

    @Test func instanceObservationsArePure() {
        var instance = AlertInstance(rule: "R", identity: LabelSet(["target": "t"]), at: 0)
        let active = AlertObservation.active(value: 2, labels: LabelSet(), annotations: LabelSet())
        #expect(instance.observe(active, at: 0, forDuration: 30, keepFiringFor: 30, mayResolve: true) == .unchanged)
        #expect(instance.observe(active, at: 30, forDuration: 30, keepFiringFor: 30, mayResolve: true) == .becameFiring)
        #expect(instance.observe(.inactive, at: 60, forDuration: 30, keepFiringFor: 30, mayResolve: true) == .unchanged)
        #expect(instance.phase == .held)
        #expect(instance.observe(.noData, at: 65, forDuration: 30, keepFiringFor: 30, mayResolve: true) == .unchanged)
        // The 55 s without data (65…120) do not count toward keep_firing_for: 5 s held so far.
        #expect(instance.observe(.inactive, at: 120, forDuration: 30, keepFiringFor: 30, mayResolve: true) == .unchanged)
        #expect(instance.observe(.inactive, at: 144, forDuration: 30, keepFiringFor: 30, mayResolve: true) == .unchanged)
        #expect(instance.observe(.inactive, at: 145, forDuration: 30, keepFiringFor: 30, mayResolve: false) == .unchanged)
        #expect(instance.observe(.inactive, at: 145, forDuration: 30, keepFiringFor: 30, mayResolve: true) == .resolved)
        var pending = AlertInstance(rule: "R", identity: LabelSet(), at: 0)
        #expect(pending.observe(.inactive, at: 0, forDuration: 30, keepFiringFor: 0, mayResolve: true) == .dropped)
    }
}
