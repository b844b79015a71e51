import Testing

@testable import PoolWatchCore

@Suite struct ReloadPlanTests {
    func config(_ targets: [TargetConfig], listen: Int = 9646, receivers: [ReceiverConfig] = [], clusterID: String = "c") -> PoolwatchConfig {
        PoolwatchConfig(listen: ListenAddress(host: "0.0.0.0", port: listen), logFormat: .logfmt, logLevel: .info, targets: targets,
                        alerting: AlertingConfig(clusterID: clusterID, stateDirectory: "/var/lib/poolwatch", receivers: receivers))
    }
    let a = TargetConfig(name: "a", kind: .postgres, dsn: Secret("host=a"))
    let b = TargetConfig(name: "b", kind: .pgbouncer, dsn: Secret("host=b dbname=pgbouncer"))
    let c = TargetConfig(name: "c", kind: .postgres, dsn: Secret("host=c"))

    @Test func targetsAreAddedRemovedChangedOrLeftAlone() {
        var changedA = a
        changedA.interval = .seconds(30)
        let plan = ReloadPlan(running: config([a, b]), new: config([c, changedA]), pagingRunning: false)
        #expect(plan.added == ["c"] && plan.removed == ["b"] && plan.changed == ["a"] && plan.unchanged.isEmpty)
        #expect(plan.summary == "targets added=[c] removed=[b] changed=[a] unchanged=0")
        let same = ReloadPlan(running: config([a, b]), new: config([a, b]), pagingRunning: false)
        #expect(same.isEmpty && same.unchanged == ["a", "b"])
        // A new password is a change: the target reconnects with it.
        var newPassword = a
        newPassword.dsn = Secret("host=a password=rotated")
        #expect(ReloadPlan(running: config([a]), new: config([newPassword]), pagingRunning: false).changed == ["a"])
    }

    @Test func settingsBoundAtStartKeepTheirRunningValue() {
        var new = config([a], listen: 9999, clusterID: "other")
        new.alerting.stateDirectory = "/elsewhere"
        new.logFormat = .json
        new.logLevel = .debug
        let plan = ReloadPlan(running: config([a]), new: new, pagingRunning: true)
        #expect(plan.effective.listen.port == 9646 && plan.effective.logFormat == .logfmt)
        #expect(plan.effective.alerting.stateDirectory == "/var/lib/poolwatch" && plan.effective.alerting.clusterID == "c")
        #expect(plan.effective.logLevel == .debug && plan.logLevelChanged)
        #expect(plan.needsRestart.count == 4)
        #expect(plan.needsRestart.allSatisfy { $0.contains("restart") })
        #expect(plan.needsRestart.first?.hasPrefix("listen_address:") == true)
    }

    @Test func pagingCanBeReconfiguredButNotTurnedOnLive() {
        let pd = ReceiverConfig(name: "pd", type: .pagerduty, secret: Secret("k"), secretSource: .environment("K"))
        let on = ReloadPlan(running: config([a]), new: config([a], receivers: [pd]), pagingRunning: false)
        #expect(on.effective.alerting.receivers.isEmpty && !on.receiversChanged)
        #expect(on.needsRestart == ["receivers: paging was off at start; turning it on needs a restart"])
        let off = ReloadPlan(running: config([a], receivers: [pd]), new: config([a]), pagingRunning: true)
        #expect(off.receiversChanged && off.effective.alerting.receivers.isEmpty && off.needsRestart.isEmpty)
    }
}
