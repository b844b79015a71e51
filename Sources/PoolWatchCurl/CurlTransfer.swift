import CCurl

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One transfer on one easy handle, created, performed and freed on a single pool thread.
///
/// Not `Sendable` and never shared: libcurl's callbacks reach it through an unretained pointer while
/// `perform()` runs on the same thread. The only cross-thread state is the ``AbortFlag``.
final class CurlTransfer {
    let request: CurlRequest
    let userAgent: String
    let abort: AbortFlag

    /// Filled by the write callback.
    var body: [UInt8] = []
    /// Set when the body would exceed the cap; the write callback then aborts the transfer.
    var bodyTooLarge = false
    /// Headers of the latest response; reset at each status line (1xx interim responses come first).
    var headers: [CurlHeader] = []
    static let maxHeaderCount = 200

    init(request: CurlRequest, userAgent: String, abort: AbortFlag) {
        self.request = request
        self.userAgent = userAgent
        self.abort = abort
    }

    private func fail(_ code: CurlError.Code, _ summary: String, detail: String = "", curlCode: Int? = nil) -> CurlError {
        let clean = CurlError.sanitize(CurlError.redact(detail, url: request.url))
        return CurlError(code: code, destination: request.displayName, summary: summary, detail: clean, curlCode: curlCode)
    }

    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }

    private static func hasLineBreakOrNUL(_ text: String) -> Bool {
        text.utf8.contains { $0 == 0x0A || $0 == 0x0D || $0 == 0 }
    }

    func perform() throws(CurlError) -> CurlResponse {
        let clock = ContinuousClock()
        let started = clock.now
        if abort.isSet { throw fail(.cancelled, "cancelled before the request was sent") }

        // Header injection and truncated C strings are refused before libcurl sees anything.
        if Self.hasLineBreakOrNUL(request.url) || request.url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
            throw fail(.invalidRequest, "the URL contains spaces or control characters")
        }
        for header in request.headers {
            let validName = !header.name.isEmpty && header.name.utf8.allSatisfy { $0 > 0x20 && $0 < 0x7F && $0 != UInt8(ascii: ":") }
            if !validName || Self.hasLineBreakOrNUL(header.value) {
                throw fail(.invalidRequest, "request header \"\(CurlError.sanitize(header.name, limit: 64))\" is not valid")
            }
        }

        let errorBufferSize = ccurl_error_size()
        let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: errorBufferSize)
        errorBuffer.initialize(repeating: 0, count: errorBufferSize)
        defer { errorBuffer.deallocate() }

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        defer { curl_slist_free_all(headerList) }
        var lines = request.headers.map { "\($0.name): \($0.value)" }
        if request.method == .post { lines.append("Expect:") }
        for line in lines {
            guard let extended = curl_slist_append(headerList, line) else { throw fail(.other, "out of memory building headers") }
            headerList = extended
        }

        // The POST body lives in this buffer until the handle is cleaned up (POSTFIELDS is not copied).
        let bodyBuffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, request.body.count), alignment: 1)
        defer { bodyBuffer.deallocate() }
        bodyBuffer.copyBytes(from: request.body)

        // Declared after the buffers, so its `defer` runs first: the handle is cleaned up while the
        // error buffer, header list and body it points at still exist.
        guard let handle = curl_easy_init() else { throw fail(.other, "curl_easy_init failed") }
        defer { curl_easy_cleanup(handle) }

        let context = Unmanaged.passUnretained(self).toOpaque()
        var setupFailure: CURLcode = CURLE_OK
        func set(_ result: CURLcode) { if result != CURLE_OK, setupFailure == CURLE_OK { setupFailure = result } }

        set(ccurl_setopt_pointer(handle, CURLOPT_ERRORBUFFER, errorBuffer))
        set(ccurl_setopt_long(handle, CURLOPT_VERBOSE, 0))
        set(ccurl_setopt_long(handle, CURLOPT_NOSIGNAL, 1))
        set(ccurl_setopt_string(handle, CURLOPT_URL, request.url))
        set(ccurl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, request.protocols.rawValue))
        set(ccurl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0))
        set(ccurl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout)))
        set(ccurl_setopt_long(handle, CURLOPT_TIMEOUT_MS, Self.milliseconds(request.timeout)))
        if let lowSpeedTime = request.lowSpeedTime {
            set(ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1))
            set(ccurl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, Int(lowSpeedTime.components.seconds))))
        }
        set(ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1))
        set(ccurl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2))
        set(ccurl_setopt_long(handle, CURLOPT_SSLVERSION, Int(CURL_SSLVERSION_TLSv1_2)))
        if let caFile = request.caFile { set(ccurl_setopt_string(handle, CURLOPT_CAINFO, caFile)) }
        set(ccurl_setopt_string(handle, CURLOPT_USERAGENT, userAgent))
        set(ccurl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList))
        // Early abort when Content-Length already announces too much; the write callback catches the rest.
        set(ccurl_setopt_off(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(request.maxResponseBytes)))

        switch request.method {
        case .get:
            set(ccurl_setopt_long(handle, CURLOPT_HTTPGET, 1))
        case .post:
            set(ccurl_setopt_long(handle, CURLOPT_POST, 1))
            set(ccurl_setopt_off(handle, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)))
            set(ccurl_setopt_pointer(handle, CURLOPT_POSTFIELDS, bodyBuffer.baseAddress))
        }

        set(ccurl_setopt_pointer(handle, CURLOPT_WRITEDATA, context))
        set(ccurl_setopt_write_function(handle) { data, size, count, userdata in
            guard let userdata else { return 0 }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata).takeUnretainedValue()
            let length = size * count
            guard length > 0, let data else { return length }
            if transfer.body.count + length > transfer.request.maxResponseBytes {
                transfer.bodyTooLarge = true
                return 0  // != length: libcurl aborts with CURLE_WRITE_ERROR
            }
            transfer.body.append(contentsOf: UnsafeRawBufferPointer(start: data, count: length))
            return length
        })
        set(ccurl_setopt_pointer(handle, CURLOPT_HEADERDATA, context))
        set(ccurl_setopt_header_function(handle) { data, size, count, userdata in
            let length = size * count
            guard let userdata, let data else { return length }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata).takeUnretainedValue()
            let line = String(decoding: UnsafeRawBufferPointer(start: data, count: length), as: UTF8.self)
            transfer.receivedHeaderLine(line)
            return length
        })
        set(ccurl_setopt_long(handle, CURLOPT_NOPROGRESS, 0))
        set(ccurl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context))
        set(ccurl_setopt_xferinfo_function(handle) { userdata, _, _, _, _ in
            guard let userdata else { return 0 }
            let transfer = Unmanaged<CurlTransfer>.fromOpaque(userdata).takeUnretainedValue()
            return transfer.abort.isSet ? 1 : 0  // non-zero: CURLE_ABORTED_BY_CALLBACK
        })

        if setupFailure != CURLE_OK {
            let message = String(cString: curl_easy_strerror(setupFailure))
            throw fail(.invalidRequest, "libcurl refused an option: \(message)", curlCode: Int(setupFailure.rawValue))
        }

        let result = curl_easy_perform(handle)
        let duration = clock.now - started

        if result != CURLE_OK {
            let bufferText = String(decoding: UnsafeRawBufferPointer(start: errorBuffer, count: errorBufferSize).prefix { $0 != 0 },
                                    as: UTF8.self)
            let detail = bufferText.isEmpty ? String(cString: curl_easy_strerror(result)) : bufferText
            var osErrno = 0
            _ = ccurl_getinfo_long(handle, CURLINFO_OS_ERRNO, &osErrno)
            var connectTime: curl_off_t = 0
            _ = ccurl_getinfo_off(handle, CURLINFO_CONNECT_TIME_T, &connectTime)
            throw classify(result, detail: detail, osErrno: osErrno, connected: connectTime > 0, elapsed: duration)
        }

        var status = 0
        _ = ccurl_getinfo_long(handle, CURLINFO_RESPONSE_CODE, &status)
        var retryAfter: Int64? = nil
        if let header = headers.first(where: { $0.name.lowercased() == "retry-after" })?.value {
            var seconds: curl_off_t = 0
            _ = ccurl_getinfo_off(handle, CURLINFO_RETRY_AFTER, &seconds)
            retryAfter = Self.retryAfter(header: header, libcurlSeconds: Int64(seconds))
        }
        return CurlResponse(status: status, headers: headers, body: body, retryAfterSeconds: retryAfter, duration: duration)
    }

    /// libcurl parses both forms of `Retry-After` but answers 0 both for "now" and for text it cannot
    /// parse, and a negative number for a past date before 8.12. Seconds > 0 are taken as they are;
    /// `0` and past dates (which name GMT) become 0; anything unparsable becomes nil, so the caller
    /// falls back to its default delay instead of retrying at once.
    static func retryAfter(header: String, libcurlSeconds: Int64) -> Int64? {
        if libcurlSeconds > 0 { return libcurlSeconds }
        let value = header.trimmingSpaces()
        if !value.isEmpty, value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            return Int64(value)
        }
        return value.hasSuffix("GMT") ? 0 : nil
    }

    func receivedHeaderLine(_ line: String) {
        let trimmed = line.trimmingSpaces()
        if trimmed.hasPrefix("HTTP/") {
            headers = []  // a new response begins (after 1xx interim responses)
            return
        }
        guard headers.count < Self.maxHeaderCount, let colon = trimmed.firstIndex(of: ":") else { return }
        let name = String(trimmed[..<colon]).trimmingSpaces()
        let value = String(trimmed[trimmed.index(after: colon)...]).trimmingSpaces()
        if !name.isEmpty { headers.append(CurlHeader(name, value)) }
    }

    private func format(_ duration: Duration) -> String {
        let ms = Self.milliseconds(duration)
        return ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }

    /// Maps a failed `curl_easy_perform` to a ``CurlError`` with a summary a person can act on.
    private func classify(_ result: CURLcode, detail: String, osErrno: Int, connected: Bool, elapsed: Duration) -> CurlError {
        let code = Int(result.rawValue)
        switch result {
        case CURLE_ABORTED_BY_CALLBACK where abort.isSet:
            return fail(.cancelled, "cancelled", curlCode: code)
        case CURLE_WRITE_ERROR where bodyTooLarge, CURLE_FILESIZE_EXCEEDED:
            return fail(.responseTooLarge, "the response body exceeds \(request.maxResponseBytes) bytes", curlCode: code)
        case CURLE_OPERATION_TIMEDOUT:
            let summary = connected
                ? "no complete response within \(format(request.timeout))"
                : "could not connect within \(format(min(request.connectTimeout, request.timeout)))"
            return fail(.timeout, summary, detail: detail, curlCode: code)
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            return fail(.dnsFailed, "the host name did not resolve", detail: detail, curlCode: code)
        case CURLE_COULDNT_CONNECT where osErrno == Int(ECONNREFUSED):
            return fail(.connectionRefused, "connection refused", detail: detail, curlCode: code)
        case CURLE_COULDNT_CONNECT:
            return fail(.connectFailed, "could not connect", detail: detail, curlCode: code)
        case CURLE_GOT_NOTHING, CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_PARTIAL_FILE:
            return fail(.connectionReset, "the connection was closed or reset before a complete response", detail: detail,
                        curlCode: code)
        case CURLE_PEER_FAILED_VERIFICATION:
            return fail(.tlsVerification, "the server's TLS certificate did not verify", detail: detail, curlCode: code)
        case CURLE_SSL_CONNECT_ERROR, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR,
             CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS, CURLE_SSL_SHUTDOWN_FAILED:
            return fail(.tls, "the TLS handshake failed", detail: detail, curlCode: code)
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            return fail(.invalidRequest, "the URL is malformed or its scheme is not allowed (\(request.protocols.rawValue))",
                        detail: detail, curlCode: code)
        default:
            return fail(.other, "the transfer failed", detail: detail, curlCode: code)
        }
    }
}
