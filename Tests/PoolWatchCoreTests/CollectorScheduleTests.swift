import PoolWatchCore
import Testing

/// Which collectors run in a round and which serve their last results, on explicit instants.
@Suite struct CollectorScheduleTests {
    let start = ContinuousClock.now
    let server = ServerFacts(versionNumber: 150000, configuration: "1700000000/1700000100")

    func run(_ schedule: inout CollectorSchedule, _ collector: any SQLCollector, at: ContinuousClock.Instant, configuration: String?) {
        schedule.ran(collector, .init(at: at, configuration: configuration, families: [MetricFamily("x", help: "x", value: 1)],
                                      rows: nil))
    }

    @Test func settingsRunAgainOnlyWhenTheConfigurationChanges() {
        var schedule = CollectorSchedule()
        let settings = SettingsCollector()
        #expect(schedule.reusable(settings, now: start, server: server) == nil, "never ran: runs")
        run(&schedule, settings, at: start, configuration: server.configuration)
        #expect(schedule.reusable(settings, now: start + .seconds(3600), server: server) != nil, "same configuration an hour later")
        let reloaded = ServerFacts(versionNumber: 150000, configuration: "1700000000/1700009999")
        #expect(schedule.reusable(settings, now: start + .seconds(15), server: reloaded) == nil, "pg_reload_conf()")
        let restarted = ServerFacts(versionNumber: 150000, configuration: "1700005000/1700009999")
        run(&schedule, settings, at: start, configuration: reloaded.configuration)
        #expect(schedule.reusable(settings, now: start + .seconds(15), server: restarted) == nil, "a restart")
        #expect(schedule.reusable(settings, now: start, server: ServerFacts(versionNumber: 150000)) == nil,
                "an unknown configuration is never unchanged")
    }

    @Test func intervalCollectorsRunWhenTheirIntervalHasPassed() {
        var schedule = CollectorSchedule()
        let sizes = DatabaseSizeCollector(interval: .seconds(300))
        run(&schedule, sizes, at: start, configuration: nil)
        #expect(schedule.reusable(sizes, now: start + .seconds(269), server: server) != nil)
        #expect(schedule.reusable(sizes, now: start + .seconds(270), server: server) == nil, "a tenth early is on time")
    }

    @Test func statementsAreReadOnTheirOwnInterval() throws {
        var target = TargetConfig(name: "pg", kind: .postgres)
        target.statements.interval = .seconds(60)
        let statements = try #require(TargetPlan.postgres(target).collectors.first { $0.name == "stat_statements" })
        var schedule = CollectorSchedule()
        run(&schedule, statements, at: start, configuration: server.configuration)
        #expect(schedule.reusable(statements, now: start + .seconds(45), server: server) != nil, "served between reads")
        #expect(schedule.reusable(statements, now: start + .seconds(60), server: server) == nil)
        // Rounds every 30 s whose statements start 5 ms earlier than last time: still read every other round.
        #expect(schedule.reusable(statements, now: start + .seconds(60) - .milliseconds(5), server: server) == nil)
    }

    @Test func everyRoundCollectorsAreNeverKept() {
        var schedule = CollectorSchedule()
        let activity = ActivityCollector()
        run(&schedule, activity, at: start, configuration: server.configuration)
        #expect(!CollectorSchedule.keepsResults(activity))
        #expect(schedule.reusable(activity, now: start, server: server) == nil)
    }

    @Test func settingsGiveDiagnosisTheirValuesWithUnits() throws {
        let result = QueryResult(columns: ["name", "setting", "unit", "vartype"], rows: [
            ["idle_in_transaction_session_timeout", "0", "ms", "integer"], ["max_connections", "100", nil, "integer"],
        ])
        let rows = try #require(SettingsCollector().rows(from: [result]))
        #expect(rows.settings == ["idle_in_transaction_session_timeout": "0ms", "max_connections": "100"])
    }

    @Test func serverInfoNamesTheLoadedConfiguration() {
        let result = QueryResult(columns: ["server_version_num", "server_version", "in_recovery", "start_time", "conf_load_time"],
                                 rows: [["150008", "15.8", "f", "1700000000.5", "1700000100.25"]])
        #expect(ServerInfoCollector().facts(from: [result]) == ServerFacts(versionNumber: 150008, configuration: "1700000000.5/1700000100.25"))
    }
}
