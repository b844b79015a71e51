import PoolWatchCore
import PoolWatchCurl
import Synchronization

extension AppPoolTargetCollector {
    /// The collector name of `kind: app_metrics` in `poolwatch_collector_success{collector=...}`.
    public static let appMetricsCollectorName = "app_metrics"

    /// Collects one `kind: app_metrics` target: GETs the application's Prometheus text each round (same
    /// bounds and failure reasons as http_json) and maps it with ``AppMetricsPoolCollector``, which needs
    /// the previous round's histogram buckets to compute quantiles over the interval.
    public init(target: TargetConfig, appMetrics options: AppMetricsTargetConfig, client: CurlClient) {
        let mapper = AppMetricsPoolCollector(mapping: options.mapping, maxPools: options.maxPools)
        let memory = HistogramMemory()
        self.init(
            target: target,
            endpoint: Endpoint(url: options.url, displayURL: options.displayURL, headers: options.headers,
                               maxResponseBytes: options.maxResponseBytes,
                               // The classic text format: every client library can serve it.
                               accept: "text/plain;version=0.0.4;q=1,*/*;q=0.1", collectorName: Self.appMetricsCollectorName),
            client: client,
            decode: { body throws(CollectorError) in
                let (families, state) = try mapper.map(body: body, previous: memory.state.withLock { $0 })
                memory.state.withLock { $0 = state }
                return families
            })
    }

    /// - Parameter userAgent: `poolwatch/<version>`.
    public init(target: TargetConfig, appMetrics options: AppMetricsTargetConfig, executor: any CurlExecutor, userAgent: String) {
        self.init(target: target, appMetrics: options, client: CurlClient(userAgent: userAgent, executor: executor))
    }
}

/// The histogram buckets of the last successful round. Rounds of one target do not overlap, so a lock
/// around each read and write is enough; a failed round leaves the previous buckets in place.
final class HistogramMemory: Sendable {
    let state = Mutex(AppMetricsPoolCollector.State())
}
