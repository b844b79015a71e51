import Foundation
import PoolWatchCore
import PoolWatchCollection
import Testing
import PoolWatchCurl
import PoolWatchRuntime
import PoolWatchLibPQ

/// What `scripts/test` started for the integration tests: a PostgreSQL with pg_stat_statements on a
/// loopback port (PGHOST/PGPORT/PGUSER), a scratch dir (PW_TMP) and the built binary (POOLWATCH_BIN).
///
/// Without `POOLWATCH_INTEGRATION=1` these tests are disabled, so a bare `swift test` on a laptop
/// passes the unit tests; the README's test command always sets it.
enum IntegrationEnvironment {
    static let env = ProcessInfo.processInfo.environment
    static var enabled: Bool { env["POOLWATCH_INTEGRATION"] == "1" }
    static var pgHost: String { env["PGHOST"] ?? "127.0.0.1" }
    static var pgPort: String { env["PGPORT"] ?? "5432" }
    static var tmp: String { env["PW_TMP"] ?? NSTemporaryDirectory() }
    static var pgBin: String { env["PW_PG_BIN"] ?? "/usr/lib/postgresql/15/bin" }

    /// A conninfo for the shared test server.
    static func dsn(database: String = "postgres", extra: String = "") -> String {
        "host=\(pgHost) port=\(pgPort) user=postgres dbname=\(database) \(extra)"
    }

    /// The poolwatch binary built by `swift build`.
    static var binary: String {
        if let path = env["POOLWATCH_BIN"] { return path }
        return FileManager.default.currentDirectoryPath + "/.build/debug/poolwatch"
    }

    static let executor = BlockingExecutor(threads: 8)
    /// For the tests' own long blocking work (initdb, commands, sessions held open on purpose), so it
    /// never takes the threads the collectors under test wait for.
    static let background = BlockingExecutor(threads: 12)

    static func connect(_ dsn: String, applicationName: String = "poolwatch-test") throws -> PQConnection {
        try PQConnection.connect(parameters: [("dbname", dsn), ("application_name", applicationName)])
    }

    /// Runs one statement on a fresh connection.
    @discardableResult
    static func sql(_ statement: String, database: String = "postgres") throws -> QueryResult {
        try connect(dsn(database: database)).exec(statement)
    }

    /// A unique name for objects a test creates, so tests can run in parallel.
    static func uniqueName(_ prefix: String) -> String {
        "\(prefix)_\(UInt32.random(in: 0...UInt32.max))"
    }

    static func target(name: String = "pg", dsn: String, interval: Duration = .seconds(1), statements: StatementOptions = .init())
        -> TargetConfig
    {
        var target = TargetConfig(name: name, kind: .postgres, dsn: Secret(dsn), interval: interval, collectionTimeout: interval)
        target.statements = statements
        return target
    }

    static func collect(_ target: TargetConfig) async -> TargetSnapshot {
        let collector = LibPQTargetCollector(target: target, plan: .postgres(target), executor: executor)
        defer { collector.close() }
        return await collector.collectRound()
    }
}

extension TargetSnapshot {
    func samples(_ name: String, _ labels: [String: String] = [:]) -> [Sample] {
        families.filter { $0.name == name }.flatMap(\.samples).filter { sample in
            labels.allSatisfy { sample.label($0.key) == $0.value }
        }
    }

    func sum(_ name: String, _ labels: [String: String] = [:]) -> Double {
        samples(name, labels).reduce(0) { $0 + $1.value }
    }
}

/// Runs a command and returns its exit status and output (stdout and stderr together).
///
/// Uses posix_spawn + waitpid rather than Foundation's `Process`, whose `waitUntilExit` was seen to hang
/// on Linux when several tests spawn children at once. Output goes through a temp file, so a chatty
/// child can never block on a full pipe.
@discardableResult
func run(_ arguments: [String], input: String? = nil) throws -> (status: Int32, output: String) {
    let base = IntegrationEnvironment.tmp + "/" + IntegrationEnvironment.uniqueName("run")
    let outputPath = base + ".out"
    let inputPath = base + ".in"
    try (input ?? "").write(toFile: inputPath, atomically: false, encoding: .utf8)
    defer {
        unlink(outputPath)
        unlink(inputPath)
    }
    let pid = try spawn(arguments, stdin: inputPath, output: outputPath)
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let output = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
    let exit = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
    return (exit, output)
}

/// Starts `arguments` (looked up on PATH) with stdin from `stdin` and stdout+stderr appended to `output`.
func spawn(_ arguments: [String], stdin: String = "/dev/null", output: String) throws -> pid_t {
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, stdin, O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = arguments.map { strdup($0) } + [nil]
    defer { argv.forEach { free($0) } }
    var pid: pid_t = 0
    let result = posix_spawnp(&pid, arguments[0], &actions, nil, argv, environ)
    guard result == 0 else { throw SpawnError(message: "cannot start \(arguments[0]): \(String(cString: strerror(result)))") }
    return pid
}

struct SpawnError: Error { var message: String }

/// ``run(_:input:)`` on a thread of the test executor: for commands that take seconds, which would
/// otherwise hold one of the few cooperative threads every test shares.
func runOffPool(_ arguments: [String]) async throws -> (status: Int32, output: String) {
    try await IntegrationEnvironment.background.run { try run(arguments) }
}

/// Runs a command as the `postgres` user when we are root (PostgreSQL refuses to run as root).
@discardableResult
func runAsPostgres(_ arguments: [String]) throws -> (status: Int32, output: String) {
    getuid() == 0 ? try run(["runuser", "-u", "postgres", "--"] + arguments) : try run(arguments)
}

func freePort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
    _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// Polls `condition` every 200 ms until it holds or `seconds` pass.
/// True once `stateDir` holds what a SIGKILL must not lose: an outbox with at least `delivered`
/// delivered records and none still owed, and alert state that records the alert as notified.
func stateSaved(_ stateDir: String, delivered: Int) -> Bool {
    guard let outbox = FileManager.default.contents(atPath: stateDir + "/outbox.json"),
          let state = try? OutboxState.decode(Array(outbox)),
          let alerts = try? String(contentsOfFile: stateDir + "/alerts.json", encoding: .utf8) else { return false }
    return state.records.filter { $0.state == .delivered }.count >= delivered && !state.records.contains { $0.state.isOpen }
        && alerts.contains(#""notified":true"#)
}

func eventually(_ seconds: Double, _ condition: () async throws -> Bool) async rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try await condition() { return true }
        try? await Task.sleep(for: .milliseconds(200))
    }
    return try await condition()
}
