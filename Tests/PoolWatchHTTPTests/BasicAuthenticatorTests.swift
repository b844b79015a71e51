import HummingbirdBcrypt
import PoolWatchCore
@testable import PoolWatchHTTP
import Synchronization
import Testing

@Suite struct BasicAuthenticatorTests {
    static func header(_ user: String, _ password: String) -> String {
        "Basic " + base64(Array("\(user):\(password)".utf8))
    }

    static func base64(_ bytes: [UInt8]) -> String {
        let table = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
        var text = ""
        for start in stride(from: 0, to: bytes.count, by: 3) {
            let chunk = Array(bytes[start..<min(start + 3, bytes.count)]) + [0, 0]
            let value = Int(chunk[0]) << 16 | Int(chunk[1]) << 8 | Int(chunk[2])
            let count = min(3, bytes.count - start) + 1
            for index in 0..<4 { text.append(index < count ? table[(value >> (18 - 6 * index)) & 63] : "=") }
        }
        return text
    }

    @Test func rightWrongAndUnknown() async {
        let auth = BasicAuthenticator(users: ["alice": Secret(Bcrypt.hash("s3cret", cost: 4))])
        #expect(await auth.check(authorization: Self.header("alice", "s3cret")))
        #expect(await auth.check(authorization: Self.header("alice", "s3cret")))  // from the cache
        #expect(!(await auth.check(authorization: Self.header("alice", "s3creT"))))
        #expect(!(await auth.check(authorization: Self.header("mallory", "s3cret"))))
        #expect(!(await auth.check(authorization: nil)))
        #expect(!(await auth.check(authorization: "Basic !!")))
    }

    @Test func aChangedHashForgetsTheCachedPassword() async {
        let auth = BasicAuthenticator(users: ["alice": Secret(Bcrypt.hash("old", cost: 4))])
        #expect(await auth.check(authorization: Self.header("alice", "old")))
        auth.update(users: ["alice": Secret(Bcrypt.hash("new", cost: 4))])
        #expect(!(await auth.check(authorization: Self.header("alice", "old"))))
        #expect(await auth.check(authorization: Self.header("alice", "new")))
    }

    /// An unknown user pays one bcrypt of the same cost as a wrong password (cost 10, like
    /// htpasswd -B -C 10), and a cached right password pays none: counted, not timed (a timing
    /// comparison failed on a busy machine).
    @Test func unknownUserCostsAsMuchAsAWrongPassword() async {
        let aliceHash = Bcrypt.hash("s3cret", cost: 10)
        let checked = Mutex<[String]>([])
        let auth = BasicAuthenticator(users: ["alice": Secret(aliceHash)]) { password, hash in
            checked.withLock { $0.append(hash) }
            return Bcrypt.verify(password, hash: hash)
        }
        func hashesChecked(_ header: String) async -> [String] {
            checked.withLock { $0 = [] }
            _ = await auth.check(authorization: header)
            return checked.withLock { $0 }
        }
        #expect(await hashesChecked(Self.header("alice", "s3cret")) == [aliceHash])
        #expect(await hashesChecked(Self.header("alice", "wrong")) == [aliceHash])
        #expect(await hashesChecked(Self.header("mallory", "wrong")) == [BasicAuthenticator.dummyHash])
        #expect(await hashesChecked(Self.header("alice", "s3cret")).isEmpty, "remembered: no bcrypt")
        // The same work: bcrypt's cost is the two digits after the version.
        #expect(BasicAuthenticator.dummyHash.dropFirst(4).prefix(2) == aliceHash.dropFirst(4).prefix(2))
        #expect(BasicAuthenticator.dummyHash.hasPrefix("$2b$10$") || BasicAuthenticator.dummyHash.hasPrefix("$2a$10$")
                || BasicAuthenticator.dummyHash.hasPrefix("$2y$10$"))
    }
}
