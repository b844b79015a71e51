import ArgumentParser
import PoolWatchCore

/// `poolwatch sql`: print every statement one collection round sends to each configured target.
///
/// For the DBA who must approve what a monitoring tool runs against production, and for
/// `scripts/bench`, which runs the same statements once in a plain session to measure the floor a
/// round cannot go below. Statements depend on the server version (column names moved in
/// PostgreSQL 13 and 17, `SHOW STATS_TOTALS` arrived in PgBouncer 1.8), hence `--version-number`.
struct SQLCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sql",
        abstract: "Print the statements one collection round sends to each configured target.")

    @OptionGroup var options: ConfigOptions

    @Option(name: .long, help: ArgumentHelp(
        "The server version as poolwatch reads it: PostgreSQL's server_version_num (150004), or major×10000 + minor×100 + patch for PgBouncer and Pgpool-II (11800 for 1.18.0). Default: the newest code paths.",
        valueName: "n"))
    var versionNumber: Int = Int.max

    @Option(name: .long, help: "Only this target.")
    var target: String?

    func run() throws {
        let config: PoolwatchConfig
        do {
            config = try options.load().config
        } catch let errors as ConfigErrors {
            for error in errors.errors { printError("poolwatch sql: \(error)") }
            throw ExitCode(1)
        }
        let targets = config.targets.filter { target == nil || $0.name == target }
        guard !targets.isEmpty else {
            printError("poolwatch sql: no target named \"\(target ?? "")\" (have: \(config.targets.map(\.name).joined(separator: ", ")))")
            throw ExitCode(1)
        }
        let facts = ServerFacts(versionNumber: versionNumber)
        for target in targets {
            print("-- target \(target.name) (\(target.kind.rawValue))")
            guard let plan = Self.plan(for: target) else {
                print("-- (no SQL: an HTTP JSON endpoint)\n")
                continue
            }
            for collector in plan.collectors {
                print("-- collector \(collector.name)")
                for statement in collector.statements(for: facts) { print(statement + ";") }
            }
            if let visits = plan.visits { Self.printVisits(visits, facts: facts) }
            print("")
        }
    }

    /// What runs in other databases: each on a short-lived connection of its own (DatabaseVisitor.swift).
    static func printVisits(_ visits: DatabaseVisitPlan, facts: ServerFacts) {
        print("-- other databases: short-lived read-only connections (default_transaction_read_only), "
              + "at most \(visits.connectionBudget) open at once (connection_budget)")
        if let max = visits.maxDatabases {
            print("-- collector \(DatabaseVisitPlan.listName) in the DSN's database, for databases: all")
            print(DatabaseVisitPlan.listStatement(max: max) + ";")
        }
        for job in visits.jobs {
            let own = job.skipsOwnDatabase ? " (the DSN's own database is read on the target's connection instead)" : ""
            print("-- collector \(job.collector.name) in \(job.databases)\(own), every \(DurationParser.format(job.interval))")
            for statement in job.collector.statements(for: facts) { print(statement + ";") }
        }
    }

    static func plan(for target: TargetConfig) -> TargetPlan? {
        switch target.kind {
        case .postgres: .postgres(target)
        case .pgbouncer: .pgbouncer(target)
        case .pgpool: .pgpool(target)
        case .httpJSON, .appMetrics: nil
        }
    }
}
