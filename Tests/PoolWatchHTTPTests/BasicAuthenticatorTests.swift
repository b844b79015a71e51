import HummingbirdBcrypt
import PoolWatchCore
import PoolWatchHTTP
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

    /// An unknown user pays a bcrypt of the same cost as a wrong password (cost 10, like htpasswd -B -C 10);
    /// a cached right password costs far less.
    @Test func unknownUserCostsAsMuchAsAWrongPassword() async {
        let auth = BasicAuthenticator(users: ["alice": Secret(Bcrypt.hash("s3cret", cost: 10))])
        let clock = ContinuousClock()
        func time(_ header: String) async -> Duration {
            var best = Duration.seconds(100)
            for _ in 0..<3 {
                let start = clock.now
                _ = await auth.check(authorization: header)
                best = min(best, clock.now - start)
            }
            return best
        }
        _ = await auth.check(authorization: Self.header("alice", "s3cret"))
        let wrong = await time(Self.header("alice", "wrong"))
        let unknown = await time(Self.header("mallory", "wrong"))
        let cached = await time(Self.header("alice", "s3cret"))
        #expect(unknown > wrong / 2 && unknown < wrong * 2, "wrong password \(wrong), unknown user \(unknown)")
        #expect(cached < wrong / 10, "cached \(cached), bcrypt \(wrong)")
    }
}
