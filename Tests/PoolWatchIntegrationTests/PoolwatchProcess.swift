import Foundation
import PoolWatchCollection
import Testing
import PoolWatchLibPQ
import PoolWatchRuntime

/// The real `poolwatch` binary, started with a config file on a free loopback port.
final class PoolwatchProcess: @unchecked Sendable {
    // @unchecked: all fields are immutable; `exitStatus` is only touched by the owning test.
    let pid: pid_t
    let port: Int
    let logPath: String
    let directory: String
    let configPath: String
    private var exitStatus: Int32?

    /// Without `fixedPort`, poolwatch listens on port 0 and the port it got is read from its
    /// `listening` log line: a port picked free beforehand can be taken by any of the parallel
    /// tests' connections before poolwatch binds it ("Address already in use").
    /// - Parameter launcher: a command that runs poolwatch, e.g. `["prlimit", "--nofile=1024:1024", "--"]`.
    init(configYAML: (Int) -> String, name: String, port fixedPort: Int? = nil, arguments: [String] = [],
         launcher: [String] = []) throws {
        directory = IntegrationEnvironment.tmp + "/" + IntegrationEnvironment.uniqueName(name)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        configPath = directory + "/poolwatch.yml"
        var yaml = configYAML(fixedPort ?? 0)
        // Each process gets its own alert state, never the shared default /var/lib/poolwatch.
        if !yaml.contains("state_dir:") { yaml += "\nalerting:\n  state_dir: \(directory)/state\n" }
        try yaml.write(toFile: configPath, atomically: true, encoding: .utf8)
        logPath = directory + "/poolwatch.log"
        pid = try spawn(launcher + [IntegrationEnvironment.binary, "--config", configPath] + arguments, output: logPath)
        if let fixedPort {
            port = fixedPort
        } else {
            var found: Int?
            let deadline = Date().addingTimeInterval(20)
            while found == nil, Date() < deadline {
                found = Self.listeningPort(in: (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "")
                if found == nil { usleep(20_000) }
            }
            guard let found else {
                kill(pid, SIGKILL)
                _ = waitpid(pid, nil, 0)
                throw PrivateCluster.ClusterError(message: "poolwatch did not log a listening address within 20 s:\n"
                                   + ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""))
            }
            port = found
        }
    }

    /// Starts the binary from an async test. The wait for its `listening` line runs on the tests' own
    /// threads (`IntegrationEnvironment.background`), never on the cooperative pool: on 2 cores that
    /// pool has two threads, and two tests blocked there in a start or a graceful stop stall every
    /// other async test in the process (a notifier test once missed its deliveries that way).
    static func launch(configYAML: @escaping @Sendable (Int) -> String, name: String, port: Int? = nil, arguments: [String] = [],
                       launcher: [String] = []) async throws -> PoolwatchProcess {
        try await IntegrationEnvironment.background.run {
            try PoolwatchProcess(configYAML: configYAML, name: name, port: port, arguments: arguments, launcher: launcher)
        }
    }

    /// ``stop(signal:within:)`` on the tests' own threads (see ``launch(configYAML:name:port:arguments:launcher:)``).
    func stopped(signal: Int32 = SIGTERM, within seconds: Double = 10) async -> Int32? {
        (try? await IntegrationEnvironment.background.run { self.stop(signal: signal, within: seconds) }) ?? nil
    }

    /// The port of the first `listening` log line (logfmt `address=127.0.0.1:9646` or JSON
    /// `"address":"127.0.0.1:9646"`).
    static func listeningPort(in log: String) -> Int? {
        guard let line = log.split(separator: "\n").first(where: { $0.contains("listening") && $0.contains("address") }),
              let range = line.range(of: "address") else { return nil }
        let rest = line[range.upperBound...].drop { $0 == "=" || $0 == "\"" || $0 == ":" }
        let address = rest.prefix { !$0.isWhitespace && $0 != "\"" && $0 != "," }
        guard let colon = address.lastIndex(of: ":") else { return nil }
        return Int(address[address.index(after: colon)...])
    }

    var url: String { "http://127.0.0.1:\(port)" }

    func get(_ path: String, _ extra: [String] = []) throws -> (status: Int, body: String) {
        let (_, output) = try run(["curl", "-s", "-m", "5", "-w", "\n%{http_code}"] + extra + [url + path])
        var lines = output.split(separator: "\n", omittingEmptySubsequences: false)
        let status = Int(lines.popLast() ?? "") ?? 0
        return (status, lines.joined(separator: "\n"))
    }

    func metrics() -> String {
        (try? get("/metrics"))?.body ?? ""
    }

    var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    /// `poolwatch_rule_evaluations_total` as the process reports it.
    var evaluations: Int {
        let line = metrics().split(separator: "\n").first { $0.hasPrefix("poolwatch_rule_evaluations_total ") }
        return line.flatMap { Int($0.split(separator: " ").last ?? "") } ?? 0
    }

    /// Returns once poolwatch has run `evaluations` more rule evaluations and its outbox holds nothing
    /// pending, so "nothing more was paged" is checked after the work that could have paged, not
    /// after a guessed sleep.
    func settle(evaluations count: Int) async -> Bool {
        let target = evaluations + count
        return await eventually(30) {
            let text = metrics()
            let pending = text.split(separator: "\n").filter { $0.hasPrefix("poolwatch_notifier_outbox_pending{") }
            return evaluations >= target && pending.allSatisfy { $0.hasSuffix(" 0") }
        }
    }

    /// Resident memory in MiB, from /proc.
    var rssMiB: Double {
        let status = (try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Double(line.split(separator: " ").dropFirst().first ?? "0").map { $0 / 1024 } ?? 0
    }

    var isRunning: Bool {
        guard exitStatus == nil else { return false }
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid {
            exitStatus = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
            return false
        }
        return true
    }

    /// Sends `signal` and waits; returns the exit status, or nil if it did not stop within `seconds`.
    func stop(signal: Int32 = SIGTERM, within seconds: Double = 10) -> Int32? {
        guard isRunning else { return exitStatus }
        kill(pid, signal)
        let deadline = Date().addingTimeInterval(seconds)
        while isRunning, Date() < deadline { usleep(50_000) }
        if isRunning {
            kill(pid, SIGKILL)
            _ = waitpid(pid, nil, 0)
            return nil
        }
        return exitStatus
    }

    func terminate(within seconds: Double = 10) -> Int32? { stop(signal: SIGTERM, within: seconds) }

    deinit {
        if isRunning {
            kill(pid, SIGKILL)
            _ = waitpid(pid, nil, 0)
        }
    }
}

/// A PostgreSQL cluster of the test's own, for tests that stop and start the server.
final class PrivateCluster: @unchecked Sendable {
    // @unchecked: immutable after init; start/stop are called from the owning test only.
    let directory: String
    let port: Int

    init() throws {
        directory = IntegrationEnvironment.tmp + "/" + IntegrationEnvironment.uniqueName("cluster")
        port = freePort()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        if getuid() == 0 { try run(["chown", "postgres:postgres", directory]) }
        let bin = IntegrationEnvironment.pgBin
        let initdb = try runAsPostgres([bin + "/initdb", "-D", directory + "/data", "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        guard initdb.status == 0 else { throw ClusterError(message: initdb.output) }
        let conf = """
            listen_addresses = '127.0.0.1'
            port = \(port)
            unix_socket_directories = '\(directory)'
            shared_preload_libraries = 'pg_stat_statements'
            fsync = off

            """
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: directory + "/data/postgresql.conf"))
        handle.seekToEndOfFile()
        handle.write(Data(conf.utf8))
        try handle.close()
        try start()
        try IntegrationEnvironment.connect("host=127.0.0.1 port=\(port) user=postgres dbname=postgres")
            .exec("CREATE EXTENSION pg_stat_statements")
    }

    struct ClusterError: Error { var message: String }

    var dsn: String { "host=127.0.0.1 port=\(port) user=postgres dbname=postgres" }

    func start() throws {
        let result = try runAsPostgres([IntegrationEnvironment.pgBin + "/pg_ctl", "-D", directory + "/data", "-l",
                                        directory + "/log", "-w", "start"])
        guard result.status == 0 else { throw ClusterError(message: result.output) }
    }

    func stop() {
        _ = try? runAsPostgres([IntegrationEnvironment.pgBin + "/pg_ctl", "-D", directory + "/data", "-m", "immediate", "-w", "stop"])
    }

    /// The postmaster and every process it started.
    var processes: [pid_t] {
        guard let text = try? String(contentsOfFile: directory + "/data/postmaster.pid", encoding: .utf8),
              let first = text.split(separator: "\n").first, let postmaster = pid_t(first) else { return [] }
        return [postmaster] + childProcesses(of: postmaster)
    }

    /// What a storage stall looks like from outside: every process of the cluster stopped (SIGSTOP).
    /// The kernel still accepts connections and ACKs packets; nothing answers.
    func freeze() { processes.forEach { kill($0, SIGSTOP) } }

    func thaw() { processes.forEach { kill($0, SIGCONT) } }

    deinit {
        thaw()
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// The direct children of `parent`, read from /proc.
func childProcesses(of parent: pid_t) -> [pid_t] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { pid_t($0) }.filter { pid in
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
        return status.split(separator: "\n").contains { $0 == "PPid:\t\(parent)" }
    }
}
