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

/// The outbox state file `<state_dir>/outbox.json`, written atomically and durably: write
/// `outbox.json.tmp`, `fsync` it, `rename` it over `outbox.json`, `fsync` the directory.
///
/// The directory is locked (`flock` on `outbox.lock`) for the notifier's lifetime, so two poolwatch
/// processes can never interleave their writes to one outbox.
final class OutboxFile: Sendable {
    let directory: String
    let path: String
    /// The lock file's descriptor (-1 once released). A `Mutex`, so release and `deinit` cannot race.
    private let lock: Mutex<Int32>
    /// Serializes writers: two saves never share the temp file.
    private let writing = Mutex<Void>(())

    static let fileName = "outbox.json"
    static let maxFileSize = 64 << 20

    /// Creates the directory if needed and locks it.
    init(directory: String) throws(NotifierError) {
        self.directory = directory
        self.path = directory.hasSuffix("/") ? directory + Self.fileName : directory + "/" + Self.fileName
        try Self.makeDirectories(directory)
        let lockPath = (directory.hasSuffix("/") ? directory : directory + "/") + "outbox.lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw NotifierError("cannot open \(lockPath): \(Self.errnoText())") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let reason = errno == EWOULDBLOCK ? "another poolwatch process uses this state_dir" : Self.errnoText()
            close(fd)
            throw NotifierError("cannot lock \(lockPath): \(reason)")
        }
        lock = Mutex(fd)
    }

    deinit { releaseLock() }

    /// Unlocks the directory (at shutdown, or when a test simulates a crash).
    func releaseLock() {
        lock.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    private static func makeDirectories(_ directory: String) throws(NotifierError) {
        var current = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            current += "/" + component
            if mkdir(current, 0o750) != 0, errno != EEXIST {
                throw NotifierError("cannot create the state directory \(current): \(errnoText())")
            }
        }
        var info = stat()
        guard stat(directory, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR else {
            throw NotifierError("the state directory \(directory) is not a directory")
        }
    }

    static func errnoText(_ code: Int32 = errno) -> String { String(cString: strerror(code)) }

    enum Loaded {
        case missing
        case contents([UInt8])
    }

    /// Reads the state file.
    func load() throws(NotifierError) -> Loaded {
        guard let bytes = try wrap({ () throws(StateFile.Failure) in try StateFile.read(path, limit: Self.maxFileSize) }) else { return .missing }
        return .contents(bytes)
    }

    /// Renames the state file to `outbox.json.corrupt-<unix seconds>` and returns the new path.
    func moveAside(now: Double) throws(NotifierError) -> String {
        try wrap { () throws(StateFile.Failure) in try StateFile.moveAside(path, now: now) }
    }

    /// Replaces the state file with `bytes`, durably. Writers are serialized (one temp file).
    func save(_ bytes: [UInt8]) throws(NotifierError) {
        try writing.withLock { _ throws(NotifierError) in
            try wrap { () throws(StateFile.Failure) in try StateFile.write(bytes, to: path) }
        }
    }

    private func wrap<T>(_ body: () throws(StateFile.Failure) -> T) throws(NotifierError) -> T {
        do {
            return try body()
        } catch {
            throw NotifierError(error.description)
        }
    }

    /// A secret file's trimmed content (for re-reading after a rotation), or nil.
    static func readSecret(_ path: String) -> String? {
        guard let bytes = try? StateFile.read(path, limit: 1 << 16) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let trimmed = text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()
        return trimmed.isEmpty ? nil : String(trimmed)
    }
}

/// Crash-safe small state files: the write protocol of alert-delivery.md §9.7.
///
/// ``write(_:to:)`` writes `<path>.tmp`, `fsync`s it, `rename`s it over `<path>` and `fsync`s the
/// directory, so after a crash at any point the file holds the old or the new content, never a mix.
/// Concurrent writers of one path must be serialized by the caller (they share the temp file).
public enum StateFile {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
        init(_ what: String, code: Int32 = errno) { description = "\(what): \(String(cString: strerror(code)))" }
        init(message: String) { description = message }
    }

    /// Replaces `path` with `bytes` durably (mode 0600).
    public static func write(_ bytes: [UInt8], to path: String) throws(Failure) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure("cannot create \(temporary)") }
        func abandon(_ what: String) -> Failure {
            let failure = Failure(what)
            close(fd)
            unlink(temporary)
            return failure
        }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
            if written < 0 {
                if errno == EINTR { continue }
                throw abandon("cannot write \(temporary)")
            }
            offset += written
        }
        guard fsync(fd) == 0 else { throw abandon("cannot fsync \(temporary)") }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let failure = Failure("cannot rename \(temporary) to \(path)")
            unlink(temporary)
            throw failure
        }
        syncDirectory(of: path)
    }

    /// The whole file (at most `limit` bytes), or nil when it does not exist.
    public static func read(_ path: String, limit: Int = 64 << 20) throws(Failure) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw Failure("cannot open \(path)")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { systemRead(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw Failure("cannot read \(path)")
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > limit { throw Failure(message: "\(path) is larger than \(limit) bytes") }
        }
    }

    /// Renames an unreadable file to `<path>.corrupt-<unix seconds>` (never overwriting an earlier
    /// one), keeping it for a post-mortem, and returns the new path.
    public static func moveAside(_ path: String, now: Double, reason: String = "corrupt") throws(Failure) -> String {
        var target = "\(path).\(reason)-\(Int64(now))"
        var suffix = 1
        while access(target, F_OK) == 0 {
            target = "\(path).\(reason)-\(Int64(now))-\(suffix)"
            suffix += 1
        }
        guard rename(path, target) == 0 else { throw Failure("cannot rename \(path) to \(target)") }
        syncDirectory(of: path)
        return target
    }

    /// Makes a rename in `path`'s directory durable. Best effort: the file itself is already there.
    static func syncDirectory(of path: String) {
        let directory = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }
}

// `StateFile.read`/`write` shadow the C functions inside the enum.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer?, _ count: Int) -> Int { read(fd, buffer, count) }
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int { write(fd, buffer, count) }

/// Wall-clock seconds since the epoch, for persisted timestamps and payloads.
public enum NotifierClock {
    public static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
