/// Whether a collector's statements run in this round, or its last results are served again.
///
/// Most collectors run every round. Two kinds keep their last results between runs, so their series
/// never vanish: those with an `interval` of their own (database sizes, table statistics, custom
/// queries), and those whose results change only with the server's configuration (settings), which run
/// again when ``ServerFacts/configuration`` changes. The runner starts a new schedule with each new
/// connection (LibPQTargetCollector.swift): it may reach another server, and `ALTER ROLE … SET` and
/// `ALTER DATABASE … SET` apply per session.
public struct CollectorSchedule: Sendable {
    /// A collector's last successful run: when, under which configuration, and what it produced.
    public struct LastRun: Sendable {
        public var at: ContinuousClock.Instant
        public var configuration: String?
        public var families: [MetricFamily]
        public var rows: ConnectionRows?

        public init(at: ContinuousClock.Instant, configuration: String?, families: [MetricFamily], rows: ConnectionRows?) {
            self.at = at
            self.configuration = configuration
            self.families = families
            self.rows = rows
        }
    }

    private var lastRuns: [String: LastRun] = [:]

    public init() {}

    /// Whether the runner keeps `collector`'s results between rounds at all.
    public static func keepsResults(_ collector: any SQLCollector) -> Bool {
        collector.interval != nil || collector.onlyChangesWithConfiguration
    }

    /// The last run to serve instead of running `collector` now; nil: run it.
    public func reusable(_ collector: any SQLCollector, now: ContinuousClock.Instant, server: ServerFacts) -> LastRun? {
        guard let last = lastRuns[collector.name] else { return nil }
        if collector.onlyChangesWithConfiguration {
            // An unknown configuration (no pg_conf_load_time) is never "unchanged".
            guard let current = server.configuration, current == last.configuration else { return nil }
            return last
        }
        // Due up to a tenth of the interval early: rounds start one interval apart, but a collector starts
        // a few milliseconds later or earlier in each, and an interval that is a multiple of the round's
        // (30 s statements, 15 s rounds) must run on that round, not one round late.
        if let interval = collector.interval, last.at + interval - interval / 10 > now { return last }
        return nil
    }

    /// Records a successful run of a collector whose results are kept (see ``keepsResults(_:)``).
    public mutating func ran(_ collector: any SQLCollector, _ run: LastRun) {
        guard Self.keepsResults(collector) else { return }
        lastRuns[collector.name] = run
    }
}
