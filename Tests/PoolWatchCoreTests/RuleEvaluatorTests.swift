import Testing

@testable import PoolWatchCore

/// Builders shared by the rule tests: one series sample, rounds of samples, histories.
enum RuleFixtures {
    struct Point {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    static func point(_ name: String, _ labels: [String: String] = [:], _ value: Double) -> Point {
        Point(name: name, labels: labels, value: value)
    }

    /// Groups points into families (labels in sorted order, like collectors produce them).
    static func families(_ points: [Point]) -> [MetricFamily] {
        var order: [String] = []
        var byName: [String: MetricFamily] = [:]
        for point in points {
            if byName[point.name] == nil {
                order.append(point.name)
                byName[point.name] = MetricFamily(point.name, help: "test")
            }
            let labels = point.labels.sorted { $0.key < $1.key }.map { Label($0.key, $0.value) }
            byName[point.name]!.samples.append(Sample(labels, point.value))
        }
        return order.map { byName[$0]! }
    }

    /// A history fed with `rounds` (time in seconds, points of that round).
    static func history(_ rounds: [(Double, [Point])], window: Double = 3600) -> SeriesHistory {
        var history = SeriesHistory(retainingEverythingFor: window)
        for (time, points) in rounds { history.append(families(points), at: time) }
        return history
    }

    /// Evaluates `text` at `time` over `history` and returns the vector, sorted by labels.
    static func vector(_ text: String, _ history: SeriesHistory, at time: Double) throws -> [VectorSample] {
        let value = try PromQLEvaluator(history: history).evaluate(try PromQLParser.parse(text), at: time)
        guard case .vector(let samples) = value else {
            Issue.record("\(text) gave \(value), not a vector")
            return []
        }
        return samples.sorted { $0.labels < $1.labels }
    }

    static func labels(_ pairs: KeyValuePairs<String, String>) -> LabelSet { LabelSet(pairs) }
}

@Suite struct RuleEvaluatorTests {
    typealias F = RuleFixtures

    @Test func instantSelectorLooksBackFiveMinutesInclusive() throws {
        let history = F.history([(0, [F.point("up", ["target": "a"], 1)])])
        #expect(try F.vector("up", history, at: 240).map(\.value) == [1])
        #expect(try F.vector("up", history, at: 300).map(\.value) == [1])
        #expect(try F.vector("up", history, at: 300.001).isEmpty)
        // A sample in the future of the evaluation time is not visible.
        #expect(try F.vector("up", F.history([(10, [F.point("up", [:], 1)])]), at: 5).isEmpty)
    }

    @Test func seriesMissingFromARoundIsStaleAtOnce() throws {
        let history = F.history([
            (0, [F.point("up", ["target": "a"], 1), F.point("up", ["target": "b"], 1)]),
            (15, [F.point("up", ["target": "a"], 1)]),
        ])
        #expect(try F.vector("up", history, at: 15).map { $0.labels["target"] } == ["a"])
    }

    @Test func selectorsMatchLabelsAndKeepTheName() throws {
        let history = F.history([
            (0, [
                F.point("x", ["db": "app", "state": "active"], 1),
                F.point("x", ["db": "template1", "state": "idle"], 2),
                F.point("x", ["db": "postgres", "state": "idle in transaction (aborted)"], 3),
                F.point("y", ["db": "app"], 4),
            ])
        ])
        #expect(try F.vector("x{db!~\"template.*|postgres\"}", history, at: 0).map(\.value) == [1])
        #expect(try F.vector("x{state=~\"idle in transaction.*\"}", history, at: 0).map(\.value) == [3])
        #expect(try F.vector("x{state!=\"active\", db=~\"t.*\"}", history, at: 0).map(\.value) == [2])
        #expect(try F.vector("{__name__=~\"x|y\", db=\"app\"}", history, at: 0).map(\.value) == [1, 4])
        #expect(try F.vector("x{missing=\"\"}", history, at: 0).count == 3)
        #expect(try F.vector("y", history, at: 0).first?.labels == F.labels(["__name__": "y", "db": "app"]))
    }

    @Test func rateAndIncreaseHandleCounterResets() throws {
        let values: [Double] = [0, 10, 20, 5, 15]
        let history = F.history(values.enumerated().map { (Double($0.offset) * 15, [F.point("c_total", ["t": "a"], $0.element)]) })
        // 15 - 0 plus the 20 lost at the reset; samples cover the whole minute, so no extrapolation.
        #expect(try F.vector("increase(c_total[1m])", history, at: 60).map(\.value) == [35])
        #expect(try F.vector("rate(c_total[1m])", history, at: 60).map(\.value) == [35 * (1.0 / 60)])
        #expect(try F.vector("rate(c_total[1m])", history, at: 60).first?.labels == F.labels(["t": "a"]))
    }

    @Test func rateExtrapolatesLikePrometheus() throws {
        // Samples 1…5 at 10…50 s; range [0, 60]: 10 s gaps at both ends are under 1.1 × the 10 s
        // average interval, so the 4 increase over 40 s extrapolates to 60 s.
        let history = F.history((1...5).map { (Double($0) * 10, [F.point("c_total", [:], Double($0))]) })
        #expect(try F.vector("increase(c_total[1m])", history, at: 60).map(\.value) == [6])
        #expect(try F.vector("rate(c_total[1m])", history, at: 60).map(\.value) == [4 * (1.5 / 60)])
        // Far from the end (70 s): extrapolate only half an average interval (5 s) past the last sample.
        #expect(try F.vector("increase(c_total[2m])", history, at: 120).map(\.value) == [4 * (55.0 / 40)])
        // A counter starting at 0 is not extrapolated below zero towards the range start.
        let zeroStart = F.history((1...5).map { (Double($0) * 10, [F.point("c_total", [:], Double($0 - 1))]) })
        #expect(try F.vector("increase(c_total[1m])", zeroStart, at: 60).map(\.value) == [4 * 50.0 / 40])
        // One sample: no rate.
        #expect(try F.vector("rate(c_total[5s])", history, at: 50).isEmpty)
    }

    @Test func overTimeFunctionsAndChanges() throws {
        let values: [Double] = [3, 1, 4, 1, 5]
        let history = F.history(values.enumerated().map { (Double($0.offset) * 15, [F.point("g", ["t": "a"], $0.element)]) })
        #expect(try F.vector("max_over_time(g[1m])", history, at: 60).map(\.value) == [5])
        #expect(try F.vector("min_over_time(g[1m])", history, at: 60).map(\.value) == [1])
        #expect(try F.vector("avg_over_time(g[1m])", history, at: 60).map { ($0.value * 1e9).rounded() / 1e9 } == [2.8])
        #expect(try F.vector("sum_over_time(g[1m])", history, at: 60).map(\.value) == [14])
        #expect(try F.vector("count_over_time(g[1m])", history, at: 60).map(\.value) == [5])
        #expect(try F.vector("changes(g[1m])", history, at: 60).map(\.value) == [4])
        #expect(try F.vector("max_over_time(g[30s])", history, at: 60).map(\.value) == [5])
        #expect(try F.vector("max_over_time(g[1m])", history, at: 60).first?.labels == F.labels(["t": "a"]))
    }

    @Test func rangeSkipsStaleMarkers() throws {
        let history = F.history([
            (0, [F.point("g", [:], 7)]), (15, []), (30, [F.point("g", [:], 2)]),
        ])
        #expect(try F.vector("count_over_time(g[1m])", history, at: 30).map(\.value) == [2])
        #expect(try F.vector("g", history, at: 20).isEmpty)
    }

    @Test func arithmeticDropsTheNameAndComparisonsFilter() throws {
        let history = F.history([(0, [F.point("x", ["t": "a"], 5), F.point("x", ["t": "b"], 1)])])
        #expect(try F.vector("x * 2", history, at: 0).map(\.labels) == [F.labels(["t": "a"]), F.labels(["t": "b"])])
        #expect(try F.vector("x > 2", history, at: 0).map(\.labels) == [F.labels(["__name__": "x", "t": "a"])])
        #expect(try F.vector("x > bool 2", history, at: 0).map(\.value) == [1, 0])
        #expect(try F.vector("x > bool 2", history, at: 0).first?.labels == F.labels(["t": "a"]))
        // Scalar on the left: the vector's value is kept.
        #expect(try F.vector("2 < x", history, at: 0).map(\.value) == [5])
        #expect(try F.vector("-x", history, at: 0).map(\.value) == [-5, -1])
        #expect(try F.vector("x % 3", history, at: 0).map(\.value) == [2, 1])
        #expect(try F.vector("x - 1 - 1", history, at: 0).map(\.value) == [3, -1])
        #expect(try F.vector("x / 0", history, at: 0).map(\.value) == [.infinity, .infinity])
    }

    @Test func scalarsAndScalarFunctions() throws {
        let history = F.history([(0, [F.point("x", ["t": "a"], -3)])])
        let evaluator = PromQLEvaluator(history: history)
        #expect(try evaluator.evaluate(PromQLParser.parse("1 + 2 * 3"), at: 0) == .scalar(7))
        #expect(try evaluator.evaluate(PromQLParser.parse("2 > bool 1"), at: 0) == .scalar(1))
        #expect(try evaluator.evaluate(PromQLParser.parse("time()"), at: 1234.5) == .scalar(1234.5))
        #expect(try evaluator.evaluate(PromQLParser.parse("-(2 - 5)"), at: 0) == .scalar(3))
        #expect(try F.vector("vector(1)", history, at: 0) == [VectorSample(labels: LabelSet(), value: 1)])
        #expect(try F.vector("time() - x", history, at: 10).map(\.value) == [13])
        #expect(try F.vector("clamp_min(x, 0)", history, at: 0) == [VectorSample(labels: F.labels(["t": "a"]), value: 0)])
        #expect(try F.vector("clamp_max(x, -5)", history, at: 0).map(\.value) == [-5])
    }

    @Test func oneToOneMatchingIgnoresTheName() throws {
        let history = F.history([
            (0, [
                F.point("max_conn", ["target": "a"], 100), F.point("reserved", ["target": "a"], 3),
                F.point("max_conn", ["target": "b"], 50),
            ])
        ])
        #expect(try F.vector("max_conn - reserved", history, at: 0) == [VectorSample(labels: F.labels(["target": "a"]), value: 97)])
        // Comparisons between vectors filter and keep the left side, name included.
        #expect(try F.vector("max_conn > reserved", history, at: 0).map(\.labels) == [F.labels(["__name__": "max_conn", "target": "a"])])
    }

    @Test func onKeepsOnlyTheOnLabelsAndGroupLeftCopiesLabels() throws {
        let history = F.history([
            (0, [
                F.point("backends", ["target": "a", "db": "x"], 30), F.point("backends", ["target": "a", "db": "y"], 60),
                F.point("limit", ["target": "a", "version": "15"], 100),
            ])
        ])
        #expect(
            try F.vector("sum by (target) (backends) / on(target) limit", history, at: 0)
                == [VectorSample(labels: F.labels(["target": "a"]), value: 0.9)])
        let grouped = try F.vector("backends / on(target) group_left(version) limit", history, at: 0)
        #expect(grouped.map(\.labels) == [F.labels(["db": "x", "target": "a", "version": "15"]), F.labels(["db": "y", "target": "a", "version": "15"])])
        #expect(grouped.map(\.value) == [0.3, 0.6])
        // group_right: the many side is on the right; the value is still left op right.
        let right = try F.vector("limit / on(target) group_right() backends", history, at: 0)
        #expect(right.map(\.value).sorted() == [100.0 / 60, 100.0 / 30])
        #expect(right.map { $0.labels["db"] } == ["x", "y"])
        // ignoring(db) matches too, and keeps the many side's labels.
        #expect(try F.vector("backends / ignoring(db, version) group_left limit", history, at: 0).count == 2)
    }

    @Test func manyToManyMatchingIsAnError() throws {
        let history = F.history([
            (0, [F.point("a", ["t": "1", "x": "1"], 1), F.point("a", ["t": "1", "x": "2"], 1), F.point("b", ["t": "1", "y": "1"], 1),
                 F.point("b", ["t": "1", "y": "2"], 1)])
        ])
        #expect(throws: PromQLEvaluationError.self) { try F.vector("a / on(t) b", history, at: 0) }
        #expect(throws: PromQLEvaluationError.self) { try F.vector("a / on(t) group_left b", history, at: 0) }
        // One-to-one without group_left but many on the left: refused, as in Prometheus.
        let single = F.history([(0, [F.point("a", ["t": "1", "x": "1"], 1), F.point("a", ["t": "1", "x": "2"], 1), F.point("b", ["t": "1"], 1)])])
        #expect(throws: PromQLEvaluationError.self) { try F.vector("a / on(t) b", single, at: 0) }
        #expect(try F.vector("a / on(t) group_left b", single, at: 0).count == 2)
    }

    @Test func setOperators() throws {
        let history = F.history([
            (0, [
                F.point("a", ["t": "1", "slot": "s"], 0), F.point("a", ["t": "2", "slot": "s"], 0),
                F.point("replica", ["t": "1"], 0), F.point("replica", ["t": "2"], 1),
            ])
        ])
        // Without on(), `and` compares full label sets and never matches (docs/alert-rules.md §2).
        #expect(try F.vector("a and replica", history, at: 0).isEmpty)
        #expect(try F.vector("(a == 0) and on(t) (replica == 0)", history, at: 0).map { $0.labels["t"] } == ["1"])
        #expect(try F.vector("a unless on(t) (replica == 1)", history, at: 0).map { $0.labels["t"] } == ["1"])
        let union = try F.vector("a or on(t) replica", history, at: 0)
        #expect(union.count == 2 && union.allSatisfy { $0.labels["__name__"] == "a" })
        #expect(try F.vector("vector(1) or a", history, at: 0).count == 3)
    }

    @Test func aggregations() throws {
        let history = F.history([
            (0, [
                F.point("b", ["target": "a", "db": "x", "state": "active"], 1),
                F.point("b", ["target": "a", "db": "x", "state": "idle"], 2),
                F.point("b", ["target": "a", "db": "y", "state": "active"], 4),
                F.point("b", ["target": "z", "db": "x", "state": "active"], 8),
            ])
        ])
        #expect(try F.vector("sum by (target) (b)", history, at: 0).map(\.value) == [7, 8])
        #expect(try F.vector("sum(b) by (target)", history, at: 0).map(\.value) == [7, 8])
        #expect(try F.vector("sum(b)", history, at: 0) == [VectorSample(labels: LabelSet(), value: 15)])
        #expect(try F.vector("max by (target, db) (b)", history, at: 0).map(\.value) == [2, 8, 4])
        #expect(try F.vector("min without (state) (b)", history, at: 0).map(\.labels) == [
            F.labels(["db": "x", "target": "a"]), F.labels(["db": "x", "target": "z"]), F.labels(["db": "y", "target": "a"]),
        ])
        #expect(try F.vector("avg by (target) (b)", history, at: 0).map(\.value).map { ($0 * 1e9).rounded() / 1e9 } == [2.333333333, 8])
        #expect(try F.vector("count by (db) (b)", history, at: 0).map(\.value) == [3, 1])
        #expect(try F.vector("group by (target) (b)", history, at: 0).map(\.value) == [1, 1])
        // Grouping by a label nobody has puts everything in one group without labels.
        #expect(try F.vector("sum by (nope) (b)", history, at: 0).map(\.labels) == [LabelSet()])
    }

    @Test func absentUsesEqualityMatchers() throws {
        let history = F.history([(0, [F.point("up", ["job": "pg"], 1)])])
        #expect(try F.vector("absent(up{job=\"pg\"})", history, at: 0).isEmpty)
        #expect(try F.vector("absent(up{job=\"other\", instance=~\"a.*\"})", history, at: 0) == [
            VectorSample(labels: F.labels(["job": "other"]), value: 1)
        ])
        #expect(try F.vector("absent(nope{job=\"a\", job=\"b\"})", history, at: 0) == [VectorSample(labels: LabelSet(), value: 1)])
        #expect(try F.vector("absent(sum(nope))", history, at: 0) == [VectorSample(labels: LabelSet(), value: 1)])
    }

    @Test func duplicateLabelSetsAfterDroppingTheNameAreAnError() throws {
        let history = F.history([(0, [F.point("a", ["t": "1"], 1), F.point("b", ["t": "1"], 2)])])
        #expect(throws: PromQLEvaluationError.self) { try F.vector("clamp_min({__name__=~\"a|b\"}, 0)", history, at: 0) }
        #expect(try F.vector("{__name__=~\"a|b\"} > 0", history, at: 0).count == 2)
    }

    @Test func historyKeepsOnlyWhatRulesRead() throws {
        let instant = try PromQLParser.parse("x > 1")
        let ranged = try PromQLParser.parse("rate(y_total[1m])")
        var history = SeriesHistory(retainingFor: instant.selectors + ranged.selectors)
        for step in 0..<20 {
            history.append(
                F.families([F.point("x", ["t": "a"], 1), F.point("y_total", ["t": "a"], Double(step)), F.point("ignored", [:], 1)]),
                at: Double(step) * 15)
        }
        #expect(history.seriesCount == 2)
        #expect(history.series["ignored"] == nil)
        #expect(history.series["x"]?.values.first?.count == 1)
        // A 1 minute window at 15 s spacing: 5 samples, the oldest exactly one minute old.
        #expect(history.series["y_total"]?.values.first?.count == 5)
        history.append([], at: 300)
        #expect(history.seriesCount == 1)  // x is gone (stale); y_total still has samples in its window
        history.append([], at: 400)
        #expect(history.seriesCount == 0)
    }

    @Test func historyCapsTheNumberOfSeries() throws {
        var history = SeriesHistory(retainingEverythingFor: 60, limits: SeriesHistory.Limits(maxSeries: 3))
        history.append(F.families((0..<5).map { F.point("x", ["i": String($0)], 1) }), at: 0)
        #expect(history.seriesCount == 3)
        #expect(history.refusedSamples == 2)
    }
}
