extension Duration {
    /// The duration in seconds, as the exposition and log lines show it.
    public var seconds: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
