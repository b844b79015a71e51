/// A transfer that produced no HTTP response: the server could not be reached, the connection broke,
/// the deadline passed, the body was too large, or the task was cancelled.
///
/// The message names the destination by the request's `displayName`, **never by its URL**: a Slack
/// webhook URL is a secret. libcurl's own error text (`CURLOPT_ERRORBUFFER`) is kept in ``detail`` with
/// the URL and its path removed, control characters replaced and the length capped.
public struct CurlError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// What kind of failure this was. A struct rather than an enum, so new kinds never break callers.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        private enum Base: String, Sendable, Hashable {
            case timeout, dnsFailed, connectionRefused, connectFailed, connectionReset, tls, tlsVerification
            case responseTooLarge, cancelled, invalidRequest, other
        }

        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// The connect or total timeout passed (`CURLE_OPERATION_TIMEDOUT`), or the low-speed limit hit.
        public static let timeout = Code(.timeout)
        /// The host name did not resolve (`CURLE_COULDNT_RESOLVE_HOST` / `_PROXY`).
        public static let dnsFailed = Code(.dnsFailed)
        /// Nothing listens on the port (`CURLE_COULDNT_CONNECT` with `ECONNREFUSED`).
        public static let connectionRefused = Code(.connectionRefused)
        /// The TCP connection could not be made for another reason (unreachable, …).
        public static let connectFailed = Code(.connectFailed)
        /// The connection was reset or closed before a complete response (`RECV_ERROR`, `SEND_ERROR`,
        /// `GOT_NOTHING`, `PARTIAL_FILE`).
        public static let connectionReset = Code(.connectionReset)
        /// The TLS handshake failed (protocol, cipher, client certificate, CA file).
        public static let tls = Code(.tls)
        /// The server's certificate did not verify (`CURLE_PEER_FAILED_VERIFICATION`): retry slowly, alert.
        public static let tlsVerification = Code(.tlsVerification)
        /// The response body exceeded the request's `maxResponseBytes`; the transfer was aborted.
        public static let responseTooLarge = Code(.responseTooLarge)
        /// The calling task was cancelled; the transfer was aborted.
        public static let cancelled = Code(.cancelled)
        /// The request could not be sent as given: a malformed URL, a scheme outside the allowed
        /// protocols, a header with a line break.
        public static let invalidRequest = Code(.invalidRequest)
        /// Anything else libcurl reported.
        public static let other = Code(.other)

        public var description: String { base.rawValue }
    }

    public let code: Code
    /// The request's display name (never its URL).
    public let destination: String
    /// The `CURLcode`, when libcurl reported the failure.
    public let curlCode: Int?
    /// A short, person-readable explanation, free of the URL.
    public let summary: String
    /// libcurl's error-buffer text, sanitized (may be empty).
    public let detail: String

    public init(code: Code, destination: String, summary: String, detail: String = "", curlCode: Int? = nil) {
        self.code = code
        self.destination = destination
        self.summary = summary
        self.detail = detail
        self.curlCode = curlCode
    }

    /// `<destination>: <summary> (<detail>)`.
    public var description: String {
        detail.isEmpty || detail == summary ? "\(destination): \(summary)" : "\(destination): \(summary) (\(detail))"
    }

    public var debugDescription: String {
        "CurlError(code: \(code), curlCode: \(curlCode.map(String.init) ?? "nil"), \(description))"
    }

    /// Replaces control characters by spaces and caps the length, so remote text cannot forge log lines.
    static func sanitize(_ text: String, limit: Int = 256) -> String {
        var output = ""
        for scalar in text.unicodeScalars {
            if output.unicodeScalars.count >= limit {
                output += "…"
                break
            }
            output.unicodeScalars.append(scalar.properties.generalCategory == .control ? " " : scalar)
        }
        return output.trimmingSpaces()
    }

    /// Removes every occurrence of `url` and of its path-and-query part from `text`, so an error buffer
    /// that quotes the request can never leak a secret URL.
    static func redact(_ text: String, url: String) -> String {
        var result = text
        var secrets = [url]
        if let schemeEnd = url.firstRange(of: "://") {
            let afterScheme = url[schemeEnd.upperBound...]
            secrets.append(String(afterScheme))
            if let slash = afterScheme.firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) {
                let path = String(afterScheme[slash...])
                if path.count > 1 { secrets.append(path) }
            }
            if let at = afterScheme.prefix(while: { $0 != "/" }).lastIndex(of: "@") {
                secrets.append(String(afterScheme[..<at]))
            }
        }
        for secret in secrets where !secret.isEmpty {
            result = result.replacing(secret, with: "<redacted>")
        }
        return result
    }
}

extension StringProtocol {
    /// Without leading and trailing whitespace (header lines end in CR LF). This module does not
    /// depend on Core, whose `trimmingSpaces()` is the same trim.
    func trimmingSpaces() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
