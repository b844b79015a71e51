import Foundation
import Testing

/// The HTTP port under a socket flood, with the real binary and real sockets on loopback: idle
/// connections beyond the file-descriptor limit, and a client that sends its headers one byte at a time.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 and PostgreSQL (scripts/test)"))
struct HTTPFloodTests {
    typealias Env = IntegrationEnvironment

    static func oneTarget(port: Int) -> String {
        """
        listen_address: 127.0.0.1:\(port)
        targets:
          - {name: pg, kind: postgres, dsn: "\(Env.dsn())", interval: 1s}
        """
    }

    /// Opens `count` idle connections to `port` and holds them for `seconds` (bounded in count and
    /// time), in a process of its own so the test runner's descriptors and threads stay free.
    static func flood(port: Int, count: Int, seconds: Int) throws -> pid_t {
        let script = """
            import socket, time, resource
            resource.setrlimit(resource.RLIMIT_NOFILE, (\(count + 256), resource.getrlimit(resource.RLIMIT_NOFILE)[1]))
            held = []
            for _ in range(\(count)):
                s = socket.socket(); s.setblocking(False)
                try: s.connect(("127.0.0.1", \(port)))
                except BlockingIOError: pass
                held.append(s)
            print("flooding", len(held), flush=True)
            time.sleep(\(seconds))
            """
        return try spawn(["python3", "-c", script], output: Env.tmp + "/" + Env.uniqueName("flood") + ".log")
    }

    @Test func idleFloodBeyondTheDescriptorLimitDoesNotStarveScrapes() async throws {
        // 1,024 descriptors, as a unit with a low LimitNOFILE; the flood is larger than that.
        let poolwatch = try await PoolwatchProcess.launch(configYAML: Self.oneTarget, name: "flood", launcher: ["prlimit", "--nofile=1024:1024", "--"])
        #expect(await eventually(15) { poolwatch.metrics().contains("pg_up{target=\"pg\"} 1\n") }, "\(poolwatch.log)")
        let before = poolwatch.rssMiB

        let flooder = try Self.flood(port: poolwatch.port, count: 1_500, seconds: 20)
        defer { kill(flooder, SIGKILL); _ = waitpid(flooder, nil, 0) }
        #expect(await eventually(10) { (poolwatch.metric("poolwatch_http_connections_evicted_total") ?? 0) > 500 },
                "the flood did not arrive or was not evicted:\n\(poolwatch.log)")
        // During the flood: every scrape answered within 1 s, with everything collected.
        for _ in 0..<5 {
            let (status, output) = try await runOffPool(["curl", "-s", "-o", "/dev/null", "-m", "1", "-w", "%{http_code}", poolwatch.url + "/metrics"])
            #expect(status == 0 && output == "200", "scrape during the flood: curl exit \(status), \(output)")
        }
        let open = poolwatch.metric("poolwatch_http_connections_open") ?? .infinity
        #expect(open <= 256, "open connections stay within the limit (a quarter of 1,024 descriptors): \(open)")
        #expect(poolwatch.metrics().contains("pg_up{target=\"pg\"} 1\n"), "the database connection kept its descriptor")
        let during = poolwatch.rssMiB

        kill(flooder, SIGKILL)
        _ = waitpid(flooder, nil, 0)
        #expect(await eventually(10) { (poolwatch.metric("poolwatch_http_connections_open") ?? .infinity) <= 2 })
        let after = poolwatch.rssMiB
        print("flood RSS MiB: before \(before), during \(during), after \(after)")
        #expect(!poolwatch.log.contains("Too many open files"), "\(poolwatch.log)")
        #expect(await poolwatch.stopped() == 0)
    }

    @Test func slowHeadersAreCut() async throws {
        let poolwatch = try await PoolwatchProcess.launch(configYAML: Self.oneTarget, name: "slowloris")
        // One header byte a second for up to 30 s; the server must close the connection well before.
        let script = """
            import socket, time, sys
            s = socket.create_connection(("127.0.0.1", \(poolwatch.port)))
            s.sendall(b"GET /metrics HTTP/1.1\\r\\nHost: x\\r\\n")
            start = time.time()
            try:
                for _ in range(30):
                    s.sendall(b"X"); time.sleep(1)
                    s.settimeout(0.01)
                    try:
                        if s.recv(1) == b"": break
                    except socket.timeout: pass
            except OSError: pass
            print("closed after %.0f s" % (time.time() - start))
            """
        let (status, output) = try await runOffPool(["timeout", "40", "python3", "-c", script])
        #expect(status == 0, "\(output)")
        let seconds = Double(output.split(separator: " ").dropFirst(2).first ?? "99") ?? 99
        #expect(seconds < 20, "a slow-header connection must be cut: \(output)")
        #expect((poolwatch.metric("poolwatch_http_header_timeouts_total") ?? 0) >= 1)
        #expect(await poolwatch.stopped() == 0)
    }

    @Test func listenAddressInUseIsAClearErrorAndNoRoundRuns() async throws {
        let first = try await PoolwatchProcess.launch(configYAML: Self.oneTarget, name: "port-owner")
        // Its own state dir: only the port is shared.
        let secondConfig = first.directory + "/second.yml"
        try """
            listen_address: 127.0.0.1:\(first.port)
            targets:
              - {name: pg, kind: postgres, dsn: "\(Env.dsn())", interval: 1s}
            alerting:
              state_dir: \(first.directory)/second-state
            """.write(toFile: secondConfig, atomically: true, encoding: .utf8)
        let second = try await runOffPool(["timeout", "20", Env.binary, "--config", secondConfig])
        #expect(second.status != 0)
        #expect(second.output.contains("listen_address: 127.0.0.1:\(first.port) is already in use by another process"), "\(second.output)")
        #expect(!second.output.contains("target up"), "no collection round runs when the port cannot be bound")
        #expect(await first.stopped() == 0)
    }
}

extension PoolwatchProcess {
    /// The value of an unlabelled series on /metrics.
    func metric(_ name: String) -> Double? {
        metrics().split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
    }
}
