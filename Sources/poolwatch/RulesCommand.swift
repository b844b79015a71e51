import ArgumentParser
import PoolWatchCore

/// `poolwatch rules`: print the built-in alert rules as a Prometheus rule file.
///
/// This is the only writer of `alerts/poolwatch.rules.yml`: the same rule text poolwatch evaluates
/// itself is what Prometheus loads, and a repository check fails when the two drift apart.
/// Local-only rules (the dead man's switch, which Prometheus cannot evaluate about itself) are left out.
struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Print the built-in alert rules as a Prometheus rule file.")

    @Option(name: .long, help: "Base URL of the runbooks; each rule links to <base>#<alertname in lower case>.")
    var runbookBase: String = BuiltinRules.defaultRunbookBase

    func run() throws {
        do {
            print(RuleFileRenderer.render(try BuiltinRules.rules(runbookBase: runbookBase)), terminator: "")
        } catch {
            printError("poolwatch rules: \(error)")
            throw ExitCode(1)
        }
    }
}
