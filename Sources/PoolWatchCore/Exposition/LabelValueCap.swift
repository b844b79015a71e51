/// Caps the length of label values before a snapshot is stored (`SnapshotStore.publish`), so `/metrics`,
/// the alert rules, `/alerts` and the notifications all see the same bounded values.
///
/// Label values come from outside: an application's pool-stats document (`kind: http_json`), database,
/// user and application names, query text. A 100 KB pool name would otherwise be copied into every
/// series of that pool, every alert instance and every notification.
public enum LabelValueCap {
    /// Bytes of UTF-8; longer values are cut on a character boundary.
    public static let maxBytes = 256

    /// `value` cut to at most `maxBytes` bytes of UTF-8, never inside a multi-byte character.
    public static func truncate(_ value: String, maxBytes: Int = maxBytes) -> String {
        let utf8 = value.utf8
        guard utf8.count > maxBytes else { return value }
        var end = utf8.index(utf8.startIndex, offsetBy: maxBytes)
        // Back up over continuation bytes (10xxxxxx) so the cut falls before a character's first byte.
        while end > utf8.startIndex && (utf8[end] & 0xC0) == 0x80 { end = utf8.index(before: end) }
        return String(Substring(utf8[..<end]))
    }

    /// `families` with every label value capped, and how many values were cut.
    public static func apply(_ families: [MetricFamily], maxBytes: Int = maxBytes) -> (families: [MetricFamily], truncated: Int) {
        var truncated = 0
        var result = families
        for f in result.indices {
            // Most rounds have nothing to cut: look before copying.
            guard result[f].samples.contains(where: { $0.labels.contains { $0.value.utf8.count > maxBytes } }) else { continue }
            for s in result[f].samples.indices {
                for l in result[f].samples[s].labels.indices where result[f].samples[s].labels[l].value.utf8.count > maxBytes {
                    result[f].samples[s].labels[l].value = truncate(result[f].samples[s].labels[l].value, maxBytes: maxBytes)
                    truncated += 1
                }
            }
        }
        return (result, truncated)
    }
}
