import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import Prometheus
import RedisNIO
import RedisTokenPool
import ServiceLifecycle

/// Builds the server with its services: an embedded Redis when no URL is given, the Redis
/// client, the reaper, then the HTTP server (shut down in the reverse order).
func buildApplication(_ configuration: AppConfiguration) async throws -> some ApplicationProtocol {
    var logger = Logger(label: "tokenpool")
    logger.logLevel = configuration.logLevel
    let registry = PrometheusMetrics.registry  // before any metric is made

    var services: [any Service] = []
    var redis: RedisConfiguration
    if let url = configuration.redisURL {
        redis = try RedisConfiguration(url: url)
        if redis.tls != nil {
            redis.tls?.caFile = configuration.redisTLSCAFile
            redis.tls?.insecure = configuration.redisTLSInsecure
            if configuration.redisTLSInsecure {
                logger.critical("--redis-tls-insecure: Redis's certificate is NOT verified; anyone on the path can read and change the pool")
            }
        }
    } else {
        let embedded = try EmbeddedRedis(dataDirectory: configuration.dataDirectory, logger: logger)
        try await embedded.start()
        services.append(embedded)
        redis = try RedisConfiguration(url: embedded.url)
    }
    redis.connectionCount = configuration.redisConnections
    redis.waitReplicas = configuration.redisWaitReplicas
    redis.sentinel?.password = configuration.redisSentinelPassword
    redis.commandTimeout = configuration.redisTimeout
    let client = RedisClient(configuration: redis, logger: logger)
    let pool = TokenPool(
        client: client,
        settings: TokenPoolSettings(leaseTTL: configuration.leaseTTL, keepAliveTTL: configuration.keepAliveTTL, maxWait: configuration.maxWait),
        logger: logger
    )
    services.append(pool.connections)
    services.append(Reaper(pool: pool, interval: configuration.reapInterval, logger: logger))

    let keys: KeyStore
    do {
        keys = try KeyStore(adminKeys: configuration.adminKeys, clientKeys: configuration.clientKeys, keysFile: configuration.keysFile, logger: logger)
    } catch {
        throw ValidationFailure("--keys-file: \(error)")
    }
    if keys.ring.isOpen {
        logger.warning("No admin or client keys configured: anyone who reaches this server can use every route")
    }
    let security = APIGuard(
        keys: keys, rates: RateLimiter(pool: pool),
        audit: AuditTrail(pool: pool, retention: configuration.auditRetention, maxEntries: configuration.auditMaxEntries)
    )
    let tls = try configuration.tlsCertificate.map { certificate in
        guard let key = configuration.tlsKey else { throw ValidationFailure("--tls-cert needs --tls-key") }
        return try ListenerTLS(certificatePath: certificate, keyPath: key, logger: logger)
    }
    if configuration.tlsKey != nil && tls == nil { throw ValidationFailure("--tls-key needs --tls-cert") }
    services.append(ReloadService(keys: keys, tls: tls))
    let hub = EventsHub(pool: pool, logger: logger)
    let responder = try buildResponder(
        pool: pool, hub: hub, security: security, maxBodySize: configuration.maxBodySize, registry: registry, docsAssets: configuration.docsAssets,
        logLevel: configuration.logLevel
    )
    let idleTimeout = TimeAmount(configuration.idleTimeout)
    // Each connection in a task of its own (DetachedConnections); the last service, so the others
    // stop only once every connection's task has ended.
    // Waits and event streams parked on their connections (ParkingHandler) have no task to hear
    // the shutdown: it answers them.
    let open = OpenConnections(onShutdown: {
        pool.interruptWaits()
        hub.finishAll()
    })
    services.append(open)
    let server: HTTPServerBuilder
    if let tls {
        // HTTP/2 by ALPN, HTTP/1.1 beside it; each HTTP/2 stream gets its own departure handler.
        let http2 = HTTP2UpgradeChannel.Configuration(
            idleTimeout: configuration.idleTimeout, streamConfiguration: .init(additionalChannelHandlers: [ClientDepartureHandler()])
        )
        server = HTTPServerBuilder { responder in
            DetachedConnections(try HTTP2UpgradeChannel(tlsConfiguration: tls.configuration, configuration: http2, responder: responder), open: open)
        }
    } else {
        // No departure handler: ParkingHandler answers every request here and notices a client
        // that leaves itself.
        let http1 = HTTP1Channel.Configuration(idleTimeout: idleTimeout)
        let parking = ParkingHandler.Configuration(
            responder: responder, logger: logger, maxBodySize: configuration.maxBodySize, serverName: "tokenpool", http1: http1
        )
        server = HTTPServerBuilder { responder in
            DetachedConnections(HTTP1Channel(responder: responder, configuration: http1), open: open, parking: parking)
        }
    }
    return Application(
        responder: responder,
        server: server,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tokenpool"),
        services: services,
        logger: logger
    )
}

/// The route table's routes behind their keys, in the one list of middlewares every route runs.
func buildResponder(
    pool: TokenPool, hub: EventsHub, security: APIGuard, maxBodySize: Int, registry: PrometheusCollectorRegistry, docsAssets: String? = nil,
    logLevel: Logger.Level
) throws -> APIResponder<TokenRequestContext> {
    var logger = Logger(label: "tokenpool")
    logger.logLevel = logLevel
    let routes = try APIRoutes<TokenRequestContext>(
        tokens: TokenController(pool: pool, maxBodySize: maxBodySize), events: EventsController(pool: pool, hub: hub), health: HealthController(pool: pool),
        metrics: MetricsController(pool: pool, registry: registry), docs: DocsController(maxWait: pool.settings.maxWait, assetsDirectory: docsAssets),
        dashboard: DashboardController(), audit: AuditController(trail: security.audit)
    )
    return APIResponder(routes: routes.guarded(by: security), logsRequests: logLevel <= .debug)
}

/// A configuration that cannot start the server, said in the options' words.
struct ValidationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
