import ArgumentParser

/// `poolwatch`: watch PostgreSQL and its connection pools, expose Prometheus metrics, page on-call.
@main
struct PoolwatchCommand: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "poolwatch",
        abstract: "Watch PostgreSQL connection pools and PostgreSQL itself; expose Prometheus metrics.",
        discussion: """
            With no configuration at all, poolwatch watches the local PostgreSQL through libpq's defaults \
            (PGHOST, PGPORT, PGUSER, PGDATABASE, ~/.pgpass) and serves metrics on :9646.
            """,
        version: version,
        subcommands: [Run.self, CheckConfig.self, DiagnoseCommand.self, RulesCommand.self, SQLCommand.self, TestNotificationCommand.self],
        defaultSubcommand: Run.self)
}
