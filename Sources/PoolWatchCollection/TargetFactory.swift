import PoolWatchCore
import PoolWatchCurl
import PoolWatchRuntime

/// Builds the collector for a configured target.
public enum TargetFactory {
    public static func collector(for target: TargetConfig, executor: BlockingExecutor, userAgent: String) -> any TargetCollector {
        switch target.kind {
        case .postgres:
            return LibPQTargetCollector(target: target, plan: .postgres(target), executor: executor)
        case .pgbouncer:
            return LibPQTargetCollector(target: target, plan: .pgbouncer(target), executor: executor)
        case .pgpool:
            return LibPQTargetCollector(target: target, plan: .pgpool(target), executor: executor)
        case .httpJSON:
            // The loader guarantees `httpJSON` for this kind.
            return HTTPJSONTargetCollector(target: target, options: target.httpJSON!, executor: executor, userAgent: userAgent)
        case .appMetrics:
            // The loader guarantees `appMetrics` for this kind.
            return AppPoolTargetCollector(target: target, appMetrics: target.appMetrics!, executor: executor, userAgent: userAgent)
        }
    }
}
