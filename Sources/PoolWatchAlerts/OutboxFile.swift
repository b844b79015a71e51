import PoolWatchCore
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A problem of the notifier's own: the state directory, the state file, an unknown receiver.
/// Messages name paths and receivers, never secrets.
public struct NotifierError: Error, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// poolwatch's state directory (`alerting.state_dir`): opened once, checked, locked, and the only way
/// to its files.
///
/// - The directory must belong to the process's user and must not be writable by group or others:
///   anyone who can write it could plant a symlink or swap a file under poolwatch.
/// - Every file is opened relative to the directory's descriptor (`openat`) with `O_NOFOLLOW`, and a
///   temp file is created with `O_EXCL` after removing a stale one, so a symlink planted at
///   `alerts.json.tmp` or `outbox.lock` is refused or removed, never written through.
/// - `flock` on `outbox.lock` for the process's lifetime: a second poolwatch on the same directory
///   fails at start (the lock file holds the owner's pid, for the message).
public final class StateDirectory: Sendable {
    public let path: String
    /// The directory's descriptor; closed in `deinit`.
    let descriptor: Int32
    /// The lock file's descriptor (-1 once released). A `Mutex`, so release and `deinit` cannot race.
    private let lock: Mutex<Int32>

    public static let lockName = "outbox.lock"

    /// Creates the directory if needed (mode 0700), checks its owner and mode, and locks it.
    public init(path given: String) throws(NotifierError) {
        let path = given.count > 1 && given.hasSuffix("/") ? String(given.dropLast()) : given
        self.path = path
        try Self.makeDirectories(path)
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw NotifierError("cannot open the state directory \(path): \(Self.errnoText())") }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let failure = NotifierError("cannot stat the state directory \(path): \(Self.errnoText())")
            close(fd)
            throw failure
        }
        if let problem = Self.ownershipProblem(path: path, owner: info.st_uid, mode: info.st_mode, user: geteuid()) {
            close(fd)
            throw NotifierError(problem)
        }
        descriptor = fd
        let lockPath = path + "/" + Self.lockName
        let lockFD = openat(fd, Self.lockName, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard lockFD >= 0 else {
            let failure = NotifierError("cannot open \(lockPath): \(StateFile.describe(errno))")
            close(fd)
            throw failure
        }
        guard flock(lockFD, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            var reason = Self.errnoText(code)
            if code == EWOULDBLOCK {
                let owner = (try? StateFile.read(Self.lockName, in: fd, display: lockPath, limit: 64)).flatMap { $0 }
                    .map { String(decoding: $0, as: UTF8.self).filter(\.isNumber) } ?? ""
                reason = "another poolwatch process\(owner.isEmpty ? "" : " (pid \(owner))") uses this state_dir"
            }
            close(lockFD)
            close(fd)
            throw NotifierError("cannot lock \(lockPath): \(reason)")
        }
        // Our pid, for the message of a second instance. Best effort: the lock is what counts.
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(lockFD, 0) == 0 { _ = pid.withUnsafeBytes { pwrite(lockFD, $0.baseAddress, $0.count, 0) } }
        lock = Mutex(lockFD)
    }

    deinit {
        releaseLock()
        close(descriptor)
    }

    /// Unlocks the directory (at shutdown, or when a test simulates a crash).
    public func releaseLock() {
        lock.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    /// Why the directory must not be used, with the fix; nil when it is fine.
    static func ownershipProblem(path: String, owner: uid_t, mode: mode_t, user: uid_t) -> String? {
        if owner != user {
            return "the state directory \(path) is owned by uid \(owner), not by this process's uid \(user): "
                + "run `chown \(user) \(path)` or choose another state_dir"
        }
        if mode & 0o022 != 0 {
            return "the state directory \(path) is writable by group or others (mode \(String(mode & 0o7777, radix: 8))): "
                + "run `chmod 0700 \(path)`"
        }
        return nil
    }

    private static func makeDirectories(_ directory: String) throws(NotifierError) {
        var current = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o700) != 0, errno != EEXIST {
                throw NotifierError("cannot create the state directory \(current): \(errnoText())")
            }
        }
    }

    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    /// The path of `name` in this directory, for messages.
    public func filePath(_ name: String) -> String { path + "/" + name }

    /// `name`'s content (at most `limit` bytes), or nil when it does not exist.
    public func read(_ name: String, limit: Int = 64 << 20) throws(StateFile.Failure) -> [UInt8]? {
        try StateFile.read(name, in: descriptor, display: filePath(name), limit: limit)
    }

    /// Replaces `name` with `bytes` durably (mode 0600). Writers of one name must be serialized.
    public func write(_ bytes: [UInt8], to name: String) throws(StateFile.Failure) {
        try StateFile.write(bytes, to: name, in: descriptor, display: filePath(name))
    }

    /// Renames `name` to `<name>.<reason>-<unix seconds>` and returns the new path.
    public func moveAside(_ name: String, now: Double, reason: String = "corrupt") throws(StateFile.Failure) -> String {
        try StateFile.moveAside(name, in: descriptor, display: path, now: now, reason: reason)
    }
}

/// The outbox state file `<state_dir>/outbox.json`, written atomically and durably through its
/// ``StateDirectory``: write `outbox.json.tmp`, `fsync` it, `rename` it over `outbox.json`, `fsync`
/// the directory.
final class OutboxFile: Sendable {
    let directory: StateDirectory
    let path: String
    /// Serializes writers: two saves never share the temp file.
    private let writing = Mutex<Void>(())

    static let fileName = "outbox.json"
    static let quarantineName = "outbox.quarantine.json"
    static let maxFileSize = 64 << 20

    init(directory: StateDirectory) {
        self.directory = directory
        self.path = directory.filePath(Self.fileName)
    }

    enum Loaded {
        case missing
        case contents([UInt8])
    }

    /// Reads the state file. A failure to read (permissions, I/O) is an error that says what failed,
    /// not a corrupt file: nothing is moved aside.
    func load() throws(NotifierError) -> Loaded {
        guard let bytes = try wrap({ () throws(StateFile.Failure) in try directory.read(Self.fileName, limit: Self.maxFileSize) }) else {
            return .missing
        }
        return .contents(bytes)
    }

    /// Renames the state file to `outbox.json.corrupt-<unix seconds>` and returns the new path.
    func moveAside(now: Double) throws(NotifierError) -> String {
        try wrap { () throws(StateFile.Failure) in try directory.moveAside(Self.fileName, now: now) }
    }

    /// Appends `entries` to `outbox.quarantine.json` (0600) and returns its path.
    func quarantine(_ entries: [QuarantinedEntry], now: Double) throws(NotifierError) -> String {
        try writing.withLock { _ throws(NotifierError) in
            try wrap { () throws(StateFile.Failure) in
                var existing: JSONValue?
                if let bytes = try directory.read(Self.quarantineName, limit: Self.maxFileSize) {
                    existing = try? JSONValue.parse(bytes)
                    // Unreadable earlier quarantine: kept aside rather than overwritten.
                    if existing == nil { _ = try directory.moveAside(Self.quarantineName, now: now) }
                }
                let text = QuarantinedEntry.document(appending: entries, to: existing, file: Self.fileName, now: now)
                try directory.write(Array(text.utf8), to: Self.quarantineName)
            }
            return directory.filePath(Self.quarantineName)
        }
    }

    /// Replaces the state file with `bytes`, durably. Writers are serialized (one temp file).
    func save(_ bytes: [UInt8]) throws(NotifierError) {
        try writing.withLock { _ throws(NotifierError) in
            try wrap { () throws(StateFile.Failure) in try directory.write(bytes, to: Self.fileName) }
        }
    }

    private func wrap<T>(_ body: () throws(StateFile.Failure) -> T) throws(NotifierError) -> T {
        do {
            return try body()
        } catch {
            throw NotifierError(error.description)
        }
    }

    /// A secret file's trimmed content (for re-reading after a rotation), or nil. Follows symlinks on
    /// purpose: mounted secrets (Kubernetes, systemd credentials) are links. A file others may read or
    /// write is refused, as at start (`SecretFileMode`): a rotation must not loosen what was checked.
    static func readSecret(_ path: String) -> String? {
        guard let status = FileStatus.of(path),
              SecretFileMode.problem(path: path, mode: status.mode, ownedByRoot: status.ownedByRoot) == nil,
              let bytes = try? StateFile.read(path, limit: 1 << 16) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let trimmed = text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()
        return trimmed.isEmpty ? nil : String(trimmed)
    }
}

/// Crash-safe small state files: the write protocol of docs/alert-delivery.md §10.
///
/// ``write(_:to:in:display:)`` writes `<name>.tmp`, `fsync`s it, `rename`s it over `<name>` and
/// `fsync`s the directory, so after a crash at any point the file holds the old or the new content,
/// never a mix. Names are resolved relative to a directory descriptor and never through a symlink.
/// Concurrent writers of one name must be serialized by the caller (they share the temp file).
public enum StateFile {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ what: String, code: Int32 = errno) { description = "\(what): \(StateFile.describe(code))" }
        init(message: String) { description = message }
    }

    /// `strerror`, with what `ELOOP` means here.
    static func describe(_ code: Int32) -> String {
        let text = String(cString: strerror(code))
        return code == ELOOP ? text + " (it is a symlink; poolwatch does not follow links in its state_dir)" : text
    }

    /// Replaces `name` in the directory `directory` with `bytes` durably (mode 0600). `display`:
    /// the file's path, for messages.
    public static func write(_ bytes: [UInt8], to name: String, in directory: Int32, display: String) throws(Failure) {
        let temporary = name + ".tmp"
        // A stale temp file (a crash mid-write), or a link planted in its place: removed, not followed.
        if unlinkat(directory, temporary, 0) != 0, errno != ENOENT { throw Failure("cannot remove the stale \(display).tmp") }
        let fd = openat(directory, temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure("cannot create \(display).tmp") }
        func abandon(_ what: String) -> Failure {
            let failure = Failure(what)
            close(fd)
            unlinkat(directory, temporary, 0)
            return failure
        }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw abandon("cannot write \(display).tmp")
            }
            offset += written
        }
        guard fsync(fd) == 0 else { throw abandon("cannot fsync \(display).tmp") }
        close(fd)
        guard renameat(directory, temporary, directory, name) == 0 else {
            let failure = Failure("cannot rename \(display).tmp to \(display)")
            unlinkat(directory, temporary, 0)
            throw failure
        }
        fsync(directory)
    }

    /// The whole file `name` (at most `limit` bytes), or nil when it does not exist. A symlink is an
    /// error, not followed.
    public static func read(_ name: String, in directory: Int32, display: String, limit: Int = 64 << 20) throws(Failure) -> [UInt8]? {
        try readAll(openat(directory, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), display: display, limit: limit)
    }

    /// The whole file at `path` (at most `limit` bytes), or nil when it does not exist. Follows
    /// symlinks: for files poolwatch only reads (secrets).
    public static func read(_ path: String, limit: Int = 64 << 20) throws(Failure) -> [UInt8]? {
        try readAll(open(path, O_RDONLY | O_CLOEXEC), display: path, limit: limit)
    }

    private static func readAll(_ fd: Int32, display: String, limit: Int) throws(Failure) -> [UInt8]? {
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw Failure("cannot open \(display)")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure("cannot read \(display)")
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > limit { throw Failure(message: "\(display) is larger than \(limit) bytes") }
        }
    }

    /// Renames an unreadable file to `<name>.<reason>-<unix seconds>` (never overwriting an earlier
    /// one), keeping it for a post-mortem, and returns the new path (`display` is the directory).
    public static func moveAside(_ name: String, in directory: Int32, display: String, now: Double, reason: String = "corrupt")
        throws(Failure) -> String
    {
        var target = "\(name).\(reason)-\(Int64(now))"
        var suffix = 1
        var info = stat()
        while fstatat(directory, target, &info, AT_SYMLINK_NOFOLLOW) == 0 {
            target = "\(name).\(reason)-\(Int64(now))-\(suffix)"
            suffix += 1
        }
        guard renameat(directory, name, directory, target) == 0 else {
            throw Failure("cannot rename \(display)/\(name) to \(display)/\(target)")
        }
        fsync(directory)
        return display + "/" + target
    }
}

// `StateFile.read`/`write` shadow the C functions inside the enum.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }
