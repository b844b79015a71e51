/// Maps an application's Prometheus text (`/metrics`) to the normalized pool model with `kind="app_metrics"`.
/// Pure: the runner fetches the text and keeps the ``State`` between rounds; this turns bytes into families.
///
/// - A pool is one value of the mapping's pool label (a series without it belongs to pool `default`),
///   with `database` and `user` from labels or literals, so they can be set to line up with PgBouncer's
///   and PostgreSQL's pools of the same database and user.
/// - A value figure is the sum of the pool's series of its family (other labels, e.g. HikariCP's
///   `application`, are summed away), times the mapping's scale; for a latency quantile it is the largest.
///   NaN and infinite values are skipped: a figure the source does not have is absent, never 0.
/// - A distribution (`acquire_seconds`, `query_seconds`) gives quantiles 0.5, 0.95 and 0.99: from a
///   summary's `quantile` series as the application computed them (those three only, so the label stays
///   bounded), or from a histogram's `_bucket` series as `histogram_quantile(q, rate(…_bucket[interval]))`
///   would, over the increase since the previous round; the first round, and a round without new
///   observations, give no histogram quantile.
/// - At most `maxPools` pools, in document order; the rest are counted in `poolwatch_app_pool_pools_dropped`.
///
/// A document that is not valid Prometheus text, breaks a parser bound, or has none of the mapped families
/// fails the round with a message naming the line or the families, rather than export an empty picture.
public struct AppMetricsPoolCollector: Sendable {
    public let mapping: AppMetricsMapping
    public let maxPools: Int
    public let limits: PrometheusText.Limits

    /// Histogram buckets of the previous round by pool and family, for the increase.
    public struct State: Sendable, Equatable {
        var buckets: [[String]: [HistogramQuantile.Bucket]] = [:]
        public init() {}
    }

    public static let quantiles = [0.5, 0.95, 0.99]

    public init(mapping: AppMetricsMapping, maxPools: Int = HTTPJSONTargetConfig.defaultMaxPools, limits: PrometheusText.Limits = .init()) {
        self.mapping = mapping
        self.maxPools = maxPools
        self.limits = limits
    }

    public func map(body: [UInt8], previous: State = State()) throws(CollectorError) -> (families: [MetricFamily], state: State) {
        let document: PrometheusText
        do {
            document = try PrometheusText.parse(body, limits: limits)
        } catch {
            throw CollectorError("the response is not Prometheus text: \(error.description)")
        }
        let (pools, dropped, state) = try read(document, previous: previous)
        return (PoolModel.appPoolFamilies(kind: .appMetrics, pools: pools) + [MetricFamily(
            "poolwatch_app_pool_pools_dropped",
            help: "Pools of the last document beyond max_pools, not exported (the first max_pools in document order are).",
            value: Double(dropped))], state)
    }

    /// The pools of `document`, how many more there were, and the state for the next round.
    public func read(_ document: PrometheusText, previous: State = State()) throws(CollectorError)
        -> (pools: [PoolModel.AppPool], dropped: Int, state: State)
    {
        var order: [[String]] = []
        var pools: [[String]: PoolModel.AppPool] = [:]
        var dropped: Set<[String]> = []
        func identity(_ sample: PrometheusText.Sample) -> [String] {
            func resolve(_ source: AppMetricsMapping.LabelSource) -> String {
                switch source {
                case let .literal(text): text
                case let .label(name): sample.label(name) ?? ""
                }
            }
            return [sample.label(mapping.poolLabel) ?? "default", resolve(mapping.database), resolve(mapping.user)]
        }
        /// The pool of `sample`, created on first sight while there is room.
        func withPool(_ sample: PrometheusText.Sample, _ body: (inout PoolModel.AppPool) -> Void) {
            let key = identity(sample)
            if pools[key] == nil {
                guard order.count < maxPools else {
                    dropped.insert(key)
                    return
                }
                order.append(key)
                pools[key] = PoolModel.AppPool(name: key[0], database: key[1], user: key[2])
            }
            body(&pools[key]!)
        }

        var found = false
        for (figure, source) in mapping.values.sorted(by: { $0.key.rawValue < $1.key.rawValue }) {
            // Quantiles are not additive: two series of one pool give the worse one.
            let additive = figure.latencyQuantile == nil
            let combine = { (a: Double, b: Double) -> Double in additive ? a + b : Swift.max(a, b) }
            var sums: [[String]: Double] = [:]
            for sample in document.samples[source.family] ?? [] where sample.value.isFinite {
                found = true
                withPool(sample) { _ in }
                let key = identity(sample)
                guard pools[key] != nil else { continue }
                let value = PoolModel.scaled(sample.value, source.scale)
                sums[key] = sums[key].map { combine($0, value) } ?? value
            }
            for (key, value) in sums { figure.set(value, in: &pools[key]!) }
        }

        var state = State()
        for (source, acquire) in [(mapping.acquireSeconds, true), (mapping.querySeconds, false)] {
            guard let source else { continue }
            var quantiles: [[String]: [Double: Double]] = [:]
            for sample in document.samples[source.family] ?? [] where sample.value.isFinite {
                guard let text = sample.label("quantile"), let q = Double(text),
                      let wanted = Self.quantiles.first(where: { abs($0 - q) < 1e-9 }) else { continue }
                found = true
                withPool(sample) { _ in }
                let key = identity(sample)
                guard pools[key] != nil else { continue }
                let value = PoolModel.scaled(sample.value, source.scale)
                quantiles[key, default: [:]][wanted] = Swift.max(quantiles[key]?[wanted] ?? value, value)
            }
            var buckets: [[String]: [Double: Double]] = [:]
            for sample in document.samples[source.family + "_bucket"] ?? [] {
                guard let text = sample.label("le"), let le = PrometheusText.Scanner.number(text), !le.isNaN,
                      sample.value.isFinite else { continue }
                found = true
                withPool(sample) { _ in }
                let key = identity(sample)
                guard pools[key] != nil else { continue }
                buckets[key, default: [:]][le, default: 0] += sample.value
            }
            for (key, byBound) in buckets where quantiles[key] == nil {
                let current = byBound.map { HistogramQuantile.Bucket($0.key, $0.value) }.sorted { $0.upperBound < $1.upperBound }
                let stateKey = [source.family] + key
                state.buckets[stateKey] = current
                guard let before = previous.buckets[stateKey] else { continue }
                let increase = HistogramQuantile.increase(current, since: before)
                for q in Self.quantiles {
                    guard let value = HistogramQuantile.quantile(q, increase) else { continue }
                    quantiles[key, default: [:]][q] = PoolModel.scaled(value, source.scale)
                }
            }
            for (key, values) in quantiles {
                if acquire { pools[key]!.acquireSeconds = values } else { pools[key]!.querySeconds = values }
            }
        }

        guard found else {
            let names = Array(Set(mapping.families)).sorted()
            throw CollectorError("none of the mapped families (\(names.prefix(6).joined(separator: ", "))\(names.count > 6 ? ", …" : "")) "
                + "has a sample in the response; check preset, prefix and mapping against the application's /metrics")
        }
        return (order.map { pools[$0]! }, dropped.count, state)
    }
}
