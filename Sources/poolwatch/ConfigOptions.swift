import ArgumentParser
import PoolWatchCore
import PoolWatchHTTP
#if canImport(Glibc)
import Glibc
import PoolWatchLibPQ
#endif

/// Options shared by the commands that read a configuration.
struct ConfigOptions: ParsableArguments {
    @Option(name: .long, help: "YAML configuration file (also $POOLWATCH_CONFIG). Without one, watch the local PostgreSQL.")
    var config: String?

    @Option(name: .long, help: "Listen address, host:port or :port (also $POOLWATCH_LISTEN_ADDRESS). Default :9646.")
    var listenAddress: String?

    @Option(name: .long, help: "Log format: logfmt or json (also $POOLWATCH_LOG_FORMAT).")
    var logFormat: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical (also $POOLWATCH_LOG_LEVEL).")
    var logLevel: String?

    @Option(name: .customLong("web.config.file"),
            help: "Web configuration (TLS, client certificates, basic auth, headers) in Prometheus exporter-toolkit format (also $POOLWATCH_WEB_CONFIG_FILE or the web_config_file key).")
    var webConfigFile: String?

    /// The web configuration at `path` with its certificate files loaded. Every mistake is thrown,
    /// with its key path; a file's content (a key, a hash) never appears in a message.
    func loadWeb(path: String) throws(ConfigErrors) -> (config: WebConfig, security: WebSecurity) {
        let yaml: String
        do {
            yaml = try FileReader.read(path, limit: ConfigLoader.maxFileBytes)
        } catch {
            throw ConfigErrors([ConfigError("", "cannot read web configuration file \"\(path)\": \(error)")])
        }
        let config = try WebConfigLoader.load(yaml: yaml)
        do {
            return (config, try WebSecurity(config: config))
        } catch {
            throw ConfigErrors([ConfigError("", "\(error)")])
        }
    }

    /// The configuration file in use: the argument, --config, or $POOLWATCH_CONFIG.
    func configPath(_ explicitPath: String? = nil) -> String? {
        explicitPath ?? config ?? ProcessEnvironment.current["POOLWATCH_CONFIG"]
    }

    /// Loads and validates the configuration, or throws every mistake found.
    func load(path explicitPath: String? = nil) throws -> (config: PoolwatchConfig, path: String?) {
        let environment = ProcessEnvironment.current
        let path = configPath(explicitPath)
        let loader = ConfigLoader(environment: environment, readFile: { try FileReader.readSecret($0) },
                                  displayConnInfo: LibPQConnInfo.display,
                                  readPlainFile: { try FileReader.read($0, limit: ConfigLoader.maxFileBytes) })
        var yaml: String? = nil
        if let path {
            do {
                yaml = try FileReader.read(path, limit: ConfigLoader.maxFileBytes)
            } catch {
                throw ConfigErrors([ConfigError("", "cannot read configuration file \"\(path)\": \(error)")])
            }
        }
        let overrides = ConfigLoader.Overrides(listen: listenAddress, logFormat: logFormat, logLevel: logLevel, webConfigFile: webConfigFile)
        return (try loader.load(yaml: yaml, overrides: overrides), path)
    }
}

/// The process environment as a dictionary.
enum ProcessEnvironment {
    static var current: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}

/// Reads small text files (the config, secret files) with plain POSIX calls.
enum FileReader {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// A secret file: refused when group or others may read or write it (`SecretFileMode`). The
    /// mode is taken from the open descriptor, so it is the file that is read that gets checked.
    static func readSecret(_ path: String) throws -> String {
        try read(path) { file in
            var status = stat()
            guard fstat(fileno(file), &status) == 0 else { throw Failure(description: String(cString: strerror(errno))) }
            if let refused = SecretFileMode.problem(path: path, mode: UInt32(status.st_mode), ownedByRoot: status.st_uid == 0) {
                throw refused
            }
        }
    }

    /// The file's text; throws beyond `limit` bytes without reading further.
    static func read(_ path: String, limit: Int = 16 << 20, check: (UnsafeMutablePointer<FILE>) throws -> Void = { _ in }) throws -> String {
        guard let file = fopen(path, "r") else { throw Failure(description: String(cString: strerror(errno))) }
        defer { fclose(file) }
        try check(file)
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count > 0 { bytes.append(contentsOf: buffer[0..<count]) }
            if bytes.count > limit { throw Failure(description: "it is larger than \(limit) bytes, the limit") }
            if count < buffer.count {
                if ferror(file) != 0 { throw Failure(description: String(cString: strerror(errno))) }
                break
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
