import PoolWatchCore

/// Builds the collector for a configured target.
public enum TargetFactory {
    public static func collector(for target: TargetConfig, executor: BlockingExecutor) -> any TargetCollector {
        switch target.kind {
        case .postgres:
            return LibPQTargetCollector(target: target, plan: .postgres(target), executor: executor)
        case .pgbouncer, .pgpool, .httpJSON:
            fatalError("target kind \(target.kind.rawValue) is not implemented yet")
        }
    }
}
