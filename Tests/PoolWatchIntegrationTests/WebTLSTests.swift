import Foundation
import PoolWatchCore
import Testing

/// `--web.config.file` on the real binary with real clients: Debian's Prometheus scrapes over HTTPS with
/// a client certificate and basic auth, curl and openssl check the refusals, and a certificate rotated on
/// disk is served to the next connection. Every key and certificate is made here by openssl, in the
/// test's own directory; none is committed.
@Suite(.enabled(if: IntegrationEnvironment.enabled, "needs POOLWATCH_INTEGRATION=1 (scripts/test)"))
struct WebTLSTests {
    typealias Env = IntegrationEnvironment

    /// A CA, a server certificate for 127.0.0.1 and a client certificate, made by openssl in `directory`.
    struct TestPKI {
        let directory: String
        var ca: String { directory + "/ca.crt" }
        var serverCert: String { directory + "/server.crt" }
        var serverKey: String { directory + "/server.key" }
        var clientCert: String { directory + "/client.crt" }
        var clientKey: String { directory + "/client.key" }

        init(directory: String) async throws {
            self.directory = directory
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try await Self.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                    "-keyout", directory + "/ca.key", "-out", directory + "/ca.crt", "-days", "2",
                                    "-subj", "/CN=poolwatch test CA"])
            try await issue(name: "server", subject: "/CN=poolwatch-server-1", san: "IP:127.0.0.1,DNS:localhost")
            try await issue(name: "client", subject: "/CN=prometheus", san: "DNS:prometheus.monitoring.svc")
        }

        /// Writes `<name>.key` and `<name>.crt` signed by the CA (or to `certPath`/`keyPath`).
        func issue(name: String, subject: String, san: String, certPath: String? = nil, keyPath: String? = nil) async throws {
            let key = keyPath ?? directory + "/\(name).key", cert = certPath ?? directory + "/\(name).crt"
            let csr = directory + "/\(name).csr", ext = directory + "/\(name).ext"
            try "subjectAltName=\(san)\n".write(toFile: ext, atomically: true, encoding: .utf8)
            try await Self.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                                    "-keyout", key + ".new", "-out", csr, "-subj", subject])
            try await Self.openssl(["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", directory + "/ca.key", "-CAcreateserial",
                                    "-days", "2", "-extfile", ext, "-out", cert + ".new"])
            // Renamed into place, as cert-manager's atomic writes do: never a half-written file.
            _ = rename(key + ".new", key)
            _ = rename(cert + ".new", cert)
        }

        static func openssl(_ arguments: [String]) async throws {
            let (status, output) = try await runOffPool(["openssl"] + arguments)
            guard status == 0 else { throw SpawnError(message: "openssl \(arguments.joined(separator: " ")): \(output)") }
        }
    }

    static let password = "correct horse"

    func start(pki: TestPKI, clientAuth: String, extra: String = "") async throws -> PoolwatchProcess {
        let (status, hash) = try await runOffPool(["python3", "-W", "ignore", "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1<<4)))", Self.password])
        #expect(status == 0, "python3 crypt: \(hash)")
        let webConfig = pki.directory + "/web.yml"
        try """
            tls_server_config:
              cert_file: \(pki.serverCert)
              key_file: \(pki.serverKey)
              client_auth_type: \(clientAuth)
            \(clientAuth.contains("Verify") ? "  client_ca_file: \(pki.ca)" : "")
            \(extra)
            basic_auth_users:
              prometheus: '\(hash.trimmingCharacters(in: .whitespacesAndNewlines))'
            """.write(toFile: webConfig, atomically: true, encoding: .utf8)
        return try await PoolwatchProcess.launch(configYAML: { port in
            """
            listen_address: 127.0.0.1:\(port)
            targets:
              - {name: pg, kind: postgres, dsn: "\(Env.dsn())", interval: 1s}
            """
        }, name: "webtls", arguments: ["--web.config.file", webConfig])
    }

    func curl(_ poolwatch: PoolwatchProcess, _ path: String, _ extra: [String]) async throws -> (status: Int, output: String) {
        let (_, output) = try await runOffPool(["curl", "-s", "-m", "5", "-D", "-", "-w", "\n%{http_code}"] + extra
                                               + ["https://127.0.0.1:\(poolwatch.port)\(path)"])
        let status = Int(output.split(separator: "\n").last ?? "") ?? 0
        return (status, output)
    }

    /// The subject of the certificate the server presents to a new connection.
    func servedSubject(_ poolwatch: PoolwatchProcess, _ pki: TestPKI) async throws -> String {
        let (_, output) = try await runOffPool(["bash", "-c",
            "openssl s_client -connect 127.0.0.1:\(poolwatch.port) -cert \(pki.clientCert) -key \(pki.clientKey) </dev/null 2>/dev/null"
            + " | openssl x509 -noout -subject"])
        return output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test func prometheusScrapesOverHTTPSWithClientCertificateAndBasicAuth() async throws {
        let pki = try await TestPKI(directory: Env.tmp + "/" + Env.uniqueName("pki"))
        let poolwatch = try await start(pki: pki, clientAuth: "RequireAndVerifyClientCert",
                                        extra: "  client_allowed_sans: [prometheus.monitoring.svc]")
        defer { _ = poolwatch.terminate() }
        let client = ["--cacert", pki.ca, "--cert", pki.clientCert, "--key", pki.clientKey]

        // curl first: what each refusal looks like.
        let ok = try await curl(poolwatch, "/metrics", client + ["-u", "prometheus:\(Self.password)"])
        #expect(ok.status == 200 && ok.output.contains("poolwatch_build_info"), "\(ok.output.prefix(600))\n\(poolwatch.log)")
        let wrong = try await curl(poolwatch, "/metrics", client + ["-u", "prometheus:wrong"])
        #expect(wrong.status == 401 && wrong.output.lowercased().contains("www-authenticate: basic"), "\(wrong.output)")
        let unknown = try await curl(poolwatch, "/", client + ["-u", "mallory:\(Self.password)"])
        #expect(unknown.status == 401)
        let probe = try await curl(poolwatch, "/healthz", client)
        #expect(probe.status == 200, "probes need no password: \(probe.output)")
        let noCert = try await curl(poolwatch, "/healthz", ["--cacert", pki.ca])
        #expect(noCert.status == 0, "a client without a certificate must not get an answer: \(noCert.output)")
        // A certificate of the right CA but without an allowed SAN is closed after the handshake.
        try await pki.issue(name: "other", subject: "/CN=other", san: "DNS:other.example")
        let otherSAN = try await curl(poolwatch, "/healthz", ["--cacert", pki.ca, "--cert", pki.directory + "/other.crt",
                                                              "--key", pki.directory + "/other.key"])
        #expect(otherSAN.status == 0, "\(otherSAN.output)")
        #expect(!poolwatch.log.contains("$2b$") && !poolwatch.log.contains("PRIVATE KEY"))

        // Then Prometheus: one job with everything right, one with a wrong password, one without a certificate.
        let promPort = freePort()
        let promDir = pki.directory + "/prometheus"
        func job(_ name: String, password: String, certificate: Bool) -> String {
            """
              - job_name: \(name)
                scheme: https
                tls_config:
                  ca_file: \(pki.ca)
            \(certificate ? "      cert_file: \(pki.clientCert)\n      key_file: \(pki.clientKey)" : "")
                basic_auth: {username: prometheus, password: '\(password)'}
                static_configs: [{targets: ['127.0.0.1:\(poolwatch.port)']}]
            """
        }
        try FileManager.default.createDirectory(atPath: promDir, withIntermediateDirectories: true)
        try """
            global: {scrape_interval: 1s, scrape_timeout: 1s}
            scrape_configs:
            \(job("good", password: Self.password, certificate: true))
            \(job("wrong_password", password: "wrong", certificate: true))
            \(job("no_certificate", password: Self.password, certificate: false))
            """.write(toFile: promDir + "/prometheus.yml", atomically: true, encoding: .utf8)
        let prometheus = try spawn(["prometheus", "--config.file=\(promDir)/prometheus.yml", "--storage.tsdb.path=\(promDir)/tsdb",
                                    "--web.listen-address=127.0.0.1:\(promPort)", "--log.level=warn"], output: promDir + "/log")
        defer {
            kill(prometheus, SIGTERM)
            _ = waitpid(prometheus, nil, 0)
        }
        func up() async throws -> [String: String] {
            let (_, body) = try await runOffPool(["curl", "-s", "-m", "3", "http://127.0.0.1:\(promPort)/api/v1/query?query=up"])
            guard let data = body.data(using: .utf8),
                  let json = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  let results = (json["data"] as? [String: Any])?["result"] as? [[String: Any]] else { return [:] }
            var values: [String: String] = [:]
            for result in results {
                if let job = (result["metric"] as? [String: String])?["job"], let value = (result["value"] as? [Any])?.last as? String {
                    values[job] = value
                }
            }
            return values
        }
        var seen: [String: String] = [:]
        let settled = try await eventually(30) {
            seen = try await up()
            return seen == ["good": "1", "wrong_password": "0", "no_certificate": "0"]
        }
        #expect(settled, "up by job: \(seen)\n\((try? String(contentsOfFile: promDir + "/log", encoding: .utf8)) ?? "")")
    }

    static func bcrypt(_ password: String) async throws -> String {
        let (status, hash) = try await runOffPool(["python3", "-W", "ignore", "-c",
            "import crypt,sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1<<4)))", password])
        #expect(status == 0, "python3 crypt: \(hash)")
        return hash.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The `web_config_file` key, and a reload (SIGHUP) that changes the users and the certificate
    /// files: the new password and certificate work at once, the old password no longer does, and a
    /// web config that does not load keeps everything as it was.
    @Test func reloadChangesUsersAndCertificateFiles() async throws {
        let pki = try await TestPKI(directory: Env.tmp + "/" + Env.uniqueName("pki"))
        let webConfig = pki.directory + "/web.yml"
        var hashes: [String] = []
        func writeWeb(cert: String, key: String, password: String) async throws {
            hashes.append(try await Self.bcrypt(password))
            try """
                tls_server_config: {cert_file: \(cert), key_file: \(key)}
                basic_auth_users:
                  prometheus: '\(hashes.last!)'
                """.write(toFile: webConfig, atomically: true, encoding: .utf8)
        }
        try await writeWeb(cert: pki.serverCert, key: pki.serverKey, password: "first password")
        let poolwatch = try await PoolwatchProcess.launch(configYAML: { _ in
            """
            listen_address: 127.0.0.1:0
            web_config_file: \(webConfig)
            targets:
              - {name: pg, kind: postgres, dsn: "\(Env.dsn())", interval: 1s}
            """
        }, name: "webreload")
        defer { _ = poolwatch.terminate() }
        let ca = ["--cacert", pki.ca]
        #expect(try await curl(poolwatch, "/metrics", ca + ["-u", "prometheus:first password"]).status == 200, "\(poolwatch.log)")

        try await pki.issue(name: "next", subject: "/CN=poolwatch-next", san: "IP:127.0.0.1")
        try await writeWeb(cert: pki.directory + "/next.crt", key: pki.directory + "/next.key", password: "second password")
        kill(poolwatch.pid, SIGHUP)
        #expect(await eventually(10) { poolwatch.log.contains(#"msg="configuration reloaded""#) }, "\(poolwatch.log)")
        #expect(try await curl(poolwatch, "/metrics", ca + ["-u", "prometheus:first password"]).status == 401)
        #expect(try await curl(poolwatch, "/metrics", ca + ["-u", "prometheus:second password"]).status == 200)
        #expect(try await servedSubject(poolwatch, pki).contains("poolwatch-next"))

        // A broken web config: the reload fails and the running users and certificate stay.
        try "basic_auth_users: {prometheus: 'not a bcrypt hash'}\ntls_server_config: {cert_file: /nonexistent}\n"
            .write(toFile: webConfig, atomically: true, encoding: .utf8)
        kill(poolwatch.pid, SIGHUP)
        #expect(await eventually(10) { poolwatch.log.contains(#"msg="configuration reload failed; keeping the running configuration""#) })
        #expect(try await curl(poolwatch, "/metrics", ca + ["-u", "prometheus:second password"]).status == 200)
        let metrics = try await curl(poolwatch, "/metrics", ca + ["-u", "prometheus:second password"]).output
        #expect(metrics.contains("poolwatch_config_last_reload_successful 0"))
        #expect(hashes.count == 2 && hashes.allSatisfy { !poolwatch.log.contains($0) } && !poolwatch.log.contains("PRIVATE KEY"))
    }

    @Test func aRotatedCertificateIsServedToTheNextConnectionAndABrokenOneIsNot() async throws {
        let pki = try await TestPKI(directory: Env.tmp + "/" + Env.uniqueName("pki"))
        let poolwatch = try await start(pki: pki, clientAuth: "NoClientCert")
        defer { _ = poolwatch.terminate() }
        #expect(try await servedSubject(poolwatch, pki).contains("poolwatch-server-1"))

        try await pki.issue(name: "server", subject: "/CN=poolwatch-server-2", san: "IP:127.0.0.1")
        var subject = ""
        let rotated = try await eventually(10) {
            subject = try await servedSubject(poolwatch, pki)
            return subject.contains("poolwatch-server-2")
        }
        #expect(rotated, "served: \(subject)\n\(poolwatch.log)")
        let scrape = try await curl(poolwatch, "/metrics", ["--cacert", pki.ca, "-u", "prometheus:\(Self.password)"])
        #expect(scrape.status == 200, "\(scrape.output.prefix(400))")

        // A key that does not belong to the certificate (cert renewed, key not yet written): kept, logged.
        try await pki.issue(name: "unused", subject: "/CN=poolwatch-server-3", san: "IP:127.0.0.1", certPath: pki.serverCert,
                            keyPath: pki.directory + "/unused.key")
        let logged = await eventually(10) { poolwatch.log.contains("TLS certificate not reloaded") }
        #expect(logged, "\(poolwatch.log)")
        #expect(try await servedSubject(poolwatch, pki).contains("poolwatch-server-2"))
        // Garbage in the certificate file: the same.
        try "not a certificate\n".write(toFile: pki.serverCert, atomically: true, encoding: .utf8)
        // The watcher looked at the new file and refused it (one line per refused version).
        #expect(await eventually(10) { poolwatch.log.components(separatedBy: "TLS certificate not reloaded").count == 3 }, "\(poolwatch.log)")
        #expect(try await servedSubject(poolwatch, pki).contains("poolwatch-server-2"))
        #expect(poolwatch.isRunning)
        #expect(!poolwatch.log.contains("BEGIN"), "no PEM content in the log")
    }
}
