/// Binary operators between scalars and instant vectors, with Prometheus' vector matching
/// (`promql/engine.go`: `VectorBinop`, `VectorAnd/Or/Unless`, `resultMetric`).
///
/// The points where rule packs go wrong live here (docs/alert-rules.md §3): matching is on the
/// full label set minus `__name__` unless `on`/`ignoring` say otherwise; a one-to-one match with
/// `on(...)` keeps only the `on` labels; `group_left(l)` copies `l` from the "one" side; comparisons
/// without `bool` filter and keep the left value (and the metric name).
enum BinaryEvaluation {
    static func apply(_ op: BinaryOperator, _ left: PromQLValue, _ right: PromQLValue, _ matching: VectorMatching)
        throws(PromQLEvaluationError) -> PromQLValue
    {
        switch (left, right) {
        case (.scalar(let lhs), .scalar(let rhs)):
            let (value, keep) = element(op, lhs, rhs)
            return .scalar(op.isComparison ? (keep ? 1 : 0) : value)
        case (.vector(let samples), .scalar(let scalar)):
            return .vector(try vectorScalar(op, samples, scalar, swapped: false, returnBool: matching.returnBool))
        case (.scalar(let scalar), .vector(let samples)):
            return .vector(try vectorScalar(op, samples, scalar, swapped: true, returnBool: matching.returnBool))
        case (.vector(let lhs), .vector(let rhs)):
            switch op {
            case .and: return .vector(setAnd(lhs, rhs, matching))
            case .or: return .vector(try uniqueLabelSets(setOr(lhs, rhs, matching)))
            case .unless: return .vector(setUnless(lhs, rhs, matching))
            default: return .vector(try uniqueLabelSets(vectorVector(op, lhs, rhs, matching)))
            }
        default:
            throw PromQLEvaluationError("operator \(op.rawValue) is not defined on strings")
        }
    }

    /// Prometheus' `vectorElemBinop`: the arithmetic value, or for comparisons the left value and
    /// whether the comparison holds.
    static func element(_ op: BinaryOperator, _ lhs: Double, _ rhs: Double) -> (Double, Bool) {
        switch op {
        case .add: (lhs + rhs, true)
        case .subtract: (lhs - rhs, true)
        case .multiply: (lhs * rhs, true)
        case .divide: (lhs / rhs, true)
        case .modulo: (lhs.truncatingRemainder(dividingBy: rhs), true)
        case .equal: (lhs, lhs == rhs)
        case .notEqual: (lhs, lhs != rhs)
        case .greater: (lhs, lhs > rhs)
        case .less: (lhs, lhs < rhs)
        case .greaterOrEqual: (lhs, lhs >= rhs)
        case .lessOrEqual: (lhs, lhs <= rhs)
        case .and, .or, .unless: (lhs, true)
        }
    }

    static func dropsMetricName(_ op: BinaryOperator) -> Bool {
        switch op {
        case .add, .subtract, .multiply, .divide, .modulo: true
        default: false
        }
    }

    static func vectorScalar(_ op: BinaryOperator, _ samples: [VectorSample], _ scalar: Double, swapped: Bool, returnBool: Bool)
        throws(PromQLEvaluationError) -> [VectorSample]
    {
        var result: [VectorSample] = []
        for sample in samples {
            let (lhs, rhs) = swapped ? (scalar, sample.value) : (sample.value, scalar)
            var (value, keep) = element(op, lhs, rhs)
            // A comparison with the scalar on the left still returns the vector's value.
            if op.isComparison && swapped { value = rhs }
            if returnBool {
                value = keep ? 1 : 0
                keep = true
            }
            guard keep else { continue }
            let labels = dropsMetricName(op) || returnBool ? sample.labels.droppingMetricName : sample.labels
            result.append(VectorSample(labels: labels, value: value))
        }
        return try uniqueLabelSets(result)
    }

    /// The key two samples must share to match: the `on` labels, or all but the `ignoring` labels
    /// and `__name__`.
    static func signature(_ labels: LabelSet, _ matching: VectorMatching) -> LabelSet {
        matching.on ? labels.keeping(matching.labels) : labels.removing(matching.labels + [LabelSet.metricName])
    }

    static func vectorVector(_ op: BinaryOperator, _ lhsIn: [VectorSample], _ rhsIn: [VectorSample], _ matching: VectorMatching)
        throws(PromQLEvaluationError) -> [VectorSample]
    {
        // One-to-many is handled as many-to-one with the sides swapped.
        let swapped = matching.cardinality == .oneToMany
        let (many, one) = swapped ? (rhsIn, lhsIn) : (lhsIn, rhsIn)
        var oneSide: [LabelSet: VectorSample] = [:]
        for sample in one {
            let key = signature(sample.labels, matching)
            if let duplicate = oneSide[key] {
                throw PromQLEvaluationError(
                    "found duplicate series for the match group \(key) on the \(swapped ? "left" : "right") hand-side of the operation: [\(sample.labels), \(duplicate.labels)];many-to-many matching not allowed: matching labels must be unique on one side"
                )
            }
            oneSide[key] = sample
        }
        var matchedOneToOne: Set<LabelSet> = []
        var matchedManyToOne: [LabelSet: Set<LabelSet>] = [:]
        var result: [VectorSample] = []
        for sample in many {
            let key = signature(sample.labels, matching)
            guard let partner = oneSide[key] else { continue }
            let (lhs, rhs) = swapped ? (partner.value, sample.value) : (sample.value, partner.value)
            var (value, keep) = element(op, lhs, rhs)
            if matching.returnBool {
                value = keep ? 1 : 0
            } else if !keep {
                continue
            }
            var labels = resultLabels(sample.labels, partner.labels, op, matching)
            if matching.returnBool { labels = labels.droppingMetricName }
            if matching.cardinality == .oneToOne {
                guard matchedOneToOne.insert(key).inserted else {
                    throw PromQLEvaluationError(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")
                }
            } else {
                guard matchedManyToOne[key, default: []].insert(labels).inserted else {
                    throw PromQLEvaluationError("multiple matches for labels: grouping labels must ensure unique matches")
                }
            }
            result.append(VectorSample(labels: labels, value: value))
        }
        return result
    }

    /// Prometheus' `resultMetric`.
    static func resultLabels(_ many: LabelSet, _ one: LabelSet, _ op: BinaryOperator, _ matching: VectorMatching) -> LabelSet {
        var labels = dropsMetricName(op) ? many.droppingMetricName : many
        if matching.cardinality == .oneToOne {
            labels = matching.on ? labels.keeping(matching.labels) : labels.removing(matching.labels)
        }
        for name in matching.include {
            labels = labels.setting(name, one[name] ?? "")
        }
        return labels
    }

    static func setAnd(_ lhs: [VectorSample], _ rhs: [VectorSample], _ matching: VectorMatching) -> [VectorSample] {
        guard !lhs.isEmpty, !rhs.isEmpty else { return [] }
        let right = Set(rhs.map { signature($0.labels, matching) })
        return lhs.filter { right.contains(signature($0.labels, matching)) }
    }

    static func setOr(_ lhs: [VectorSample], _ rhs: [VectorSample], _ matching: VectorMatching) -> [VectorSample] {
        let left = Set(lhs.map { signature($0.labels, matching) })
        return lhs + rhs.filter { !left.contains(signature($0.labels, matching)) }
    }

    static func setUnless(_ lhs: [VectorSample], _ rhs: [VectorSample], _ matching: VectorMatching) -> [VectorSample] {
        let right = Set(rhs.map { signature($0.labels, matching) })
        return lhs.filter { !right.contains(signature($0.labels, matching)) }
    }
}
