import Testing

@testable import PoolWatchCore

@Suite struct WebConfigTests {
    static let hash = "$2y$10$X0h1gDsPszWURQaxFh.zoubFi6DXncSjhoQNJgRrnGs7EsimhC7zG"

    func errors(_ yaml: String) -> [String] {
        do {
            _ = try WebConfigLoader.load(yaml: yaml)
            return []
        } catch {
            return error.errors.map(\.description)
        }
    }

    @Test func emptyFileIsPlainHTTPWithoutAuth() throws {
        let config = try WebConfigLoader.load(yaml: "")
        #expect(config == WebConfig())
    }

    @Test func fullExporterToolkitFile() throws {
        let config = try WebConfigLoader.load(yaml: """
            tls_server_config:
              cert_file: /etc/poolwatch/tls.crt
              key_file: /etc/poolwatch/tls.key
              client_auth_type: RequireAndVerifyClientCert
              client_ca_file: /etc/poolwatch/ca.crt
              client_allowed_sans: [prometheus.monitoring.svc]
              min_version: TLS12
              max_version: TLS13
              cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
              curve_preferences: [X25519, CurveP256]
              prefer_server_cipher_suites: true
            http_server_config:
              http2: false
              headers:
                Strict-Transport-Security: max-age=31536000
                X-Frame-Options: deny
            basic_auth_users:
              prometheus: \(Self.hash)
            """)
        let tls = try #require(config.tls)
        #expect(tls.certFile == "/etc/poolwatch/tls.crt")
        #expect(tls.clientAuth == .requireAndVerifyClientCert)
        #expect(tls.clientCAFile == "/etc/poolwatch/ca.crt")
        #expect(tls.clientAllowedSANs == ["prometheus.monitoring.svc"])
        #expect(tls.cipherSuites == ["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"])
        #expect(tls.curvePreferences == ["X25519", "CurveP256"])
        #expect(config.headers.map(\.name) == ["Strict-Transport-Security", "X-Frame-Options"])
        #expect(config.basicAuthUsers["prometheus"]?.revealed == Self.hash)
        #expect(!config.summary.contains(Self.hash))
    }

    @Test func everyClientAuthTypeIsAccepted() throws {
        for type in TLSServerConfig.ClientAuthType.allCases {
            let ca = type.verifiesCertificate ? "\n  client_ca_file: ca.crt" : ""
            let config = try WebConfigLoader.load(yaml: "tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: \(type.rawValue)\(ca)")
            #expect(config.tls?.clientAuth == type)
        }
    }

    @Test func unknownKeysAndUnsupportedOptionsAreErrorsWithTheirPath() {
        let found = errors("""
            tls_server_config:
              cert_file: a
              key_file: b
              client_auth_type: RequireClientCert
              min_version: TLS14
              cipher_suites: [TLS_NOPE]
              certfile: x
            http_server_config:
              http2: true
              headers:
                Server: poolwatch
            rate_limit: {interval: 1s}
            basic_auth: {}
            """)
        #expect(found.contains { $0.hasPrefix("tls_server_config.client_auth_type: \"RequireClientCert\" is not valid") })
        #expect(found.contains { $0.hasPrefix("tls_server_config.min_version: \"TLS14\" is not valid") })
        #expect(found.contains { $0.hasPrefix("tls_server_config.cipher_suites[0]: \"TLS_NOPE\" is not supported") })
        #expect(found.contains { $0.hasPrefix("tls_server_config.certfile: unknown key (did you mean cert_file?)") })
        #expect(found.contains { $0.hasPrefix("http_server_config.http2: poolwatch serves HTTP/1.1 only") })
        #expect(found.contains { $0.hasPrefix("http_server_config.headers.Server: this header cannot be set") })
        #expect(found.contains { $0.hasPrefix("rate_limit: is not supported") })
        #expect(found.contains { $0.hasPrefix("basic_auth: unknown key") })
    }

    @Test func consistencyRulesOfExporterToolkit() {
        #expect(errors("tls_server_config: {cert_file: a}") == ["tls_server_config.key_file: is required to serve TLS"])
        #expect(errors("tls_server_config: {cert_file: a, key_file: b, client_auth_type: RequireAndVerifyClientCert}")
                == ["tls_server_config.client_ca_file: is required with client_auth_type RequireAndVerifyClientCert"])
        #expect(errors("tls_server_config: {cert_file: a, key_file: b, client_ca_file: c}").first?
            .hasPrefix("tls_server_config.client_ca_file: is given but client_auth_type NoClientCert does not verify") == true)
        #expect(errors("tls_server_config: {cert_file: a, key_file: b, min_version: TLS13, max_version: TLS12}")
                == ["tls_server_config.min_version: TLS13 is above max_version TLS12"])
        #expect(errors("tls_server_config: {cert_file: a, key_file: b, cert: PEM}").first?
            .hasPrefix("tls_server_config.cert: inline PEM is not supported") == true)
        #expect(errors("http_server_config: {headers: {X-Content-Type-Options: sniff}}")
                == ["http_server_config.headers.X-Content-Type-Options: \"sniff\" is not valid (only nosniff)"])
    }

    @Test func aBadHashIsReportedWithoutQuotingIt() {
        let found = errors("basic_auth_users:\n  alice: plaintext-password\n  \"bo:b\": \(Self.hash)")
        #expect(found.count == 2)
        #expect(found.allSatisfy { !$0.contains("plaintext-password") && !$0.contains(Self.hash) })
        #expect(found.contains { $0.hasPrefix("basic_auth_users.alice: is not a bcrypt hash") })
    }

    @Test func bcryptHashShape() {
        #expect(BcryptHashShape.isValid(Self.hash))
        #expect(BcryptHashShape.isValid("$2b$" + String(Self.hash.dropFirst(4))))
        #expect(!BcryptHashShape.isValid(String(Self.hash.dropLast())))
        #expect(!BcryptHashShape.isValid("$2y$99$" + String(Self.hash.dropFirst(7))))
        #expect(!BcryptHashShape.isValid("$1$10$" + String(Self.hash.dropFirst(6))))
    }
}

@Suite struct BasicAuthPolicyTests {
    @Test func probesAreExemptOnlyWhenUsersExist() {
        #expect(BasicAuthPolicy.requiresCredentials(path: "/metrics", userCount: 1))
        #expect(BasicAuthPolicy.requiresCredentials(path: "/", userCount: 1))
        #expect(!BasicAuthPolicy.requiresCredentials(path: "/healthz", userCount: 1))
        #expect(!BasicAuthPolicy.requiresCredentials(path: "/readyz", userCount: 1))
        #expect(!BasicAuthPolicy.requiresCredentials(path: "/metrics", userCount: 0))
    }

    @Test func credentialsFromTheHeader() {
        // "alice:pa:ss" — the password may contain colons; the user name may not.
        let parsed = BasicAuthPolicy.credentials(authorization: "Basic YWxpY2U6cGE6c3M=")
        #expect(parsed?.user == "alice")
        #expect(parsed?.password == Array("pa:ss".utf8))
        #expect(BasicAuthPolicy.credentials(authorization: "basic  YWxpY2U6cGE6c3M= ")?.user == "alice")
        #expect(BasicAuthPolicy.credentials(authorization: "Bearer YWxpY2U6cGE6c3M=") == nil)
        #expect(BasicAuthPolicy.credentials(authorization: "Basic !!!") == nil)
        #expect(BasicAuthPolicy.credentials(authorization: "Basic YWxpY2U=") == nil)  // "alice": no colon
        #expect(BasicAuthPolicy.credentials(authorization: nil) == nil)
    }

    @Test func base64() {
        #expect(Base64.decode("") == [])
        #expect(Base64.decode("YQ==") == Array("a".utf8))
        #expect(Base64.decode("YWI=") == Array("ab".utf8))
        #expect(Base64.decode("YWJj") == Array("abc".utf8))
        #expect(Base64.decode("YQ=") == nil)
        #expect(Base64.decode("Y===") == nil)
        #expect(Base64.decode("YW=J") == nil)
    }

    @Test func constantTimeEqual() {
        #expect(BasicAuthPolicy.constantTimeEqual(Array("secret".utf8), Array("secret".utf8)))
        #expect(!BasicAuthPolicy.constantTimeEqual(Array("secret".utf8), Array("secreT".utf8)))
        #expect(!BasicAuthPolicy.constantTimeEqual(Array("secret".utf8), Array("secret2".utf8)))
        #expect(!BasicAuthPolicy.constantTimeEqual([], Array("a".utf8)))
    }

    @Test func verifiedPasswordsAreTiedToTheHash() {
        var cache = VerifiedPasswords()
        cache.remember(user: "alice", password: Array("pw".utf8), hash: "h1")
        #expect(cache.contains(user: "alice", password: Array("pw".utf8), hash: "h1"))
        #expect(!cache.contains(user: "alice", password: Array("pw".utf8), hash: "h2"))
        #expect(!cache.contains(user: "alice", password: Array("pW".utf8), hash: "h1"))
        #expect(!cache.contains(user: "bob", password: Array("pw".utf8), hash: "h1"))
        cache.keep(users: ["bob"])
        #expect(!cache.contains(user: "alice", password: Array("pw".utf8), hash: "h1"))
    }

    @Test func clientSANs() {
        #expect(ClientSANPolicy.allows(certificateNames: ["a.example", "10.0.0.1"], allowed: ["10.0.0.1"]))
        #expect(!ClientSANPolicy.allows(certificateNames: ["a.example"], allowed: ["b.example"]))
        #expect(ClientSANPolicy.allows(certificateNames: [], allowed: []))
    }
}
