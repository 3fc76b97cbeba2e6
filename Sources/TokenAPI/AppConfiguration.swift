import Logging
import RedisTokenPool

/// Everything `tokenpool serve` can be told, already resolved from flags, environment and defaults.
struct AppConfiguration: Sendable {
    var host = "127.0.0.1"
    var port = 8080
    /// `nil`: start an embedded `redis-server` in `dataDirectory`.
    var redisURL: String?
    var dataDirectory = "./data"
    var leaseTTL: Duration = .seconds(60)
    var keepAliveTTL: Duration = .seconds(300)
    var redisTLSCAFile: String?
    var redisTLSInsecure = false
    var redisConnections = 4
    var redisTimeout: Duration = .seconds(1)
    var reapInterval: Duration = .seconds(1)
    var maxBodySize = 64 * 1024
    /// Idle keep-alive connections are closed after this.
    var idleTimeout: Duration = .seconds(60)
    var adminKeys: [String] = []
    var clientKeys: [String] = []
    var logLevel: Logger.Level = .info
    var logFormat: LineLogHandler.Format = .logfmt
}
