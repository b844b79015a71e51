import ArgumentParser
import PoolWatchCore
import PoolWatchHTTP

/// `poolwatch check-config FILE`: validate a configuration without starting anything.
struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file: print every mistake and exit 1, or print a summary and exit 0.")

    @Argument(help: "The YAML configuration file.")
    var file: String

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let webConfigFile: String?
        do {
            let (config, _) = try options.load(path: file)
            print("\(file): OK")
            print("listen_address: \(config.listen)")
            print("log: \(config.logFormat.rawValue), \(config.logLevel.rawValue)")
            print("targets (\(config.targets.count)):")
            for target in config.targets {
                print("  - \(target.name) [\(target.kind.rawValue)] every \(DurationParser.format(target.interval)), "
                      + "collection_timeout \(DurationParser.format(target.collectionTimeout)): \(target.redactedDSN)")
                if let visits = DatabaseVisitPlan(target: target) {
                    let jobs = visits.jobs.map { "\($0.collector.name) in \($0.databases)" }.joined(separator: "; ")
                    print("    other databases, at most \(visits.connectionBudget) connection(s) at once: \(jobs)")
                }
            }
            webConfigFile = config.webConfigFile
        } catch let errors as ConfigErrors {
            printError("\(file): \(errors.errors.count) error\(errors.errors.count == 1 ? "" : "s")")
            for error in errors.errors { printError("  \(error)") }
            throw ExitCode(1)
        }
        // The web config too, certificate files included (they are loaded as the server would).
        guard let path = webConfigFile else { return }
        do {
            let (web, _) = try options.loadWeb(path: path)
            print("\(path): OK\n  \(web.summary)")
        } catch {
            printError("\(path): \(error.errors.count) error\(error.errors.count == 1 ? "" : "s")")
            for error in error.errors { printError("  \(error)") }
            throw ExitCode(1)
        }
    }
}

func printError(_ text: String) {
    var stderr = StandardError()
    print(text, to: &stderr)
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) {
        var bytes = Array(string.utf8)
        _ = fwriteToStderr(&bytes)
    }
}
