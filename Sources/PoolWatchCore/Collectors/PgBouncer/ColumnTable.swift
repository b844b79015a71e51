/// Shared mapping machinery for the admin-console collectors (PgBouncer `SHOW …` and Pgpool-II
/// `SHOW POOL_…`): both return text tables whose columns come and go between releases.
///
/// A `ColumnTable` turns one such table into families, one per metric column:
/// - columns are read by name; a metric may list several spellings (`reserve_pool_size` in
///   PgBouncer 1.24+, `reserve_pool` before), the first one the result has wins;
/// - a missing column or a NULL / unparsable cell gives no sample rather than a 0 or a failure;
/// - rows with equal label values are merged (summed, or the maximum for "oldest"/"longest" values),
///   so the output never holds a duplicate series, which would make Prometheus reject the scrape;
/// - families without samples are left out.
struct ColumnTable: Sendable {
    /// How two rows with the same label values combine.
    enum Merge: Sendable {
        case sum
        case max
    }

    /// A label and the column it is read from (NULL reads as the empty string).
    struct LabelColumn: Sendable {
        var label: String
        var column: String
        init(_ label: String, from column: String) {
            self.label = label
            self.column = column
        }
    }

    /// One metric family fed by one value per row.
    struct Metric: Sendable {
        var name: String
        var help: String
        var type: MetricType
        var merge: Merge
        var value: @Sendable (QueryResult.Row) -> Double?
        /// For metrics made by ``column(_:_:help:type:divisor:merge:)``: the candidate columns and the
        /// divisor, so ``ColumnTable/families(_:)`` can read the cell by position (a name lookup per
        /// cell was most of a 1,000-pool round).
        var source: (columns: [String], divisor: Double)?

        init(_ name: String, help: String, type: MetricType = .gauge, merge: Merge = .sum,
             value: @escaping @Sendable (QueryResult.Row) -> Double?) {
            self.name = name
            self.help = help
            self.type = type
            self.merge = merge
            self.value = value
        }

        /// The metric read from the first of `columns` the result has, divided by `divisor` (1_000_000
        /// turns the console's microseconds into seconds; dividing, unlike multiplying by 1e-6, gives the
        /// correctly rounded value, so 98765432 µs reads 98.765432 s, not 98.76543199999999).
        static func column(
            _ columns: [String], _ name: String, help: String, type: MetricType = .gauge, divisor: Double = 1,
            merge: Merge = .sum
        ) -> Metric {
            var metric = Metric(name, help: help, type: type, merge: merge) { row in
                guard let column = columns.first(where: { row.has($0) }), let raw = row.double(column) else { return nil }
                return divisor == 1 ? raw : raw / divisor
            }
            metric.source = (columns, divisor)
            return metric
        }
    }

    var labels: [LabelColumn]
    var metrics: [Metric]

    /// The families of `result`; none when there is no result (the collector ran no statement).
    ///
    /// One pass over the rows: each row's label values are looked up once (not once per metric), and
    /// column metrics read their cell by a position resolved once per result.
    func families(_ result: QueryResult?) -> [MetricFamily] {
        guard let result else { return [] }
        let index = result.columnIndex
        let labelPositions = labels.map { index[$0.column] }
        let readers: [@Sendable ([String?]) -> Double?] = metrics.map { metric in
            guard let (columns, divisor) = metric.source else {
                let value = metric.value
                return { cells in value(QueryResult.Row(index: index, cells: cells)) }
            }
            guard let position = columns.lazy.compactMap({ index[$0] }).first else { return { _ in nil } }
            return { cells in
                guard position < cells.count, let raw = QueryResult.Row.number(cells[position]) else { return nil }
                return divisor == 1 ? raw : raw / divisor
            }
        }
        var slots: [[String]: Int] = [:]
        var keys: [[String]] = []
        var values = [[Double?]](repeating: [], count: metrics.count)
        for cells in result.rows {
            let key = labelPositions.map { position -> String in
                guard let position, position < cells.count else { return "" }
                return cells[position] ?? ""
            }
            let slot: Int
            if let existing = slots[key] {
                slot = existing
            } else {
                slot = keys.count
                slots[key] = slot
                keys.append(key)
                for metric in values.indices { values[metric].append(nil) }
            }
            for (metric, read) in readers.enumerated() {
                guard let value = read(cells) else { continue }
                if let existing = values[metric][slot] {
                    values[metric][slot] = metrics[metric].merge == .sum ? existing + value : Swift.max(existing, value)
                } else {
                    values[metric][slot] = value
                }
            }
        }
        let labelSets = keys.map { key in zip(labels, key).map { Label($0.label, $1) } }
        return metrics.indices.compactMap { metric in
            let samples = keys.indices.compactMap { slot in values[metric][slot].map { Sample(labelSets[slot], $0) } }
            guard !samples.isEmpty else { return nil }
            return MetricFamily(metrics[metric].name, help: metrics[metric].help, type: metrics[metric].type, samples: samples)
        }
    }
}

/// Values keyed by label values, in first-seen order, merging equal keys. Deterministic output order
/// keeps fixtures and golden files stable.
struct SeriesAccumulator: Sendable {
    private(set) var keys: [[String]] = []
    private(set) var values: [[String]: Double] = [:]

    var isEmpty: Bool { keys.isEmpty }

    mutating func add(_ key: [String], _ value: Double, merge: ColumnTable.Merge = .sum) {
        if let existing = values[key] {
            values[key] = merge == .sum ? existing + value : Swift.max(existing, value)
        } else {
            keys.append(key)
            values[key] = value
        }
    }

    /// The accumulated series as one family, or nil when there is none.
    func family(_ name: String, help: String, type: MetricType = .gauge, labelNames: [String]) -> MetricFamily? {
        guard !keys.isEmpty else { return nil }
        return MetricFamily(name, help: help, type: type, samples: keys.map { key in
            Sample(zip(labelNames, key).map { Label($0, $1) }, values[key]!)
        })
    }

    /// Keeps the `top` values of the label at `index` with the largest totals (ties broken by name, so
    /// the choice is stable between rounds) and folds every other value into `other`, merging series
    /// that become equal. This bounds label cardinality the way `ActivityCollector.boundApplications`
    /// does for `pg_stat_activity`.
    func bounded(labelAt index: Int, top: Int) -> SeriesAccumulator {
        var totals: [String: Double] = [:]
        for key in keys { totals[key[index], default: 0] += values[key]! }
        guard totals.count > top else { return self }
        let kept = Set(totals.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .prefix(Swift.max(0, top)).map(\.key))
        var bounded = SeriesAccumulator()
        for key in keys {
            var folded = key
            if !kept.contains(key[index]) { folded[index] = "other" }
            bounded.add(folded, values[key]!)
        }
        return bounded
    }
}

/// Counts rows per combination of label columns: `SHOW CLIENTS`, `SHOW SERVERS` and
/// `SHOW POOL_PROCESSES` list one row per connection or process, and poolwatch exports counts per
/// group, never one series per connection.
func countRows(_ result: QueryResult, by columns: [String], where include: (QueryResult.Row) -> Bool = { _ in true })
    -> SeriesAccumulator
{
    var counts = SeriesAccumulator()
    for row in result.namedRows where include(row) {
        counts.add(columns.map { row.label($0) }, 1)
    }
    return counts
}

/// A result of one row per setting or list (`SHOW CONFIG`: `key`, `value`; `SHOW LISTS`: `list`,
/// `items`) as a dictionary. Throws when the result lacks either column: then it is not the table the
/// collector expects, and saying so beats exporting nothing silently.
func keyValueRows(_ result: QueryResult, key: String, value: String, command: String) throws -> [String: String] {
    guard result.columns.contains(key), result.columns.contains(value) else {
        throw CollectorError("\(command) returned columns \(result.columns), expected \(key) and \(value)")
    }
    var entries: [String: String] = [:]
    for row in result.namedRows {
        if let name = row[key], let text = row[value] { entries[name] = text }
    }
    return entries
}

/// The version in `column` of the first row of a `SHOW VERSION` / `SHOW POOL_VERSION` result, as
/// `ServerFacts` (see `dottedVersionNumber(in:)`); nil when there is no row or no number in it.
func versionFacts(_ results: [QueryResult], column: String) -> ServerFacts? {
    guard let text = results.first?.namedRows.first?[column], let number = dottedVersionNumber(in: text) else { return nil }
    return ServerFacts(versionNumber: number)
}

/// The first `major.minor[.patch]` in `text` as major × 10000 + minor × 100 + patch, e.g.
/// "PgBouncer 1.18.0" → 11800, "4.3.5 (tamahomeboshi)" → 40305. Used as
/// `ServerFacts.versionNumber` for PgBouncer and Pgpool-II targets.
func dottedVersionNumber(in text: String) -> Int? {
    var parts: [Int] = []
    var current: Int? = nil
    for character in text {
        if let digit = character.wholeNumberValue, character.isASCII {
            current = (current ?? 0) * 10 + digit
        } else if character == ".", let value = current {
            parts.append(value)
            current = nil
        } else {
            if let value = current { parts.append(value) }
            if parts.count >= 2 { break }
            parts = []
            current = nil
        }
    }
    if let value = current { parts.append(value) }
    guard parts.count >= 2 else { return nil }
    let patch = parts.count > 2 ? parts[2] : 0
    return parts[0] * 10000 + parts[1] * 100 + patch
}
