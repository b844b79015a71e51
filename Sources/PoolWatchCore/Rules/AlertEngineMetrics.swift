/// The engine's own series for `/metrics`: alert counts per rule and state (so dashboards and
/// Prometheus see what poolwatch's local evaluation thinks, without one series per instance), and the
/// cost and health of the evaluation itself.
extension AlertEngine {
    public func metricFamilies() -> [MetricFamily] {
        var alerts = MetricFamily(
            "poolwatch_alerts",
            help: "Alert instances of poolwatch's local rule evaluation by rule, state (pending, firing) and severity.")
        var failures = MetricFamily(
            "poolwatch_rule_evaluation_failures_total", help: "Rule evaluations that failed, by rule.", type: .counter)
        for rule in rules {
            let current = Array((instances[rule.name] ?? [:]).values)
            for (state, count) in [
                ("pending", current.filter { $0.phase == .pending }.count),
                ("firing", current.filter { $0.phase.isFiring }.count),
            ] {
                alerts.samples.append(
                    Sample(
                        [Label("alertname", rule.name), Label("state", state), Label("severity", rule.severity.rawValue)],
                        Double(count)))
            }
            failures.samples.append(Sample([Label("alertname", rule.name)], Double(failureCounts[rule.name] ?? 0)))
        }
        return [
            alerts,
            failures,
            MetricFamily(
                "poolwatch_rule_evaluations_total", help: "Evaluations of the whole rule set since start.", type: .counter,
                value: Double(evaluationCount)),
            MetricFamily(
                "poolwatch_rule_history_series", help: "Series kept in the rule evaluator's local history.",
                value: Double(history.seriesCount)),
            MetricFamily(
                "poolwatch_rule_history_samples", help: "Samples kept in the rule evaluator's local history.",
                value: Double(history.pointCount)),
            MetricFamily(
                "poolwatch_rule_history_refused_samples_total",
                help: "Samples not kept because the history reached its series limit.", type: .counter,
                value: Double(history.refusedSamples)),
        ]
    }
}
