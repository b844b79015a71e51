import Foundation
@testable import PoolWatchCurl
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
import PoolWatchRuntime
#endif

/// The libcurl client against a local HTTP server on 127.0.0.1: the responses a webhook receiver or an
/// application's stats endpoint can give, and the ways a transfer can fail. Needs no external service,
/// so these tests always run.
@Suite struct CurlClientTests {
    static let pool = BlockingExecutor(threads: 4)
    static let client = CurlClient(userAgent: "poolwatch/test", executor: pool)
    /// Stands in for a secret path segment (a Slack webhook's): it must never appear in an error.
    static let secretPath = "/services/T0001/B0001/s3cretW3bh00kT0ken"

    func request(_ server: LoopbackHTTPServer, _ path: String = secretPath, timeout: Duration = .seconds(5),
                 maxBytes: Int = 1 << 20) -> CurlRequest {
        var request = CurlRequest.get(server.url(path), displayName: "test-destination")
        request.timeout = timeout
        request.maxResponseBytes = maxBytes
        return request
    }

    struct UnexpectedSuccess: Error {}

    /// Runs `request`, expects a ``CurlError`` and checks that it does not leak the URL.
    func failure(_ request: CurlRequest) async throws -> CurlError {
        let result: Result<CurlResponse, CurlError>
        do {
            result = .success(try await Self.client.execute(request))
        } catch {
            result = .failure(error)
        }
        switch result {
        case let .success(response):
            Issue.record("expected an error, got HTTP \(response.status)")
            throw UnexpectedSuccess()
        case let .failure(error):
            for text in [error.description, error.debugDescription, "\(error)", String(reflecting: error)] {
                #expect(!text.contains(request.url), "error text leaks the URL: \(text)")
                #expect(!text.contains("s3cretW3bh00kT0ken"), "error text leaks the secret path: \(text)")
                #expect(text.contains("test-destination"))
            }
            return error
        }
    }

    @Test func okWithBodyAndHeaders() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 200, headers: [("X-Answer", "42")], body: Array("ok".utf8)) }
        defer { server.stop() }
        let response = try await Self.client.execute(request(server))
        #expect(response.status == 200)
        #expect(response.bodyText == "ok")
        #expect(response.header("x-answer") == "42")
        #expect(response.retryAfterSeconds == nil)
        #expect(response.isSuccess)
        let received = try #require(server.requests.first)
        #expect(received.method == "GET")
        #expect(received.path == Self.secretPath)
        #expect(received.header("User-Agent") == "poolwatch/test")
    }

    @Test func postSendsJSONBodyWithoutExpect() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 202, body: Array("{\"status\":\"success\"}".utf8)) }
        defer { server.stop() }
        // Large enough that libcurl would otherwise send `Expect: 100-continue` and wait for it.
        let payload = Array("{\"text\":\"".utf8) + [UInt8](repeating: UInt8(ascii: "x"), count: 200_000) + Array("\"}".utf8)
        var post = CurlRequest.postJSON(server.url("/v2/enqueue"), displayName: "test-destination", body: payload,
                                        headers: [CurlHeader("X-Routing", "abc")])
        post.timeout = .seconds(5)
        let response = try await Self.client.execute(post)
        #expect(response.status == 202)
        #expect(response.bodyText == "{\"status\":\"success\"}")
        let received = try #require(server.requests.first)
        #expect(received.method == "POST")
        #expect(received.body == payload)
        #expect(received.header("Content-Type") == "application/json")
        #expect(received.header("Expect") == nil)
        #expect(received.header("X-Routing") == "abc")
    }

    @Test func postWithEmptyBody() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 200, body: Array("ok".utf8)) }
        defer { server.stop() }
        let response = try await Self.client.postJSON(server.url("/empty"), displayName: "test-destination", body: [])
        #expect(response.status == 200)
        #expect(server.requests.first?.body == [])
        #expect(server.requests.first?.header("Content-Length") == "0")
    }

    @Test func badRequestIsAResponseWithItsBody() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 400, body: Array("invalid_payload\u{1B}[31m\nline2".utf8)) }
        defer { server.stop() }
        let response = try await Self.client.execute(request(server))
        #expect(response.status == 400)
        #expect(!response.isSuccess)
        #expect(response.bodyText.hasPrefix("invalid_payload"))
        // Control characters never reach a log line.
        #expect(response.bodyExcerpt() == "invalid_payload [31m line2")
    }

    @Test func tooManyRequestsCarriesRetryAfterSeconds() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 429, headers: [("Retry-After", "2")], body: Array("rate_limited".utf8)) }
        defer { server.stop() }
        let response = try await Self.client.execute(request(server))
        #expect(response.status == 429)
        #expect(response.retryAfterSeconds == 2)
    }

    @Test func retryAfterAsHTTPDate() async throws {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        let future = formatter.string(from: Date().addingTimeInterval(120))
        let past = formatter.string(from: Date().addingTimeInterval(-120))
        let server = try LoopbackHTTPServer { request in
            .send(status: 503, headers: [("Retry-After", request.path == "/future" ? future : past)])
        }
        defer { server.stop() }
        let later = try await Self.client.execute(request(server, "/future"))
        #expect(later.status == 503)
        #expect((100...121).contains(later.retryAfterSeconds ?? -1))
        let earlier = try await Self.client.execute(request(server, "/past"))
        #expect(earlier.retryAfterSeconds == 0)
    }

    @Test func serverErrorIsAResponse() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 500, body: Array("boom".utf8)) }
        defer { server.stop() }
        let response = try await Self.client.execute(request(server))
        #expect(response.status == 500)
        #expect(response.bodyText == "boom")
    }

    @Test func redirectIsReturnedNotFollowed() async throws {
        let server = try LoopbackHTTPServer { request in
            request.path == "/elsewhere" ? .send(status: 200, body: Array("followed".utf8))
                : .send(status: 301, headers: [("Location", "/elsewhere")])
        }
        defer { server.stop() }
        let response = try await Self.client.execute(request(server, "/moved"))
        #expect(response.status == 301)
        #expect(response.header("Location") == "/elsewhere")
        #expect(server.requests.map(\.path) == ["/moved"])
    }

    @Test func connectionResetIsClassified() async throws {
        let server = try LoopbackHTTPServer { _ in .reset }
        defer { server.stop() }
        let error = try await failure(request(server))
        #expect(error.code == .connectionReset)
    }

    @Test func closedWithoutResponseIsClassifiedAsReset() async throws {
        let server = try LoopbackHTTPServer { _ in .close }
        defer { server.stop() }
        let error = try await failure(request(server))
        #expect(error.code == .connectionReset)
    }

    @Test func stalledResponseHitsTheTotalTimeout() async throws {
        let server = try LoopbackHTTPServer { _ in .stall(seconds: 8) }
        defer { server.stop() }
        let clock = ContinuousClock()
        let started = clock.now
        let error = try await failure(request(server, timeout: .seconds(1)))
        let elapsed = clock.now - started
        #expect(error.code == .timeout)
        #expect(error.summary == "no complete response within 1s")
        // The class, not the exact time (the machine may be loaded): long before the 8 s stall ends.
        #expect(elapsed < .seconds(6), "took \(elapsed)")
    }

    @Test func stalledBodyHitsTheTotalTimeout() async throws {
        let server = try LoopbackHTTPServer { _ in .headersThenStall(seconds: 8) }
        defer { server.stop() }
        let clock = ContinuousClock()
        let started = clock.now
        let error = try await failure(request(server, timeout: .milliseconds(800)))
        #expect(error.code == .timeout)
        #expect(clock.now - started < .seconds(6), "long before the 8 s stall ends")
    }

    @Test func oversizedBodyWithContentLengthIsCapped() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 200, body: [UInt8](repeating: 65, count: 300_000)) }
        defer { server.stop() }
        let error = try await failure(request(server, maxBytes: 100_000))
        #expect(error.code == .responseTooLarge)
        #expect(error.summary.contains("100000 bytes"))
    }

    @Test func oversizedBodyWithoutContentLengthIsCapped() async throws {
        let server = try LoopbackHTTPServer { _ in
            .send(status: 200, body: [UInt8](repeating: 65, count: 3_000_000), contentLength: false)
        }
        defer { server.stop() }
        let error = try await failure(request(server, maxBytes: 100_000))
        #expect(error.code == .responseTooLarge)
    }

    @Test func bodyExactlyAtTheCapIsAccepted() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 200, body: [UInt8](repeating: 65, count: 4096), contentLength: false) }
        defer { server.stop() }
        let response = try await Self.client.execute(request(server, maxBytes: 4096))
        #expect(response.body.count == 4096)
    }

    @Test func connectionRefusedIsClassified() async throws {
        let port = try LoopbackHTTPServer.unusedPort()
        var refused = CurlRequest.get("http://127.0.0.1:\(port)\(Self.secretPath)", displayName: "test-destination")
        refused.timeout = .seconds(5)
        let error = try await failure(refused)
        #expect(error.code == .connectionRefused)
        #expect(error.summary == "connection refused")
    }

    @Test func cancellationAbortsTheTransfer() async throws {
        let server = try LoopbackHTTPServer { _ in .stall(seconds: 8) }
        defer { server.stop() }
        let slow = request(server, timeout: .seconds(6))
        let clock = ContinuousClock()
        let started = clock.now
        let task = Task { try await Self.client.execute(slow) }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let result = await task.result
        let elapsed = clock.now - started
        guard case let .failure(failure) = result else {
            Issue.record("expected cancellation")
            return
        }
        #expect((failure as? CurlError)?.code == .cancelled)
        // libcurl calls the progress callback about once a second while idle; the class that matters is
        // "aborted before the 6 s timeout", not the exact delay (the machine may be loaded).
        #expect(elapsed < .milliseconds(5500), "took \(elapsed)")
    }

    @Test func alreadyCancelledTaskDoesNotSend() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 200) }
        defer { server.stop() }
        let plain = request(server)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await Self.client.execute(plain)
        }
        guard case let .failure(failure) = await task.result else {
            Issue.record("expected cancellation")
            return
        }
        #expect((failure as? CurlError)?.code == .cancelled)
        #expect(server.requests.isEmpty)
    }

    @Test func onlyHTTPAndHTTPSAreAllowed() async throws {
        let error = try await failure(CurlRequest.get("file:///etc/passwd", displayName: "test-destination"))
        #expect(error.code == .invalidRequest)

        let server = try LoopbackHTTPServer { _ in .send(status: 200) }
        defer { server.stop() }
        var httpsOnly = request(server)
        httpsOnly.protocols = .httpsOnly
        let refused = try await failure(httpsOnly)
        #expect(refused.code == .invalidRequest)
        #expect(server.requests.isEmpty)
    }

    @Test func headerInjectionIsRefused() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 200) }
        defer { server.stop() }
        var injected = request(server)
        injected.headers = [CurlHeader("X-Note", "a\r\nX-Evil: 1")]
        let error = try await failure(injected)
        #expect(error.code == .invalidRequest)
        #expect(server.requests.isEmpty)
    }

    @Test func requestAndHeaderDescriptionsHideSecrets() {
        let request = CurlRequest.get("https://hooks.slack.com\(Self.secretPath)", displayName: "slack:oncall",
                                      headers: [CurlHeader("Authorization", "Bearer t0ken")])
        #expect("\(request)" == "GET slack:oncall")
        #expect(String(reflecting: request) == "GET slack:oncall")
        #expect("\(request.headers)" == "[Authorization: <redacted>]")
        var dumped = ""
        dump(request, to: &dumped)
        #expect(!dumped.contains("s3cretW3bh00kT0ken") && !dumped.contains("t0ken"), "\(dumped)")
    }

    @Test func retryAfterFallbacks() {
        #expect(CurlTransfer.retryAfter(header: "120", libcurlSeconds: 120) == 120)
        #expect(CurlTransfer.retryAfter(header: "0", libcurlSeconds: 0) == 0)
        #expect(CurlTransfer.retryAfter(header: "Wed, 21 Oct 2015 07:28:00 GMT", libcurlSeconds: -1000) == 0)
        #expect(CurlTransfer.retryAfter(header: "soon", libcurlSeconds: 0) == nil)
    }

    @Test func unparsableRetryAfterIsNil() async throws {
        let server = try LoopbackHTTPServer { _ in .send(status: 429, headers: [("Retry-After", "soon")]) }
        defer { server.stop() }
        let response = try await Self.client.execute(request(server))
        #expect(response.status == 429)
        #expect(response.retryAfterSeconds == nil)
    }

    @Test func errorBufferTextIsRedacted() {
        let url = "https://user:pw@hooks.slack.com/services/T1/B1/XYZ?token=abc"
        let text = "Failed for \(url) and /services/T1/B1/XYZ?token=abc via user:pw"
        let redacted = CurlError.redact(text, url: url)
        #expect(!redacted.contains("XYZ") && !redacted.contains("token=abc") && !redacted.contains("pw"))
    }

    @Test func libcurlFacts() {
        #expect(!CurlClient.libcurlVersion.isEmpty)
        #expect(CurlClient.hasAsynchronousDNS)
    }
}

/// A tiny HTTP/1.1 server on 127.0.0.1 for tests: one thread per connection, one request per
/// connection, replies chosen by a closure. Records every request it read.
final class LoopbackHTTPServer: Sendable {
    struct Request: Sendable {
        var method: String
        var path: String
        var headers: [(name: String, value: String)]
        var body: [UInt8]

        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    enum Reply: Sendable {
        /// A complete response. Without `contentLength`, the body ends when the connection closes.
        case send(status: Int, headers: [(String, String)] = [], body: [UInt8] = [], contentLength: Bool = true)
        /// Read the request, answer nothing, hold the connection open.
        case stall(seconds: Double)
        /// Send the status line and headers announcing a body, then nothing.
        case headersThenStall(seconds: Double)
        /// Close with a TCP reset (SO_LINGER 0).
        case reset
        /// Close cleanly without answering.
        case close
    }

    let port: Int
    private let listener: Int32
    private let stopped = Atomic<Bool>(false)
    private let recorded = Mutex<[Request]>([])
    private let handler: @Sendable (Request) -> Reply

    struct SocketError: Error, CustomStringConvertible {
        var call: String
        var description: String { "\(call) failed: errno \(errno)" }
    }

    init(_ handler: @escaping @Sendable (Request) -> Reply) throws {
        self.handler = handler
        let (fd, port) = try Self.listen()
        listener = fd
        self.port = port
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    func url(_ path: String) -> String { "http://127.0.0.1:\(port)\(path)" }

    var requests: [Request] { recorded.withLock { $0 } }

    func stop() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        Glibc.close(listener)
    }

    /// A port nothing listens on (bound once, then released).
    static func unusedPort() throws -> Int {
        let (fd, port) = try listen()
        Glibc.close(fd)
        return port
    }

    private static func listen() throws -> (Int32, Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw SocketError(call: "socket") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw SocketError(call: "bind") }
        guard Glibc.listen(fd, 64) == 0 else { throw SocketError(call: "listen") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, Int(UInt16(bigEndian: address.sin_port)))
    }

    private func acceptLoop() {
        while !stopped.load(ordering: .acquiring) {
            let connection = accept(listener, nil, nil)
            if connection < 0 {
                if errno == EINTR { continue }
                return
            }
            Thread.detachNewThread { [self] in serve(connection) }
        }
    }

    private func serve(_ fd: Int32) {
        var timeout = timeval(tv_sec: 10, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard let request = readRequest(fd) else {
            Glibc.close(fd)
            return
        }
        recorded.withLock { $0.append(request) }
        switch handler(request) {
        case let .send(status, headers, body, contentLength):
            var head = "HTTP/1.1 \(status) \(Self.reason(status))\r\nConnection: close\r\n"
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            if contentLength { head += "Content-Length: \(body.count)\r\n" }
            head += "\r\n"
            write(fd, Array(head.utf8) + body)
            Glibc.close(fd)
        case let .stall(seconds):
            Thread.sleep(forTimeInterval: seconds)
            Glibc.close(fd)
        case let .headersThenStall(seconds):
            write(fd, Array("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n{\"partial\":".utf8))
            Thread.sleep(forTimeInterval: seconds)
            Glibc.close(fd)
        case .reset:
            var option = linger(l_onoff: 1, l_linger: 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
            Glibc.close(fd)
        case .close:
            Glibc.close(fd)
        }
    }

    private func write(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes[offset...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if sent <= 0 { return }  // the client gave up (e.g. the body cap)
            offset += sent
        }
    }

    private func readRequest(_ fd: Int32) -> Request? {
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        func fill() -> Bool {
            let count = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            guard count > 0 else { return false }
            buffer.append(contentsOf: chunk[..<count])
            return true
        }
        let separator: [UInt8] = Array("\r\n\r\n".utf8)
        var headerEnd: Int?
        while headerEnd == nil {
            guard fill() else { return nil }
            headerEnd = buffer.firstRange(of: separator)?.lowerBound
        }
        let head = String(decoding: buffer[..<headerEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let requestLine = lines.removeFirst().split(separator: " ")
        guard requestLine.count >= 2 else { return nil }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var request = Request(method: String(requestLine[0]), path: String(requestLine[1]), headers: headers, body: [])
        let length = Int(request.header("Content-Length") ?? "0") ?? 0
        let bodyStart = headerEnd! + separator.count
        while buffer.count - bodyStart < length {
            guard fill() else { break }
        }
        request.body = Array(buffer[bodyStart..<min(buffer.count, bodyStart + length)])
        return request
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 202: "Accepted"
        case 301: "Moved Permanently"
        case 400: "Bad Request"
        case 404: "Not Found"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 503: "Service Unavailable"
        default: "Status"
        }
    }
}
