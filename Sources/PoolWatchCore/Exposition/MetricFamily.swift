/// The Prometheus metric type written on a family's `# TYPE` line.
public enum MetricType: String, Sendable, Hashable {
    case gauge
    case counter
    case untyped
    /// Only quantile samples, no `_sum`/`_count`: the latency quantiles an application pool reports
    /// (PoolModel.swift). Prometheus and promtool accept a summary without them; a gauge with a
    /// `quantile` label fails `promtool check metrics`.
    case summary
}

/// One label pair. Labels keep their order: the encoder writes them as given, so producers put
/// `target` first and the rest in a fixed order, which makes the output deterministic.
public struct Label: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// One series value inside a family.
public struct Sample: Sendable, Hashable {
    public var labels: [Label]
    public var value: Double

    public init(_ labels: [Label], _ value: Double) {
        self.labels = labels
        self.value = value
    }

    public init(_ value: Double) {
        self.labels = []
        self.value = value
    }

    /// The value of label `name`, if present.
    public func label(_ name: String) -> String? {
        labels.first { $0.name == name }?.value
    }
}

/// A metric family: one name, one HELP, one TYPE, any number of samples.
///
/// Families are plain values built fresh by each collection round ("const metrics"), so vanished
/// series simply stop appearing and nothing ever has to be unregistered.
public struct MetricFamily: Sendable, Hashable {
    public var name: String
    public var help: String
    public var type: MetricType
    public var samples: [Sample]

    public init(_ name: String, help: String, type: MetricType = .gauge, samples: [Sample] = []) {
        self.name = name
        self.help = help
        self.type = type
        self.samples = samples
    }

    /// A family with a single unlabelled sample.
    public init(_ name: String, help: String, type: MetricType = .gauge, value: Double) {
        self.init(name, help: help, type: type, samples: [Sample(value)])
    }

    /// Returns a copy with `labels` put in front of every sample's own labels. A sample's own label of
    /// the same name wins (a constant label must never duplicate a label name within a series).
    public func prefixed(with labels: [Label]) -> MetricFamily {
        var copy = self
        copy.samples = samples.map { sample in
            var all = labels.count < 2 ? labels
                : labels.filter { label in !sample.labels.contains { $0.name == label.name } }
            all.reserveCapacity(labels.count + sample.labels.count)
            all.append(contentsOf: sample.labels)
            return Sample(all, sample.value)
        }
        return copy
    }
}

extension Array where Element == MetricFamily {
    /// Merges families of the same name (from several targets) into one family each, sorted by name.
    /// The first HELP and TYPE seen win; Prometheus requires one block per family name.
    public func mergedByName() -> [MetricFamily] {
        var order: [String] = []
        var byName: [String: MetricFamily] = [:]
        for family in self {
            if byName[family.name] != nil {
                // In place: a copy out of the dictionary and back would copy the samples each time.
                byName[family.name]!.samples.append(contentsOf: family.samples)
            } else {
                byName[family.name] = family
                order.append(family.name)
            }
        }
        return order.sorted().map { byName[$0]! }
    }
}
