import Foundation
import PoolWatchCore
import PoolWatchCurl
import PoolWatchCollection
import Testing
import PoolWatchRuntime

/// `kind: http_json` end to end against a local HTTP server: good, bad, slow and huge documents.
/// Needs no external service, so these tests always run.
@Suite struct HTTPJSONTargetTests {
    static let executor = BlockingExecutor(threads: 4)

    static let document = """
        {"pools": [
          {"name": "primary", "database": "orders", "active": 3, "idle": 7, "pending": 0, "max": 10, "acquireMs": 2},
          {"name": "batch", "database": "orders", "active": 5, "idle": 0, "pending": 2, "max": 5, "acquireMs": 900}
        ]}
        """

    static func path(_ text: String) -> JSONPath { try! JSONPath(parsing: text) }

    func collector(_ server: LoopbackHTTPServer, path: String = "/pool-stats?token=t0k3n", timeout: Duration = .seconds(2),
                   maxBytes: Int = 1 << 20, headers: [HTTPJSONHeader] = []) -> HTTPJSONTargetCollector {
        let target = TargetConfig(name: "orders-app", kind: .httpJSON, interval: .seconds(5), collectionTimeout: timeout)
        let pools = HTTPJSONPoolMapping(
            items: Self.path("$.pools[*]"), name: .path(Self.path("$.name")), database: .path(Self.path("$.database")),
            active: Self.path("$.active"), idle: Self.path("$.idle"), waiting: Self.path("$.pending"), max: Self.path("$.max"),
            acquireSeconds: Self.path("$.acquireMs"), acquireSecondsScale: 0.001)
        let options = HTTPJSONTargetConfig(
            url: Secret(server.url(path)), displayURL: "http://127.0.0.1:\(server.port)/pool-stats", headers: headers,
            maxResponseBytes: maxBytes, pools: pools)
        return HTTPJSONTargetCollector(target: target, options: options, executor: Self.executor, userAgent: "poolwatch/test")
    }

    func value(_ snapshot: TargetSnapshot, _ name: String, _ labels: [String: String] = [:]) -> Double? {
        let matches = snapshot.families.filter { $0.name == name }.flatMap(\.samples).filter { sample in
            labels.allSatisfy { sample.label($0.key) == $0.value }
        }
        return matches.count == 1 ? matches[0].value : nil
    }

    /// The token in the URL's query must never surface.
    func expectNoSecret(_ snapshot: TargetSnapshot) {
        let texts = [snapshot.error ?? ""] + snapshot.collectors.map { $0.error ?? "" }
        #expect(!texts.joined().contains("t0k3n"))
    }

    @Test func goodDocumentIsUp() async throws {
        let server = try LoopbackHTTPServer { _ in
            .send(status: 200, headers: [("Content-Type", "application/json")], body: Array(Self.document.utf8))
        }
        defer { server.stop() }
        let snapshot = await collector(server, headers: [HTTPJSONHeader(name: "Authorization", value: Secret("Bearer abc"))])
            .collectRound()
        #expect(snapshot.up)
        #expect(snapshot.error == nil)
        #expect(snapshot.kind == .httpJSON)
        #expect(value(snapshot, "poolwatch_app_pool_up", ["target": "orders-app"]) == 1)
        #expect(value(snapshot, "poolwatch_app_pool_connections", ["target": "orders-app", "pool": "batch", "state": "active"]) == 5)
        #expect(value(snapshot, "poolwatch_app_pool_acquire_seconds", ["pool": "batch"]) == 0.9)
        #expect(value(snapshot, "poolwatch_pool_saturated", ["kind": "http_json", "pool": "batch"]) == 1)
        #expect(value(snapshot, "poolwatch_pool_utilization_ratio", ["pool": "primary"]) == 0.3)
        #expect(snapshot.families.allSatisfy { $0.samples.allSatisfy { $0.labels.first == Label("target", "orders-app") } })
        #expect(snapshot.collectors.map(\.name) == ["pool_stats"])
        #expect(snapshot.collectors.first?.success == true)

        let request = try #require(server.requests.first)
        #expect(request.path == "/pool-stats?token=t0k3n")
        #expect(request.header("Authorization") == "Bearer abc")
        #expect(request.header("Accept") == "application/json")
        #expect(request.header("User-Agent") == "poolwatch/test")
    }

    @Test func badJSONIsDownWithTheReason() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 200, body: Array("{\"pools\": [".utf8)) }
        defer { server.stop() }
        let snapshot = await collector(server).collectRound()
        #expect(!snapshot.up)
        #expect(value(snapshot, "poolwatch_app_pool_up") == 0)
        #expect(snapshot.families.count == 1)
        #expect(snapshot.error?.hasPrefix("http://127.0.0.1:\(server.port)/pool-stats: the response is not valid JSON") == true)
        #expect(snapshot.collectors.first?.success == false)
        expectNoSecret(snapshot)
    }

    @Test func missingFieldNamesTheJSONPath() async throws {
        let server = try LoopbackHTTPServer { _ in
            .send(status: 200, body: Array(#"{"pools": [{"name": "a", "database": "d", "active": 1, "idle": 1, "max": 2, "acquireMs": 1}]}"#.utf8))
        }
        defer { server.stop() }
        let snapshot = await collector(server).collectRound()
        #expect(!snapshot.up)
        #expect(snapshot.error?.hasSuffix(#"pools.fields.waiting: $.pools[0] has no member "pending""#) == true)
    }

    @Test func slowEndpointTimesOut() async throws {
        let server = try LoopbackHTTPServer { _ in .stall(seconds: 8) }
        defer { server.stop() }
        let clock = ContinuousClock()
        let started = clock.now
        let snapshot = await collector(server, timeout: .seconds(1)).collectRound()
        #expect(clock.now - started < .seconds(6), "long before the 8 s stall ends")
        #expect(!snapshot.up)
        #expect(snapshot.error?.contains("no complete response within 1s") == true, "\(snapshot.error ?? "")")
        #expect(snapshot.error?.contains("collection_timeout") == true)
        expectNoSecret(snapshot)
    }

    @Test func hugeDocumentIsRefused() async throws {
        let huge = "{\"pools\": [], \"padding\": \"" + String(repeating: "x", count: 3_000_000) + "\"}"
        let server = try LoopbackHTTPServer { request in
            .send(status: 200, body: Array(huge.utf8), contentLength: request.path.contains("chunked") == false)
        }
        defer { server.stop() }
        for path in ["/pool-stats?token=t0k3n", "/chunked?token=t0k3n"] {
            let snapshot = await collector(server, path: path, maxBytes: 1 << 20).collectRound()
            #expect(!snapshot.up)
            #expect(snapshot.error?.contains("the response body exceeds 1048576 bytes; raise max_response_bytes") == true,
                    "\(snapshot.error ?? "")")
            expectNoSecret(snapshot)
        }
    }

    @Test func serverErrorIsDownWithStatusAndExcerpt() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 500, body: Array("pool registry not ready".utf8)) }
        defer { server.stop() }
        let snapshot = await collector(server).collectRound()
        #expect(!snapshot.up)
        #expect(snapshot.error == "http://127.0.0.1:\(server.port)/pool-stats: HTTP 500: pool registry not ready")
    }

    @Test func redirectIsNotFollowed() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 302, headers: [("Location", "/elsewhere")]) }
        defer { server.stop() }
        let snapshot = await collector(server).collectRound()
        #expect(!snapshot.up)
        #expect(snapshot.error?.contains("HTTP 302 (redirects are not followed") == true)
        #expect(server.requests.count == 1)
    }

    @Test func refusedConnectionIsDown() async throws {
        let port = try LoopbackHTTPServer.unusedPort()
        let target = TargetConfig(name: "gone", kind: .httpJSON, interval: .seconds(5), collectionTimeout: .seconds(2))
        let options = HTTPJSONTargetConfig(
            url: Secret("http://127.0.0.1:\(port)/stats?token=t0k3n"), displayURL: "http://127.0.0.1:\(port)/stats",
            pools: HTTPJSONPoolMapping(active: Self.path("$.a"), idle: Self.path("$.i"), waiting: Self.path("$.w"), max: Self.path("$.m")))
        let snapshot = await HTTPJSONTargetCollector(target: target, options: options, executor: Self.executor, userAgent: "t")
            .collectRound()
        #expect(!snapshot.up)
        #expect(snapshot.collectors.isEmpty)
        #expect(snapshot.error?.hasPrefix("http://127.0.0.1:\(port)/stats: connection refused") == true, "\(snapshot.error ?? "")")
        expectNoSecret(snapshot)
    }
}
