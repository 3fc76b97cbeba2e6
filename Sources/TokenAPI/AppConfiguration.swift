import Logging
import RedisTokenPool

/// Everything `tokenpool serve` can be told, already resolved from flags, environment and defaults.
struct AppConfiguration: Sendable {
    var host = Defaults.host
    var port = Defaults.port
    /// `nil`: start an embedded `redis-server` in `dataDirectory`.
    var redisURL: String?
    var dataDirectory = "./data"
    /// A folder with Swagger UI's and ReDoc's files for `/docs` and `/redoc`; `nil`: from a CDN.
    var docsAssets: String?
    var leaseTTL = Defaults.leaseTTL
    var keepAliveTTL = Defaults.keepAliveTTL
    var redisTLSCAFile: String?
    var redisTLSInsecure = false
    /// With N > 0 a change is acknowledged once N replicas have it (`WAIT`).
    var redisWaitReplicas = 0
    /// The sentinels' own password, for `redis-sentinel://` URLs.
    var redisSentinelPassword: String?
    var redisConnections = Defaults.redisConnections
    var redisTimeout = Defaults.redisTimeout
    var reapInterval = Defaults.reapInterval
    var maxWait = Defaults.maxWait
    var maxBodySize = Defaults.maxBodySize
    /// Idle keep-alive connections are closed after this.
    var idleTimeout = Defaults.idleTimeout
    /// Event-loop threads; `nil`: NIO's default, one per core.
    var threads: Int?
    var adminKeys: [String] = []
    var clientKeys: [String] = []
    var logLevel: Logger.Level = .info
    var logFormat: LineLogHandler.Format = .logfmt
}
