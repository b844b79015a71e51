import Testing

@testable import PoolWatchCore

/// Parsing of the `kind: http_json` keys of a target, errors named by key path.
@Suite struct HTTPJSONConfigTests {
    struct NoFile: Error, CustomStringConvertible { var description: String { "No such file or directory" } }

    /// Parses one target mapping as `targets[2]` the way `ConfigLoader.parseTarget` does.
    func parse(_ yaml: String, kind: TargetKind = .httpJSON, env: [String: String] = [:], files: [String: String] = [:])
        throws -> (config: HTTPJSONTargetConfig?, errors: [String])
    {
        let loader = ConfigLoader(environment: env, readFile: { path in
            guard let text = files[path] else { throw NoFile() }
            return text
        })
        var reader = NodeReader()
        let node = try #require(try YAML.compose(yaml: yaml))
        let fields = reader.mapping(node, path: "targets[2]", allowed: ConfigLoader.targetKeys + ConfigLoader.httpJSONTargetKeys) ?? [:]
        let config = loader.parseHTTPJSON(fields, kind: kind, path: "targets[2]", reader: &reader)
        return (config, reader.errors.map(\.description))
    }

    static let minimalPools = """
        pools:
          items: "$.pools[*]"
          name: "$.name"
          fields: {active: "$.active", idle: "$.idle", waiting: "$.pending", max: "$.max"}
        """

    @Test func fullTargetParses() throws {
        let (config, errors) = try parse("""
            name: orders-app
            kind: http_json
            url: http://user:pw@127.0.0.1:8080/pool-stats?token=abc
            max_response_bytes: 512KiB
            max_pools: 50
            headers:
              - {name: Authorization, value_file: /run/secrets/token}
              - {name: X-Tenant, value: orders}
              - {name: X-Key, value_env: STATS_KEY}
            pools:
              items: "$.pools[*]"
              name: "$.name"
              database_value: orders
              user: "$['user']"
              fields:
                active: "$.active"
                idle: "$.idle"
                waiting: "$.pending"
                max: "$.max"
                acquire_seconds: "$.acquireTimeAvgMs"
                acquire_seconds_scale: 0.001
                wait_seconds_max: "$.longestWaitMs"
                wait_seconds_max_scale: 0.001
                timeouts_total: "$.timeouts"
            """, env: ["STATS_KEY": "k3y"], files: ["/run/secrets/token": "Bearer s3cret\n"])
        #expect(errors == [])
        let c = try #require(config)
        #expect(c.url.revealed == "http://user:pw@127.0.0.1:8080/pool-stats?token=abc")
        #expect(c.displayURL == "http://127.0.0.1:8080/pool-stats")
        #expect(c.maxResponseBytes == 512 * 1024)
        #expect(c.maxPools == 50)
        #expect(c.headers.map(\.name) == ["Authorization", "X-Tenant", "X-Key"])
        #expect(c.headers.map(\.value.revealed) == ["Bearer s3cret", "orders", "k3y"])
        #expect(c.pools.items.description == "$.pools[*]")
        #expect(c.pools.name == .path(try JSONPath(parsing: "$.name")))
        #expect(c.pools.database == .literal("orders"))
        #expect(c.pools.user == .path(try JSONPath(parsing: "$.user")))
        #expect(c.pools.waiting.description == "$.pending")
        #expect(c.pools.acquireSecondsScale == 0.001 && c.pools.waitSecondsMaxScale == 0.001)
        #expect(c.pools.timeoutsTotal?.description == "$.timeouts")
    }

    @Test func defaults() throws {
        let (config, errors) = try parse("""
            name: app
            kind: http_json
            url: https://app.internal/stats
            pools:
              fields: {active: "$.a", idle: "$.i", waiting: "$.w", max: "$.m"}
            """)
        #expect(errors == [])
        let c = try #require(config)
        #expect(c.maxResponseBytes == 1 << 20)
        #expect(c.maxPools == HTTPJSONTargetConfig.defaultMaxPools)
        #expect(c.headers.isEmpty)
        #expect(c.pools.items == .root)
        #expect(c.pools.name == .literal("default"))
        #expect(c.pools.database == .literal("") && c.pools.user == .literal(""))
        #expect(c.pools.acquireSeconds == nil && c.pools.acquireSecondsScale == 1)
    }

    @Test func urlFromFileShowsOnlyTheOrigin() throws {
        let (config, errors) = try parse("name: app\nkind: http_json\nurl_file: /s/url\n" + Self.minimalPools,
                                         files: ["/s/url": "https://stats.internal:8443/secret-path/stats\n"])
        #expect(errors == [])
        #expect(config?.displayURL == "https://stats.internal:8443")
        #expect(config?.url.revealed == "https://stats.internal:8443/secret-path/stats")
    }

    @Test(arguments: [
        ("url: ftp://x/stats", "targets[2].url: is not a usable URL: the scheme must be http or https"),
        ("url: 127.0.0.1:8080/stats", "targets[2].url: is not a usable URL: it must start with http:// or https://"),
        ("url: http://:8080/stats", "targets[2].url: is not a usable URL: the host is missing"),
        ("url: http://h:99999/", "targets[2].url: is not a usable URL: the port is not a number from 1 to 65535"),
        ("url: \"http://h/a b\"", "targets[2].url: is not a usable URL: it contains spaces or control characters"),
        ("url_env: NOPE", "targets[2].url_env: environment variable NOPE is not set"),
        ("url_file: /missing", "targets[2].url_file: cannot read \"/missing\": No such file or directory"),
        ("url: http://h/\nurl_env: X", "targets[2].url_env: conflicts with targets[2].url: give only one of url, url_file, url_env"),
        ("url: http://h/\ndsn: host=x", "targets[2].dsn: does not apply to kind http_json (give url, url_file or url_env)"),
        ("url: http://h/\nmax_response_bytes: 10", "targets[2].max_response_bytes: \"10\" is not a size between 1KiB and 64MiB (use 512KiB, 1MiB, 2MB)"),
        ("url: http://h/\nmax_response_bytes: 1TB", "targets[2].max_response_bytes: \"1TB\" is not a size between 1KiB and 64MiB (use 512KiB, 1MiB, 2MB)"),
        ("url: http://h/\nheaders: {Authorization: x}", "targets[2].headers: expected a list, found a mapping"),
        ("url: http://h/\nheaders: [{name: Authorization}]", "targets[2].headers[0].value: is required (or value_file / value_env for a secret)"),
        ("url: http://h/\nheaders: [{name: \"Bad Name\", value: x}]",
         "targets[2].headers[0].name: \"Bad Name\" is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)"),
        ("url: http://h/\nheaders: [{name: Host, value: x}]", "targets[2].headers[0].name: Host is set by poolwatch and cannot be configured"),
        ("url: http://h/\nheaders: [{name: A, value: x, value_env: Y}]",
         "targets[2].headers[0].value_env: conflicts with targets[2].headers[0].value: give only one of value, value_file, value_env"),
        ("url: http://h/\nheaders: [{name: A, valu: x}]",
         "targets[2].headers[0].valu: unknown key (did you mean value?); expected one of: name, value, value_file, value_env"),
    ])
    func targetLevelErrors(yaml: String, message: String) throws {
        let (config, errors) = try parse("name: app\nkind: http_json\n\(yaml)\n" + Self.minimalPools)
        #expect(config == nil)
        #expect(errors.contains(message), "\(errors)")
    }

    @Test func missingURLAndPools() throws {
        let (config, errors) = try parse("name: app\nkind: http_json")
        #expect(config == nil)
        #expect(errors == [
            "targets[2].url: is required for kind http_json (or url_file / url_env when the URL holds a secret)",
            "targets[2].pools: is required for kind http_json: where the pools are in the document and their fields",
        ])
    }

    @Test(arguments: [
        ("items: \"pools[*]\"\nfields: {active: $.a, idle: $.i, waiting: $.w, max: $.m}",
         "targets[2].pools.items: \"pools[*]\" is not a supported JSON path: a path starts with '$' (the document root), e.g. $.pools[*] (at character 1) (supported: $, .key, ['key'], [n], [*])"),
        ("fields: {active: \"$.a[*]\", idle: $.i, waiting: $.w, max: $.m}",
         "targets[2].pools.fields.active: \"$.a[*]\" must select one value; [*] is allowed only in pools.items"),
        ("fields: {active: $.a, idle: $.i, max: $.m}",
         "targets[2].pools.fields.waiting: is required (a JSON path relative to each pool, e.g. \"$.waiting\")"),
        ("fields: {active: $.a, idle: $.i, waiting: $.w, max: $.m, acitve: $.x}",
         "targets[2].pools.fields.acitve: unknown key (did you mean active?); expected one of: active, idle, waiting, max, acquire_seconds, acquire_seconds_scale, wait_seconds_max, wait_seconds_max_scale, timeouts_total, acquire_latency_scale, query_latency_scale, acquire_p50, acquire_p95, acquire_p99, queries_total, queries_per_second, query_errors_total, query_errors_per_second, query_p50, query_p95, query_p99, slow_queries_total"),
        ("fields: {active: $.a, idle: $.i, waiting: $.w, max: $.m, acquire_seconds: $.t, acquire_seconds_scale: -1}",
         "targets[2].pools.fields.acquire_seconds_scale: \"-1\" is not a positive number (e.g. 0.001 for milliseconds)"),
        ("fields: {active: $.a, idle: $.i, waiting: $.w, max: $.m, acquire_seconds_scale: 0.001}",
         "targets[2].pools.fields.acquire_seconds_scale: is given without targets[2].pools.fields.acquire_seconds"),
        ("name: $.n\nname_value: x\nfields: {active: $.a, idle: $.i, waiting: $.w, max: $.m}",
         "targets[2].pools.name_value: conflicts with targets[2].pools.name: give a JSON path or a literal value, not both"),
        ("name: $.n",
         "targets[2].pools.fields: is required: the JSON paths of active, idle, waiting and max"),
        ("datbase: $.d\nfields: {active: $.a, idle: $.i, waiting: $.w, max: $.m}",
         "targets[2].pools.datbase: unknown key (did you mean database?); expected one of: items, name, name_value, database, database_value, user, user_value, fields"),
    ])
    func poolErrorsNameTheKeyPath(yaml: String, message: String) throws {
        let indented = yaml.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n")
        let (config, errors) = try parse("name: app\nkind: http_json\nurl: http://h/\npools:\n\(indented)")
        #expect(config == nil)
        #expect(errors.contains(message), "\(errors)")
    }

    @Test func httpJSONKeysAreRefusedOnOtherKinds() throws {
        let (config, errors) = try parse("name: db\nkind: postgres\nurl: http://h/\n" + Self.minimalPools, kind: .postgres)
        #expect(config == nil)
        #expect(errors == [
            "targets[2].url: applies only to kind http_json, not postgres",
            "targets[2].pools: applies only to kind http_json, not postgres",
        ])
    }

    @Test func secretsAreNeverQuoted() throws {
        let (_, errors) = try parse("name: app\nkind: http_json\nurl: \"ftp://user:hunter2@h/\"\n" + Self.minimalPools)
        #expect(errors.count == 1)
        #expect(!errors.joined().contains("hunter2"))
    }

    @Test(arguments: [
        ("1048576", 1_048_576), ("1MiB", 1_048_576), ("512KiB", 524_288), ("2MB", 2_000_000), ("64kb", 64_000), ("100 B", 100),
    ])
    func parsesByteSizes(text: String, bytes: Int) {
        #expect(ByteSizeParser.bytes(text) == bytes)
    }

    @Test func refusesBadByteSizes() {
        for text in ["", "MiB", "1.5MiB", "-1", "12 parsecs", "99999999999999999"] {
            #expect(ByteSizeParser.bytes(text) == nil, "\(text)")
        }
    }
}

/// The start-up warning for credentials sent over plain http (libcurl also honours http_proxy).
@Suite struct CleartextCredentialWarningTests {
    func warning(_ url: String, headers: [String] = []) -> String? {
        let mapping = HTTPJSONPoolMapping(
            items: .root, active: try! JSONPath(parsing: "$.a"), idle: try! JSONPath(parsing: "$.i"),
            waiting: try! JSONPath(parsing: "$.w"), max: try! JSONPath(parsing: "$.m"))
        return HTTPJSONTargetConfig(
            url: Secret(url), displayURL: "shown-url", headers: headers.map { HTTPJSONHeader(name: $0, value: Secret("s3cret")) },
            pools: mapping).cleartextCredentialWarning
    }

    @Test func warnsForCredentialsOverPlainHTTPToAnotherHost() throws {
        let header = try #require(warning("http://app.internal:8080/stats", headers: ["Authorization", "X-Tenant"]))
        #expect(header.hasPrefix("shown-url is plain http to a non-loopback host and sends header Authorization;"))
        #expect(warning("http://10.0.0.5/stats?token=t0k3n")?.contains("a query string in the URL") == true)
        #expect(warning("http://u:pw@10.0.0.5/stats")?.contains("user info in the URL") == true)
        #expect(warning("http://10.0.0.5/stats", headers: ["X-Api-Key"]) != nil)
        for text in [warning("http://u:pw@10.0.0.5/stats?token=t0k3n", headers: ["Authorization"])].compactMap({ $0 }) {
            #expect(!text.contains("t0k3n") && !text.contains("pw") && !text.contains("s3cret"))
        }
    }

    @Test func silentForHTTPSLoopbackOrNoCredentials() {
        #expect(warning("https://app.internal/stats?token=t", headers: ["Authorization"]) == nil)
        #expect(warning("http://127.0.0.1:8080/stats?token=t", headers: ["Authorization"]) == nil)
        #expect(warning("http://localhost/stats", headers: ["Authorization"]) == nil)
        #expect(warning("http://[::1]:8080/stats", headers: ["Authorization"]) == nil)
        #expect(warning("http://app.internal/stats", headers: ["X-Tenant", "Accept"]) == nil)
        #expect(warning("http://127.0.0.1.evil.example/stats?token=t") != nil)
    }
}
