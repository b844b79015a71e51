import HummingbirdTLS
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS
import PoolWatchCore
import ServiceLifecycle
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The server certificate and key of `tls_server_config`, re-read when either file changes on disk, so a
/// certificate rotated by cert-manager (or any renewal job) is served to the next connection without
/// a restart. A new pair that does not load keeps the old one serving, and the reason is logged once.
///
/// swift-nio-ssl asks `sslContextCallback` for the certificate on every handshake; the answer is the
/// pair in memory, never a file read: `TLSCertificateWatcher` reads files off the event loops.
public final class TLSCertificateStore: Sendable {
    struct Pair: @unchecked Sendable {
        // @unchecked: NIOSSLCertificate and NIOSSLPrivateKey are immutable once parsed (swift-nio-ssl
        // marks both Sendable on its side; the struct only bundles them).
        var chain: [NIOSSLCertificate]
        var key: NIOSSLPrivateKey
    }
    /// What identifies a file's version: a renewal writes a new file (new inode) or rewrites it (mtime, size).
    struct FileVersion: Equatable, Sendable {
        var device: UInt64, inode: UInt64, size: Int64, mtimeSeconds: Int, mtimeNanoseconds: Int
    }
    private struct State {
        var config: TLSServerConfig
        var pair: Pair
        var versions: [FileVersion?]
        /// The versions that failed to load last time, so a broken file is reported once, not every check.
        var failedVersions: [FileVersion?]?
    }

    private let state: Mutex<State>

    /// The settings in use; `cert_file` and `key_file` may change with a reload (`adopt(_:)`).
    public var config: TLSServerConfig { state.withLock { $0.config } }

    /// Loads the pair; throws (with the file named, never its content) when it cannot be served.
    public init(config: TLSServerConfig) throws {
        let versions = Self.versions(config)
        state = Mutex(State(config: config, pair: try Self.load(config), versions: versions))
    }

    /// A reloaded web config named other certificate files: serve the pair `other` loaded from them
    /// from the next handshake on, and watch those files from now on.
    public func adopt(_ other: TLSCertificateStore) {
        let taken = other.state.withLock { ($0.config, $0.pair, $0.versions) }
        state.withLock {
            $0.config.certFile = taken.0.certFile
            $0.config.keyFile = taken.0.keyFile
            $0.pair = taken.1
            $0.versions = taken.2
            $0.failedVersions = nil
        }
    }

    static func versions(_ config: TLSServerConfig) -> [FileVersion?] {
        [config.certFile, config.keyFile].map(fileVersion)
    }

    static func fileVersion(_ path: String) -> FileVersion? {
        FileStatus.of(path).map {
            FileVersion(device: $0.device, inode: $0.inode, size: $0.size, mtimeSeconds: $0.mtimeSeconds,
                        mtimeNanoseconds: $0.mtimeNanoseconds)
        }
    }

    /// Reads and checks a pair: both files parse, and a server context accepts them together (BoringSSL
    /// refuses a key that does not belong to the certificate).
    static func load(_ config: TLSServerConfig) throws -> Pair {
        let chain: [NIOSSLCertificate]
        do {
            chain = try NIOSSLCertificate.fromPEMFile(config.certFile)
        } catch {
            throw TLSFileError(description: "tls_server_config.cert_file \"\(config.certFile)\": cannot load a PEM certificate (\(error))")
        }
        guard !chain.isEmpty else {
            throw TLSFileError(description: "tls_server_config.cert_file \"\(config.certFile)\": no certificate in the file")
        }
        let key: NIOSSLPrivateKey
        do {
            key = try NIOSSLPrivateKey(file: config.keyFile, format: .pem)
        } catch {
            // NIOSSL's error names the failing call, not the key's bytes.
            throw TLSFileError(description: "tls_server_config.key_file \"\(config.keyFile)\": cannot load a PEM private key (\(error))")
        }
        do {
            _ = try NIOSSLContext(configuration: .makeServerConfiguration(
                certificateChain: chain.map { .certificate($0) }, privateKey: .privateKey(key)))
        } catch {
            throw TLSFileError(description: "tls_server_config: the key in \"\(config.keyFile)\" does not belong to the certificate in \"\(config.certFile)\" (\(error))")
        }
        return Pair(chain: chain, key: key)
    }

    public enum Refresh: Equatable, Sendable {
        case unchanged, reloaded, kept(reason: String)
    }

    /// Re-reads the files if they changed since the last load. Blocking file I/O: call off the event loops.
    public func refreshIfChanged() -> Refresh {
        let config = config
        let versions = Self.versions(config)
        let (current, failed) = state.withLock { ($0.versions, $0.failedVersions) }
        if versions == current || versions == failed { return .unchanged }
        do {
            let pair = try Self.load(config)
            state.withLock {
                // Unless a reload switched files meanwhile.
                guard $0.config == config else { return }
                $0.pair = pair
                $0.versions = versions
                $0.failedVersions = nil
            }
            return .reloaded
        } catch {
            state.withLock { $0.failedVersions = versions }
            return .kept(reason: "\(error)")
        }
    }

    /// The subject of the certificate being served, for logs.
    public var servedSubject: String {
        state.withLock { $0.pair.chain.first.map { "\($0)" } ?? "" }
    }

    fileprivate var currentOverride: NIOSSLContextConfigurationOverride {
        let pair = state.withLock { $0.pair }
        var override = NIOSSLContextConfigurationOverride()
        override.certificateChain = pair.chain.map { .certificate($0) }
        override.privateKey = .privateKey(pair.key)
        return override
    }

    /// The TLS settings of `tls_server_config` for HummingbirdTLS.
    public func channelConfiguration() throws -> TLSChannelConfiguration {
        let (config, pair) = state.withLock { ($0.config, $0.pair) }
        var tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: pair.chain.map { .certificate($0) }, privateKey: .privateKey(pair.key))
        tls.minimumTLSVersion = Self.version(config.minVersion)
        tls.maximumTLSVersion = Self.version(config.maxVersion)
        if !config.cipherSuites.isEmpty {
            tls.cipherSuiteValues = config.cipherSuites.compactMap { TLSServerConfig.cipherSuiteCodes[$0].map(NIOTLSCipher.init(rawValue:)) }
        }
        if !config.curvePreferences.isEmpty {
            tls.curves = config.curvePreferences.compactMap { TLSServerConfig.curveCodes[$0].map(NIOTLSCurve.init(rawValue:)) }
        }
        // HTTP/1.1 only, so a client offering h2 falls back instead of speaking HTTP/2 to an HTTP/1 server.
        tls.applicationProtocols = ["http/1.1"]
        tls.sslContextCallback = { [self] _, promise in promise.succeed(self.currentOverride) }
        var acceptAnyCertificate: TLSChannelConfiguration.CustomVerificationCallback?
        switch config.clientAuth {
        case .noClientCert:
            tls.certificateVerification = .none
        case .requestClientCert, .requireAnyClientCert:
            // Asked for (and for RequireAny required) but not verified, as Go's modes of the same names:
            // the callback replaces BoringSSL's chain verification.
            tls.certificateVerification = config.clientAuth == .requestClientCert ? .optionalVerification : .noHostnameVerification
            acceptAnyCertificate = { _, promise in promise.succeed(.certificateVerified) }
        case .verifyClientCertIfGiven, .requireAndVerifyClientCert:
            tls.certificateVerification = config.clientAuth == .verifyClientCertIfGiven ? .optionalVerification : .noHostnameVerification
            tls.trustRoots = .file(config.clientCAFile ?? "")
            tls.sendCANameList = true
        }
        return TLSChannelConfiguration(tlsConfiguration: tls, customVerificationCallback: acceptAnyCertificate)
    }

    static func version(_ name: TLSServerConfig.TLSVersionName) -> TLSVersion {
        switch name {
        case .tls10: .tlsv1
        case .tls11: .tlsv11
        case .tls12: .tlsv12
        case .tls13: .tlsv13
        }
    }
}

public struct TLSFileError: Error, CustomStringConvertible, Sendable {
    public var description: String
}

/// Checks the certificate files every `interval` (on NIO's blocking pool) and logs what a change did.
public struct TLSCertificateWatcher: Service {
    let store: TLSCertificateStore
    let interval: Duration
    let logger: Logger

    public init(store: TLSCertificateStore, interval: Duration = .seconds(2), logger: Logger) {
        self.store = store
        self.interval = interval
        self.logger = logger
    }

    public func run() async throws {
        while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: interval)
            let store = store
            guard let outcome = try? await NIOThreadPool.singleton.runIfActive({ store.refreshIfChanged() }) else { continue }
            switch outcome {
            case .unchanged:
                break
            case .reloaded:
                logger.info("TLS certificate reloaded", metadata: ["cert_file": "\(store.config.certFile)", "subject": "\(store.servedSubject)"])
            case .kept(let reason):
                logger.error("TLS certificate not reloaded; still serving the previous one", metadata: ["reason": "\(reason)"])
            }
        }
    }
}

/// `client_allowed_sans`: closes a connection whose verified client certificate carries none of the
/// allowed names, right after the handshake and before any request is read.
final class ClientSANHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = NIOAny
    let allowed: [String]

    init(allowed: [String]) { self.allowed = allowed }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if case TLSUserEvent.handshakeCompleted = event {
            let certificate = try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self).peerCertificate
            let names = certificate.map(Self.names) ?? []
            // Without a certificate (VerifyClientCertIfGiven) there is nothing to restrict, as in exporter-toolkit.
            if certificate != nil, !ClientSANPolicy.allows(certificateNames: names, allowed: allowed) {
                context.close(promise: nil)
                return
            }
        }
        context.fireUserInboundEventTriggered(event)
    }

    /// The DNS names, e-mail addresses, IP addresses and URIs of a certificate, as text.
    static func names(_ certificate: NIOSSLCertificate) -> [String] {
        certificate._subjectAlternativeNames().map { name in
            name.contents.withUnsafeBufferPointer { bytes in
                switch name.nameType {
                case .ipAddress where bytes.count == 4:
                    return bytes.map(String.init).joined(separator: ".")
                case .ipAddress:
                    var address = in6_addr()
                    withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes.prefix(16)) }
                    var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
                    return inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)).map { String(cString: $0) } ?? ""
                default:
                    return String(decoding: bytes, as: UTF8.self)
                }
            }
        }
    }
}
