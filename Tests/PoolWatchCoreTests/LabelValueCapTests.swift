import Testing

@testable import PoolWatchCore

/// Label values are cut to 256 bytes before a snapshot is stored (README "Security").
@Suite struct LabelValueCapTests {
    @Test func cutsOnACharacterBoundary() {
        #expect(LabelValueCap.truncate("short") == "short")
        let exact = String(repeating: "a", count: 256)
        #expect(LabelValueCap.truncate(exact) == exact)
        #expect(LabelValueCap.truncate(exact + "b") == exact)
        // "é" is 2 bytes and "🐘" 4: a cut inside either backs up to the character's start.
        let accents = String(repeating: "a", count: 255) + "é"
        #expect(LabelValueCap.truncate(accents) == String(repeating: "a", count: 255))
        let elephants = String(repeating: "🐘", count: 100)
        let cut = LabelValueCap.truncate(elephants)
        #expect(cut == String(repeating: "🐘", count: 64) && cut.utf8.count == 256)
        #expect(LabelValueCap.truncate("ab🐘", maxBytes: 5) == "ab")
    }

    @Test func storeCapsEveryLabelValueAndCountsTheCuts() {
        let store = SnapshotStore(targets: [("app", .httpJSON)], buildInfo: .init(version: "t", swiftVersion: "6"), clock: { 1000 })
        let long = String(repeating: "x", count: 1000)
        let family = MetricFamily("poolwatch_app_pool_pending", help: "h", samples: [
            Sample([Label("target", "app"), Label("pool", long), Label("user", long)], 1),
            Sample([Label("target", "app"), Label("pool", "short"), Label("user", "")], 2),
        ])
        let snapshot = TargetSnapshot(target: "app", kind: .httpJSON, up: true, families: [family], collectors: [],
                                      timestamp: 990, duration: 0.01)
        store.publish(snapshot)
        store.publish(snapshot)
        let labels = store.evaluationFamilies().flatMap(\.samples).flatMap(\.labels)
        #expect(labels.allSatisfy { $0.value.utf8.count <= LabelValueCap.maxBytes })
        #expect(store.snapshots.first?.families.first?.samples.first?.label("pool") == String(repeating: "x", count: 256))
        let text = String(decoding: store.scrape(gzip: false), as: UTF8.self)
        #expect(text.contains("poolwatch_label_values_truncated_total{target=\"app\"} 4\n"))
        #expect(!text.contains(String(repeating: "x", count: 257)))
    }
}
