import Synchronization

/// Holds the latest snapshot of every target and the exposition encoded from them.
///
/// Collection publishes; scrapes read. Publishing encodes the whole exposition once (as a gzip
/// prefix), so a scrape only copies cached bytes and appends a tiny tail with the values that change
/// per scrape (a scrape without gzip inflates the prefix first, see `GzipPrefix.body()`). A scrape never touches a database, so any number of Prometheus replicas cost the
/// database nothing extra.
public final class SnapshotStore: Sendable {
    /// Version and build facts for `poolwatch_build_info`.
    public struct BuildInfo: Sendable {
        public var version: String
        public var swiftVersion: String
        public init(version: String, swiftVersion: String) {
            self.version = version
            self.swiftVersion = swiftVersion
        }
    }

    /// What `/metrics` serves between two publishes.
    struct Encoded: Sendable {
        var generation: Int
        var gzip: GzipPrefix
        var seriesCount: Int
        var duplicatesDropped: Int
    }

    struct State: Sendable {
        /// The targets of the running configuration, in its order.
        var configured: [(name: String, kind: TargetKind)]
        var generation = 0
        var targets: [String: TargetSnapshot] = [:]
        /// Families published by other parts of poolwatch (alerting, notifier), by source name.
        var extras: [String: [MetricFamily]] = [:]
        var encoded: Encoded
        var scrapes: Int = 0
        /// When `/metrics` was last served (nil: never), for the dead man's switch.
        var lastScrape: Double?
        /// Label values cut to `LabelValueCap.maxBytes` since start, by target.
        var truncatedLabelValues: [String: Int] = [:]
    }

    /// The targets of the running configuration, in its order.
    public var configured: [(name: String, kind: TargetKind)] { state.withLock { $0.configured } }
    let buildInfo: BuildInfo
    let state: Mutex<State>
    let clock: @Sendable () -> Double

    public init(targets: [(name: String, kind: TargetKind)], buildInfo: BuildInfo, clock: @escaping @Sendable () -> Double) {
        self.buildInfo = buildInfo
        self.clock = clock
        let initial = Self.encode(targets: [:], extras: [:], truncated: [:], configured: targets, buildInfo: buildInfo, generation: 0)
        self.state = Mutex(State(configured: targets, encoded: initial))
    }

    /// A reloaded configuration's targets: a removed target's series leave the exposition now (a
    /// round of it still running when it was removed publishes nothing); a kept or changed one keeps
    /// its latest snapshot until its next round, so its graphs have no gap.
    public func reconfigure(targets: [(name: String, kind: TargetKind)]) {
        let names = Set(targets.map(\.name))
        let (generation, configured, kept, extras, truncated) = state.withLock { state in
            state.generation += 1
            state.configured = targets
            state.targets = state.targets.filter { names.contains($0.key) }
            state.truncatedLabelValues = state.truncatedLabelValues.filter { names.contains($0.key) }
            return (state.generation, state.configured, state.targets, state.extras, state.truncatedLabelValues)
        }
        reencode(generation: generation, configured: configured, targets: kept, extras: extras, truncated: truncated)
    }

    /// Replaces a target's snapshot (label values capped, see `LabelValueCap`) and re-encodes the exposition.
    public func publish(_ snapshot: TargetSnapshot) {
        replace(snapshot)
        // The previous snapshot and its encoding are freed now (they were held by `replace`'s locals).
        ProcessMemory.releaseFreePages()
    }

    private func replace(_ snapshot: TargetSnapshot) {
        var snapshot = snapshot
        let capped = LabelValueCap.apply(snapshot.families)
        snapshot.families = capped.families
        let published: (Int, [(name: String, kind: TargetKind)], [String: TargetSnapshot], [String: [MetricFamily]], [String: Int])? =
            state.withLock { state in
                guard state.configured.contains(where: { $0.name == snapshot.target }) else { return nil }
                state.generation += 1
                state.targets[snapshot.target] = snapshot
                state.truncatedLabelValues[snapshot.target, default: 0] += capped.truncated
                return (state.generation, state.configured, state.targets, state.extras, state.truncatedLabelValues)
            }
        guard let (generation, configured, targets, extras, truncated) = published else { return }
        reencode(generation: generation, configured: configured, targets: targets, extras: extras, truncated: truncated)
    }

    /// Replaces the families another component contributes (e.g. `"alerts"`), and re-encodes.
    /// Families equal to the ones already published are not encoded again: the alert evaluation publishes
    /// every interval and its families rarely change, and a re-encode of the whole exposition was a fifth
    /// of poolwatch's CPU at 10 pools (perf, `scripts/bench`).
    public func publishExtra(_ source: String, families: [MetricFamily]) {
        if replaceExtra(source, families: families) { ProcessMemory.releaseFreePages() }
    }

    private func replaceExtra(_ source: String, families: [MetricFamily]) -> Bool {
        let changed: (generation: Int, configured: [(name: String, kind: TargetKind)], targets: [String: TargetSnapshot],
                      extras: [String: [MetricFamily]], truncated: [String: Int])? =
            state.withLock { state in
                guard state.extras[source] != families else { return nil }
                state.generation += 1
                state.extras[source] = families
                return (state.generation, state.configured, state.targets, state.extras, state.truncatedLabelValues)
            }
        guard let changed else { return false }
        reencode(generation: changed.generation, configured: changed.configured, targets: changed.targets, extras: changed.extras,
                 truncated: changed.truncated)
        return true
    }

    private func reencode(generation: Int, configured: [(name: String, kind: TargetKind)], targets: [String: TargetSnapshot],
                          extras: [String: [MetricFamily]], truncated: [String: Int]) {
        // Encode outside the lock; a slower encoder of an older generation never overwrites a newer one.
        let encoded = Self.encode(
            targets: targets, extras: extras, truncated: truncated, configured: configured, buildInfo: buildInfo, generation: generation)
        state.withLock { state in
            if encoded.generation > state.encoded.generation { state.encoded = encoded }
        }
    }

    /// The latest snapshot of every target that has published.
    public var snapshots: [TargetSnapshot] {
        state.withLock { state in state.configured.compactMap { state.targets[$0.name] } }
    }

    /// One scrape's body: the cached exposition plus the per-scrape tail (with `extra`, families whose
    /// values change between publishes, such as the HTTP server's own).
    public func scrape(gzip: Bool, extra: [MetricFamily] = []) -> [UInt8] {
        let now = clock()
        let (encoded, scrapes, timestamps) = state.withLock { state in
            state.scrapes += 1
            state.lastScrape = now
            return (state.encoded, state.scrapes, state.targets.mapValues { (at: $0.timestamp, labels: $0.labels) })
        }
        let tail = Self.tail(scrapes: scrapes, now: now, timestamps: timestamps, encoded: encoded, extra: extra)
        return gzip ? encoded.gzip.finished(tail: tail) : encoded.gzip.body() + tail
    }

    /// The families the alert rules see: every target's latest families plus the per-target self
    /// metrics (`poolwatch_target_up`, collector success). Families from `publishExtra` are left out,
    /// so the rules never evaluate their own output.
    public func evaluationFamilies() -> [MetricFamily] {
        let (configured, targets) = state.withLock { ($0.configured, $0.targets) }
        return configured.flatMap { targets[$0.name]?.families ?? [] }
            + Self.selfFamilies(targets: targets, configured: configured, buildInfo: buildInfo)
    }

    /// The store's wall clock, epoch seconds.
    public func now() -> Double { clock() }

    /// When `/metrics` was last served, or nil if it never was.
    public var lastScrapeTime: Double? { state.withLock { $0.lastScrape } }

    /// Ready once every target has had one collection attempt and at least one target is up.
    public func readiness() -> (ready: Bool, reason: String) {
        let (configured, targets) = state.withLock { ($0.configured, $0.targets) }
        let pending = configured.filter { targets[$0.name] == nil }.map(\.name)
        if !pending.isEmpty { return (false, "waiting for a first collection of: \(pending.joined(separator: ", "))") }
        if targets.values.contains(where: \.up) { return (true, "ok") }
        let reasons = configured.map { "\($0.name): \(targets[$0.name]?.error ?? "down")" }
        return (false, "no target is up (\(reasons.joined(separator: "; ")))")
    }

    /// - Parameter timestamps: when each target's last round finished, and its constant labels.
    static func tail(scrapes: Int, now: Double, timestamps: [String: (at: Double, labels: [Label])], encoded: Encoded,
                     extra: [MetricFamily] = []) -> [UInt8] {
        var families = [
            MetricFamily("poolwatch_scrapes_total", help: "Scrapes of /metrics served.", type: .counter, value: Double(scrapes)),
            MetricFamily("poolwatch_exposition_series", help: "Series in the cached exposition (before this tail).",
                         value: Double(encoded.seriesCount)),
            MetricFamily("poolwatch_exposition_duplicates_dropped", help: "Duplicate series dropped while encoding the cached exposition.",
                         value: Double(encoded.duplicatesDropped)),
        ]
        families.append(MetricFamily(
            "poolwatch_snapshot_age_seconds", help: "Seconds since the target's last collection round finished.",
            samples: timestamps.sorted { $0.key < $1.key }.map { Sample(targetLabels($0.key, $0.value.labels), max(0, now - $0.value.at)) }))
        return TextEncoder().encode(families + extra).bytes
    }

    static func encode(
        targets: [String: TargetSnapshot], extras: [String: [MetricFamily]], truncated: [String: Int],
        configured: [(name: String, kind: TargetKind)], buildInfo: BuildInfo, generation: Int
    ) -> Encoded {
        var families: [MetricFamily] = []
        for (name, _) in configured {
            if let snapshot = targets[name] { families.append(contentsOf: snapshot.families) }
        }
        for source in extras.keys.sorted() { families.append(contentsOf: extras[source]!) }
        families.append(contentsOf: selfFamilies(targets: targets, configured: configured, buildInfo: buildInfo))
        families.append(MetricFamily(
            "poolwatch_label_values_truncated_total",
            help: "Label values longer than \(LabelValueCap.maxBytes) bytes that were cut to that length, by target.", type: .counter,
            samples: configured.compactMap { target in
                targets[target.name].map { Sample(targetLabels(target.name, $0.labels), Double(truncated[target.name] ?? 0)) }
            }))
        let output = TextEncoder().encode(families.mergedByName())
        return Encoded(generation: generation, gzip: GzipPrefix(body: output.bytes),
                       seriesCount: output.seriesCount, duplicatesDropped: output.duplicatesDropped)
    }

    /// `target` and the target's constant labels, as its own families start (`TargetConfig.seriesLabels`):
    /// every series naming a target carries the same labels, so a join or an alert grouping keeps them.
    /// A label of the series' own (`kind`, `collector`) wins over a constant label of the same name, as in
    /// `MetricFamily.prefixed(with:)`.
    static func targetLabels(_ name: String, _ labels: [Label], own: [Label] = []) -> [Label] {
        [Label("target", name)] + labels.filter { label in !own.contains { $0.name == label.name } } + own
    }

    static func selfFamilies(
        targets: [String: TargetSnapshot], configured: [(name: String, kind: TargetKind)], buildInfo: BuildInfo
    ) -> [MetricFamily] {
        var up = MetricFamily("poolwatch_target_up", help: "1 if the target's last collection round connected and ran.")
        var duration = MetricFamily("poolwatch_collector_duration_seconds", help: "Seconds the collector took in the last round.")
        var success = MetricFamily("poolwatch_collector_success", help: "1 if the collector succeeded in the last round.")
        var last = MetricFamily("poolwatch_last_collection_timestamp_seconds", help: "When the target's last round finished.")
        var round = MetricFamily("poolwatch_collection_duration_seconds", help: "Seconds the target's last whole round took.")
        for (name, kind) in configured {
            guard let snapshot = targets[name] else { continue }
            let target = targetLabels(name, snapshot.labels)
            up.samples.append(Sample(targetLabels(name, snapshot.labels, own: [Label("kind", kind.rawValue)]), snapshot.up ? 1 : 0))
            last.samples.append(Sample(target, snapshot.timestamp))
            round.samples.append(Sample(target, snapshot.duration))
            for outcome in snapshot.collectors {
                let labels = targetLabels(name, snapshot.labels, own: [Label("collector", outcome.name)])
                duration.samples.append(Sample(labels, outcome.duration))
                success.samples.append(Sample(labels, outcome.success ? 1 : 0))
            }
        }
        let info = MetricFamily(
            "poolwatch_build_info", help: "poolwatch build information (value is always 1).",
            samples: [Sample([Label("version", buildInfo.version), Label("swift_version", buildInfo.swiftVersion)], 1)])
        let configuredTargets = MetricFamily(
            "poolwatch_targets", help: "Targets configured, by kind.",
            samples: TargetKind.allCases.map { kind in
                Sample([Label("kind", kind.rawValue)], Double(configured.filter { $0.kind == kind }.count))
            })
        return [info, configuredTargets, up, duration, success, last, round]
    }
}
