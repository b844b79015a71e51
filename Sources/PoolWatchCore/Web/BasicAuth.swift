/// The decisions of HTTP basic auth, as pure values: which paths need it, what a header says, whether a
/// password was already verified. The bcrypt itself runs in PoolWatchHTTP (`BasicAuthenticator`).
public enum BasicAuthPolicy {
    /// Paths answered without credentials even when `basic_auth_users` is set: the Kubernetes probes and
    /// the Docker HEALTHCHECK call them without a password (see README "Probes with TLS and basic auth").
    /// They say only "ok" or which targets are not ready yet, nothing a scrape or the status page shows.
    public static let exemptPaths: Set<String> = ["/healthz", "/readyz"]

    public static func requiresCredentials(path: String, userCount: Int) -> Bool {
        userCount > 0 && !exemptPaths.contains(path)
    }

    /// The user and password of an `Authorization: Basic …` header; nil for anything else.
    public static func credentials(authorization: String?) -> (user: String, password: [UInt8])? {
        guard let header = authorization else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "basic",
              let decoded = Base64.decode(parts[1].trimmingSpaces),
              let colon = decoded.firstIndex(of: UInt8(ascii: ":")) else { return nil }
        return (String(decoding: decoded[..<colon], as: UTF8.self), Array(decoded[(colon + 1)...]))
    }

    /// Compares every byte whatever differs first, so the time says nothing about where they differ.
    public static func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        let count = max(a.count, b.count)
        for index in 0..<count {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0
    }
}

/// Passwords that passed a bcrypt check, so the next scrape with the same credentials costs a
/// constant-time compare instead of a full bcrypt (exporter-toolkit caches its checks too). One entry
/// per configured user, tied to the hash it was checked against: a changed hash forgets it.
public struct VerifiedPasswords: Sendable {
    struct Entry: Sendable {
        var hash: String
        var password: [UInt8]
    }
    private var entries: [String: Entry] = [:]

    public init() {}

    public func contains(user: String, password: [UInt8], hash: String) -> Bool {
        guard let entry = entries[user], entry.hash == hash else { return false }
        return BasicAuthPolicy.constantTimeEqual(entry.password, password)
    }

    public mutating func remember(user: String, password: [UInt8], hash: String) {
        entries[user] = Entry(hash: hash, password: password)
    }

    /// Drops the users no longer configured (after a reload).
    public mutating func keep(users: Set<String>) {
        entries = entries.filter { users.contains($0.key) }
    }
}

/// Standard base64 (RFC 4648, with padding), the encoding of basic auth.
public enum Base64 {
    public static func decode(_ text: Substring) -> [UInt8]? {
        var values: [UInt8] = []
        values.reserveCapacity(text.utf8.count)
        var padding = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: "=") { padding += 1; continue }
            guard padding == 0, let value = sextet(byte) else { return nil }
            values.append(value)
        }
        guard (values.count + padding) % 4 == 0, padding <= 2 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(values.count * 3 / 4)
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            let a = chunk[chunk.startIndex], b = chunk.count > 1 ? chunk[chunk.startIndex + 1] : 0
            guard chunk.count > 1 else { return nil }
            output.append(a << 2 | b >> 4)
            if chunk.count > 2 { output.append(b << 4 | chunk[chunk.startIndex + 2] >> 2) }
            if chunk.count > 3 { output.append(chunk[chunk.startIndex + 2] << 6 | chunk[chunk.startIndex + 3]) }
            index += 4
        }
        return output
    }

    static func sextet(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"): return 62
        case UInt8(ascii: "/"): return 63
        default: return nil
        }
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var result = self
        while result.first == " " || result.first == "\t" { result = result.dropFirst() }
        while result.last == " " || result.last == "\t" { result = result.dropLast() }
        return result
    }
}

/// `client_allowed_sans`: a verified client certificate must carry one of these names (exporter-toolkit
/// compares against the certificate's DNS names, e-mail addresses, IP addresses and URIs, exactly).
public enum ClientSANPolicy {
    public static func allows(certificateNames: [String], allowed: [String]) -> Bool {
        allowed.isEmpty || certificateNames.contains(where: allowed.contains)
    }
}
