#if canImport(Glibc)
import Glibc
#endif

/// `stat(2)` of a path: the one system call Core makes, for the TLS certificate watcher and the
/// notifier's re-read of a rotated secret file. It lives here
/// because Core does not link NIO: in a module that does, `struct stat` resolves through NIO's internal
/// C module and a release build refuses it (member import visibility).
public enum FileStatus {
    public struct Result: Sendable, Equatable {
        public var device: UInt64, inode: UInt64, size: Int64, mtimeSeconds: Int, mtimeNanoseconds: Int
        public var mode: UInt32 = 0, ownedByRoot = false
    }

    public static func of(_ path: String) -> Result? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return Result(device: UInt64(status.st_dev), inode: UInt64(status.st_ino), size: Int64(status.st_size),
                      mtimeSeconds: Int(status.st_mtim.tv_sec), mtimeNanoseconds: Int(status.st_mtim.tv_nsec),
                      mode: UInt32(status.st_mode), ownedByRoot: status.st_uid == 0)
    }
}
