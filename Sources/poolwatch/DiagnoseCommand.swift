import ArgumentParser
import FoundationEssentials
import PoolWatchCore
import PoolWatchCurl
import PoolWatchCollection
import PoolWatchRuntime

/// `poolwatch diagnose`: who holds the pool. One collection round against the configured targets (or,
/// with `--url`, the latest round of a running poolwatch), printed as one screen per troubled pool.
///
/// Exit status: 0 healthy, 1 a pool is troubled, 2 a target (or the `--url`) cannot be reached or the
/// configuration is invalid. Read-only: it runs the statements of a round and nothing else; the
/// `pg_terminate_backend` it may suggest is printed, never run.
struct DiagnoseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Show who holds each troubled pool: clients, server connections, backends and their blockers.")

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: "Only pools of this target.")
    var target: String?

    @Option(name: .long, help: "Only this pool: database, or database/user.")
    var pool: String?

    @Option(name: .long, help: "Read the latest round of a running poolwatch (its /diagnose) instead of connecting, e.g. http://127.0.0.1:9646.")
    var url: String?

    @Flag(name: .long, help: "Show healthy pools too.")
    var all = false

    @Flag(name: .long, help: "Print the report as JSON (the format of /diagnose).")
    var json = false

    func run() async throws {
        var diagnosis: Diagnosis
        do {
            if let url { diagnosis = try await Self.fetch(url) } else { diagnosis = try await collect() }
        } catch let errors as ConfigErrors {
            for error in errors.errors { printError("poolwatch diagnose: \(error)") }
            throw ExitCode(2)
        } catch let error as DiagnoseError {
            printError("poolwatch diagnose: \(error.message)")
            throw ExitCode(2)
        }
        diagnosis.targets = diagnosis.targets.filter { target == nil || $0.name == target || $0.name == pairedTarget(diagnosis) }
        diagnosis.pools = diagnosis.pools.filter { p in
            (target == nil || p.target == target) && (pool == nil || pool == p.database || pool == "\(p.database)/\(p.user)")
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(diagnosis), as: UTF8.self))
        } else {
            print(DiagnosisText.render(diagnosis, all: all), terminator: "")
        }
        if diagnosis.targets.contains(where: { !$0.up }) { throw ExitCode(2) }
        if !diagnosis.troubled.isEmpty { throw ExitCode(1) }
    }

    private func pairedTarget(_ diagnosis: Diagnosis) -> String? {
        diagnosis.targets.first { $0.name == target }?.pairedWith
    }

    struct DiagnoseError: Error { var message: String }

    /// One round of every configured target (the paired PostgreSQL targets of the chosen ones too),
    /// each under its collection_timeout.
    private func collect() async throws -> Diagnosis {
        let config = try options.load().config
        let pairs = Diagnosis.pairs(for: config.targets)
        if let target, !config.targets.contains(where: { $0.name == target }) {
            throw DiagnoseError(message: "no target named \"\(target)\" (have: \(config.targets.map(\.name).joined(separator: ", ")))")
        }
        let wanted = config.targets.filter { target == nil || $0.name == target || $0.name == pairs[target!] }
        let executor = BlockingExecutor(threads: wanted.count * 2 + 1)
        let snapshots = await withTaskGroup(of: TargetSnapshot.self) { group in
            for target in wanted {
                let collector = TargetFactory.collector(for: target, executor: executor, userAgent: "poolwatch/\(PoolwatchCommand.version)")
                group.addTask {
                    let deadline = RoundDeadline(target: target)
                    switch await deadline.run(collector, on: ContinuousClock()) {
                    case .finished(let snapshot): return snapshot
                    case .abandoned, .shutdown: return collector.failedRound(error: deadline.missedMessage, duration: deadline.timeout)
                    }
                }
            }
            var all: [TargetSnapshot] = []
            for await snapshot in group { all.append(snapshot) }
            return wanted.compactMap { target in all.first { $0.target == target.name } }
        }
        return Diagnosis.make(snapshots: snapshots, pairs: pairs, now: WallClock.now())
    }

    /// The latest report of a running poolwatch.
    static func fetch(_ base: String) async throws -> Diagnosis {
        let executor = BlockingExecutor(threads: 1)
        let client = CurlClient(userAgent: "poolwatch/\(PoolwatchCommand.version)", executor: executor)
        let address = (base.hasSuffix("/") ? String(base.dropLast()) : base) + "/diagnose"
        var request = CurlRequest.get(address, displayName: address, headers: [CurlHeader("Accept", "application/json")])
        request.timeout = .seconds(10)
        let response: CurlResponse
        do {
            response = try await client.execute(request)
        } catch {
            throw DiagnoseError(message: "cannot read \(address): \(error.description)")
        }
        guard response.isSuccess else { throw DiagnoseError(message: "\(address): HTTP \(response.status)") }
        do {
            return try JSONDecoder().decode(Diagnosis.self, from: Data(response.body))
        } catch {
            throw DiagnoseError(message: "\(address) did not return a poolwatch diagnosis: \(error)")
        }
    }
}
