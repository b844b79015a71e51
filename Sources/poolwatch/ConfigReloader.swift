import Hummingbird
import Logging
import PoolWatchAlerts
import PoolWatchCore
import PoolWatchHTTP
import PoolWatchCollection
import ServiceLifecycle
import Synchronization
import UnixSignals
import PoolWatchRuntime

/// The configuration the process runs with now, readable from any thread (HTTP handlers, the alert
/// evaluator); replaced only by `ConfigReloader`.
final class RunningConfig: Sendable {
    private let state: Mutex<PoolwatchConfig>
    init(_ config: PoolwatchConfig) { state = Mutex(config) }
    var current: PoolwatchConfig {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

/// Applies a changed configuration file to the running process, on SIGHUP and on `POST /-/reload`
/// (with `--web.enable-lifecycle`), as Prometheus does.
///
/// The file, the web config it names and the rules are read and checked whole before anything
/// changes. When something is wrong nothing changes: every error is logged with its key path and
/// `poolwatch_config_last_reload_successful` is 0 until a reload succeeds. Otherwise `ReloadPlan`
/// says what changes and each part takes its share: `TargetSupervisor` the targets, the engine its
/// rules and silences (firing alerts stay firing, those of removed targets resolve and say why), the
/// notifier its receivers (the outbox stays), the web security its users, headers and certificate
/// files; the log level changes for every logger. Reloads run one at a time (an actor).
actor ConfigReloader {
    struct Failure: Error, CustomStringConvertible {
        var errors: [String]
        var description: String { errors.joined(separator: "; ") }
    }

    private let options: ConfigOptions
    private let running: RunningConfig
    private let supervisor: TargetSupervisor
    private let store: SnapshotStore
    private let board: AlertStatusBoard
    private let notifier: Notifier?
    private let security: WebSecurity
    private var web: WebConfig?
    private let logger: Logger
    private var lastSuccess: Double

    init(options: ConfigOptions, running: RunningConfig, web: WebConfig?, supervisor: TargetSupervisor, store: SnapshotStore,
         board: AlertStatusBoard, notifier: Notifier?, security: WebSecurity, logger: Logger) {
        self.options = options
        self.running = running
        self.web = web
        self.supervisor = supervisor
        self.store = store
        self.board = board
        self.notifier = notifier
        self.security = security
        self.logger = logger
        self.lastSuccess = WallClock.now()
        Self.publish(store: store, succeeded: true, at: lastSuccess)
    }

    /// Reads the configuration again and applies it; on failure the running one stays.
    @discardableResult
    func reload(trigger: String) async -> Result<ReloadPlan, Failure> {
        logger.info("reloading configuration", metadata: ["trigger": "\(trigger)"])
        let loaded: (config: PoolwatchConfig, web: (config: WebConfig, security: WebSecurity)?)
        do {
            loaded = try load()
        } catch {
            for line in error.errors { logger.error("configuration reload failed; keeping the running configuration", metadata: ["error": "\(line)"]) }
            Self.publish(store: store, succeeded: false, at: lastSuccess)
            return .failure(error)
        }
        let current = running.current
        var plan = ReloadPlan(running: current, new: loaded.config, pagingRunning: notifier != nil)
        plan.needsRestart += applyWeb(loaded.web)
        await apply(plan)
        for line in plan.needsRestart { logger.warning("configuration change needs a restart", metadata: ["detail": "\(line)"]) }
        logger.info("configuration reloaded", metadata: ["trigger": "\(trigger)", "changes": "\(plan.summary)"])
        lastSuccess = WallClock.now()
        Self.publish(store: store, succeeded: true, at: lastSuccess)
        return .success(plan)
    }

    /// The new file, its web config and its rules, or every error found.
    private func load() throws(Failure) -> (config: PoolwatchConfig, web: (config: WebConfig, security: WebSecurity)?) {
        let config: PoolwatchConfig
        do {
            config = try options.load().config
        } catch let errors as ConfigErrors {
            throw Failure(errors: errors.errors.map { "\($0)" })
        } catch {
            throw Failure(errors: ["\(error)"])
        }
        var errors: [String] = []
        do {
            _ = try config.alertRules.rules()
        } catch {
            errors.append("alerting.rules: \(error)")
        }
        var web: (config: WebConfig, security: WebSecurity)?
        if let path = config.webConfigFile {
            do {
                web = try options.loadWeb(path: path)
            } catch {
                errors += error.errors.map { "\(path): \($0)" }
            }
        }
        if !errors.isEmpty { throw Failure(errors: errors) }
        return (config, web)
    }

    /// Users and headers change at once; new certificate files are served from the next handshake.
    /// Turning TLS on or off and its other settings need a new listening socket: a restart.
    private func applyWeb(_ new: (config: WebConfig, security: WebSecurity)?) -> [String] {
        let newConfig = new?.config ?? WebConfig()
        security.update(users: newConfig.basicAuthUsers, headers: newConfig.headers)
        var needsRestart: [String] = []
        let oldTLS = web?.tls
        switch (oldTLS, newConfig.tls) {
        case (nil, nil):
            break
        case (nil, _?), (_?, nil):
            needsRestart.append("tls_server_config: turning TLS \(oldTLS == nil ? "on" : "off") needs a restart")
        case let (old?, wanted?):
            if let store = security.tls, let loaded = new?.security.tls,
               old.certFile != wanted.certFile || old.keyFile != wanted.keyFile {
                store.adopt(loaded)
            }
            var other = wanted
            other.certFile = old.certFile
            other.keyFile = old.keyFile
            if other != old {
                needsRestart.append("tls_server_config: client_auth_type, client_ca_file, client_allowed_sans, versions, "
                    + "cipher suites and curves need a restart; the running ones stay")
            }
        }
        web = newConfig
        return needsRestart
    }

    private func apply(_ plan: ReloadPlan) async {
        let config = plan.effective
        running.current = config
        StructuredLogHandler.processLevel = Logger.Level(rawValue: config.logLevel.rawValue) ?? .info
        await supervisor.apply(config.targets)
        if plan.rulesChanged || plan.silencesChanged || !plan.removed.isEmpty {
            // Validated in `load()`.
            let rules = (try? config.alertRules.rules()) ?? []
            board.engine.withLock { engine in
                engine?.reconfigure(rules: rules, silences: config.alertRules.silences, removedTargets: Set(plan.removed))
            }
        }
        board.interval.withLock { $0 = config.evaluationInterval }
        if plan.receiversChanged { await notifier?.reconfigure(config.alerting) }
        for target in config.targets where plan.added.contains(target.name) || plan.changed.contains(target.name) {
            if let warning = target.httpJSON?.cleartextCredentialWarning ?? target.appMetrics?.cleartextCredentialWarning {
                logger.warning("credentials over plain http", metadata: ["target": "\(target.name)", "detail": "\(warning)"])
            }
        }
    }

    /// `poolwatch_config_last_reload_successful` and `…_success_timestamp_seconds`, as Prometheus
    /// names its own; the start counts as the first successful load.
    private static func publish(store: SnapshotStore, succeeded: Bool, at time: Double) {
        store.publishExtra("config", families: [
            MetricFamily("poolwatch_config_last_reload_successful",
                         help: "Whether the last configuration reload attempt was successful.", value: succeeded ? 1 : 0),
            MetricFamily("poolwatch_config_last_reload_success_timestamp_seconds",
                         help: "Timestamp of the last successful configuration reload.", value: time),
        ])
    }
}

/// Reloads the configuration on every SIGHUP. The signal is trapped when this is created (before the
/// services start), so a SIGHUP sent right after start reloads instead of killing the process.
struct ReloadOnSignal: Service, CustomStringConvertible {
    let signals: UnixSignalsSequence
    let reloader: ConfigReloader
    var description: String { "ReloadOnSignal" }

    func run() async throws {
        await cancelWhenGracefulShutdown {
            for await _ in signals {
                await reloader.reload(trigger: "SIGHUP")
            }
        }
    }
}

extension PoolwatchConfig {
    /// Seconds between alert evaluations: `alerting.evaluation_interval`, else the shortest target interval.
    var evaluationInterval: Duration {
        alertRules.evaluationInterval ?? targets.map(\.interval).min() ?? .seconds(15)
    }
}

/// `/-/reload`, as Prometheus serves it: POST or PUT reloads (200, or 500 with the errors while the
/// running configuration stays); without `--web.enable-lifecycle` it answers 403, so nobody who can
/// reach the port can make poolwatch re-read its files unless the operator asked for it.
enum LifecycleRoutes {
    static func install(on router: Router<BasicRequestContext>, enabled: Bool, reloader: ConfigReloader) {
        let handler: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            guard enabled else { return text(.forbidden, "Lifecycle API is not enabled.\n") }
            switch await reloader.reload(trigger: "POST /-/reload") {
            case .success(let plan):
                let restart = plan.needsRestart.map { "needs a restart: \($0)\n" }.joined()
                return text(.ok, "configuration reloaded: \(plan.summary)\n" + restart)
            case .failure(let failure):
                return text(.internalServerError, "failed to reload config:\n" + failure.errors.map { "  \($0)\n" }.joined())
            }
        }
        router.post("/-/reload", use: handler)
        router.put("/-/reload", use: handler)
        router.get("/-/reload") { _, _ in text(.methodNotAllowed, "Only POST or PUT requests allowed.\n") }
    }

    private static func text(_ status: HTTPResponse.Status, _ body: String) -> Response {
        Response(status: status, headers: [.contentType: "text/plain; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
