import Foundation
import PoolWatchCore
import Testing

/// Security review findings checked on the real binary (README "Security"): response headers on every
/// route, and an oversized application pool-stats document served on loopback.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 (scripts/test)"))
struct SecurityTests {
    typealias Env = IntegrationEnvironment

    /// A document of `count` saturated pools whose names are `nameBytes` long (the review used 500
    /// pools and 0.8 MB).
    static func document(pools count: Int, nameBytes: Int) -> [UInt8] {
        let pools = (0..<count).map { index in
            let name = "pool-\(1000 + index)-" + String(repeating: "x", count: max(0, nameBytes - 10))
            return #"{"name": "\#(name)", "database": "orders", "active": 4, "idle": 0, "pending": 3, "max": 4}"#
        }
        return Array(("{\"pools\": [" + pools.joined(separator: ",\n") + "]}").utf8)
    }

    static func appConfig(port: Int, url: String, extra: String = "") -> String {
        """
        listen_address: 127.0.0.1:\(port)
        alerting:
          state_dir: \(Env.tmp)/\(Env.uniqueName("state"))
          cluster_id: security-test
          evaluation_interval: 1s
          rules:
            PoolwatchPoolSaturated: {for: 0s}
        \(extra)
        targets:
          - name: app
            kind: http_json
            url: "\(url)"
            interval: 1s
            pools:
              items: "$.pools[*]"
              name: "$.name"
              database: "$.database"
              fields: {active: "$.active", idle: "$.idle", waiting: "$.pending", max: "$.max"}
        """
    }

    /// `curl -D -` of one request: status line and headers, lowercased names.
    func headers(_ poolwatch: PoolwatchProcess, _ path: String, _ extra: [String] = []) throws -> [String: String] {
        let (_, output) = try run(["curl", "-s", "-m", "5", "-o", "/dev/null", "-D", "-"] + extra + [poolwatch.url + path])
        var fields: [String: String] = [:]
        for line in output.split(separator: "\r\n") {
            guard let colon = line.firstIndex(of: ":") else {
                fields[":status"] = line.split(separator: " ").dropFirst().first.map(String.init)
                continue
            }
            fields[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return fields
    }

    @Test func everyRouteSendsTheSecurityHeaders() async throws {
        let app = try LoopbackHTTPServer { _ in
            .send(status: 200, headers: [("Content-Type", "application/json")], body: Self.document(pools: 2, nameBytes: 20))
        }
        defer { app.stop() }
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { Self.appConfig(port: $0, url: app.url("/stats")) }, name: "headers")
        #expect(await eventually(15) { poolwatch.metrics().contains(#"poolwatch_app_pool_up{target="app"} 1"#) }, "\(poolwatch.log)")
        let routes: [(path: String, extra: [String], status: String, html: Bool)] = [
            ("/", [], "200", true), ("/", ["-I"], "200", true),
            ("/metrics", [], "200", false), ("/metrics", ["-H", "Accept-Encoding: gzip"], "200", false),
            ("/healthz", [], "200", false), ("/readyz", [], "200", false), ("/alerts", [], "200", false),
            ("/no-such-page", [], "404", false), ("/metrics", ["-X", "POST"], "404", false),
        ]
        for route in routes {
            let fields = try headers(poolwatch, route.path, route.extra)
            let context = "\(route.extra) \(route.path): \(fields)"
            #expect(fields[":status"] == route.status, "\(context)")
            #expect(fields["x-content-type-options"] == "nosniff", "\(context)")
            #expect(fields["cache-control"] == "no-store", "\(context)")
            if route.html {
                let policy = try #require(fields["content-security-policy"], "\(context)")
                #expect(policy.contains("default-src 'none'") && policy.contains("frame-ancestors 'none'"))
                #expect(!policy.contains("script-src"), "no script source is allowed at all")
            } else {
                #expect(fields["content-security-policy"] == nil, "\(context)")
            }
        }
        #expect(await poolwatch.stopped() == 0)
    }

    /// 500 pools with 1 KB names: at most `max_pools` (200) are exported, every label value is cut to
    /// 256 bytes, and the saturation rule pages 25 pools one by one plus one grouped alert for the other 175.
    @Test func oversizedAppPoolDocumentIsBounded() async throws {
        let body = Self.document(pools: 500, nameBytes: 1000)
        #expect(body.count > 500_000)
        let app = try LoopbackHTTPServer { _ in .send(status: 200, headers: [("Content-Type", "application/json")], body: body) }
        defer { app.stop() }
        let pagerDuty = try FakeReceiver.pagerDuty()
        defer { pagerDuty.stop() }
        let secrets = Env.tmp + "/" + Env.uniqueName("secrets")
        try FileManager.default.createDirectory(atPath: secrets, withIntermediateDirectories: true)
        try "R0UT1NG".write(toFile: secrets + "/pd", atomically: true, encoding: .utf8)
        chmod(secrets + "/pd", 0o600)  // poolwatch refuses secret files that others may read
        let poolwatch = try await PoolwatchProcess.launch(configYAML: {
            Self.appConfig(port: $0, url: app.url("/stats"), extra: """
                receivers:
                  - {name: pd, type: pagerduty, min_severity: critical, routing_key_file: \(secrets)/pd, url: "\(pagerDuty.url)"}
                """)
        }, name: "oversized")
        #expect(await eventually(20) { poolwatch.metrics().contains(#"poolwatch_app_pool_up{target="app"} 1"#) }, "\(poolwatch.log)")
        let metrics = poolwatch.metrics()
        #expect(metrics.utf8.count < 1_500_000, "/metrics is \(metrics.utf8.count) bytes")
        #expect(metrics.contains(#"poolwatch_app_pool_pools_dropped{target="app"} 300"#))
        let pending = metrics.split(separator: "\n").filter { $0.hasPrefix("poolwatch_app_pool_pending{") }
        #expect(pending.count == 200)
        let longest = pending.compactMap { line in line.firstRange(of: "pool=\"").map { line[$0.upperBound...].prefix { $0 != "\"" }.utf8.count } }.max()
        #expect(longest == LabelValueCap.maxBytes)
        let truncated = metrics.split(separator: "\n").first { $0.hasPrefix(#"poolwatch_label_values_truncated_total{target="app"}"#) }
        #expect((truncated?.split(separator: " ").last.flatMap { Double($0) } ?? 0) >= 200, "\(truncated ?? "")")

        // PagerDuty gets one event per alert instance (the review saw 186 posts in two minutes).
        #expect(await pagerDuty.waitFor(26, within: 20), "\(pagerDuty.received.count) events")
        #expect(await poolwatch.settle(evaluations: 3))
        #expect(pagerDuty.received.count == 26, "25 pools one by one and one grouped event")
        #expect(pagerDuty.received.contains { $0.body.contains("175 more PoolwatchPoolSaturated alerts on app than the 25 tracked one by one") })

        let first = try poolwatch.get("/alerts")
        let alerts = try #require(try JSONSerialization.jsonObject(with: Data(first.body.utf8)) as? [String: Any])
        let saturated = (alerts["alerts"] as? [[String: Any]] ?? []).filter { $0["alertname"] as? String == "PoolwatchPoolSaturated" }
        #expect(saturated.count == 26)
        #expect(first.body.utf8.count < 200_000, "/alerts is \(first.body.utf8.count) bytes")
        #expect(await poolwatch.stopped() == 0)
    }
}
