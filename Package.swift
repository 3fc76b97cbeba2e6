// swift-tools-version: 6.2
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

/// What the Redis client and the pool on it both use: NIO's core, locks, logs, metrics, the service lifecycle.
let redisServiceDependencies: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
    .product(name: "Metrics", package: "swift-metrics"),
    .product(name: "CoreMetrics", package: "swift-metrics"),
    .product(name: "Logging", package: "swift-log"),
    .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
]

/// What the Redis client's tests and the pool's both use: real redis-servers, channels without a network.
let redisTestDependencies: [Target.Dependency] = [
    "RedisNIO",
    "TokenPoolTestSupport",
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOEmbedded", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
]

let package = Package(
    name: "TokenPool",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "tokenpool", targets: ["tokenpool"]),
        .executable(name: "tokenpool-load", targets: ["TokenPoolLoad"]),
        .library(name: "RedisTokenPool", targets: ["RedisTokenPool"]),
        .library(name: "RedisNIO", targets: ["RedisNIO"]),
        .library(name: "TokenPoolClient", targets: ["TokenPoolClient"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swiftlang/swift-subprocess.git", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
    ],
    targets: [
        // C stays in one room: hiredis is only the RESP codec.
        .systemLibrary(
            name: "CHiredis",
            pkgConfig: "hiredis",
            providers: [.apt(["libhiredis-dev"])]
        ),
        // Turns text files (Scripts/lua, the OpenAPI document, doc pages) into Swift string
        // constants at build time, so the binary carries them and the files stay their single source.
        .executableTarget(
            name: "EmbedText",
            swiftSettings: swiftSettings
        ),
        .plugin(
            name: "EmbedTextFiles",
            capability: .buildTool(),
            dependencies: ["EmbedText"]
        ),
        // The Redis client: RESP (hiredis as the reader), pipelined connections, a pool of them,
        // Sentinel, Redis Cluster; and the embedded redis-server (started with swift-subprocess).
        // Knows nothing of tokens.
        .target(
            name: "RedisNIO",
            dependencies: ["CHiredis"] + redisServiceDependencies + [
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Subprocess", package: "swift-subprocess"),
            ],
            swiftSettings: swiftSettings
        ),
        // The pool's rules on Redis: the scripts, their typed calls and replies, waiting assigns, reaping.
        .target(
            name: "RedisTokenPool",
            dependencies: ["RedisNIO"] + redisServiceDependencies,
            swiftSettings: swiftSettings,
            plugins: ["EmbedTextFiles"]
        ),
        // A typed client of the HTTP API: the CLI, the load tool and the tests use it.
        .target(
            name: "TokenPoolClient",
            dependencies: [
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // The HTTP server: routes, request and response types, errors, `tokenpool serve`.
        .target(
            name: "TokenAPI",
            dependencies: [
                "RedisTokenPool",
                "RedisNIO",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            exclude: ["Embedded"],
            swiftSettings: swiftSettings,
            plugins: ["EmbedTextFiles"]
        ),
        // The client commands (`tokenpool assign`, `hold`, ...), on TokenPoolClient.
        .target(
            name: "TokenPoolCLI",
            dependencies: [
                "TokenPoolClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // The `tokenpool` executable: the server and the client commands under one name.
        .executableTarget(
            name: "tokenpool",
            dependencies: [
                "TokenAPI",
                "TokenPoolCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: swiftSettings
        ),
        // The load client of the history checker (Tests/load).
        .executableTarget(
            name: "TokenPoolLoad",
            dependencies: [
                "TokenPoolClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
        // Starts and stops a real redis-server on a free port for the tests.
        .target(
            name: "TokenPoolTestSupport",
            dependencies: [
                "RedisNIO",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RedisNIOTests",
            dependencies: redisTestDependencies,
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "RedisTokenPoolTests",
            dependencies: ["RedisTokenPool"] + redisTestDependencies,
            swiftSettings: swiftSettings
        ),
        .testTarget(
            name: "TokenAPITests",
            dependencies: [
                "TokenAPI",
                "TokenPoolCLI",
                "RedisNIO",
                "TokenPoolClient",
                "RedisTokenPool",
                "TokenPoolTestSupport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            swiftSettings: swiftSettings
        ),
    ]
)

// `make bench` only (TOKENPOOL_BENCHMARKS=1): micro-benchmarks of the Redis codec with
// ordo-one/benchmark. Out of every other build, CI's included: the package, its plugins and their
// dependencies would add minutes to each.
if Context.environment["TOKENPOOL_BENCHMARKS"] != nil {
    package.dependencies.append(.package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]))
    package.targets.append(
        .executableTarget(
            name: "CodecBenchmarks",
            dependencies: [
                "RedisTokenPool",
                "RedisNIO",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/CodecBenchmarks",
            swiftSettings: swiftSettings,
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        )
    )
}
