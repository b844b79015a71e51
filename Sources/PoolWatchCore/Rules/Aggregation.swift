/// `sum/min/max/avg/count/group by|without (...)`, as Prometheus 2.x `promql/engine.go` `aggregation`
/// computes them: groups in order of first appearance, `by` keeps only the listed labels, `without`
/// drops the listed labels and `__name__`, and `avg` uses the same incremental mean.
enum Aggregation {
    private struct Group {
        var labels: LabelSet
        var value: Double
        var mean: Double
        var count: Int
    }

    static func apply(_ op: AggregateOperator, grouping: AggregateGrouping, to samples: [VectorSample]) -> [VectorSample] {
        var order: [LabelSet] = []
        var groups: [LabelSet: Group] = [:]
        for sample in samples {
            let key =
                grouping.without
                ? sample.labels.removing(grouping.labels + [LabelSet.metricName])
                : sample.labels.keeping(grouping.labels)
            guard var group = groups[key] else {
                order.append(key)
                groups[key] = Group(labels: key, value: sample.value, mean: sample.value, count: 1)
                continue
            }
            switch op {
            case .sum: group.value += sample.value
            case .max: if group.value < sample.value || group.value.isNaN { group.value = sample.value }
            case .min: if group.value > sample.value || group.value.isNaN { group.value = sample.value }
            case .count, .group: group.count += 1
            case .avg:
                group.count += 1
                if group.mean.isInfinite {
                    if sample.value.isInfinite && (group.mean > 0) == (sample.value > 0) { break }
                    if !sample.value.isInfinite && !sample.value.isNaN { break }
                }
                let count = Double(group.count)
                group.mean += sample.value / count - group.mean / count
            }
            groups[key] = group
        }
        return order.map { key in
            let group = groups[key]!
            let value: Double
            switch op {
            case .sum, .min, .max: value = group.value
            case .avg: value = group.mean
            case .count: value = Double(group.count)
            case .group: value = 1
            }
            return VectorSample(labels: group.labels, value: value)
        }
    }
}
