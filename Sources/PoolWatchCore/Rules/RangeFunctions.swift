/// The functions over a range of samples (`rate`, `increase`, `changes`, `*_over_time`), written
/// to follow Prometheus 2.x `promql/functions.go` operation by operation, so the local evaluator and
/// Prometheus compute bit-identical values from the same samples.
enum RangeFunctions {
    struct Point {
        var time: Int64
        var value: Double
    }

    /// The function's value for one series, or nil when Prometheus drops the series
    /// (`rate`/`increase` with fewer than two samples).
    static func apply(_ function: PromQLFunction, _ points: [Point], rangeStart: Int64, rangeEnd: Int64, range: Int64)
        -> Double?
    {
        guard !points.isEmpty else { return nil }
        switch function {
        case .rate: return extrapolatedRate(points, rangeStart: rangeStart, rangeEnd: rangeEnd, range: range, isRate: true)
        case .increase:
            return extrapolatedRate(points, rangeStart: rangeStart, rangeEnd: rangeEnd, range: range, isRate: false)
        case .changes: return changes(points)
        case .maxOverTime:
            var result = points[0].value
            for point in points where point.value > result || result.isNaN { result = point.value }
            return result
        case .minOverTime:
            var result = points[0].value
            for point in points where point.value < result || result.isNaN { result = point.value }
            return result
        case .avgOverTime: return averageOverTime(points)
        case .sumOverTime:
            var sum = 0.0
            var compensation = 0.0
            for point in points { (sum, compensation) = kahanSumIncrement(point.value, sum, compensation) }
            return sum.isInfinite ? sum : sum + compensation
        case .countOverTime: return Double(points.count)
        default: return nil
        }
    }

    /// Prometheus' `extrapolatedRate` for counters: the increase between the first and last sample,
    /// corrected for counter resets, extrapolated towards the range boundaries (at most half an
    /// average sample interval beyond the samples, and never below zero for the counter's start).
    static func extrapolatedRate(_ points: [Point], rangeStart: Int64, rangeEnd: Int64, range: Int64, isRate: Bool)
        -> Double?
    {
        guard points.count >= 2, let first = points.first, let last = points.last else { return nil }
        var resultValue = last.value - first.value
        var previous = first.value
        for point in points.dropFirst() {
            if point.value < previous { resultValue += previous }
            previous = point.value
        }
        var durationToStart = Double(first.time - rangeStart) / 1000
        let durationToEnd = Double(rangeEnd - last.time) / 1000
        let sampledInterval = Double(last.time - first.time) / 1000
        let averageDurationBetweenSamples = sampledInterval / Double(points.count - 1)

        if resultValue > 0 && first.value >= 0 {
            let durationToZero = sampledInterval * (first.value / resultValue)
            if durationToZero < durationToStart { durationToStart = durationToZero }
        }
        let extrapolationThreshold = averageDurationBetweenSamples * 1.1
        var extrapolateToInterval = sampledInterval
        extrapolateToInterval += durationToStart < extrapolationThreshold ? durationToStart : averageDurationBetweenSamples / 2
        extrapolateToInterval += durationToEnd < extrapolationThreshold ? durationToEnd : averageDurationBetweenSamples / 2
        var factor = extrapolateToInterval / sampledInterval
        if isRate { factor /= Double(range) / 1000 }
        return resultValue * factor
    }

    static func changes(_ points: [Point]) -> Double {
        var count = 0
        var previous = points[0].value
        for point in points.dropFirst() {
            if point.value != previous && !(point.value.isNaN && previous.isNaN) { count += 1 }
            previous = point.value
        }
        return Double(count)
    }

    /// Incremental mean with Kahan compensation and Prometheus' handling of infinities.
    static func averageOverTime(_ points: [Point]) -> Double {
        var mean = 0.0
        var count = 0.0
        var compensation = 0.0
        for point in points {
            count += 1
            if mean.isInfinite {
                if point.value.isInfinite && (mean > 0) == (point.value > 0) { continue }
                if !point.value.isInfinite && !point.value.isNaN { continue }
            }
            (mean, compensation) = kahanSumIncrement(point.value / count - mean / count, mean, compensation)
        }
        return mean.isInfinite ? mean : mean + compensation
    }

    /// Neumaier's improved Kahan summation step, as Prometheus' `kahanSumInc`.
    static func kahanSumIncrement(_ increment: Double, _ sum: Double, _ compensation: Double) -> (Double, Double) {
        let total = sum + increment
        var newCompensation = compensation
        if abs(sum) >= abs(increment) {
            newCompensation += (sum - total) + increment
        } else {
            newCompensation += (increment - total) + sum
        }
        return (total, newCompensation)
    }
}
