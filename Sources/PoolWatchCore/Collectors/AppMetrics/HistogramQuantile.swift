/// Quantiles of a classic Prometheus histogram, computed the way PromQL's `histogram_quantile` does
/// (linear interpolation inside the bucket that holds the rank; the `+Inf` bucket answers with the
/// largest finite upper bound; cumulative counts that decrease are made monotonic first).
public enum HistogramQuantile {
    /// One bucket: its upper bound (`le`) and the cumulative count of observations up to it.
    public struct Bucket: Sendable, Equatable {
        public var upperBound: Double
        public var count: Double
        public init(_ upperBound: Double, _ count: Double) {
            self.upperBound = upperBound
            self.count = count
        }
    }

    /// The `quantile` (0…1) of `buckets`; nil where `histogram_quantile` returns NaN: no `+Inf` bucket,
    /// fewer than two buckets, or no observations.
    public static func quantile(_ quantile: Double, _ buckets: [Bucket]) -> Double? {
        guard (0...1).contains(quantile) else { return nil }
        var sorted = buckets.filter { !$0.upperBound.isNaN && $0.count.isFinite }.sorted { $0.upperBound < $1.upperBound }
        guard sorted.count >= 2, sorted.last?.upperBound == .infinity else { return nil }
        for index in sorted.indices.dropFirst() where sorted[index].count < sorted[index - 1].count {
            sorted[index].count = sorted[index - 1].count
        }
        let observations = sorted[sorted.count - 1].count
        guard observations > 0 else { return nil }
        var rank = quantile * observations
        let b = sorted.firstIndex { $0.count >= rank } ?? sorted.count - 1
        if b == sorted.count - 1 { return sorted[sorted.count - 2].upperBound }
        if b == 0, sorted[0].upperBound <= 0 { return sorted[0].upperBound }
        let start = b == 0 ? 0 : sorted[b - 1].upperBound
        let end = sorted[b].upperBound
        var count = sorted[b].count
        if b > 0 {
            count -= sorted[b - 1].count
            rank -= sorted[b - 1].count
        }
        guard count > 0 else { return end }
        return start + (end - start) * (rank / count)
    }

    /// The increase of each bucket since `previous` (matched by upper bound), as `rate()` would see it
    /// over one scrape interval; the current counts when the histogram was reset (a count went down or
    /// the bucket layout changed).
    public static func increase(_ current: [Bucket], since previous: [Bucket]) -> [Bucket] {
        let before = Dictionary(previous.map { ($0.upperBound, $0.count) }, uniquingKeysWith: { first, _ in first })
        let grew = current.allSatisfy { bucket in before[bucket.upperBound].map { bucket.count >= $0 } ?? false }
        guard current.count == previous.count, grew else { return current }
        return current.map { Bucket($0.upperBound, $0.count - before[$0.upperBound]!) }
    }
}
