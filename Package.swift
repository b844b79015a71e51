// swift-tools-version:6.1
import PackageDescription

/// Settings shared by every Swift target: Swift 6 language mode (strict concurrency is the default there)
/// plus the upcoming features that keep imports and existentials explicit.
let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "poolwatch",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "poolwatch", targets: ["poolwatch"]),
        .executable(name: "poolwatch-microbench", targets: ["poolwatch-microbench"]),
        .executable(name: "poolwatch-floor", targets: ["poolwatch-floor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        // Tests only: a second YAML reader checks that the generated rule files are plain YAML.
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.2.2"),
        // TLS of the HTTP server (`--web.config.file`): HummingbirdTLS is built on it.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        // bcrypt for `basic_auth_users` (only the HummingbirdBcrypt product is built).
        .package(url: "https://github.com/hummingbird-project/hummingbird-auth.git", from: "2.5.0"),
    ],
    targets: [
        // libpq, found through pkg-config (apt: libpq-dev).
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"]), .brew(["libpq"])]
        ),
        // libcurl with typed wrappers around the variadic curl_easy_setopt (apt: libcurl4-openssl-dev).
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),
        // libyaml, for the configuration files (apt: libyaml-dev); see YAMLNode.swift for why not Yams.
        .systemLibrary(name: "CYAML", pkgConfig: "yaml-0.1", providers: [.apt(["libyaml-dev"])]),
        // zlib, for gzip of the exposition (apt: zlib1g-dev).
        .systemLibrary(name: "CZlib", providers: [.apt(["zlib1g-dev"])]),
        // glibc's malloc.h (mallopt, malloc_trim): see ProcessMemory.swift.
        .systemLibrary(name: "CMalloc"),
        // Pure logic, no I/O: config model and validation, snapshot, exposition encoder, collectors' mappings.
        .target(
            name: "PoolWatchCore",
            dependencies: ["CZlib", "CYAML", "CMalloc"],
            swiftSettings: swiftSettings
        ),
        // What the process runs on: the thread pool for blocking C calls (libpq, libcurl) and the wall clock.
        .target(
            name: "PoolWatchRuntime",
            dependencies: [
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The thin libpq driver: one connection, its queries, PQcancel, conninfo parsing.
        .target(
            name: "PoolWatchLibPQ",
            dependencies: ["CLibPQ", "PoolWatchCore"],
            swiftSettings: swiftSettings
        ),
        // libcurl HTTP client (alert delivery, http_json and app_metrics targets).
        .target(
            name: "PoolWatchCurl",
            dependencies: ["CCurl", "PoolWatchRuntime"],
            swiftSettings: swiftSettings
        ),
        // Collection: the per-target loop and its deadline, the supervisor that runs one per target, and
        // the collectors that speak to servers (libpq kinds, http_json, app_metrics).
        .target(
            name: "PoolWatchCollection",
            dependencies: [
                "PoolWatchCore",
                "PoolWatchRuntime",
                "PoolWatchLibPQ",
                "PoolWatchCurl",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Alerts: the local evaluation loop and its saved state, the durable outbox and the notifier
        // (Slack, PagerDuty) over PoolWatchCurl. Reads snapshots, never a database.
        .target(
            name: "PoolWatchAlerts",
            dependencies: [
                "PoolWatchCore",
                "PoolWatchRuntime",
                "PoolWatchCurl",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // HTTP routes: /, /metrics, /healthz, /readyz.
        .target(
            name: "PoolWatchHTTP",
            dependencies: [
                "PoolWatchCore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: swiftSettings
        ),
        // Micro-benchmarks of the hot pure code (scripts/bench runs the release build).
        .executableTarget(
            name: "poolwatch-microbench",
            dependencies: ["PoolWatchCore"],
            swiftSettings: swiftSettings
        ),
        // The memory floor for the bench: a Hummingbird server serving a static body, built like poolwatch.
        .executableTarget(
            name: "poolwatch-floor",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")],
            swiftSettings: swiftSettings
        ),
        .executableTarget(
            name: "poolwatch",
            dependencies: [
                "PoolWatchCore",
                "PoolWatchRuntime",
                "PoolWatchLibPQ",
                "PoolWatchCollection",
                "PoolWatchHTTP",
                "PoolWatchCurl",
                "PoolWatchAlerts",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PoolWatchHTTPTests",
            dependencies: [
                "PoolWatchHTTP", "PoolWatchCore", .product(name: "HummingbirdBcrypt", package: "hummingbird-auth"),
                .product(name: "HummingbirdTesting", package: "hummingbird"), .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PoolWatchCoreTests",
            dependencies: ["PoolWatchCore", "CZlib", .product(name: "Yams", package: "Yams")],
            resources: [.copy("Fixtures")],
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "PoolWatchIntegrationTests",
            dependencies: [
                "PoolWatchCore", "PoolWatchRuntime", "PoolWatchLibPQ", "PoolWatchCollection", "PoolWatchCurl", "PoolWatchAlerts",
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)
