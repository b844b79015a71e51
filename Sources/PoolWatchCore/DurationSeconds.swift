extension Duration {
    /// The duration in seconds, as the exposition and log lines show it.
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }

    /// The duration in whole milliseconds, rounded: what PostgreSQL's `statement_timeout` takes.
    public var milliseconds: Int64 {
        let (s, atto) = components
        return s * 1000 + (atto + 500_000_000_000_000) / 1_000_000_000_000_000
    }
}
