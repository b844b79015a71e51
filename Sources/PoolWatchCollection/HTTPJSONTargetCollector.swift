import PoolWatchCore
import PoolWatchCurl
import PoolWatchRuntime

/// The per-target thread pool runs curl transfers too, so an application target counts against the same
/// budget as a libpq target (one thread each, plus one).

/// The original name, kept for `kind: http_json` callers.
public typealias HTTPJSONTargetCollector = AppPoolTargetCollector

/// Collects one application pool target over HTTP: `kind: http_json` GETs the pool-stats document each
/// round and maps it with ``HTTPJSONPoolCollector``; `kind: app_metrics` (AppMetricsTargetCollector.swift)
/// GETs the application's Prometheus text and maps it with ``AppMetricsPoolCollector``. Both share this
/// round: the request, its bounds, and how a failure reads.
///
/// `poolwatch_app_pool_up` is 1 only when the whole round worked: a 2xx response within
/// `collection_timeout`, no larger than `max_response_bytes`, that decodes and maps completely.
/// Otherwise it is 0 and the snapshot's error says why, naming the JSON path or the text's line when the
/// document is at fault. The URL appears only as its display form (no query, no user info).
public struct AppPoolTargetCollector: TargetCollector {
    public let target: TargetConfig
    let client: CurlClient
    let endpoint: Endpoint
    /// Turns a 2xx body into families; may remember state between rounds (app_metrics histograms).
    let decode: @Sendable ([UInt8]) throws(CollectorError) -> [MetricFamily]

    /// Where to fetch and how much to accept.
    struct Endpoint: Sendable {
        var url: Secret
        var displayURL: String
        var headers: [HTTPJSONHeader]
        var maxResponseBytes: Int
        var accept: String
        /// `poolwatch_collector_success{collector=...}`.
        var collectorName: String
    }

    public static let upMetric = "poolwatch_app_pool_up"
    static let upHelp = "1 if poolwatch fetched and understood the application's pool statistics in the last round."
    /// The collector name of `kind: http_json` in `poolwatch_collector_success{collector=...}`.
    public static let collectorName = "pool_stats"

    init(target: TargetConfig, endpoint: Endpoint, client: CurlClient,
         decode: @escaping @Sendable ([UInt8]) throws(CollectorError) -> [MetricFamily]) {
        self.target = target
        self.endpoint = endpoint
        self.client = client
        self.decode = decode
    }

    public init(target: TargetConfig, options: HTTPJSONTargetConfig, client: CurlClient) {
        let mapper = HTTPJSONPoolCollector(mapping: options.pools, maxPools: options.maxPools)
        self.init(
            target: target,
            endpoint: Endpoint(url: options.url, displayURL: options.displayURL, headers: options.headers,
                               maxResponseBytes: options.maxResponseBytes, accept: "application/json", collectorName: Self.collectorName),
            client: client, decode: { body throws(CollectorError) in try mapper.map(body: body) })
    }

    /// - Parameter userAgent: `poolwatch/<version>`.
    public init(target: TargetConfig, options: HTTPJSONTargetConfig, executor: any CurlExecutor, userAgent: String) {
        self.init(target: target, options: options, client: CurlClient(userAgent: userAgent, executor: executor))
    }

    /// The request of one round: the target's timeouts, the configured headers, the body cap.
    var request: CurlRequest {
        var headers = [CurlHeader("Accept", endpoint.accept)]
        headers += endpoint.headers.map { CurlHeader($0.name, $0.value.revealed) }
        var request = CurlRequest.get(endpoint.url.revealed, displayName: endpoint.displayURL, headers: headers)
        request.timeout = target.collectionTimeout
        request.connectTimeout = min(target.connectTimeout, target.collectionTimeout)
        request.maxResponseBytes = endpoint.maxResponseBytes
        return request
    }

    public func collectRound() async -> TargetSnapshot {
        let clock = ContinuousClock()
        let started = clock.now
        func finish(up: Bool, families: [MetricFamily], collectors: [CollectorOutcome], error: String?) -> TargetSnapshot {
            snapshot(up: up, families: families, collectors: collectors, error: error, duration: clock.now - started)
        }
        func failed(_ message: String) -> TargetSnapshot {
            let outcome = CollectorOutcome(name: endpoint.collectorName, success: false, duration: (clock.now - started).seconds, error: message)
            return finish(up: false, families: [], collectors: [outcome], error: message)
        }

        let response: CurlResponse
        do {
            response = try await client.execute(request)
        } catch {
            // No response at all: like a failed connect, there is no collector outcome to report.
            var message = error.description
            if error.code == .responseTooLarge { message += "; raise max_response_bytes if the document really is this large" }
            if error.code == .timeout {
                message += error.summary.hasPrefix("could not connect")
                    ? "; see connect_timeout" : "; raise collection_timeout if the endpoint is only slow"
            }
            return finish(up: false, families: [], collectors: [], error: message)
        }

        guard response.isSuccess else {
            var message = "\(endpoint.displayURL): HTTP \(response.status)"
            if (300..<400).contains(response.status) {
                message += " (redirects are not followed; point url at the final location)"
            }
            let excerpt = response.bodyExcerpt(limit: 200)
            if !excerpt.isEmpty { message += ": \(excerpt)" }
            return failed(message)
        }

        let families: [MetricFamily]
        do {
            families = try decode(response.body)
        } catch {
            return failed("\(endpoint.displayURL): \(error.description)")
        }
        let outcome = CollectorOutcome(name: endpoint.collectorName, success: true, duration: (clock.now - started).seconds)
        return finish(up: true, families: families, collectors: [outcome], error: nil)
    }

    public func failedRound(error: String, duration: Duration) -> TargetSnapshot {
        let outcome = CollectorOutcome(name: endpoint.collectorName, success: false, duration: 0, error: error)
        return snapshot(up: false, families: [], collectors: [outcome], error: error, duration: duration)
    }

    /// A round's snapshot: the up family first, every family with the target's labels.
    private func snapshot(up: Bool, families: [MetricFamily], collectors: [CollectorOutcome], error: String?,
                          duration: Duration) -> TargetSnapshot {
        TargetSnapshot.round(of: target, upMetric: Self.upMetric, upHelp: Self.upHelp, up: up, families: families, collectors: collectors,
                             error: error, duration: duration.seconds, at: WallClock.now())
    }

    /// Each round is a transfer of its own: nothing to forget.
    public func abandon() {}

    public func close() {}
}
