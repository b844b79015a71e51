import HummingbirdBcrypt
import Hummingbird
import NIOPosix
import PoolWatchCore
import Synchronization

/// Checks basic-auth credentials against the bcrypt hashes of `basic_auth_users`.
///
/// A bcrypt check costs tens of milliseconds of CPU by design, so it runs on NIO's blocking thread pool,
/// never on an event loop or the cooperative pool; a password that passed once is remembered
/// (`VerifiedPasswords`) so Prometheus's scrapes every few seconds cost a constant-time compare. A user
/// that does not exist is checked against a dummy hash of the same cost, so a wrong user name takes as
/// long as a wrong password and the answer's timing does not tell which users exist.
public final class BasicAuthenticator: Sendable {
    private struct State {
        var users: [String: Secret]
        var verified = VerifiedPasswords()
    }
    private let state: Mutex<State>
    /// bcrypt's check (injected so tests can count what a request pays without timing it).
    private let verify: @Sendable (_ password: String, _ hash: String) -> Bool

    /// A hash of a random password nobody knows, cost 10 like `htpasswd -nBC 10`; compared against for
    /// unknown users. A user hashed with a higher cost still answers in the time of that cost: the
    /// difference says only that the cost differs, which the hash's owner chose.
    static let dummyHash = Bcrypt.hash("poolwatch dummy \(UInt64.random(in: 0...UInt64.max))", cost: 10)

    public init(users: [String: Secret],
                verify: @escaping @Sendable (_ password: String, _ hash: String) -> Bool = { Bcrypt.verify($0, hash: $1) }) {
        state = Mutex(State(users: users))
        self.verify = verify
    }

    /// Replaces the users (a reloaded web config); passwords verified against unchanged hashes stay known.
    public func update(users: [String: Secret]) {
        state.withLock {
            $0.users = users
            $0.verified.keep(users: Set(users.keys))
        }
    }

    public var isEnabled: Bool { state.withLock { !$0.users.isEmpty } }

    /// True if the `Authorization` header names a configured user with the right password.
    public func check(authorization: String?) async -> Bool {
        guard let (user, password) = BasicAuthPolicy.credentials(authorization: authorization) else { return false }
        let (hash, known) = state.withLock { state -> (String?, Bool) in
            let hash = state.users[user]?.revealed
            return (hash, hash.map { state.verified.contains(user: user, password: password, hash: $0) } ?? false)
        }
        if known { return true }
        let text = String(decoding: password, as: UTF8.self)
        let verify = verify
        let matches = (try? await NIOThreadPool.singleton.runIfActive {
            verify(text, hash ?? Self.dummyHash)
        }) ?? false
        guard matches, let hash else { return false }
        state.withLock { $0.verified.remember(user: user, password: password, hash: hash) }
        return true
    }
}

/// Answers 401 with `WWW-Authenticate: Basic` unless the request carries valid credentials; the paths
/// of `BasicAuthPolicy.exemptPaths` pass without. Added after `SecurityHeadersMiddleware`, so a 401
/// gets the same security headers as every other answer.
public struct BasicAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let authenticator: BasicAuthenticator

    public init(authenticator: BasicAuthenticator) {
        self.authenticator = authenticator
    }

    public func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let enabled = authenticator.isEnabled
        guard BasicAuthPolicy.requiresCredentials(path: request.uri.path, userCount: enabled ? 1 : 0) else {
            return try await next(request, context)
        }
        if await authenticator.check(authorization: request.headers[.authorization]) {
            return try await next(request, context)
        }
        return Response(status: .unauthorized,
                        headers: [.wwwAuthenticate: "Basic realm=\"poolwatch\", charset=\"UTF-8\"",
                                  .contentType: "text/plain; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(string: "Unauthorized\n")))
    }
}
