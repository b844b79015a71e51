/// The short local history the rule evaluator reads: for every series a rule can select, the samples
/// of the last few collection rounds.
///
/// Why a history at all: `rate()`/`increase()`/`*_over_time()` need samples over a window, and
/// instant selectors follow Prometheus' 5-minute lookback. Why bounded, and how:
/// - only metric names that some rule selects are kept (a selector without a fixed name keeps all);
/// - per name, samples are kept for the longest range any rule reads that name over; for names only
///   read by instant selectors, just the latest sample is kept (the lookback only needs that one);
/// - a series whose latest sample is stale or older than the lookback, with nothing left in its
///   window, is forgotten;
/// - at most `limits.maxSeries` series; samples of further new series are refused and counted.
///
/// Memory bound: about `maxSeries × (labels ≈ 200 B + (window ÷ interval + 2) × 16 B)`. With the
/// defaults (50,000 series, built-in rules read no ranges) that is ≈ 12 MB at worst; a rule with a
/// `[5m]` range over a 15 s interval adds ≈ 350 B per series of that metric name.
///
/// Like Prometheus scraping poolwatch, a series that disappears from the feed gets a staleness
/// marker, so instant selectors stop returning it at once instead of 5 minutes later.
public struct SeriesHistory: Sendable {
    public struct Limits: Sendable, Equatable {
        public var maxSeries: Int
        /// Seconds an instant selector looks back for the latest sample (Prometheus' default: 5m).
        public var lookback: Double

        public init(maxSeries: Int = 50_000, lookback: Double = 300) {
            self.maxSeries = maxSeries
            self.lookback = lookback
        }
    }

    /// One stored sample; times in milliseconds since the epoch, like Prometheus' storage, so that
    /// window boundaries and extrapolation compute exactly the same numbers.
    struct Point: Sendable, Equatable {
        var time: Int64
        var value: Double
    }

    /// Prometheus' staleness marker: a NaN with a distinct bit pattern.
    static let staleMarker = Double(bitPattern: 0x7ff0_0000_0000_0002)
    static func isStale(_ value: Double) -> Bool { value.bitPattern == staleMarker.bitPattern }

    public let limits: Limits
    /// Milliseconds of samples kept per metric name.
    private(set) var windows: [String: Int64]
    /// Window for names not listed in `windows`; nil means such names are not kept at all.
    private(set) var otherNamesWindow: Int64?
    /// Series by metric name, then by their labels without `__name__`.
    var series: [String: [LabelSet: [Point]]] = [:]
    public private(set) var seriesCount = 0
    /// Samples refused because `maxSeries` was reached (cumulative).
    public private(set) var refusedSamples = 0
    /// Samples dropped because they were not newer than their series' latest sample (cumulative).
    public private(set) var outOfOrderSamples = 0
    /// Time of the latest `append`, in milliseconds.
    public private(set) var latestTime: Int64?

    /// A history that keeps exactly what `selectors` (with their ranges in ms) can read.
    public init(retainingFor selectors: [(VectorSelector, Int64)], limits: Limits = Limits()) {
        var windows: [String: Int64] = [:]
        var other: Int64?
        for (selector, range) in selectors {
            if let name = selector.metricName {
                windows[name] = max(windows[name] ?? 0, range)
            } else {
                other = max(other ?? 0, range)
            }
        }
        if let other { windows = windows.mapValues { max($0, other) } }
        self.windows = windows
        self.otherNamesWindow = other
        self.limits = limits
    }

    /// Keeps what `selectors` read from now on (a reloaded rule set): series the new rules still
    /// read keep their points, so a rule whose threshold changed does not start from an empty window;
    /// names no rule reads any more are dropped.
    public mutating func retain(for selectors: [(VectorSelector, Int64)]) {
        let fresh = SeriesHistory(retainingFor: selectors, limits: limits)
        windows = fresh.windows
        otherNamesWindow = fresh.otherNamesWindow
        for name in series.keys where window(for: name) == nil {
            seriesCount -= series[name]?.count ?? 0
            series[name] = nil
        }
    }

    /// A history that keeps every metric name for `window` seconds (tests and ad-hoc queries).
    public init(retainingEverythingFor window: Double, limits: Limits = Limits()) {
        self.windows = [:]
        self.otherNamesWindow = Int64((window * 1000).rounded())
        self.limits = limits
    }

    /// Number of stored samples, for the memory gauge.
    public var pointCount: Int { series.values.reduce(0) { $0 + $1.values.reduce(0) { $0 + $1.count } } }

    func window(for name: String) -> Int64? { windows[name] ?? otherNamesWindow }

    /// Adds one round of families at `seconds` since the epoch: every sample becomes a point, every
    /// kept series missing from this round gets a staleness marker, and old points are evicted.
    public mutating func append(_ families: [MetricFamily], at seconds: Double) {
        let now = Int64((seconds * 1000).rounded())
        latestTime = max(latestTime ?? now, now)
        var seen: [String: Set<LabelSet>] = [:]
        for family in families {
            guard window(for: family.name) != nil else { continue }
            var byLabels = series[family.name] ?? [:]
            var seenHere = seen[family.name] ?? []
            for sample in family.samples {
                let labels = LabelSet(sample.labels).droppingMetricName
                guard seenHere.insert(labels).inserted else { continue }
                if var points = byLabels[labels] {
                    if let last = points.last, last.time >= now {
                        outOfOrderSamples += 1
                        continue
                    }
                    points.append(Point(time: now, value: sample.value))
                    byLabels[labels] = points
                } else if seriesCount >= limits.maxSeries {
                    refusedSamples += 1
                } else {
                    byLabels[labels] = [Point(time: now, value: sample.value)]
                    seriesCount += 1
                }
            }
            series[family.name] = byLabels
            seen[family.name] = seenHere
        }
        markStaleAndEvict(now: now, seen: seen)
    }

    private mutating func markStaleAndEvict(now: Int64, seen: [String: Set<LabelSet>]) {
        let lookback = Int64((limits.lookback * 1000).rounded())
        for (name, byLabels) in series {
            let keepFrom = now - (window(for: name) ?? 0)
            let seenHere = seen[name] ?? []
            var updated: [LabelSet: [Point]] = [:]
            for (labels, original) in byLabels {
                var points = original
                if !seenHere.contains(labels), let last = points.last, !Self.isStale(last.value), last.time < now {
                    points.append(Point(time: now, value: Self.staleMarker))
                }
                // Keep the window, and always the newest point (the lookback reads it).
                let firstKept = points.firstIndex { $0.time >= keepFrom } ?? points.count - 1
                if firstKept > 0 { points.removeFirst(min(firstKept, points.count - 1)) }
                let hasLiveInWindow = points.contains { $0.time >= keepFrom && !Self.isStale($0.value) }
                let latest = points.last!
                let latestUsable = !Self.isStale(latest.value) && latest.time >= now - lookback
                if hasLiveInWindow || latestUsable {
                    updated[labels] = points
                } else {
                    seriesCount -= 1
                }
            }
            series[name] = updated.isEmpty ? nil : updated
        }
    }

    /// Metric names whose series a selector can match.
    func names(matching selector: VectorSelector) -> [String] {
        if let name = selector.metricName { return series[name] == nil ? [] : [name] }
        let nameMatchers = selector.matchers.filter { $0.name == LabelSet.metricName }
        return series.keys.filter { name in nameMatchers.allSatisfy { $0.matches(name) } }
    }

    /// Series matching `selector`, with full labels (including `__name__`), sorted like Prometheus.
    func matchingSeries(_ selector: VectorSelector) -> [(labels: LabelSet, points: [Point])] {
        let labelMatchers = selector.matchers.filter { $0.name != LabelSet.metricName }
        var result: [(LabelSet, [Point])] = []
        for name in names(matching: selector) {
            for (labels, points) in series[name] ?? [:] where labelMatchers.allSatisfy({ $0.matches(labels[$0.name]) }) {
                result.append((labels.setting(LabelSet.metricName, name), points))
            }
        }
        result.sort { $0.0 < $1.0 }
        return result
    }

    /// The instant-vector value of every matching series at `time` (ms): the latest sample not after
    /// `time` and not older than the lookback (inclusive, as Prometheus 2.x), unless it is stale.
    func instant(_ selector: VectorSelector, at time: Int64) -> [VectorSample] {
        let lookback = Int64((limits.lookback * 1000).rounded())
        var result: [VectorSample] = []
        for (labels, points) in matchingSeries(selector) {
            guard let point = points.last(where: { $0.time <= time }), point.time >= time - lookback,
                !Self.isStale(point.value)
            else { continue }
            result.append(VectorSample(labels: labels, value: point.value))
        }
        return result
    }

    /// The points of every matching series in `[time - range, time]` (ms, both ends inclusive as in
    /// Prometheus 2.x), staleness markers left out; series without points are left out.
    func range(_ selector: VectorSelector, range: Int64, at time: Int64) -> [(labels: LabelSet, points: [Point])] {
        let start = time - range
        var result: [(LabelSet, [Point])] = []
        for (labels, points) in matchingSeries(selector) {
            let inRange = points.filter { $0.time >= start && $0.time <= time && !Self.isStale($0.value) }
            if !inRange.isEmpty { result.append((labels, inRange)) }
        }
        return result
    }
}
