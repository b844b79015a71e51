import ArgumentParser
import PoolWatchAlerts
import PoolWatchCore
import PoolWatchCurl
import PoolWatchRuntime

/// `poolwatch test-notification --receiver NAME`: send one test message through a configured
/// receiver, to prove the webhook or routing key works before a real incident does.
///
/// It sends directly, without the outbox, so it works next to a running poolwatch that holds the
/// state directory. PagerDuty gets a trigger and its resolve (severity info), Slack one message.
struct TestNotificationCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test-notification",
        abstract: "Send a test notification through one configured receiver and report the outcome.")

    @Option(name: .long, help: "The receiver's name in the configuration.")
    var receiver: String

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let config: PoolwatchConfig
        do {
            config = try options.load().config
        } catch let errors as ConfigErrors {
            for error in errors.errors { printError("  \(error)") }
            throw ExitCode(2)
        }
        guard let target = config.alerting.receiver(named: receiver) else {
            let names = config.alerting.receivers.map(\.name)
            printError("no receiver named \"\(receiver)\" (configured: \(names.isEmpty ? "none" : names.joined(separator: ", ")))")
            throw ExitCode(2)
        }
        let pool = BlockingExecutor(threads: 1)
        let client = CurlClient(userAgent: "poolwatch/\(PoolwatchCommand.version)", executor: pool)
        let context = PayloadContext(clusterID: config.alerting.clusterID, clientURL: config.alerting.clientURL,
                                     version: PoolwatchCommand.version)
        let result = await TestNotification.send(to: target, context: context, sender: NotificationSender(client: client),
                                                 now: WallClock.now())
        await pool.shutdown()
        print(result)
        if !result.succeeded { throw ExitCode(1) }
    }
}
