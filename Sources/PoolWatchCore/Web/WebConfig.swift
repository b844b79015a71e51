
/// The `--web.config.file` of every Prometheus exporter (the file format of Prometheus's exporter-toolkit,
/// as its web-configuration document describes it): TLS, client certificates, extra response headers and
/// bcrypt basic auth.
///
/// Only the parts poolwatch can honour are accepted; an option it cannot honour is an error, not a
/// silent downgrade (a `client_auth_type` typo must never mean "no client certificates").
public struct WebConfig: Sendable, Equatable {
    public var tls: TLSServerConfig?
    /// `http_server_config.headers`, in file order.
    public var headers: [HeaderSetting] = []
    /// User name to bcrypt hash. Empty: no basic auth.
    public var basicAuthUsers: [String: Secret] = [:]

    public init(tls: TLSServerConfig? = nil, headers: [HeaderSetting] = [], basicAuthUsers: [String: Secret] = [:]) {
        self.tls = tls
        self.headers = headers
        self.basicAuthUsers = basicAuthUsers
    }

    public struct HeaderSetting: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// One line for logs and `check-config`: what is on, never a file's content or a hash.
    public var summary: String {
        var parts: [String] = []
        if let tls {
            parts.append("TLS \(tls.minVersion.rawValue)-\(tls.maxVersion.rawValue) with \(tls.certFile), client_auth_type \(tls.clientAuth.rawValue)")
        } else {
            parts.append("plain HTTP")
        }
        parts.append(basicAuthUsers.isEmpty ? "no basic auth" : "basic auth for \(basicAuthUsers.count) user\(basicAuthUsers.count == 1 ? "" : "s")")
        if !headers.isEmpty { parts.append("headers \(headers.map(\.name).joined(separator: ", "))") }
        return parts.joined(separator: "; ")
    }
}

public struct TLSServerConfig: Sendable, Equatable {
    public var certFile: String
    public var keyFile: String
    public var clientAuth: ClientAuthType = .noClientCert
    public var clientCAFile: String?
    /// Subject alternative names (DNS, e-mail, IP, URI) of which a client certificate must carry one.
    public var clientAllowedSANs: [String] = []
    public var minVersion: TLSVersionName = .tls12
    public var maxVersion: TLSVersionName = .tls13
    /// IANA names; empty: the TLS library's defaults. They apply to TLS 1.2 and below (as in Go).
    public var cipherSuites: [String] = []
    public var curvePreferences: [String] = []

    public init(certFile: String, keyFile: String) {
        self.certFile = certFile
        self.keyFile = keyFile
    }

    /// Go's `tls.ClientAuthType` names, as exporter-toolkit spells them.
    public enum ClientAuthType: String, Sendable, CaseIterable {
        case noClientCert = "NoClientCert"
        case requestClientCert = "RequestClientCert"
        case requireAnyClientCert = "RequireAnyClientCert"
        case verifyClientCertIfGiven = "VerifyClientCertIfGiven"
        case requireAndVerifyClientCert = "RequireAndVerifyClientCert"

        /// The client is asked for a certificate at all.
        public var requestsCertificate: Bool { self != .noClientCert }
        /// A connection without a client certificate is refused.
        public var requiresCertificate: Bool { self == .requireAnyClientCert || self == .requireAndVerifyClientCert }
        /// A presented certificate is checked against `client_ca_file`.
        public var verifiesCertificate: Bool { self == .verifyClientCertIfGiven || self == .requireAndVerifyClientCert }
    }

    public enum TLSVersionName: String, Sendable, CaseIterable, Comparable {
        case tls10 = "TLS10"
        case tls11 = "TLS11"
        case tls12 = "TLS12"
        case tls13 = "TLS13"

        public static func < (a: Self, b: Self) -> Bool {
            allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
        }
    }

    /// The cipher suites the TLS library (BoringSSL through swift-nio-ssl) can be limited to, by their
    /// IANA names (Go's names), with their code points. TLS 1.3 suites are not configurable there, nor in Go.
    public static let cipherSuiteCodes: [String: UInt16] = [
        "TLS_RSA_WITH_AES_128_CBC_SHA": 0x002F, "TLS_RSA_WITH_AES_256_CBC_SHA": 0x0035,
        "TLS_RSA_WITH_AES_128_GCM_SHA256": 0x009C, "TLS_RSA_WITH_AES_256_GCM_SHA384": 0x009D,
        "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": 0xC009, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": 0xC00A,
        "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": 0xC013, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": 0xC014,
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": 0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": 0xC02C,
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": 0xC02F, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": 0xC030,
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA8, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": 0xCCA9,
        // Go's older spellings of the two ChaCha20 suites.
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": 0xCCA8, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": 0xCCA9,
    ]

    /// Go's `tls.CurveID` names, with their TLS code points.
    public static let curveCodes: [String: UInt16] = ["CurveP256": 0x17, "CurveP384": 0x18, "CurveP521": 0x19, "X25519": 0x1D]
}

/// Reads and validates a web configuration file; every mistake is reported with its key path.
public enum WebConfigLoader {
    static let topKeys = ["tls_server_config", "http_server_config", "basic_auth_users", "rate_limit"]
    static let tlsKeys = [
        "cert_file", "key_file", "cert", "key", "client_auth_type", "client_ca_file", "client_ca", "client_allowed_sans",
        "min_version", "max_version", "cipher_suites", "prefer_server_cipher_suites", "curve_preferences",
    ]
    static let httpKeys = ["headers", "http2"]
    /// The headers exporter-toolkit lets a file set; any other is refused there too.
    static let allowedHeaders = [
        "Strict-Transport-Security", "X-Frame-Options", "X-Content-Type-Options", "X-XSS-Protection", "Content-Security-Policy",
    ]

    public static func load(yaml: String) throws(ConfigErrors) -> WebConfig {
        if let violation = YAMLInputBounds.violation(in: yaml) { throw ConfigErrors([violation]) }
        let root: Node?
        do {
            root = try YAML.compose(yaml: yaml)
        } catch {
            throw ConfigErrors([ConfigError("", "the file is not valid YAML: \(ConfigLoader.describeYAMLError(error))")])
        }
        var reader = NodeReader()
        var config = WebConfig()
        // An empty file is valid: plain HTTP without auth, as exporter-toolkit has it.
        guard let root, let top = reader.mapping(root, path: "", allowed: topKeys) else {
            if !reader.errors.isEmpty { throw ConfigErrors(reader.errors) }
            return config
        }
        if top["rate_limit"] != nil {
            reader.fail("rate_limit", "is not supported by poolwatch (every handler answers from memory; put a proxy in front to limit rates)")
        }
        if let node = top["tls_server_config"] { config.tls = parseTLS(node, reader: &reader) }
        if let node = top["http_server_config"] { config.headers = parseHTTP(node, reader: &reader) }
        if let node = top["basic_auth_users"] { config.basicAuthUsers = parseUsers(node, reader: &reader) }
        if !reader.errors.isEmpty { throw ConfigErrors(reader.errors) }
        return config
    }

    static func parseTLS(_ node: Node, reader: inout NodeReader) -> TLSServerConfig? {
        let path = "tls_server_config"
        guard let keys = reader.mapping(node, path: path, allowed: tlsKeys) else { return nil }
        for inline in ["cert", "key", "client_ca"] where keys[inline] != nil {
            reader.fail("\(path).\(inline)", "inline PEM is not supported by poolwatch; use \(inline)_file (a file can be rotated without a restart)")
        }
        let certFile = keys["cert_file"].flatMap { reader.scalar($0, path: "\(path).cert_file") }
        let keyFile = keys["key_file"].flatMap { reader.scalar($0, path: "\(path).key_file") }
        if keys["cert_file"] == nil, keys["cert"] == nil { reader.fail("\(path).cert_file", "is required to serve TLS") }
        if keys["key_file"] == nil, keys["key"] == nil { reader.fail("\(path).key_file", "is required to serve TLS") }
        var tls = TLSServerConfig(certFile: certFile ?? "", keyFile: keyFile ?? "")

        if let node = keys["client_auth_type"], let text = reader.scalar(node, path: "\(path).client_auth_type") {
            tls.clientAuth = reader.oneOf(text, path: "\(path).client_auth_type", TLSServerConfig.ClientAuthType.self) ?? tls.clientAuth
        }
        tls.clientCAFile = keys["client_ca_file"].flatMap { reader.scalar($0, path: "\(path).client_ca_file") }
        if let node = keys["client_allowed_sans"] {
            tls.clientAllowedSANs = (reader.sequence(node, path: "\(path).client_allowed_sans") ?? []).enumerated().compactMap {
                reader.scalar($0.element, path: "\(path).client_allowed_sans[\($0.offset)]")
            }
        }
        for (key, keyPath) in [("min_version", \TLSServerConfig.minVersion), ("max_version", \TLSServerConfig.maxVersion)] {
            if let node = keys[key], let text = reader.scalar(node, path: "\(path).\(key)"),
               let version = reader.oneOf(text, path: "\(path).\(key)", TLSServerConfig.TLSVersionName.self) {
                tls[keyPath: keyPath] = version
            }
        }
        tls.cipherSuites = names(keys["cipher_suites"], path: "\(path).cipher_suites", known: TLSServerConfig.cipherSuiteCodes, reader: &reader)
        tls.curvePreferences = names(keys["curve_preferences"], path: "\(path).curve_preferences", known: TLSServerConfig.curveCodes, reader: &reader)
        if let node = keys["prefer_server_cipher_suites"] {
            // Accepted for compatibility: Go ignores it since 1.17, BoringSSL servers choose by their own order.
            _ = reader.bool(node, path: "\(path).prefer_server_cipher_suites")
        }

        // The same consistency rules as exporter-toolkit.
        if tls.minVersion > tls.maxVersion {
            reader.fail("\(path).min_version", "\(tls.minVersion.rawValue) is above max_version \(tls.maxVersion.rawValue)")
        }
        if tls.clientAuth.verifiesCertificate, tls.clientCAFile == nil {
            reader.fail("\(path).client_ca_file", "is required with client_auth_type \(tls.clientAuth.rawValue)")
        }
        if tls.clientCAFile != nil, !tls.clientAuth.verifiesCertificate {
            reader.fail("\(path).client_ca_file", "is given but client_auth_type \(tls.clientAuth.rawValue) does not verify client certificates"
                        + " (use VerifyClientCertIfGiven or RequireAndVerifyClientCert)")
        }
        if !tls.clientAllowedSANs.isEmpty, !tls.clientAuth.verifiesCertificate {
            reader.fail("\(path).client_allowed_sans", "needs a client_auth_type that verifies client certificates (VerifyClientCertIfGiven or RequireAndVerifyClientCert)")
        }
        return tls
    }

    static func names(_ node: Node?, path: String, known: [String: UInt16], reader: inout NodeReader) -> [String] {
        guard let node else { return [] }
        let items = reader.sequence(node, path: path) ?? []
        return items.enumerated().compactMap { index, item in
            guard let name = reader.scalar(item, path: "\(path)[\(index)]") else { return nil }
            guard known[name] != nil else {
                reader.fail("\(path)[\(index)]", "\(ConfigEcho.quoted(name)) is not supported (supported: \(known.keys.sorted().joined(separator: ", ")))")
                return nil
            }
            return name
        }
    }

    static func parseHTTP(_ node: Node, reader: inout NodeReader) -> [WebConfig.HeaderSetting] {
        let path = "http_server_config"
        guard let keys = reader.mapping(node, path: path, allowed: httpKeys) else { return [] }
        if let node = keys["http2"], reader.bool(node, path: "\(path).http2") == true {
            reader.fail("\(path).http2", "poolwatch serves HTTP/1.1 only: set http2: false or remove the key")
        }
        guard let headersNode = keys["headers"] else { return [] }
        guard case let .mapping(mapping) = headersNode else {
            _ = reader.mapping(headersNode, path: "\(path).headers", allowed: [])
            return []
        }
        var headers: [WebConfig.HeaderSetting] = []
        for (keyNode, valueNode) in mapping {
            let name = keyNode.scalar?.string ?? "?"
            let headerPath = "\(path).headers.\(ConfigEcho.value(name))"
            guard let canonical = allowedHeaders.first(where: { $0.lowercased() == name.lowercased() }) else {
                reader.fail(headerPath, "this header cannot be set (allowed: \(allowedHeaders.joined(separator: ", ")))")
                continue
            }
            guard let value = reader.scalar(valueNode, path: headerPath) else { continue }
            if let problem = headerValueProblem(canonical, value) { reader.fail(headerPath, problem) }
            headers.append(.init(name: canonical, value: value))
        }
        return headers
    }

    /// exporter-toolkit's value rules for the headers with a fixed vocabulary.
    static func headerValueProblem(_ name: String, _ value: String) -> String? {
        switch name {
        case "X-Content-Type-Options" where value.lowercased() != "nosniff":
            return "\(ConfigEcho.quoted(value)) is not valid (only nosniff)"
        case "X-Frame-Options" where !["deny", "sameorigin"].contains(value.lowercased()):
            return "\(ConfigEcho.quoted(value)) is not valid (deny or sameorigin)"
        case "X-XSS-Protection" where !(value == "0" || value == "1" || value.hasPrefix("1; ")):
            return "\(ConfigEcho.quoted(value)) is not valid (0, 1, 1; mode=block or 1; report=URI)"
        default:
            return value.contains(where: { $0 == "\r" || $0 == "\n" }) ? "must be a single line" : nil
        }
    }

    static func parseUsers(_ node: Node, reader: inout NodeReader) -> [String: Secret] {
        let path = "basic_auth_users"
        guard case let .mapping(mapping) = node else {
            _ = reader.mapping(node, path: path, allowed: [])
            return [:]
        }
        var users: [String: Secret] = [:]
        for (keyNode, valueNode) in mapping {
            let user = keyNode.scalar?.string ?? ""
            let userPath = "\(path).\(ConfigEcho.value(user))"
            if user.isEmpty || user.contains(":") {
                reader.fail(userPath, "a user name must be non-empty and without a colon (basic auth splits at the first colon)")
                continue
            }
            if users[user] != nil { reader.fail(userPath, "is given twice") }
            // The hash is a secret: never quoted in a message.
            guard let hash = reader.scalar(valueNode, path: userPath, quoteValue: false) else { continue }
            guard BcryptHashShape.isValid(hash) else {
                reader.fail(userPath, "is not a bcrypt hash ($2a$, $2b$ or $2y$, cost 04 to 31, 60 characters; make one with htpasswd -nBC 10 \"\" | tr -d ':\\n')")
                continue
            }
            users[user] = Secret(hash)
        }
        return users
    }
}

/// The shape of a modular-crypt bcrypt hash: `$2y$10$` and 53 characters of bcrypt's base64.
public enum BcryptHashShape {
    static let alphabet = Set("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

    public static func isValid(_ hash: String) -> Bool {
        let bytes = Array(hash)
        guard bytes.count == 60, bytes[0] == "$", bytes[1] == "2", ["a", "b", "y"].contains(bytes[2]), bytes[3] == "$",
              bytes[6] == "$", let cost = Int(String(bytes[4...5])), (4...31).contains(cost) else { return false }
        return bytes[7...].allSatisfy { alphabet.contains($0) }
    }
}
