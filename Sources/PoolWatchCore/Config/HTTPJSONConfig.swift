/// What a `kind: http_json` target fetches and how its document maps to pools.
///
/// ```yaml
/// - name: orders-app
///   kind: http_json
///   url: http://127.0.0.1:8080/pool-stats      # or url_file / url_env when the URL holds a token
///   interval: 15s
///   collection_timeout: 5s                      # the whole request
///   connect_timeout: 2s                         # optional, default 5s (capped by collection_timeout)
///   max_response_bytes: 1MiB                    # default 1MiB; B, KB, KiB, MB, MiB
///   max_pools: 200                              # default 200; pools beyond it are dropped and counted
///   headers:                                    # optional; value, value_file or value_env
///     - {name: Authorization, value_file: /run/secrets/orders-stats-token}
///   pools:
///     items: "$.pools[*]"                       # default "$": the document is one pool
///     name: "$.name"                            # or name_value: main (default: "default")
///     database: "$.database"                    # or database_value: orders (default: empty)
///     user: "$.user"                            # or user_value: app (default: empty)
///     fields:
///       active: "$.active"                      # required: connections in use
///       idle: "$.idle"                          # required: open, unused connections
///       waiting: "$.pending"                    # required: requests waiting for a connection
///       max: "$.max"                            # required: the pool's size limit
///       acquire_seconds: "$.acquireTimeAvgMs"   # optional, with acquire_seconds_scale: 0.001
///       wait_seconds_max: "$.longestWaitMs"     # optional, with wait_seconds_max_scale: 0.001
///       timeouts_total: "$.timeouts"            # optional counter
///       acquire_p99: "$.acquireP99Ms"           # optional acquire_p50 / _p95 / _p99, with acquire_latency_scale: 0.001
///       query_p99: "$.queryP99Ms"               # optional query_p50 / _p95 / _p99, with query_latency_scale: 0.001
///       queries_total: "$.queries"              # optional counter, or queries_per_second (a rate gauge)
///       query_errors_total: "$.errors"          # optional counter, or query_errors_per_second
///       slow_queries_total: "$.slowQueries"     # optional counter
/// ```
public struct HTTPJSONTargetConfig: Sendable, Equatable {
    /// The document's URL (`http` or `https`). A secret: it may carry a token in its query.
    public var url: Secret
    /// The URL as logs and errors show it: without user info, query and fragment, and without its path
    /// when the URL came from a file or the environment.
    public var displayURL: String
    public var headers: [HTTPJSONHeader]
    /// The response body cap; a larger document fails the round.
    public var maxResponseBytes: Int
    public var pools: HTTPJSONPoolMapping
    /// Pools exported per round; the document's later pools are dropped (`poolwatch_app_pool_pools_dropped`).
    /// Each pool is about ten series and can be an alert instance per rule, so the document must not
    /// decide how many there are.
    public var maxPools: Int

    public static let defaultMaxResponseBytes = 1 << 20
    public static let defaultMaxPools = 200
    public static let maxPoolsRange = 1...5000

    public init(url: Secret, displayURL: String, headers: [HTTPJSONHeader] = [], maxResponseBytes: Int = defaultMaxResponseBytes,
                pools: HTTPJSONPoolMapping, maxPools: Int = defaultMaxPools) {
        self.url = url
        self.displayURL = displayURL
        self.headers = headers
        self.maxResponseBytes = maxResponseBytes
        self.pools = pools
        self.maxPools = maxPools
    }
}

/// One request header. The value is a `Secret` (it is usually an `Authorization` token).
public struct HTTPJSONHeader: Sendable, Equatable {
    public var name: String
    public var value: Secret

    public init(name: String, value: Secret) {
        self.name = name
        self.value = value
    }
}

/// Where each pool sits in the document and where its numbers are, as JSON paths relative to the pool.
public struct HTTPJSONPoolMapping: Sendable, Equatable {
    /// A label taken from the document or given literally.
    public enum LabelSource: Sendable, Equatable {
        case path(JSONPath)
        case literal(String)
    }

    /// Selects the pools. With a wildcard, each selected value is a pool; without one, an array's
    /// elements are the pools and an object is the only pool.
    public var items: JSONPath
    public var name: LabelSource
    public var database: LabelSource
    public var user: LabelSource
    public var active: JSONPath
    public var idle: JSONPath
    public var waiting: JSONPath
    public var max: JSONPath
    /// Average (or recent) time to acquire a connection; multiplied by `acquireSecondsScale`.
    public var acquireSeconds: JSONPath?
    public var acquireSecondsScale: Double
    /// The longest current wait for a connection; multiplied by `waitSecondsMaxScale`. Feeds
    /// `poolwatch_pool_wait_seconds_max`, which is absent when this is not configured.
    public var waitSecondsMax: JSONPath?
    public var waitSecondsMaxScale: Double
    /// Acquire timeouts since the application started (a counter).
    public var timeoutsTotal: JSONPath?
    /// Latency quantiles, query and error counters or rates, slow queries (``PoolModel/Figure/extended``).
    public var extended: [PoolModel.Figure: JSONPath] = [:]
    /// Multiplies `acquire_p50`/`_p95`/`_p99` (0.001 when the document gives milliseconds).
    public var acquireLatencyScale: Double = 1
    /// Multiplies `query_p50`/`_p95`/`_p99`.
    public var queryLatencyScale: Double = 1

    public init(
        items: JSONPath = .root, name: LabelSource = .literal("default"), database: LabelSource = .literal(""),
        user: LabelSource = .literal(""), active: JSONPath, idle: JSONPath, waiting: JSONPath, max: JSONPath,
        acquireSeconds: JSONPath? = nil, acquireSecondsScale: Double = 1, waitSecondsMax: JSONPath? = nil,
        waitSecondsMaxScale: Double = 1, timeoutsTotal: JSONPath? = nil
    ) {
        self.items = items
        self.name = name
        self.database = database
        self.user = user
        self.active = active
        self.idle = idle
        self.waiting = waiting
        self.max = max
        self.acquireSeconds = acquireSeconds
        self.acquireSecondsScale = acquireSecondsScale
        self.waitSecondsMax = waitSecondsMax
        self.waitSecondsMaxScale = waitSecondsMaxScale
        self.timeoutsTotal = timeoutsTotal
    }
}

extension ConfigLoader {
    /// Target keys that only `kind: http_json` accepts. The loader allows them on every target and lets
    /// ``parseHTTPJSON(_:kind:path:reader:)`` refuse them on the other kinds.
    static let httpJSONTargetKeys = ["url", "url_file", "url_env", "headers", "max_response_bytes", "max_pools", "pools"]

    /// Parses the `http_json` part of a target from its already-checked key/value mapping.
    ///
    /// For other kinds it only reports `http_json` keys as misplaced and returns nil. For `http_json` it
    /// refuses the libpq keys (`dsn*`), requires exactly one of `url`, `url_file`, `url_env` and a `pools`
    /// mapping, and returns nil when anything is wrong (the errors are in `reader`).
    func parseHTTPJSON(_ fields: [String: Node], kind: TargetKind, path: String, reader: inout NodeReader) -> HTTPJSONTargetConfig? {
        guard kind == .httpJSON else {
            // app_metrics shares the endpoint keys; it reports a misplaced `pools` itself.
            for key in Self.httpJSONTargetKeys where fields[key] != nil && kind != .appMetrics {
                reader.fail("\(path).\(key)", "applies only to kind http_json, not \(kind.rawValue)")
            }
            return nil
        }
        let errorsBefore = reader.errors.count
        let endpoint = parseHTTPEndpoint(fields, kind: kind, path: path, defaultMaxBytes: HTTPJSONTargetConfig.defaultMaxResponseBytes,
                                         reader: &reader)
        var pools: HTTPJSONPoolMapping?
        if let node = fields["pools"] {
            pools = parseHTTPJSONPools(node, path: "\(path).pools", reader: &reader)
        } else {
            reader.fail("\(path).pools", "is required for kind http_json: where the pools are in the document and their fields")
        }
        guard reader.errors.count == errorsBefore, let endpoint, let pools else { return nil }
        return HTTPJSONTargetConfig(url: endpoint.url, displayURL: endpoint.displayURL, headers: endpoint.headers,
                                    maxResponseBytes: endpoint.maxResponseBytes, pools: pools, maxPools: endpoint.maxPools)
    }

    /// Where an application target's HTTP endpoint is and how much of it to read: the keys `http_json`
    /// and `app_metrics` share. Refuses the libpq keys (`dsn*`) and requires exactly one of `url`,
    /// `url_file`, `url_env`; nil when anything is wrong (the errors are in `reader`).
    func parseHTTPEndpoint(_ fields: [String: Node], kind: TargetKind, path: String, defaultMaxBytes: Int,
                           reader: inout NodeReader) -> (url: Secret, displayURL: String, headers: [HTTPJSONHeader],
                                                         maxResponseBytes: Int, maxPools: Int)? {
        let errorsBefore = reader.errors.count
        for key in ["dsn", "dsn_file", "dsn_env"] where fields[key] != nil {
            reader.fail("\(path).\(key)", "does not apply to kind \(kind.rawValue) (give url, url_file or url_env)")
        }
        let url = parseHTTPJSONURL(fields, kind: kind, path: path, reader: &reader)
        let headers = fields["headers"].map { parseHTTPJSONHeaders($0, path: "\(path).headers", reader: &reader) } ?? []
        var maxBytes = defaultMaxBytes
        if let node = fields["max_response_bytes"], let text = reader.scalar(node, path: "\(path).max_response_bytes") {
            if let bytes = ByteSizeParser.bytes(text), (1024...(64 << 20)).contains(bytes) {
                maxBytes = bytes
            } else {
                reader.fail("\(path).max_response_bytes", "\(ConfigEcho.quoted(text)) is not a size between 1KiB and 64MiB (use 512KiB, 1MiB, 2MB)")
            }
        }
        let maxPools = fields["max_pools"].map {
            reader.integer($0, path: "\(path).max_pools", range: HTTPJSONTargetConfig.maxPoolsRange) ?? HTTPJSONTargetConfig.defaultMaxPools
        } ?? HTTPJSONTargetConfig.defaultMaxPools
        guard reader.errors.count == errorsBefore, let url else { return nil }
        return (url.secret, url.display, headers, maxBytes, maxPools)
    }

    private func parseHTTPJSONURL(_ fields: [String: Node], kind: TargetKind, path: String, reader: inout NodeReader) -> (secret: Secret, display: String)? {
        let given = ["url", "url_file", "url_env"].filter { fields[$0] != nil }
        guard let key = given.first else {
            reader.fail("\(path).url", "is required for kind \(kind.rawValue) (or url_file / url_env when the URL holds a secret)")
            return nil
        }
        if given.count > 1 {
            reader.fail("\(path).\(given[1])", "conflicts with \(path).\(key): give only one of url, url_file, url_env")
            return nil
        }
        let keyPath = "\(path).\(key)"
        guard let value = readSecretValue(fields[key]!, key: key, path: keyPath, reader: &reader) else { return nil }
        switch HTTPURL.parse(value) {
        case let .success(url):
            return (Secret(value), key == "url" ? url.displayWithPath : url.displayOrigin)
        case let .failure(problem):
            // The URL itself is never quoted: it may hold a token.
            reader.fail(keyPath, "is not a usable URL: \(problem.message)")
            return nil
        }
    }

    /// The value of a `*`, `*_file` or `*_env` key: the scalar, the trimmed file content, or the variable.
    private func readSecretValue(_ node: Node, key: String, path: String, reader: inout NodeReader) -> String? {
        guard let text = reader.scalar(node, path: path, quoteValue: false) else { return nil }
        if key.hasSuffix("_file") {
            return readSecretFile(text, path: path, reader: &reader)
        }
        if key.hasSuffix("_env") {
            guard let value = environment[text], !value.isEmpty else {
                reader.fail(path, "environment variable \(ConfigEcho.value(text)) is not set")
                return nil
            }
            return value
        }
        return text
    }

    private func parseHTTPJSONHeaders(_ node: Node, path: String, reader: inout NodeReader) -> [HTTPJSONHeader] {
        guard let items = reader.sequence(node, path: path) else { return [] }
        var headers: [HTTPJSONHeader] = []
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            guard let entry = reader.mapping(item, path: itemPath, allowed: ["name", "value", "value_file", "value_env"]) else { continue }
            guard let nameNode = entry["name"] else {
                reader.fail("\(itemPath).name", "is required (e.g. Authorization)")
                continue
            }
            guard let name = reader.scalar(nameNode, path: "\(itemPath).name") else { continue }
            let token = "!#$%&'*+-.^_`|~"
            if name.isEmpty || !name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || token.unicodeScalars.contains($0)) }) {
                reader.fail("\(itemPath).name", "\(ConfigEcho.quoted(name)) is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)")
                continue
            }
            if ["host", "content-length", "transfer-encoding", "connection", "expect"].contains(name.lowercased()) {
                reader.fail("\(itemPath).name", "\(name) is set by poolwatch and cannot be configured")
                continue
            }
            let given = ["value", "value_file", "value_env"].filter { entry[$0] != nil }
            guard let key = given.first else {
                reader.fail("\(itemPath).value", "is required (or value_file / value_env for a secret)")
                continue
            }
            if given.count > 1 {
                reader.fail("\(itemPath).\(given[1])", "conflicts with \(itemPath).\(key): give only one of value, value_file, value_env")
                continue
            }
            guard let value = readSecretValue(entry[key]!, key: key, path: "\(itemPath).\(key)", reader: &reader) else { continue }
            if value.unicodeScalars.contains(where: { $0 == "\r" || $0 == "\n" || $0 == "\0" }) {
                reader.fail("\(itemPath).\(key)", "the header value must be one line")
                continue
            }
            headers.append(HTTPJSONHeader(name: name, value: Secret(value)))
        }
        return headers
    }

    private func parseHTTPJSONPools(_ node: Node, path: String, reader: inout NodeReader) -> HTTPJSONPoolMapping? {
        let allowed = ["items", "name", "name_value", "database", "database_value", "user", "user_value", "fields"]
        guard let pools = reader.mapping(node, path: path, allowed: allowed) else { return nil }
        let errorsBefore = reader.errors.count

        func jsonPath(_ node: Node, path: String, singular: Bool) -> JSONPath? {
            guard let text = reader.scalar(node, path: path) else { return nil }
            let parsed: JSONPath
            do {
                parsed = try JSONPath(parsing: text)
            } catch {
                reader.fail(path, "\(ConfigEcho.quoted(text)) is not a supported JSON path: \(error) (supported: $, .key, ['key'], [n], [*])")
                return nil
            }
            if singular, !parsed.isSingular {
                reader.fail(path, "\(ConfigEcho.quoted(text)) must select one value; [*] is allowed only in pools.items")
                return nil
            }
            return parsed
        }
        func label(_ key: String, default fallback: String) -> HTTPJSONPoolMapping.LabelSource {
            let literalKey = "\(key)_value"
            if pools[key] != nil, pools[literalKey] != nil {
                reader.fail("\(path).\(literalKey)", "conflicts with \(path).\(key): give a JSON path or a literal value, not both")
                return .literal(fallback)
            }
            if let node = pools[key] { return jsonPath(node, path: "\(path).\(key)", singular: true).map { .path($0) } ?? .literal(fallback) }
            if let node = pools[literalKey] {
                guard case .scalar = node else {
                    reader.fail("\(path).\(literalKey)", "expected a single value")
                    return .literal(fallback)
                }
                return .literal(node.scalar?.string ?? fallback)
            }
            return .literal(fallback)
        }

        var items = JSONPath.root
        if let node = pools["items"] { items = jsonPath(node, path: "\(path).items", singular: false) ?? items }
        let name = label("name", default: "default")
        let database = label("database", default: "")
        let user = label("user", default: "")

        guard let fieldsNode = pools["fields"] else {
            reader.fail("\(path).fields", "is required: the JSON paths of active, idle, waiting and max")
            return nil
        }
        let fieldKeys = ["active", "idle", "waiting", "max", "acquire_seconds", "acquire_seconds_scale", "wait_seconds_max",
                         "wait_seconds_max_scale", "timeouts_total", "acquire_latency_scale", "query_latency_scale"]
            + PoolModel.Figure.extended.map(\.rawValue)
        guard let fields = reader.mapping(fieldsNode, path: "\(path).fields", allowed: fieldKeys) else { return nil }
        func field(_ key: String, required: Bool) -> JSONPath? {
            guard let node = fields[key] else {
                if required { reader.fail("\(path).fields.\(key)", "is required (a JSON path relative to each pool, e.g. \"$.\(key)\")") }
                return nil
            }
            return jsonPath(node, path: "\(path).fields.\(key)", singular: true)
        }
        func scale(_ key: String, for fieldKey: String) -> Double {
            guard let node = fields[key] else { return 1 }
            if fields[fieldKey] == nil { reader.fail("\(path).fields.\(key)", "is given without \(path).fields.\(fieldKey)") }
            guard let text = reader.scalar(node, path: "\(path).fields.\(key)") else { return 1 }
            guard let value = Double(text), value.isFinite, value > 0 else {
                reader.fail("\(path).fields.\(key)", "\(ConfigEcho.quoted(text)) is not a positive number (e.g. 0.001 for milliseconds)")
                return 1
            }
            return value
        }
        let active = field("active", required: true)
        let idle = field("idle", required: true)
        let waiting = field("waiting", required: true)
        let max = field("max", required: true)
        var mapping = HTTPJSONPoolMapping(
            items: items, name: name, database: database, user: user,
            active: active ?? .root, idle: idle ?? .root, waiting: waiting ?? .root, max: max ?? .root,
            acquireSeconds: field("acquire_seconds", required: false),
            acquireSecondsScale: scale("acquire_seconds_scale", for: "acquire_seconds"),
            waitSecondsMax: field("wait_seconds_max", required: false),
            waitSecondsMaxScale: scale("wait_seconds_max_scale", for: "wait_seconds_max"),
            timeoutsTotal: field("timeouts_total", required: false))
        for figure in PoolModel.Figure.extended {
            if let path = field(figure.rawValue, required: false) { mapping.extended[figure] = path }
        }
        // A counter and a rate of the same thing would be two answers to one question.
        for (counter, rate) in [("queries_total", "queries_per_second"), ("query_errors_total", "query_errors_per_second")]
        where fields[counter] != nil && fields[rate] != nil {
            reader.fail("\(path).fields.\(rate)", "conflicts with \(path).fields.\(counter): give the counter when the document has one, else the rate")
        }
        func latencyScale(_ key: String, prefix: String) -> Double {
            guard fields[key] != nil else { return 1 }
            let given = ["p50", "p95", "p99"].first { fields["\(prefix)_\($0)"] != nil }
            return scale(key, for: "\(prefix)_\(given ?? "p99")")
        }
        mapping.acquireLatencyScale = latencyScale("acquire_latency_scale", prefix: "acquire")
        mapping.queryLatencyScale = latencyScale("query_latency_scale", prefix: "query")
        return reader.errors.count == errorsBefore ? mapping : nil
    }
}

/// Parses byte sizes: `1048576`, `512KiB`, `1MiB`, `2MB`, `64kB`.
public enum ByteSizeParser {
    static let units: [(String, Int)] = [
        ("", 1), ("b", 1), ("kb", 1000), ("kib", 1024), ("mb", 1_000_000), ("mib", 1 << 20), ("gb", 1_000_000_000), ("gib", 1 << 30),
    ]

    /// The size in bytes, or nil.
    public static func bytes(_ text: String) -> Int? {
        let trimmed = text.trimmingSpaces()
        let digits = trimmed.prefix { $0.isASCII && $0.isNumber }
        guard !digits.isEmpty, digits.count <= 12, let number = Int(digits) else { return nil }
        let unit = trimmed.dropFirst(digits.count).trimmingSpaces().lowercased()
        guard let factor = units.first(where: { $0.0 == unit })?.1 else { return nil }
        return number * factor
    }
}

/// The parts of an `http`/`https` URL that validation and display need.
struct HTTPURL {
    var scheme: String
    /// Host and optional port, without user info.
    var hostPort: String
    /// The path, without query and fragment ("" when absent).
    var path: String
    /// The host alone: no port, no IPv6 brackets.
    var host: String = ""
    var hasUserInfo = false
    var hasQuery = false

    struct Problem: Error { var message: String }

    var displayOrigin: String { "\(scheme)://\(hostPort)" }
    var displayWithPath: String { "\(scheme)://\(hostPort)\(path)" }

    static func parse(_ text: String) -> Result<HTTPURL, Problem> {
        if text.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value == 0x7F }) {
            return .failure(Problem(message: "it contains spaces or control characters"))
        }
        guard let separator = text.firstRange(of: "://") else {
            return .failure(Problem(message: "it must start with http:// or https://"))
        }
        let scheme = text[..<separator.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else {
            return .failure(Problem(message: "the scheme must be http or https"))
        }
        let rest = text[separator.upperBound...]
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        let hasUserInfo = authority.contains("@")
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let host: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return .failure(Problem(message: "the IPv6 host has no closing ']'")) }
            host = authority[authority.index(after: authority.startIndex)..<close]
            let afterHost = authority[authority.index(after: close)...]
            if !afterHost.isEmpty {
                guard afterHost.hasPrefix(":"), let port = Int(afterHost.dropFirst()), (1...65535).contains(port) else {
                    return .failure(Problem(message: "the port is not a number from 1 to 65535"))
                }
            }
        } else {
            let parts = authority.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            host = parts[0]
            if parts.count == 2 {
                guard let port = Int(parts[1]), (1...65535).contains(port) else {
                    return .failure(Problem(message: "the port is not a number from 1 to 65535"))
                }
            }
        }
        guard !host.isEmpty else { return .failure(Problem(message: "the host is missing")) }
        let afterAuthority = rest[authorityEnd...]
        let pathEnd = afterAuthority.firstIndex { $0 == "?" || $0 == "#" } ?? afterAuthority.endIndex
        return .success(HTTPURL(
            scheme: scheme, hostPort: String(authority), path: String(afterAuthority[..<pathEnd]), host: String(host).lowercased(),
            hasUserInfo: hasUserInfo, hasQuery: afterAuthority.contains("?")))
    }

    /// `localhost`, 127.0.0.0/8 and ::1: traffic that never leaves the host.
    var isLoopback: Bool {
        host == "localhost" || host.hasSuffix(".localhost") || host == "::1" || host == "0:0:0:0:0:0:0:1"
            || (host.hasPrefix("127.") && host.split(separator: ".").count == 4 && host.split(separator: ".").allSatisfy { UInt8($0) != nil })
    }
}

extension HTTPJSONTargetConfig {
    /// Header names that carry credentials by convention (compared lowercased, by substring for the
    /// last ones: `X-Api-Key`, `X-Auth-Token`, `Private-Token`).
    static func isCredentialHeader(_ name: String) -> Bool {
        let lower = name.lowercased()
        return ["authorization", "proxy-authorization", "cookie"].contains(lower)
            || ["auth", "token", "key", "secret", "password", "session"].contains { lower.contains($0) }
    }

    /// A warning for the start-up log when credentials (a credential header, user info or a query string
    /// in the URL) go over plain `http` to a host other than loopback: anyone on the path can read them,
    /// and so can a proxy named by `http_proxy`, which libcurl honours. Names headers, never values.
    public var cleartextCredentialWarning: String? {
        Self.cleartextCredentialWarning(url: url, displayURL: displayURL, headers: headers)
    }

    /// The same check for any application endpoint (app_metrics too).
    static func cleartextCredentialWarning(url: Secret, displayURL: String, headers: [HTTPJSONHeader]) -> String? {
        guard case let .success(parsed) = HTTPURL.parse(url.revealed), parsed.scheme == "http", !parsed.isLoopback else { return nil }
        var carried: [String] = []
        let names = headers.map(\.name).filter(Self.isCredentialHeader)
        if !names.isEmpty { carried.append("header \(names.joined(separator: ", "))") }
        if parsed.hasUserInfo { carried.append("user info in the URL") }
        if parsed.hasQuery { carried.append("a query string in the URL") }
        guard !carried.isEmpty else { return nil }
        return "\(displayURL) is plain http to a non-loopback host and sends \(carried.joined(separator: " and ")); "
            + "anyone on the path (and any proxy set by http_proxy) can read it: use https"
    }
}
