import ArgumentParser
import Hummingbird
import NIOCore
import Logging
import PoolWatchAlerts
import PoolWatchCore
import PoolWatchCurl
import PoolWatchHTTP
import PoolWatchCollection
import ServiceLifecycle
import UnixSignals
import PoolWatchRuntime

/// `poolwatch run` (the default): collect every target on its own schedule and serve `/metrics`.
struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run poolwatch (the default command).")

    @OptionGroup var options: ConfigOptions

    @Flag(name: .customLong("web.enable-lifecycle"),
          help: "Enable POST /-/reload (reload the configuration, as SIGHUP does), as Prometheus' flag of the same name.")
    var enableLifecycle = false

    func run() async throws {
        // Trapped first: from here on a SIGHUP reloads (ReloadOnSignal) instead of ending the process.
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        ProcessMemory.configure()
        let config: PoolwatchConfig
        let path: String?
        do {
            (config, path) = try options.load()
        } catch let errors as ConfigErrors {
            printError("poolwatch: invalid configuration\(options.configPath().map { " in \($0)" } ?? ""):")
            for error in errors.errors { printError("  \(error)") }
            throw ExitCode(2)
        }
        var web: (config: WebConfig, security: WebSecurity)?
        if let webPath = config.webConfigFile {
            do {
                web = try options.loadWeb(path: webPath)
            } catch {
                printError("poolwatch: invalid web configuration in \(webPath):")
                for error in error.errors { printError("  \(error)") }
                throw ExitCode(2)
            }
        }

        let format = config.logFormat
        let level = Logger.Level(rawValue: config.logLevel.rawValue) ?? .info
        StructuredLogHandler.processLevel = level
        LoggingSystem.bootstrap { label in StructuredLogHandler(format: format, label: label) }
        let logger = Logger(label: "poolwatch")
        logger.info("starting", metadata: [
            "version": "\(PoolwatchCommand.version)", "config": "\(path ?? "(none: libpq defaults)")",
            "targets": "\(config.targets.map { "\($0.name)[\($0.kind.rawValue)]" }.joined(separator: ","))",
        ])

        for target in config.targets {
            if let warning = target.httpJSON?.cleartextCredentialWarning ?? target.appMetrics?.cleartextCredentialWarning {
                logger.warning("credentials over plain http", metadata: ["target": "\(target.name)", "detail": "\(warning)"])
            }
        }

        let store = SnapshotStore(
            targets: config.targets.map { ($0.name, $0.kind) },
            buildInfo: .init(version: PoolwatchCommand.version, swiftVersion: swiftVersion),
            clock: { WallClock.now() })
        let running = RunningConfig(config)
        // The HTTP port is bound before the first collection round: when it cannot be, no round runs.
        let listening = StartGate()
        let supervisor = TargetSupervisor(
            targets: config.targets, store: store, logger: logger, startGate: listening, userAgent: "poolwatch/\(PoolwatchCommand.version)")
        var services: [any Service] = [supervisor]
        // Local alert evaluation: the built-in rules with the configured overrides and silences.
        var engine = AlertEngine(rules: try config.alertRules.rules())
        engine.silences = config.alertRules.silences
        let board = AlertStatusBoard()

        // The state directory (alert state and outbox), when there is one: checked and locked before
        // anything is read from it, whether or not receivers are configured, so two instances on one
        // directory never restore and overwrite each other's state.
        var stateDirectory: StateDirectory?
        if let path = config.alerting.stateDirectory {
            do {
                stateDirectory = try StateDirectory(path: path)
                engine = try AlertEvaluationService.restore(engine, from: stateDirectory!, logger: logger)
            } catch {
                // One line, on stderr (the journal's too): what failed and, where there is one, the fix.
                printError("poolwatch: \(error)")
                throw ExitCode(1)
            }
        } else {
            logger.warning("no state_dir (and no $STATE_DIRECTORY): alert state and the outbox are kept in memory only and lost at a restart")
        }

        // Paging: the durable outbox and the Slack / PagerDuty notifier, when receivers are configured.
        let curlPool = BlockingExecutor(threads: 2)
        var notifier: Notifier?
        if config.alerting.isEnabled {
            do {
                let created = try Notifier(
                    config: config.alerting, version: PoolwatchCommand.version, executor: curlPool, logger: logger,
                    directory: stateDirectory, publishMetrics: { store.publishExtra("notifier", families: $0) })
                services.append(created)
                notifier = created
            } catch {
                logger.critical("cannot start the notifier", metadata: ["error": "\(error)"])
                throw ExitCode(1)
            }
            logger.info("paging enabled", metadata: [
                "receivers": "\(config.alerting.receivers.map { "\($0.name)[\($0.type.rawValue)]" }.joined(separator: ","))",
            ])
        }
        board.notifier = notifier
        let pager = notifier
        services.append(AlertEvaluationService(
            store: store, engine: engine, interval: config.evaluationInterval,
            stateDirectory: stateDirectory, logger: logger, status: board,
            // After a loss of outbox records: the alerts firing now that were announced before.
            reconcile: { firing in
                await pager?.reconcile(firing: firing.map(AlertNotification.init(transition:)))
            },
            // Transitions are saved in the outbox before this returns. Without receivers they are
            // visible in the log, /alerts and poolwatch_alerts only.
            deliver: { transitions in
                // Pages about a full or held pool name the holders of the round that fired.
                let needsHolders = transitions.contains { $0.kind == .fired && Diagnosis.holderRules.contains($0.ruleName) }
                let pairs = needsHolders ? Diagnosis.pairs(for: running.current.targets) : [:]
                let diagnosis = needsHolders ? Diagnosis.make(snapshots: store.snapshots, pairs: pairs, now: store.now()) : nil
                await pager?.enqueue(transitions.map { transition in
                    var notification = AlertNotification(transition: transition)
                    if transition.kind == .fired, Diagnosis.holderRules.contains(transition.ruleName), let diagnosis {
                        notification.holders = diagnosis.holderLines(for: transition.identity.labels)
                    }
                    return notification
                })
            }))

        let listen = config.listen
        let security = try web?.security ?? WebSecurity(config: WebConfig())
        let reloader = ConfigReloader(
            options: options, running: running, web: web?.config, supervisor: supervisor, store: store, board: board,
            notifier: notifier, security: security, logger: logger)
        services.append(ReloadOnSignal(signals: hangups, reloader: reloader))
        if let tls = security.tls {
            services.append(TLSCertificateWatcher(store: tls, logger: logger))
        }
        let descriptors = ConnectionGuard.raiseDescriptorLimit()
        let connectionGuard = ConnectionGuard(limit: ConnectionGuard.defaultLimit(descriptors: descriptors))
        services.append(try HTTPServer.makeApplication(
            listen: listen, store: store, targets: { running.current.targets }, logger: logger, connectionGuard: connectionGuard,
            firingAlerts: { now in
                board.firing(at: now).map { status in
                    StatusAlert(
                        name: status.instance.rule, severity: status.severity.rawValue,
                        summary: status.instance.annotations["summary"] ?? "", since: status.instance.firedAt ?? status.instance.activeAt)
                }
            },
            extraRoutes: [{ router in
                router.get("/alerts") { _, _ -> Response in
                    Response(status: .ok, headers: [.contentType: "application/json"],
                             body: .init(byteBuffer: ByteBuffer(bytes: await board.cachedJSON(at: WallClock.now()))))
                }
            }, { [enableLifecycle] router in
                LifecycleRoutes.install(on: router, enabled: enableLifecycle, reloader: reloader)
            }],
            security: security,
            onRunning: { [web] port in
                logger.info("listening", metadata: [
                    "address": "\(listen.host):\(port)", "max_connections": "\(connectionGuard.limit)", "fd_limit": "\(descriptors)",
                    "web": "\(web?.config.summary ?? "plain HTTP; no basic auth (no --web.config.file)")",
                ])
                listening.open()
            }))

        let group = ServiceGroup(configuration: .init(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            cancellationSignals: [],
            logger: logger))
        do {
            try await group.run()
        } catch {
            if "\(error)".contains("Address already in use") {
                printError("poolwatch: listen_address: \(listen.host):\(listen.port) is already in use by another process")
            }
            logger.critical("stopped on error", metadata: ["error": "\(error)"])
            await curlPool.shutdown()
            throw ExitCode(1)
        }
        await curlPool.shutdown()
        logger.info("stopped")
    }
}

#if swift(>=6.3)
let swiftVersion = "6.3"
#elseif swift(>=6.2)
let swiftVersion = "6.2"
#else
let swiftVersion = "6.x"
#endif
