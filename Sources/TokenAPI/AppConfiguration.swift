import Logging
import RedisNIO
import RedisTokenPool

/// Everything `tokenpool serve` can be told, already resolved from flags, environment and defaults.
struct AppConfiguration: Sendable {
    var host = ServerDefaults.host
    var port = ServerDefaults.port
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
    var redisConnections = RedisDefaults.connections
    var redisTimeout = RedisDefaults.commandTimeout
    var reapInterval = Defaults.reapInterval
    var maxWait = Defaults.maxWait
    var maxBodySize = ServerDefaults.maxBodySize
    /// Idle keep-alive connections are closed after this.
    var idleTimeout = ServerDefaults.idleTimeout
    /// Event-loop threads; `nil`: NIO's default, one per core.
    var threads: Int?
    var adminKeys: [String] = []
    var clientKeys: [String] = []
    /// The keys file (JSON), read again when it changes and on SIGHUP.
    var keysFile: String?
    var auditRetention = ServerDefaults.auditRetention
    var auditMaxEntries = ServerDefaults.auditMaxEntries
    /// PEM files of the listener's certificate (chain) and key: HTTPS with HTTP/2 and HTTP/1.1.
    var tlsCertificate: String?
    var tlsKey: String?
    var logLevel: Logger.Level = .info
    var logFormat: LineLogHandler.Format = .logfmt
}
