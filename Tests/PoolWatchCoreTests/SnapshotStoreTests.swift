import Synchronization
import Testing

@testable import PoolWatchCore

@Suite struct SnapshotStoreTests {
    func store() -> SnapshotStore {
        SnapshotStore(targets: [("a", .postgres), ("b", .pgbouncer)], buildInfo: .init(version: "t", swiftVersion: "6"),
                      clock: { 1000 })
    }

    func snapshot(_ target: String, up: Bool) -> TargetSnapshot {
        TargetSnapshot(target: target, kind: .postgres, up: up,
                       families: [MetricFamily("pg_up", help: "h", value: up ? 1 : 0).prefixed(with: [Label("target", target)])],
                       collectors: [CollectorOutcome(name: "server", success: up, duration: 0.01, error: up ? nil : "boom")],
                       timestamp: 990, duration: 0.02, error: up ? nil : "cannot connect")
    }

    @Test func readinessWaitsForEveryTargetAndNeedsOneUp() {
        let store = store()
        #expect(store.readiness().ready == false)
        store.publish(snapshot("a", up: false))
        #expect(store.readiness() == (false, "waiting for a first collection of: b"))
        store.publish(snapshot("b", up: false))
        #expect(store.readiness().ready == false)
        #expect(store.readiness().reason.contains("a: cannot connect"))
        store.publish(snapshot("a", up: true))
        #expect(store.readiness().ready == true)
    }

    @Test func scrapeServesCachedSnapshotPlusFreshTail() {
        let store = store()
        store.publish(snapshot("a", up: true))
        let first = String(decoding: store.scrape(gzip: false), as: UTF8.self)
        let second = String(decoding: store.scrape(gzip: false), as: UTF8.self)
        #expect(first.contains("pg_up{target=\"a\"} 1\n"))
        #expect(first.contains("poolwatch_target_up{target=\"a\",kind=\"postgres\"} 1\n"))
        #expect(first.contains("poolwatch_collector_success{target=\"a\",collector=\"server\"} 1\n"))
        #expect(first.contains("poolwatch_scrapes_total 1\n"))
        #expect(second.contains("poolwatch_scrapes_total 2\n"))
        #expect(first.contains("poolwatch_snapshot_age_seconds{target=\"a\"} 10\n"))
        #expect(first.contains("poolwatch_build_info{version=\"t\",swift_version=\"6\"} 1\n"))
    }

    @Test func reconfiguredTargetsLeaveOrJoinTheExposition() {
        let store = store()
        store.publish(snapshot("a", up: true))
        store.publish(snapshot("b", up: true))
        store.reconfigure(targets: [("a", .postgres), ("c", .postgres)])
        var text = String(decoding: store.scrape(gzip: false), as: UTF8.self)
        #expect(text.contains("pg_up{target=\"a\"} 1\n"), "a kept its snapshot: no gap")
        #expect(!text.contains("target=\"b\""))
        #expect(store.readiness() == (false, "waiting for a first collection of: c"))
        // A late round of the removed target publishes nothing.
        store.publish(snapshot("b", up: true))
        store.publish(snapshot("c", up: false))
        text = String(decoding: store.scrape(gzip: false), as: UTF8.self)
        #expect(!text.contains("target=\"b\""))
        #expect(text.contains("poolwatch_target_up{target=\"c\",kind=\"postgres\"} 0\n"))
        #expect(store.snapshots.map(\.target) == ["a", "c"])
    }

    @Test func plainScrapeIsTheInflatedGzipScrape() throws {
        let store = store()
        store.publish(snapshot("a", up: true))
        store.publish(snapshot("b", up: false))
        let plain = String(decoding: store.scrape(gzip: false), as: UTF8.self)
        let gzip = store.scrape(gzip: true)
        #expect(gzip.starts(with: [0x1f, 0x8b]))
        // The tails differ only in the scrape count.
        #expect(plain.contains("pg_up{target=\"a\"} 1\n") && plain.contains("poolwatch_scrapes_total 1\n"))
        #expect(plain.hasPrefix(String(decoding: store.state.withLock { $0.encoded.gzip.body() }, as: UTF8.self)))
    }

    @Test func unchangedExtrasAreNotEncodedAgain() {
        let store = store()
        let families = [MetricFamily("poolwatch_alerts", help: "h", value: 2)]
        store.publishExtra("alerts", families: families)
        let generation = store.state.withLock { $0.encoded.generation }
        store.publishExtra("alerts", families: families)
        #expect(store.state.withLock { $0.encoded.generation } == generation)
        store.publishExtra("alerts", families: [MetricFamily("poolwatch_alerts", help: "h", value: 3)])
        #expect(store.state.withLock { $0.encoded.generation } == generation + 1)
        #expect(String(decoding: store.scrape(gzip: false), as: UTF8.self).contains("poolwatch_alerts 3\n"))
    }

    @Test func extrasAreMergedIntoTheExposition() {
        let store = store()
        store.publishExtra("alerts", families: [MetricFamily("poolwatch_alerts", help: "h", value: 2)])
        #expect(String(decoding: store.scrape(gzip: false), as: UTF8.self).contains("poolwatch_alerts 2\n"))
    }

    /// Every series naming a target carries its constant labels, right after `target`, so a join such as
    /// `poolwatch_collector_success == 0 unless on(job, instance, target) poolwatch_target_up == 0`
    /// (alerts/poolwatch-warnings.yml) and a grouping by `cluster` see the same label set on both sides.
    @Test func constantLabelsAreOnEverySelfSeriesOfTheTarget() {
        let store = store()
        let constant = [Label("cluster", "prod-eu1"), Label("kind", "ignored: the series' own kind wins")]
        var labelled = snapshot("a", up: true)
        labelled.families = [MetricFamily("pg_up", help: "h", value: 1).prefixed(with: [Label("target", "a")] + constant)]
        labelled.labels = constant
        store.publish(labelled)
        store.publish(snapshot("b", up: true))
        let text = String(decoding: store.scrape(gzip: false), as: UTF8.self)
        let lines = text.split(separator: "\n").filter { $0.contains("target=\"a\"") }
        #expect(lines.count >= 7, "\(lines)")
        #expect(lines.allSatisfy { $0.contains("{target=\"a\",cluster=\"prod-eu1\"") }, "\(lines)")
        #expect(text.contains("poolwatch_target_up{target=\"a\",cluster=\"prod-eu1\",kind=\"postgres\"} 1\n"))
        #expect(text.contains("poolwatch_collector_success{target=\"a\",cluster=\"prod-eu1\",kind=\"ignored: the series' own kind wins\",collector=\"server\"} 1\n"))
        #expect(text.contains("poolwatch_snapshot_age_seconds{target=\"a\",cluster=\"prod-eu1\""))
        #expect(text.contains("poolwatch_collection_duration_seconds{target=\"a\",cluster=\"prod-eu1\""))
        #expect(text.contains("poolwatch_label_values_truncated_total{target=\"a\",cluster=\"prod-eu1\""))
        // A target without labels is unchanged.
        #expect(text.contains("poolwatch_target_up{target=\"b\",kind=\"pgbouncer\"} 1\n"))
        #expect(!text.contains("kind=\"postgres\",kind="), "never a label twice")
        // The rules see the same labels.
        let up = store.evaluationFamilies().first { $0.name == "poolwatch_target_up" }?.samples.first { $0.label("target") == "a" }
        #expect(up?.labels == [Label("target", "a"), Label("cluster", "prod-eu1"), Label("kind", "postgres")])
    }
}
