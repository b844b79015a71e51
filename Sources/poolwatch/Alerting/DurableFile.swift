#if canImport(Glibc)
import Glibc
#endif

/// Crash-safe replacement of a small state file: write a temp file, fsync it, rename it over the old
/// one, fsync the directory. After a crash at any point the file holds either the old or the new
/// content, never a torn mix.
enum DurableFile {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    static func write(_ bytes: [UInt8], to path: String) throws {
        let directory = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("open \(temporary)") }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                close(fd)
                throw failure("write \(temporary)")
            }
            written += result
        }
        guard fsync(fd) == 0 else {
            close(fd)
            throw failure("fsync \(temporary)")
        }
        close(fd)
        guard rename(temporary, path) == 0 else { throw failure("rename \(temporary) to \(path)") }
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            _ = fsync(dirfd)
            close(dirfd)
        }
    }

    /// The file's bytes, or nil if it does not exist.
    static func read(_ path: String) throws -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw failure("open \(path)")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = Glibc.read(fd, &buffer, buffer.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw failure("read \(path)")
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return bytes
    }

    /// Moves a file that cannot be parsed out of the way, keeping it for a post-mortem.
    static func quarantine(_ path: String, now: Double) -> String {
        let aside = "\(path).corrupt-\(Int(now))"
        _ = rename(path, aside)
        return aside
    }

    private static func failure(_ what: String) -> Failure {
        Failure(description: "\(what): \(String(cString: strerror(errno)))")
    }
}
