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
/// ```swift
/// let notifier = try Notifier(config: config.alerting, version: "1.0.0", executor: BlockingExecutor(threads: 2),
///                             logger: logger, publishMetrics: { store.publishExtra("notifier", families: $0) })
/// // add `notifier` to the ServiceGroup; then, from the rule evaluator:
/// await notifier.enqueue(notifications)
/// ```
public actor Notifier: Service {
    public private(set) var config: AlertingConfig
    private(set) var environment: OutboxEnvironment
    private let sender: NotificationSender
    private let executor: any CurlExecutor
    /// Nil without a state directory: the outbox then lives in memory only.
    private let file: OutboxFile?
    /// Whether this notifier opened (and so unlocks) the state directory itself.
    private let ownsDirectory: Bool
    /// True when the outbox may have lost records at start (missing, moved aside, quarantined):
    /// ``reconcile(firing:)`` then queues the triggers of alerts firing now that are not known sent.
    public nonisolated let needsReconcile: Bool
    private let logger: Logger
    private let clock: @Sendable () -> Double
    private let random: @Sendable () -> Double
    private let publish: @Sendable ([MetricFamily]) -> Void

    private var outbox: OutboxState
    private var secrets: [String: Secret]
    private var redactor: SecretRedactor
    /// Token buckets, 429 pauses and the meaning of each answer: decided by a value, performed here.
    private var pacer: DeliveryPacer
    /// Records whose 401/403/404/410 already led to a re-read of the secret file.
    private var secretReloadedFor: Set<String> = []
    /// The last failure signature logged per record, to log a warning only when it changes.
    private var lastFailure: [String: String] = [:]
    private var sending: [String: Task<Void, Never>] = [:]
    private var metrics = NotifierMetrics()

    private var generation = 0
    private var savedGeneration = 0
    private var saving = false
    private var saveFailed = false
    private var saveWaiters: [(generation: Int, continuation: CheckedContinuation<Void, Never>)] = []

    private var stopping = false
    private var crashed = false
    private var waiter: CheckedContinuation<Void, Never>?
    private var wakePending = false
    private var sleepToken = 0
    private var lastHousekeeping = -Double.infinity
    private var lastPublish = -Double.infinity
    private var metricsDirty = true

    /// Test hook (internal): simulate a crash after a receiver answered 2xx, before `DELIVERED` is
    /// persisted, the window in which a duplicate is possible.
    private var crashAfterDeliveredResponse = false

    func crashAfterNextDeliveredResponse() { crashAfterDeliveredResponse = true }

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
        var logger = logger
        logger[metadataKey: "component"] = "notifier"
        let environment = OutboxEnvironment(
            receivers: config.receivers, payload: PayloadContext(clusterID: config.clusterID, clientURL: config.clientURL, version: version),
            policy: policy, maxRecords: config.outboxMaxRecords)
        var opened = directory
        if opened == nil, let path = config.stateDirectory { opened = try StateDirectory(path: path) }
        let file = opened.map(OutboxFile.init(directory:))
        self.ownsDirectory = directory == nil
        self.config = config
        self.environment = environment
        self.file = file
        self.sender = NotificationSender(client: CurlClient(userAgent: "poolwatch/\(version)", executor: executor))
        self.executor = executor
        self.logger = logger
        self.clock = clock
        self.random = random
        self.publish = publishMetrics
        self.secrets = Dictionary(uniqueKeysWithValues: config.receivers.map { ($0.name, $0.secret) })
        self.redactor = SecretRedactor(config.receivers.map(\.secret))
        self.pacer = DeliveryPacer(receivers: config.receivers)

        let now = clock()
        var metrics = NotifierMetrics()
        var outbox = OutboxState()
        var changes: [OutboxChange] = []
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
        changes += outbox.recover(environment: environment, now: now)
        if recordsLost { changes += outbox.cancelOrphanResolves(now: now) }
        if stateLost {
            let text = ":warning: poolwatch lost its alert outbox state (the file was unreadable and was moved aside); "
                + "alerts firing now are announced again; notifications queued before \(AlertText.rfc3339(now, milliseconds: false)) "
                + "for alerts no longer firing may not be delivered"
            let key = DedupKey.notifierFailure(clusterID: config.clusterID, receiver: "state")
            for receiver in config.receivers where receiver.type == .slack {
                let record = outbox.addNotice(to: receiver, dedupKey: key, severity: .warning, line: "alert outbox state lost",
                                              body: SlackPayload.notice(text), degradedBody: SlackPayload.notice(text),
                                              environment: environment, now: now)
                changes.append(.queued(record))
            }
        }
        self.outbox = outbox
        self.metrics = metrics
        for receiver in config.receivers {
            logger.info("notifier receiver", metadata: [
                "receiver": "\(receiver.displayName)", "host": "\(receiver.endpointHost)", "secret": "\(receiver.secretSource)",
                "sha256_8": "\(Sha256.hex(receiver.secret.revealed).prefix(8))", "min_severity": "\(receiver.minSeverity.rawValue)",
                "send_resolved": "\(receiver.sendResolved)",
            ])
        }
        let open = outbox.records.filter(\.state.isOpen).count
        logger.info("notifier outbox loaded", metadata: [
            "path": "\(file?.path ?? "(memory only: no state_dir)")", "pending": "\(open)", "records": "\(outbox.records.count)",
        ])
        // The changes of recovery are logged and persisted when the service starts.
        pendingStartupChanges = changes
    }

    private var pendingStartupChanges: [OutboxChange] = []

    // MARK: Reload

    /// Takes a reloaded `alerting:` section: receivers (added, removed, new secrets, severities, rate
    /// limits), the outbox cap and `client_url`. A receiver whose type and rate limit did not change
    /// keeps its token bucket and any 429 pause; queued records of a removed receiver die with a
    /// reason, as at a restart. The state directory and the cluster id stay (see `ReloadPlan`).
    public func reconfigure(_ new: AlertingConfig) {
        config.receivers = new.receivers
        config.outboxMaxRecords = new.outboxMaxRecords
        config.clientURL = new.clientURL
        environment.receivers = new.receivers
        environment.maxRecords = new.outboxMaxRecords
        environment.payload.clientURL = new.clientURL
        secrets = Dictionary(uniqueKeysWithValues: new.receivers.map { ($0.name, $0.secret) })
        // Old secrets stay known to the redactor: a send in flight may still quote one in its error.
        for receiver in new.receivers { redactor.add(receiver.secret) }
        pacer.reconfigure(new.receivers)
        let now = clock()
        let changes = outbox.retire(environment: environment, now: now)
        handle(changes, now: now)
        markChanged()
        metricsDirty = true
        logger.info("notifier reconfigured", metadata: ["receivers": "\(new.receivers.map(\.displayName).joined(separator: ","))"])
        wake()
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
            let added = outbox.enqueue(notification, environment: environment, now: now)
            if added.isEmpty {
                logger.debug("notification matches no receiver", metadata: [
                    "rule": "\(notification.alertName)", "event": "\(notification.kind.rawValue)", "severity": "\(notification.severity.rawValue)",
                ])
            }
            changes += added
        }
        handle(changes, now: now)
        if changes.contains(where: \.changesState) {
            markChanged()
            await waitUntilSaved()
        }
        wake()
    }

    /// Start-up reconciliation after a loss of outbox state (``needsReconcile``): queues the
    /// triggers of `firing` (the alerts firing now that were announced before the loss, from the rule
    /// engine's restored state) that no receiver is known to have; see
    /// ``OutboxState/reconciliation(firing:environment:)``. Returns once they are durable.
    public func reconcile(firing: [AlertNotification]) async {
        guard needsReconcile, !firing.isEmpty else { return }
        let missing = outbox.reconciliation(firing: firing, environment: environment)
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
        if !pendingStartupChanges.isEmpty { markChanged() }
        pendingStartupChanges = []
        await withGracefulShutdownHandler {
            await self.loop()
        } onGracefulShutdown: {
            Task { await self.shutdown() }
        }
        await drain()
    }

    /// Stops the service (as a graceful shutdown does): no new sends; in-flight ones may finish.
    public func shutdown() {
        stopping = true
        wake()
    }

    private func loop() async {
        while !stopping, !crashed, !Task.isCancelled {
            let now = clock()
            if now - lastHousekeeping >= 1 || now < lastHousekeeping {
                lastHousekeeping = now
                let changes = outbox.housekeeping(environment: environment, now: now) + outbox.retire(environment: environment, now: now)
                if !changes.isEmpty {
                    handle(changes, now: now)
                    markChanged()
                }
                if saveFailed {
                    saveFailed = false
                    markChanged()
                }
            }
            startDueSends(now: now)
            publishMetricsIfDue(now: now)
            await sleep(seconds: nextWake(now: now) - now)
        }
    }

    private func startDueSends(now: Double) {
        // Nothing is sent before the state that contains it is on disk.
        guard savedGeneration == generation, !stopping, !crashed else { return }
        for receiver in environment.receivers where sending[receiver.name] == nil {
            if let until = pacer.pausedUntil[receiver.name], until > now { continue }
            guard let dispatch = outbox.nextDispatch(for: receiver, environment: environment, now: now) else { continue }
            guard pacer.mayStart(receiver.name, now: now) else { continue }
            outbox.begin(dispatch)
            let secret = secrets[receiver.name]!
            let redactor = redactor
            sending[receiver.name] = Task { await self.deliver(dispatch, to: receiver, secret: secret, redactor: redactor) }
        }
    }

    /// When the loop must look again: the earliest due record, pause end or token, the next
    /// housekeeping and metrics publication; never later than 5 s.
    private func nextWake(now: Double) -> Double {
        var next = now + 5
        next = min(next, lastHousekeeping + 1)
        next = min(next, lastPublish + (metricsDirty ? 1 : 15))
        for receiver in environment.receivers where sending[receiver.name] == nil {
            guard var due = outbox.nextDueTime(for: receiver.name) else { continue }
            if due - now > environment.policy.maxScheduleAhead { due = now }
            next = min(next, pacer.earliest(receiver.name, due: due, now: now))
        }
        return next
    }

    // MARK: Delivery

    private func deliver(_ dispatch: OutboxDispatch, to receiver: ReceiverConfig, secret: Secret, redactor: SecretRedactor) async {
        let attempt = await sender.send(body: dispatch.body, to: receiver, secret: secret, redactor: redactor)
        guard !crashed else { return }
        if crashAfterDeliveredResponse, case .delivered = attempt.classification {
            simulateCrash()
            return
        }
        complete(dispatch, receiver: receiver, attempt: attempt)
    }

    private func complete(_ dispatch: OutboxDispatch, receiver: ReceiverConfig, attempt: DeliveryAttempt) {
        let now = clock()
        let name = receiver.name
        sending[name] = nil
        if let status = attempt.status { metrics.response(name, status) }
        if let result = Self.attemptResult(attempt.classification) { metrics.attempt(name, result) }
        let decision = pacer.decide(
            attempt.classification, status: attempt.status, detail: attempt.detail, receiver: receiver, attempt: dispatch.attempt,
            policy: environment.policy, random: random(), mayRereadSecret: !secretReloadedFor.contains(dispatch.recordIDs[0]), now: now)
        var outcome = decision.outcome
        var message = decision.message
        var logLevel: Logger.Level = decision.level == .info ? .info : .warning
        let retryIn = decision.retryIn
        if decision.rereadSecretFirst, case let .file(path) = receiver.secretSource {
            secretReloadedFor.insert(dispatch.recordIDs[0])
            if let fresh = OutboxFile.readSecret(path), fresh != secrets[name]?.revealed {
                secrets[name] = Secret(fresh)
                redactor.add(Secret(fresh))
                outcome = .retry(notBefore: now, status: attempt.status, error: attempt.detail)
                message = "receiver refused the secret; the secret file changed, retrying with the new one"
                logLevel = .info
            }
        }

        var metadata: Logger.Metadata = [
            "receiver": "\(receiver.displayName)", "event": "\(dispatch.event.rawValue)", "dedup_key": "\(dispatch.dedupKey)",
            "attempt": "\(dispatch.attempt)", "outbox_id": "\(dispatch.recordIDs[0])", "latency_ms": "\(Int(attempt.latency * 1000))",
        ]
        if dispatch.isGrouped { metadata["grouped"] = "\(dispatch.recordIDs.count)" }
        if dispatch.degraded { metadata["degraded"] = "true" }
        if let status = attempt.status { metadata["http_status"] = "\(status)" }
        let dies: Bool
        switch outcome {
        case .dead: dies = true
        case .degrade: dies = dispatch.degraded
        default: dies = false
        }
        switch outcome {
        case .delivered:
            logger.info("notification delivered", metadata: metadata)
        case .interrupted:
            logger.log(level: logLevel, "\(message)", metadata: metadata)
        case _ where dies:
            break  // one line per record, from the outbox change below ("notification undeliverable")
        default:
            metadata["error"] = "\(attempt.detail)"
            metadata["error_class"] = "\(Self.errorClass(attempt.classification))"
            if let retryIn { metadata["retry_in_ms"] = "\(Int(retryIn * 1000))" }
            let signature = "\(Self.errorClass(attempt.classification))/\(attempt.status ?? 0)"
            let changed = lastFailure[dispatch.recordIDs[0]] != signature
            lastFailure[dispatch.recordIDs[0]] = signature
            if logLevel == .warning, !changed, dispatch.attempt % 10 != 0 { logLevel = .debug }
            logger.log(level: logLevel, "\(message)", metadata: metadata)
        }
        let changes = outbox.complete(dispatch, outcome: outcome, environment: environment, now: now)
        handle(changes, now: now)
        if case .interrupted = outcome {} else { markChanged() }
        wake()
    }

    /// The `result` an attempt counts as in the notifier's metrics; nil: not counted (aborted by shutdown).
    static func attemptResult(_ classification: DeliveryClassification) -> String? {
        switch classification {
        case .delivered: return "success"
        case .transient, .rateLimited: return "retryable"
        case .rejectedPayload, .permanent: return "fatal"
        case .interrupted: return nil
        }
    }

    static func errorClass(_ classification: DeliveryClassification) -> String {
        switch classification {
        case .delivered: return "none"
        case let .transient(errorClass): return errorClass.rawValue
        case .rateLimited: return DeliveryErrorClass.rateLimited.rawValue
        case .rejectedPayload: return DeliveryErrorClass.client.rawValue
        case let .permanent(errorClass, _): return errorClass.rawValue
        case .interrupted: return "interrupted"
        }
    }

    /// Logs and counts what the outbox did: one line per event.
    private func handle(_ changes: [OutboxChange], now: Double) {
        guard !changes.isEmpty else { return }
        metricsDirty = true
        for change in changes {
            switch change {
            case let .cancelled(record, _), let .delivered(record), let .dead(record), let .expired(record), let .dropped(record):
                lastFailure[record.id] = nil
                secretReloadedFor.remove(record.id)
            default:
                break
            }
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

    private func markChanged() {
        generation += 1
        metricsDirty = true
        scheduleSave()
    }

    private func scheduleSave() {
        guard !saving, !crashed else { return }
        saving = true
        Task { await self.saveLoop() }
    }

    private func saveLoop() async {
        while savedGeneration < generation, !crashed {
            let target = generation
            let bytes = Array(outbox.encoded(clusterID: config.clusterID, now: clock()).utf8)
            do {
                if let file { try await executor.run({ try file.save(bytes) }, onCancel: {}) }
            } catch {
                metrics.persistErrors += 1
                saveFailed = true
                logger.error("cannot write the outbox state file; notifications are still sent but would not survive a crash",
                             metadata: ["path": "\(file?.path ?? "")", "error": "\(error)"])
            }
            guard !crashed else { break }
            savedGeneration = target
            let ready = saveWaiters.filter { $0.generation <= target }
            saveWaiters.removeAll { $0.generation <= target }
            for waiter in ready { waiter.continuation.resume() }
        }
        saving = false
        wake()
    }

    private func waitUntilSaved() async {
        let target = generation
        guard savedGeneration < target, !crashed else { return }
        await withCheckedContinuation { continuation in saveWaiters.append((target, continuation)) }
    }

    // MARK: Shutdown

    private func drain() async {
        stopping = true
        if !crashed {
            let clock = ContinuousClock()
            let deadline = clock.now + .milliseconds(Int64(environment.policy.shutdownGrace * 1000))
            // A cancelled task cannot wait (its sleeps return at once): in-flight sends are aborted.
            while !sending.isEmpty, !crashed, !Task.isCancelled, clock.now < deadline {
                await sleep(seconds: min(0.5, (deadline - clock.now).seconds))
            }
        }
        let tasks = Array(sending.values)
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
        if !crashed {
            markChanged()
            await waitUntilSaved()
            if ownsDirectory { file?.directory.releaseLock() }
            publish(metricFamilies())
        }
        for waiter in saveWaiters { waiter.continuation.resume() }
        saveWaiters = []
        logger.info("notifier stopped", metadata: ["pending": "\(outbox.records.filter(\.state.isOpen).count)"])
    }

    /// Test hook: stop at once as if the process had been killed: nothing more is sent or written,
    /// and the state directory's lock is released for a successor.
    func simulateCrash() {
        crashed = true
        stopping = true
        file?.directory.releaseLock()
        for waiter in saveWaiters { waiter.continuation.resume() }
        saveWaiters = []
        wake()
    }

    // MARK: Waiting

    private func wake() {
        if let waiter {
            self.waiter = nil
            waiter.resume()
        } else {
            wakePending = true
        }
    }

    private func timerFired(_ token: Int) {
        if token == sleepToken, waiter != nil { wake() }
    }

    /// Sleeps up to `seconds`, or until ``wake()`` is called or the task is cancelled.
    private func sleep(seconds: Double) async {
        if wakePending {
            wakePending = false
            return
        }
        sleepToken += 1
        let token = sleepToken
        let timer = Task {
            try? await Task.sleep(for: .milliseconds(Int64(max(1, seconds * 1000))))
            self.timerFired(token)
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                if wakePending || Task.isCancelled {
                    wakePending = false
                    continuation.resume()
                } else {
                    waiter = continuation
                }
            }
        } onCancel: {
            Task { await self.wake() }
        }
        wakePending = false
        timer.cancel()
    }


    // MARK: Views

    private func publishMetricsIfDue(now: Double) {
        guard now - lastPublish >= (metricsDirty ? 1 : 15) || now < lastPublish else { return }
        lastPublish = now
        metricsDirty = false
        publish(metricFamilies())
    }

    /// The notifier's metric families (receiver-labelled), for `/metrics`.
    public func metricFamilies() -> [MetricFamily] {
        metrics.families(receivers: config.receivers, outbox: outbox, now: clock())
    }

    /// The outbox for `/alerts`: receivers (secrets as `<secret>`) and records, newest first, without
    /// bodies. `Codable` (snake_case keys), so it can sit in a `JSONEncoder` document.
    public func status() -> OutboxStatus {
        outbox.status(environment: environment, now: clock(), pausedUntil: pacer.pausedUntil)
    }

    /// ``status()`` as JSON text.
    public func statusJSON() -> String { status().json.text }

    /// A copy of the outbox (for tests and diagnostics).
    public func outboxState() -> OutboxState { outbox }

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

/// What `poolwatch test-notification --receiver NAME` reports.
public struct TestNotificationResult: Sendable, CustomStringConvertible {
    public struct Step: Sendable {
        /// `message` (Slack), `trigger` or `resolve` (PagerDuty).
        public var event: String
        public var delivered: Bool
        public var status: Int?
        /// `HTTP 202: Event processed`, `timeout: …` (secret-free).
        public var detail: String
        public var latency: Double
    }

    public var receiver: String
    public var steps: [Step]

    public var succeeded: Bool { !steps.isEmpty && steps.allSatisfy(\.delivered) }

    public var description: String {
        steps.map { "\(receiver) \($0.event): \($0.delivered ? "delivered" : "FAILED") (\($0.detail), \(Int($0.latency * 1000)) ms)" }
            .joined(separator: "\n")
    }
}

/// Sending a test notification, usable without a running notifier (the CLI command needs no state
/// directory): build a ``NotificationSender`` and call ``send(to:context:sender:now:)``.
public enum TestNotification {
    public static func send(to receiver: ReceiverConfig, context: PayloadContext, sender: NotificationSender, now: Double) async
        -> TestNotificationResult
    {
        let redactor = SecretRedactor([receiver.secret])
        var steps: [TestNotificationResult.Step] = []
        func step(_ event: String, _ body: OrderedJSON) async -> Bool {
            let attempt = await sender.send(body: body.text, to: receiver, secret: receiver.secret, redactor: redactor)
            let delivered = attempt.classification == .delivered
            steps.append(.init(event: event, delivered: delivered, status: attempt.status, detail: attempt.detail, latency: attempt.latency))
            return delivered
        }
        switch receiver.type {
        case .slack:
            let text = ":white_check_mark: poolwatch test notification for receiver \(SlackPayload.escape(receiver.name)) "
                + "(cluster \(SlackPayload.escape(context.clusterID))): Slack delivery works."
            _ = await step("message", SlackPayload.notice(text))
        case .pagerduty:
            let key = DedupKey.selfTest(clusterID: context.clusterID)
            let summary = "poolwatch test notification for receiver \(receiver.name) (cluster \(context.clusterID)); resolves itself"
            let trigger = PagerDutyPayload.notice(action: .trigger, dedupKey: key, summary: summary, severity: .info, at: now,
                                                  details: nil, context: context)
            if await step("trigger", trigger) {
                let resolve = PagerDutyPayload.notice(action: .resolve, dedupKey: key, summary: summary, severity: .info, at: now,
                                                      details: nil, context: context)
                _ = await step("resolve", resolve)
            }
        }
        return TestNotificationResult(receiver: receiver.displayName, steps: steps)
    }
}
