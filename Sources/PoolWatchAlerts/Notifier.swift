import Logging
import PoolWatchCore
import PoolWatchCurl
import PoolWatchRuntime
import ServiceLifecycle

/// Delivers alert notifications to Slack and PagerDuty, reliably (docs/alert-delivery.md §5–§13).
///
/// - Every notification × receiver becomes an outbox record, written to `<state_dir>/outbox.json`
///   (temp file, fsync, rename, fsync dir) **before** it can be sent. After a crash, undelivered
///   records are sent again: at least once; PagerDuty's stable `dedup_key` makes a repeat harmless.
/// - Per receiver and dedup key, records go out in order; a resolve that meets its undelivered
///   trigger cancels it (see ``OutboxState``).
/// - 2xx is delivered; network errors, timeouts, 408 and 5xx are retried with capped, jittered
///   exponential backoff; 429 honours `Retry-After` and pauses the receiver; a 400 gets one minimal
///   resend; 401/403/404/410 (after one re-read of a secret file) and 3xx are dead, logged with the
///   receiver's name and escalated to the other receivers.
/// - Token buckets per receiver; many instances of one rule pending for Slack become one message.
/// - One log line per event; secrets never reach logs, the state file or metrics.
///
/// Every decision is made by a value, ``NotifierStateMachine``; this actor only performs what it
/// returns. `run()` is one loop in a task group: each send and each write of the state file is a
/// child task that reports back to the state machine, and the loop sleeps until the machine's next
/// deadline or a signal (an enqueue, an answer, a finished write, a shutdown request).
///
/// ```swift
/// let notifier = try Notifier(config: config.alerting, version: "1.0.0", executor: BlockingExecutor(threads: 2),
///                             logger: logger, publishMetrics: { store.publishExtra("notifier", families: $0) })
/// // add `notifier` to the ServiceGroup; then, from the rule evaluator:
/// await notifier.enqueue(notifications)
/// ```
public actor Notifier: Service {
    public private(set) var config: AlertingConfig
    private var machine: NotifierStateMachine
    var environment: OutboxEnvironment { machine.environment }
    /// For test notifications, which bypass the outbox.
    private let sender: NotificationSender
    nonisolated let transport: any NotificationTransport
    /// Nil without a state directory: the outbox then lives in memory only.
    nonisolated let store: (any OutboxStore)?
    /// True when the outbox may have lost records at start (missing, moved aside, quarantined):
    /// ``reconcile(firing:)`` then queues the triggers of alerts firing now that are not known sent.
    public nonisolated let needsReconcile: Bool
    private let logger: Logger
    private let clock: @Sendable () -> Double
    private let random: @Sendable () -> Double
    private let publish: @Sendable ([MetricFamily]) -> Void

    private var secrets: [String: Secret]
    private var redactor: SecretRedactor
    private var metrics = NotifierMetrics()
    private let signal: LoopSignal
    private let sleepClock: any Clock<Duration>
    /// Who waits for the write under way to end (an enqueue, a finished send, the end of `run()`).
    private var saveWaiters: [CheckedContinuation<Void, Never>] = []
    /// The changes of recovery, logged and persisted when the service starts.
    private var pendingStartupChanges: [OutboxChange] = []

    /// Opens (creating if needed) and locks `config.stateDirectory` (unless `directory`, already
    /// opened by the caller, is given), loads the outbox and prepares every receiver. Without a state
    /// directory the outbox lives in memory. A record with an impossible value is quarantined
    /// (`outbox.quarantine.json`) and the others kept; a file that is not an outbox at all is moved
    /// aside (`outbox.json.corrupt-<unix>`) and the notifier starts empty; both with an error line.
    /// A file that cannot be read (permissions, I/O) is an error naming the path and errno text.
    ///
    /// - Parameters:
    ///   - executor: runs the blocking libcurl transfers and state-file writes (2 threads suffice).
    ///   - policy: timing rules; tests scale them down.
    ///   - clock: wall-clock seconds since the epoch.
    ///   - publishMetrics: called with the notifier's metric families after changes (throttled to
    ///     once a second, and at least every 15 s).
    /// - Throws: ``NotifierError`` when the state directory cannot be created, read or locked.
    public init(
        config: AlertingConfig, version: String, executor: any CurlExecutor, logger: Logger, policy: NotifierPolicy = .standard,
        directory: StateDirectory? = nil,
        clock: @escaping @Sendable () -> Double = WallClock.now,
        random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) },
        publishMetrics: @escaping @Sendable ([MetricFamily]) -> Void = { _ in }
    ) throws(NotifierError) {
        try self.init(config: config, version: version, executor: executor, logger: logger, policy: policy, directory: directory,
                      clock: clock, random: random, publishMetrics: publishMetrics, wiring: NotifierWiring())
    }

    /// As the public initializer, with the state file and the transport passed through `wiring`.
    init(
        config: AlertingConfig, version: String, executor: any CurlExecutor, logger: Logger, policy: NotifierPolicy,
        directory: StateDirectory?, clock: @escaping @Sendable () -> Double, random: @escaping @Sendable () -> Double,
        publishMetrics: @escaping @Sendable ([MetricFamily]) -> Void, wiring: NotifierWiring
    ) throws(NotifierError) {
        var logger = logger
        logger[metadataKey: "component"] = "notifier"
        let environment = OutboxEnvironment(
            receivers: config.receivers, payload: PayloadContext(clusterID: config.clusterID, clientURL: config.clientURL, version: version),
            policy: policy, maxRecords: config.outboxMaxRecords)
        var opened = directory
        if opened == nil, let path = config.stateDirectory { opened = try StateDirectory(path: path) }
        let file = opened.map(OutboxFile.init(directory:))
        self.store = file.map { wiring.store(FileOutboxStore(file: $0, executor: executor, ownsDirectory: directory == nil)) }
        self.config = config
        let sender = NotificationSender(client: CurlClient(userAgent: "poolwatch/\(version)", executor: executor))
        self.sender = sender
        self.transport = wiring.transport(sender)
        self.signal = LoopSignal(clock: wiring.clock)
        self.sleepClock = wiring.clock
        self.logger = logger
        self.clock = clock
        self.random = random
        self.publish = publishMetrics
        self.secrets = Dictionary(uniqueKeysWithValues: config.receivers.map { ($0.name, $0.secret) })
        self.redactor = SecretRedactor(config.receivers.map(\.secret))

        let now = clock()
        var metrics = NotifierMetrics()
        var outbox = OutboxState()
        var stateLost = false
        var recordsLost = false
        switch try file?.load() ?? .missing {
        case .missing:
            recordsLost = file != nil
        case let .contents(bytes):
            do {
                let salvaged = try OutboxState.decodeSalvaging(bytes)
                outbox = salvaged.state
                if !salvaged.quarantined.isEmpty {
                    let quarantinedTo = try file!.quarantine(salvaged.quarantined, now: now)
                    metrics.corruptStateFiles += 1
                    recordsLost = true
                    logger.error("outbox state file had untrustworthy entries: quarantined them, kept the rest (firing alerts are queued again where no delivery is known)", metadata: [
                        "path": "\(file!.path)", "quarantined_to": "\(quarantinedTo)", "count": "\(salvaged.quarantined.count)",
                        "entries": "\(salvaged.quarantined.map { entry in entry.id.map { "\(entry.path) (\($0))" } ?? entry.path }.joined(separator: ", "))",
                        "reason": "\(salvaged.quarantined.map(\.reason).joined(separator: "; "))",
                    ])
                }
            } catch {
                let movedTo = try file!.moveAside(now: now)
                metrics.corruptStateFiles += 1
                stateLost = true
                recordsLost = true
                logger.error("outbox state file is unreadable: moved aside, starting with an empty outbox (firing alerts are queued again; resolves for earlier incidents may be missing)", metadata: [
                    "path": "\(file!.path)", "moved_to": "\(movedTo)", "reason": "\(error)",
                ])
            }
        }
        self.needsReconcile = recordsLost
        var notice: OrderedJSON?
        if stateLost {
            notice = SlackPayload.notice(
                ":warning: poolwatch lost its alert outbox state (the file was unreadable and was moved aside); "
                    + "alerts firing now are announced again; notifications queued before \(AlertText.rfc3339(now, milliseconds: false)) "
                    + "for alerts no longer firing may not be delivered")
        }
        var machine = NotifierStateMachine(outbox: outbox, environment: environment)
        pendingStartupChanges = machine.recover(recordsLost: recordsLost, stateLostNotice: notice, now: now)
        self.machine = machine
        self.metrics = metrics
        for receiver in config.receivers {
            logger.info("notifier receiver", metadata: [
                "receiver": "\(receiver.displayName)", "host": "\(receiver.endpointHost)", "secret": "\(receiver.secretSource)",
                "sha256_8": "\(Sha256.hex(receiver.secret.revealed).prefix(8))", "min_severity": "\(receiver.minSeverity.rawValue)",
                "send_resolved": "\(receiver.sendResolved)",
            ])
        }
        let recovered = machine.outbox.records
        logger.info("notifier outbox loaded", metadata: [
            "path": "\(file?.path ?? "(memory only: no state_dir)")", "pending": "\(recovered.filter(\.state.isOpen).count)",
            "records": "\(recovered.count)",
        ])
    }

    // MARK: Reload

    /// Takes a reloaded `alerting:` section: receivers (added, removed, new secrets, severities, rate
    /// limits), the outbox cap and `client_url`. A receiver whose type and rate limit did not change
    /// keeps its token bucket and any 429 pause; queued records of a removed receiver die with a
    /// reason, as at a restart. The state directory and the cluster id stay (see `ReloadPlan`).
    public func reconfigure(_ new: AlertingConfig) {
        config.receivers = new.receivers
        config.outboxMaxRecords = new.outboxMaxRecords
        config.clientURL = new.clientURL
        secrets = Dictionary(uniqueKeysWithValues: new.receivers.map { ($0.name, $0.secret) })
        // Old secrets stay known to the redactor: a send in flight may still quote one in its error.
        for receiver in new.receivers { redactor.add(receiver.secret) }
        let now = clock()
        let changes = machine.reconfigure(receivers: new.receivers, maxRecords: new.outboxMaxRecords, clientURL: new.clientURL, now: now)
        handle(changes, now: now)
        logger.info("notifier reconfigured", metadata: ["receivers": "\(new.receivers.map(\.displayName).joined(separator: ","))"])
        // The loop writes the changed state and takes the new receivers into account.
        signal.signal()
    }

    // MARK: Input

    /// Queues one notification; see ``enqueue(_:)-([AlertNotification])``.
    public func enqueue(_ notification: AlertNotification) async {
        await enqueue([notification])
    }

    /// Queues the notifications of one evaluation tick (pass them together, so storm control can
    /// group them), and returns once the records are durable in the state file. Enqueueing a
    /// transition that is already queued (same dedup key, kind and time) is a no-op.
    public func enqueue(_ notifications: [AlertNotification]) async {
        let now = clock()
        var changes: [OutboxChange] = []
        for notification in notifications {
            let added = machine.enqueue(notification, now: now)
            if added.isEmpty {
                logger.debug("notification matches no receiver", metadata: [
                    "rule": "\(notification.alertName)", "event": "\(notification.kind.rawValue)", "severity": "\(notification.severity.rawValue)",
                ])
            }
            changes += added
        }
        handle(changes, now: now)
        if changes.contains(where: \.changesState) { await persist(through: machine.generation) }
        signal.signal()
    }

    /// Start-up reconciliation after a loss of outbox state (``needsReconcile``): queues the
    /// triggers of `firing` (the alerts firing now that were announced before the loss, from the rule
    /// engine's restored state) that no receiver is known to have; see
    /// ``OutboxState/reconciliation(firing:environment:)``. Returns once they are durable.
    public func reconcile(firing: [AlertNotification]) async {
        guard needsReconcile, !firing.isEmpty else { return }
        let missing = machine.outbox.reconciliation(firing: firing, environment: environment)
        logger.notice("outbox reconciled after a loss of state", metadata: [
            "firing": "\(firing.count)", "queued_again": "\(missing.count)",
        ])
        if !missing.isEmpty { await enqueue(missing) }
    }

    // MARK: Service

    /// Runs until graceful shutdown or cancellation: sends due records, retries, expires, escalates
    /// and compacts. At shutdown, in-flight sends get `policy.shutdownGrace` seconds to finish; the
    /// outbox is then persisted and undelivered records wait for the next start.
    public func run() async throws {
        logger.info("notifier started", metadata: ["receivers": "\(config.receivers.map(\.displayName).joined(separator: ","))"])
        handle(pendingStartupChanges, now: clock())
        machine.started(with: pendingStartupChanges)
        pendingStartupChanges = []
        await withGracefulShutdownHandler {
            await withDiscardingTaskGroup { group in
                await self.serve(&group)
            }
        } onGracefulShutdown: { [signal] in
            signal.requestStop()
        }
        await close()
    }

    /// Stops the service (as a graceful shutdown does): no new sends; in-flight ones may finish.
    public func shutdown() {
        signal.requestStop()
    }

    /// The loop: performs what the state machine decides, until shutdown or cancellation; then gives
    /// the sends in flight `policy.shutdownGrace` seconds and cancels the rest.
    private func serve(_ group: inout DiscardingTaskGroup) async {
        while !signal.stopRequested, !Task.isCancelled {
            let now = clock()
            let tick = machine.tick(now: now)
            handle(tick.changes, now: now)
            for send in tick.sends { start(send, in: &group) }
            if let generation = tick.save { group.addTask { await self.save(generation) } }
            if tick.publishMetrics { publish(metricFamilies()) }
            await signal.wait(seconds: tick.wakeAt - now)
        }
        machine.stop()
        await graceForSends(on: sleepClock)
        // Sends still running are aborted: their records stay queued for the next start.
        group.cancelAll()
    }

    /// Waits until no send is in flight, at most `policy.shutdownGrace` on `clock`. A cancelled task
    /// cannot wait (its sleeps return at once): then in-flight sends are aborted at once.
    private func graceForSends<C: Clock>(on clock: C) async where C.Duration == Duration {
        let deadline = clock.now.advanced(by: .seconds(environment.policy.shutdownGrace))
        while !machine.sending.isEmpty, !Task.isCancelled, clock.now < deadline {
            await signal.wait(seconds: min(0.5, clock.now.duration(to: deadline).seconds))
        }
    }

    /// After the loop: the outbox is written, the state directory unlocked, metrics published.
    private func close() async {
        machine.markChanged()
        await persist(through: machine.generation)
        store?.releaseLock()
        publish(metricFamilies())
        logger.info("notifier stopped", metadata: ["pending": "\(machine.outbox.records.filter(\.state.isOpen).count)"])
    }

    // MARK: Delivery

    private func start(_ send: NotifierStateMachine.Send, in group: inout DiscardingTaskGroup) {
        let secret = secrets[send.receiver.name]!
        let (redactor, transport) = (redactor, transport)
        group.addTask {
            let attempt = await transport.send(body: send.dispatch.body, to: send.receiver, secret: secret, redactor: redactor)
            await self.finished(send, attempt)
        }
    }

    private func finished(_ send: NotifierStateMachine.Send, _ attempt: DeliveryAttempt) async {
        let now = clock()
        let receiver = send.receiver
        let dispatch = send.dispatch
        if let status = attempt.status { metrics.response(receiver.name, status) }
        if let result = attempt.classification.attemptResult { metrics.attempt(receiver.name, result) }
        let verdict = machine.answered(send, classification: attempt.classification, status: attempt.status, detail: attempt.detail,
                                       random: random(), now: now)
        var secretChanged = false
        if let path = verdict.rereadSecret, let fresh = OutboxFile.readSecret(path), fresh != secrets[receiver.name]?.revealed {
            secrets[receiver.name] = Secret(fresh)
            redactor.add(Secret(fresh))
            secretChanged = true
        }
        let (line, changes) = machine.finish(send, verdict: verdict, secretChanged: secretChanged, now: now)
        if let line {
            var metadata: Logger.Metadata = [
                "receiver": "\(receiver.displayName)", "event": "\(dispatch.event.rawValue)", "dedup_key": "\(dispatch.dedupKey)",
                "attempt": "\(dispatch.attempt)", "outbox_id": "\(dispatch.recordIDs[0])", "latency_ms": "\(Int(attempt.latency * 1000))",
            ]
            if dispatch.isGrouped { metadata["grouped"] = "\(dispatch.recordIDs.count)" }
            if dispatch.degraded { metadata["degraded"] = "true" }
            if let status = attempt.status { metadata["http_status"] = "\(status)" }
            if line.failure {
                metadata["error"] = "\(attempt.detail)"
                metadata["error_class"] = "\(attempt.classification.errorClass)"
                if let retryIn = line.retryIn { metadata["retry_in_ms"] = "\(Int(retryIn * 1000))" }
            }
            logger.log(level: Self.level(line.level), "\(line.message)", metadata: metadata)
        }
        handle(changes, now: now)
        signal.signal()
        // The answer is durable before this send ends (a shutdown waits for it; the loop need not tick).
        await persist(through: machine.generation)
    }

    private static func level(_ level: NotifierStateMachine.AttemptLog.Level) -> Logger.Level {
        switch level {
        case .debug: return .debug
        case .info: return .info
        case .warning: return .warning
        }
    }

    /// Logs and counts what the outbox did: one line per event.
    private func handle(_ changes: [OutboxChange], now: Double) {
        for change in changes {
            switch change {
            case let .queued(record):
                metrics.queued(record.receiver, record.event.rawValue)
                logger.info("notification queued", metadata: Self.metadata(record))
            case let .duplicate(id):
                logger.debug("notification already queued", metadata: ["outbox_id": "\(id)"])
            case let .suppressed(id, reason):
                logger.info("notification not queued", metadata: ["outbox_id": "\(id)", "reason": "\(reason)"])
            case let .cancelled(record, reason):
                metrics.delivery(record.receiver, "cancelled")
                var metadata = Self.metadata(record)
                metadata["reason"] = "\(reason)"
                logger.info("notification cancelled", metadata: metadata)
            case let .delivered(record):
                metrics.delivery(record.receiver, "delivered")
                metrics.latency[record.receiver] = max(0, now - record.createdAt)
            case let .dead(record):
                metrics.delivery(record.receiver, "dead")
                var metadata = Self.metadata(record)
                metadata["error"] = "\(record.lastError ?? "")"
                metadata["attempts"] = "\(record.attempts)"
                if let status = record.lastStatus { metadata["http_status"] = "\(status)" }
                if record.degraded { metadata["degraded"] = "true" }
                logger.error("notification undeliverable", metadata: metadata)
            case let .expired(record):
                metrics.delivery(record.receiver, "expired")
                var metadata = Self.metadata(record)
                metadata["error"] = "\(record.lastError ?? "")"
                metadata["attempts"] = "\(record.attempts)"
                logger.error("notification expired undelivered", metadata: metadata)
            case let .dropped(record):
                metrics.delivery(record.receiver, "dropped")
                var metadata = Self.metadata(record)
                metadata["max_records"] = "\(environment.maxRecords)"
                logger.error("notification dropped: the outbox is full", metadata: metadata)
            case let .escalated(record, failing, reason):
                metrics.queued(record.receiver, record.event.rawValue)
                metrics.escalations[failing, default: 0] += 1
                var metadata = Self.metadata(record)
                metadata["failing_receiver"] = "\(failing)"
                metadata["reason"] = "\(reason)"
                logger.error("delivery failure escalated to another receiver", metadata: metadata)
            }
        }
    }

    private static func metadata(_ record: OutboxRecord) -> Logger.Metadata {
        var metadata: Logger.Metadata = [
            "receiver": "\(record.receiverType.rawValue):\(record.receiver)", "event": "\(record.event.rawValue)",
            "dedup_key": "\(record.dedupKey)", "outbox_id": "\(record.id)",
        ]
        if !record.rule.isEmpty { metadata["rule"] = "\(record.rule)" }
        return metadata
    }

    // MARK: Persistence

    /// Returns once `generation` of the state is on disk: writes it when no write is under way,
    /// else waits for that write to end and looks again.
    private func persist(through generation: Int) async {
        while machine.savedGeneration < generation {
            if let next = machine.startSave() {
                await save(next)
            } else {
                await withCheckedContinuation { continuation in saveWaiters.append(continuation) }
            }
        }
    }

    /// Writes `generation` of the state once; wakes whoever waits for a write to end.
    private func save(_ generation: Int) async {
        var succeeded = true
        if let store {
            let bytes = Array(machine.outbox.encoded(clusterID: config.clusterID, now: clock()).utf8)
            do {
                try await store.save(bytes)
            } catch {
                metrics.persistErrors += 1
                succeeded = false
                logger.error("cannot write the outbox state file; notifications are still sent but would not survive a crash",
                             metadata: ["path": "\(store.path)", "error": "\(error)"])
            }
        }
        machine.saveFinished(generation, succeeded: succeeded)
        let waiters = saveWaiters
        saveWaiters = []
        for waiter in waiters { waiter.resume() }
        // Sends wait for the state that holds them to be on disk, and what changed during the
        // write is written at the next tick.
        signal.signal()
    }

    // MARK: Views

    /// The notifier's metric families (receiver-labelled), for `/metrics`.
    public func metricFamilies() -> [MetricFamily] {
        metrics.families(receivers: config.receivers, outbox: machine.outbox, now: clock())
    }

    /// The outbox for `/alerts`: receivers (secrets as `<secret>`) and records, newest first, without
    /// bodies. `Codable` (snake_case keys), so it can sit in a `JSONEncoder` document.
    public func status() -> OutboxStatus {
        machine.status(now: clock())
    }

    /// A copy of the outbox (for tests and diagnostics).
    public func outboxState() -> OutboxState { machine.outbox }

    // MARK: Test notification

    /// Sends a test notification to `receiver` now, outside the outbox: Slack gets one message,
    /// PagerDuty a trigger and its resolve with key `poolwatch/v1/<cluster>/selftest`.
    ///
    /// - Throws: ``NotifierError`` when no receiver has that name.
    public func testNotification(receiver name: String) async throws(NotifierError) -> TestNotificationResult {
        guard var receiver = config.receiver(named: name) else {
            throw NotifierError("no receiver named \"\(name)\" (configured: \(config.receivers.map(\.name).joined(separator: ", ")))")
        }
        receiver.secret = secrets[name] ?? receiver.secret
        let result = await TestNotification.send(to: receiver, context: environment.payload, sender: sender, now: clock())
        for step in result.steps {
            logger.log(level: step.delivered ? .info : .error, "test notification \(step.delivered ? "delivered" : "failed")", metadata: [
                "receiver": "\(receiver.displayName)", "event": "\(step.event)", "detail": "\(step.detail)",
                "latency_ms": "\(Int(step.latency * 1000))",
            ])
        }
        return result
    }
}
