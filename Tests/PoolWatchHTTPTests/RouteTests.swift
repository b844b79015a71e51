import Hummingbird
import HummingbirdBcrypt
import HummingbirdTesting
import Logging
import PoolWatchCore
import PoolWatchHTTP
import Testing

/// The routes in process, through Hummingbird's router test client: what each answers, with and
/// without data, with and without basic auth. (One end-to-end test through the real binary stays in
/// the integration suite: EndToEndTests.)
@Suite struct RouteTests {
    static let targets = [
        TargetConfig(name: "pg", kind: .postgres, dsn: Secret("host=db password=hunter2")),
        TargetConfig(name: "bouncer", kind: .pgbouncer, dsn: Secret("host=db port=6432 dbname=pgbouncer")),
    ]

    static func store() -> SnapshotStore {
        SnapshotStore(targets: targets.map { ($0.name, $0.kind) }, buildInfo: .init(version: "t", swiftVersion: "6"), clock: { 1000 })
    }

    static func snapshot(_ target: String, up: Bool, error: String? = nil) -> TargetSnapshot {
        TargetSnapshot(target: target, kind: target == "pg" ? .postgres : .pgbouncer, up: up,
                       families: [MetricFamily("pg_up", help: "h", value: up ? 1 : 0).prefixed(with: [Label("target", target)])],
                       collectors: [CollectorOutcome(name: "server", success: up, duration: 0.01, error: error)],
                       timestamp: 990, duration: 0.02, error: error)
    }

    static func application(store: SnapshotStore, security: WebSecurity = .none) throws -> some ApplicationProtocol {
        try HTTPServer.makeApplication(
            listen: ListenAddress(host: "127.0.0.1", port: 0), store: store, targets: { targets }, logger: Logger(label: "test"),
            firingAlerts: { _ in [StatusAlert(name: "PoolwatchPoolSaturated", severity: "critical", summary: "pool <full>", since: 900)] },
            security: security)
    }

    static func text(_ response: TestResponse) -> String { String(buffer: response.body) }

    @Test func metricsServesTheCachedExpositionPlainOrGzip() async throws {
        let store = Self.store()
        store.publish(Self.snapshot("pg", up: true))
        try await Self.application(store: store).test(.router) { client in
            try await client.execute(uri: "/metrics", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
                #expect(Self.text(response).contains("pg_up{target=\"pg\"} 1\n"))
                #expect(Self.text(response).contains("poolwatch_scrapes_total 1\n"))
            }
            try await client.execute(uri: "/metrics", method: .get, headers: [.acceptEncoding: "gzip"]) { response in
                #expect(response.headers[.contentEncoding] == "gzip")
                #expect(Array(response.body.readableBytesView.prefix(2)) == [0x1f, 0x8b])
            }
        }
    }

    @Test func probesSayWhatIsMissing() async throws {
        let store = Self.store()
        try await Self.application(store: store).test(.router) { client in
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok && Self.text($0) == "ok\n") }
            try await client.execute(uri: "/readyz", method: .get) { response in
                #expect(response.status == .serviceUnavailable)
                #expect(Self.text(response) == "waiting for a first collection of: pg, bouncer\n")
            }
            store.publish(Self.snapshot("pg", up: false, error: "cannot connect"))
            store.publish(Self.snapshot("bouncer", up: true))
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .ok) }
        }
    }

    @Test func statusPageEscapesAndHidesThePassword() async throws {
        let store = Self.store()
        store.publish(Self.snapshot("pg", up: false, error: "server said <script>alert(1)</script>"))
        try await Self.application(store: store).test(.router) { client in
            try await client.execute(uri: "/", method: .get) { response in
                let page = Self.text(response)
                #expect(response.status == .ok && response.headers[.contentType] == "text/html; charset=utf-8")
                #expect(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;") && !page.contains("<script>alert"))
                #expect(page.contains("PoolwatchPoolSaturated") && page.contains("pool &lt;full&gt;"))
                #expect(!page.contains("hunter2"))
                #expect(response.headers[.contentSecurityPolicy] != nil)
            }
            try await client.execute(uri: "/diagnose", method: .get) { response in
                #expect(response.status == .ok && response.headers[.contentType] == "application/json")
                #expect(Self.text(response).hasPrefix("{"))
            }
            try await client.execute(uri: "/nope", method: .get) { #expect($0.status == .notFound) }
        }
    }

    @Test func basicAuthGuardsEverythingButTheProbes() async throws {
        let security = try WebSecurity(config: WebConfig(
            headers: [.init(name: "X-Frame-Options", value: "DENY")],
            basicAuthUsers: ["prometheus": Secret(Bcrypt.hash("s3cret", cost: 4))]))
        let store = Self.store()
        try await Self.application(store: store, security: security).test(.router) { client in
            for path in ["/metrics", "/", "/diagnose"] {
                try await client.execute(uri: path, method: .get) { response in
                    #expect(response.status == .unauthorized, "\(path)")
                    #expect(response.headers[.wwwAuthenticate] == "Basic realm=\"poolwatch\", charset=\"UTF-8\"")
                    #expect(response.headers.first { $0.name.canonicalName == "x-frame-options" }?.value == "DENY")
                }
            }
            let good = "Basic " + BasicAuthenticatorTests.base64(Array("prometheus:s3cret".utf8))
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: good]) { #expect($0.status == .ok) }
            let bad = "Basic " + BasicAuthenticatorTests.base64(Array("prometheus:wrong".utf8))
            try await client.execute(uri: "/metrics", method: .get, headers: [.authorization: bad]) { #expect($0.status == .unauthorized) }
            try await client.execute(uri: "/healthz", method: .get) { #expect($0.status == .ok) }
            try await client.execute(uri: "/readyz", method: .get) { #expect($0.status == .serviceUnavailable) }
        }
    }
}
