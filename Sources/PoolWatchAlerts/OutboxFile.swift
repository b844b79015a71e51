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
        guard let bytes = try Self.readAll(path, limit: Self.maxFileSize) else { return .missing }
        return .contents(bytes)
    }

    /// The whole file, or nil when it does not exist.
    static func readAll(_ path: String, limit: Int) throws(NotifierError) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw NotifierError("cannot open \(path): \(errnoText())")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw NotifierError("cannot read \(path): \(errnoText())")
            }
            if count == 0 { return bytes }
            bytes.append(contentsOf: chunk[..<count])
            if bytes.count > limit { throw NotifierError("\(path) is larger than \(limit) bytes") }
        }
    }

    /// Renames the state file to `outbox.json.corrupt-<unix seconds>` and returns the new path.
    func moveAside(now: Double, reason: String = "corrupt") throws(NotifierError) -> String {
        var target = "\(path).\(reason)-\(Int64(now))"
        var suffix = 1
        while access(target, F_OK) == 0 {
            target = "\(path).\(reason)-\(Int64(now))-\(suffix)"
            suffix += 1
        }
        guard rename(path, target) == 0 else { throw NotifierError("cannot rename \(path) to \(target): \(Self.errnoText())") }
        syncDirectory()
        return target
    }

    /// Replaces the state file with `bytes`, durably.
    func save(_ bytes: [UInt8]) throws(NotifierError) {
        try writing.withLock { _ throws(NotifierError) in
            let temporary = path + ".tmp"
            let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw NotifierError("cannot create \(temporary): \(Self.errnoText())") }
            var offset = 0
            while offset < bytes.count {
                let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                if written < 0 {
                    if errno == EINTR { continue }
                    let reason = Self.errnoText()
                    close(fd)
                    unlink(temporary)
                    throw NotifierError("cannot write \(temporary): \(reason)")
                }
                offset += written
            }
            if fsync(fd) != 0 {
                let reason = Self.errnoText()
                close(fd)
                unlink(temporary)
                throw NotifierError("cannot fsync \(temporary): \(reason)")
            }
            close(fd)
            guard rename(temporary, path) == 0 else {
                let reason = Self.errnoText()
                unlink(temporary)
                throw NotifierError("cannot rename \(temporary) to \(path): \(reason)")
            }
            syncDirectory()
        }
    }

    /// Makes a rename durable. Best effort: a directory that cannot be opened still has the file.
    private func syncDirectory() {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        fsync(fd)
        close(fd)
    }

    /// A secret file's trimmed content (for re-reading after a rotation), or nil.
    static func readSecret(_ path: String) -> String? {
        guard let bytes = try? readAll(path, limit: 1 << 16) else { return nil }
        let text = String(decoding: bytes, as: UTF8.self)
        let trimmed = text.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed()
        return trimmed.isEmpty ? nil : String(trimmed)
    }
}

/// Wall-clock seconds since the epoch, for persisted timestamps and payloads.
public enum NotifierClock {
    public static func now() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) / 1e9
    }
}
