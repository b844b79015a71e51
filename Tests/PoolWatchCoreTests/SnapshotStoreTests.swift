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
}
