/// PagerDuty `dedup_key`s (docs/alert-delivery.md §5). Each key is stable across restarts, config
/// reordering, template edits and severity changes, and is the same on two replicas that share a
/// `cluster_id`, so PagerDuty merges their events into one incident. Keys never carry secrets.
public enum DedupKey {
    /// `poolwatch/v1/{cluster_id}/{rule}/{h}`: `h` is the first 16 hex digits of the SHA-256 of the
    /// identity labels as `name=value`, sorted, joined by NUL.
    public static func instance(clusterID: String, rule: String, identityLabels: [Label]) -> String {
        "poolwatch/v1/\(sanitize(clusterID))/\(sanitize(rule))/\(labelHash(identityLabels))"
    }

    /// The key of the page sent when deliveries to receiver `receiver` fail.
    public static func notifierFailure(clusterID: String, receiver: String) -> String {
        "poolwatch/v1/\(sanitize(clusterID))/notifier/\(sanitize(receiver))"
    }

    /// The key of `poolwatch test-notification`.
    public static func selfTest(clusterID: String) -> String {
        "poolwatch/v1/\(sanitize(clusterID))/selftest"
    }

    /// 16 hex digits identifying a label set, independent of label order.
    public static func labelHash(_ labels: [Label]) -> String {
        let canonical = labels.map { "\($0.name)=\($0.value)" }.sorted().joined(separator: "\u{0}")
        return String(Sha256.hex(canonical).prefix(16))
    }

    /// Keeps `[A-Za-z0-9_.-]`, replaces anything else by `_`, and caps the length at 64, so a key is
    /// always at most 255 characters (PagerDuty's limit).
    public static func sanitize(_ text: String) -> String {
        let cleaned = text.unicodeScalars.prefix(64).map { scalar -> Character in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_.-".unicodeScalars.contains(scalar))
                ? Character(scalar) : "_"
        }
        return cleaned.isEmpty ? "_" : String(cleaned)
    }
}
