import ArgumentParser
import Foundation
import Hummingbird
import Logging
import NIOCore
import RedisTokenPool

@main
struct TokenPoolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenpool",
        abstract: "Hands out tokens from a shared pool kept in Redis.",
        subcommands: [
            ServeCommand.self, GenerateCommand.self, AssignCommand.self, KeepAliveCommand.self, UnblockCommand.self,
            DeleteCommand.self, StatsCommand.self, HoldCommand.self, ListCommand.self, PoolsCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )
}

/// `tokenpool serve`: every option also reads an environment variable; a flag wins.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the HTTP API.")

    @Option(help: "Address to listen on (HOST). Default \(Defaults.host); 0.0.0.0 for every interface.")
    var host: String?

    @Option(help: "Port to listen on (PORT). Default \(Defaults.port).")
    var port: Int?

    @Option(help: """
        redis://[user:password@]host[:port][/db], unix:///path, or redis-sentinel://[user:password@]h1:26379[,h2:26379]/MASTER[?db=N] \
        (REDIS_URL; rediss:// and rediss-sentinel:// for TLS). Without one, an embedded redis-server is started.
        """)
    var redisURL: String?

    @Option(help: "Password of the sentinels themselves, for redis-sentinel:// (TOKENPOOL_REDIS_SENTINEL_PASSWORD).")
    var redisSentinelPassword: String?

    @Option(help: "Acknowledge a change only once this many replicas have it (WAIT); fewer in time is 503 not-replicated (TOKENPOOL_REDIS_WAIT_REPLICAS). Default \(Defaults.redisWaitReplicas).")
    var redisWaitReplicas: Int?

    @Option(name: .customLong("redis-tls-ca"), help: "PEM file of CAs to trust for rediss:// (TOKENPOOL_REDIS_TLS_CA).")
    var redisTLSCA: String?

    @Flag(name: .customLong("redis-tls-insecure"), help: "Accept any certificate from a rediss:// Redis, e.g. Heroku's self-signed ones (TOKENPOOL_REDIS_TLS_INSECURE=1).")
    var redisTLSInsecure = false

    @Option(help: "Folder of the embedded Redis's socket and append-only file (TOKENPOOL_DATA_DIR). Default ./data.")
    var dataDir: String?

    @Option(help: "Seconds an assignment lasts without a keep-alive (TOKENPOOL_LEASE_TTL). Default \(Defaults.leaseTTL.secondsText).")
    var leaseTTL: Double?

    @Option(help: "Seconds a token lives without a keep-alive (TOKENPOOL_KEEP_ALIVE_TTL). Default \(Defaults.keepAliveTTL.secondsText).")
    var keepAliveTTL: Double?

    @Option(help: "Connections to Redis (TOKENPOOL_REDIS_CONNECTIONS). Default \(Defaults.redisConnections).")
    var redisConnections: Int?

    @Option(help: "Seconds a Redis command may take, waiting for a connection included, before the request gets 503 (TOKENPOOL_REDIS_TIMEOUT). Default \(Defaults.redisTimeout.secondsText).")
    var redisTimeout: Double?

    @Option(help: "Longest wait a waiting assign (?wait=) may ask for, in seconds (TOKENPOOL_MAX_WAIT). Default \(Defaults.maxWait.secondsText).")
    var maxWait: Double?

    @Option(help: "Seconds between reaper passes (TOKENPOOL_REAP_INTERVAL). Default \(Defaults.reapInterval.secondsText).")
    var reapInterval: Double?

    @Option(name: .customLong("admin-key"), help: "A key for every route; repeat to rotate (TOKENPOOL_ADMIN_KEYS, comma-separated).")
    var adminKeys: [String] = []

    @Option(name: .customLong("client-key"), help: "A key for assign, unblock, keep-alive, inspect (TOKENPOOL_CLIENT_KEYS, comma-separated).")
    var clientKeys: [String] = []

    @Option(help: "Largest request body in bytes; larger is 413 (TOKENPOOL_MAX_BODY_SIZE). Default \(Defaults.maxBodySize).")
    var maxBodySize: Int?

    @Option(help: "Seconds before an idle keep-alive connection is closed (TOKENPOOL_IDLE_TIMEOUT). Default \(Defaults.idleTimeout.secondsText).")
    var idleTimeout: Double?

    @Option(help: "Event-loop threads for HTTP and Redis connections (TOKENPOOL_THREADS). Default one per core (\(System.coreCount) here).")
    var threads: Int?

    @Option(help: "Folder with swagger-ui.css, swagger-ui-bundle.js and redoc.standalone.js, so /docs and /redoc work offline (TOKENPOOL_DOCS_ASSETS; e.g. the fastapi-offline package's static folder). Default: from a CDN.")
    var docsAssets: String?

    @Option(help: "logfmt or json (TOKENPOOL_LOG_FORMAT). Default logfmt.")
    var logFormat: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (LOG_LEVEL). Default info.")
    var logLevel: String?

    func run() async throws {
        let configuration = try self.resolve(ProcessInfo.processInfo.environment)
        let format = configuration.logFormat
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, format: format) }
        // Before anything makes the shared event-loop group, which the server and the Redis client use.
        if let threads = configuration.threads { NIOSingletons.groupLoopCountSuggestion = threads }
        let app = try await buildApplication(configuration)
        try await app.runService()
    }

    func resolve(_ environment: [String: String]) throws -> AppConfiguration {
        var configuration = AppConfiguration()
        func value<T>(_ flag: T?, _ variable: String, _ parse: (String) -> T?) throws -> T? {
            if let flag { return flag }
            guard let text = environment[variable], !text.isEmpty else { return nil }
            guard let parsed = parse(text) else { throw ValidationError("\(variable)=\(text) is not valid") }
            return parsed
        }
        func seconds(_ flag: Double?, _ variable: String) throws -> Duration? {
            guard let number = try value(flag, variable, Double.init) else { return nil }
            guard number > 0, number.isFinite else { throw ValidationError("\(variable) must be a positive number of seconds") }
            return .milliseconds(Int64((number * 1000).rounded()))
        }
        configuration.host = try value(self.host, "HOST", { $0 }) ?? configuration.host
        configuration.port = try value(self.port, "PORT", Int.init) ?? configuration.port
        configuration.redisURL = try value(self.redisURL, "REDIS_URL", { $0 })
        configuration.redisTLSCAFile = try value(self.redisTLSCA, "TOKENPOOL_REDIS_TLS_CA", { $0 })
        configuration.redisSentinelPassword = try value(self.redisSentinelPassword, "TOKENPOOL_REDIS_SENTINEL_PASSWORD", { $0 })
        configuration.redisWaitReplicas = try value(self.redisWaitReplicas, "TOKENPOOL_REDIS_WAIT_REPLICAS", Int.init) ?? Defaults.redisWaitReplicas
        configuration.redisTLSInsecure = self.redisTLSInsecure || ["1", "true", "yes"].contains(environment["TOKENPOOL_REDIS_TLS_INSECURE"]?.lowercased() ?? "")
        configuration.dataDirectory = try value(self.dataDir, "TOKENPOOL_DATA_DIR", { $0 }) ?? configuration.dataDirectory
        configuration.leaseTTL = try seconds(self.leaseTTL, "TOKENPOOL_LEASE_TTL") ?? configuration.leaseTTL
        configuration.keepAliveTTL = try seconds(self.keepAliveTTL, "TOKENPOOL_KEEP_ALIVE_TTL") ?? configuration.keepAliveTTL
        configuration.redisConnections = try value(self.redisConnections, "TOKENPOOL_REDIS_CONNECTIONS", Int.init) ?? configuration.redisConnections
        configuration.redisTimeout = try seconds(self.redisTimeout, "TOKENPOOL_REDIS_TIMEOUT") ?? configuration.redisTimeout
        configuration.reapInterval = try seconds(self.reapInterval, "TOKENPOOL_REAP_INTERVAL") ?? configuration.reapInterval
        configuration.maxWait = try seconds(self.maxWait, "TOKENPOOL_MAX_WAIT") ?? configuration.maxWait
        func keys(_ flags: [String], _ variable: String) -> [String] {
            let listed = flags.isEmpty ? (environment[variable] ?? "").split(separator: ",").map(String.init) : flags
            return listed.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        configuration.adminKeys = keys(self.adminKeys, "TOKENPOOL_ADMIN_KEYS")
        configuration.clientKeys = keys(self.clientKeys, "TOKENPOOL_CLIENT_KEYS")
        configuration.maxBodySize = try value(self.maxBodySize, "TOKENPOOL_MAX_BODY_SIZE", Int.init) ?? configuration.maxBodySize
        configuration.idleTimeout = try seconds(self.idleTimeout, "TOKENPOOL_IDLE_TIMEOUT") ?? configuration.idleTimeout
        configuration.threads = try value(self.threads, "TOKENPOOL_THREADS", Int.init)
        if let threads = configuration.threads, !(1...256).contains(threads) { throw ValidationError("--threads must be from 1 to 256") }
        configuration.docsAssets = try value(self.docsAssets, "TOKENPOOL_DOCS_ASSETS", { $0 })
        if let format = try value(self.logFormat, "TOKENPOOL_LOG_FORMAT", { $0 }) {
            guard let parsed = LineLogHandler.Format(rawValue: format) else { throw ValidationError("--log-format is logfmt or json") }
            configuration.logFormat = parsed
        }
        if let level = try value(self.logLevel, "LOG_LEVEL", { $0 }) {
            guard let parsed = Logger.Level(rawValue: level) else { throw ValidationError("unknown log level \(level)") }
            configuration.logLevel = parsed
        }
        guard (0...65535).contains(configuration.port) else { throw ValidationError("port must be 0 to 65535") }
        guard configuration.maxBodySize > 0 else { throw ValidationError("max-body-size must be positive") }
        guard (1...64).contains(configuration.redisConnections) else { throw ValidationError("redis-connections must be 1 to 64") }
        guard configuration.redisWaitReplicas >= 0 else { throw ValidationError("redis-wait-replicas must be 0 or more") }
        return configuration
    }
}
