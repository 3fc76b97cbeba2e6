import Hummingbird
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

    let keys = APIKeys(admin: configuration.adminKeys, client: configuration.clientKeys)
    if keys.isOpen {
        logger.warning("No admin or client keys configured: anyone who reaches this server can use every route")
    }
    let responder = try buildResponder(
        pool: pool, keys: keys, maxBodySize: configuration.maxBodySize, registry: registry, docsAssets: configuration.docsAssets,
        logLevel: configuration.logLevel
    )
    return Application(
        responder: responder,
        server: .http1(configuration: .init(additionalChannelHandlers: [ClientDepartureHandler()], idleTimeout: TimeAmount(configuration.idleTimeout))),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "tokenpool"),
        services: services,
        logger: logger
    )
}

/// The route table's routes behind their keys, in the one list of middlewares every route runs.
func buildResponder(
    pool: TokenPool, keys: APIKeys, maxBodySize: Int, registry: PrometheusCollectorRegistry, docsAssets: String? = nil,
    logLevel: Logger.Level
) throws -> APIResponder<TokenRequestContext> {
    let routes = try APIRoutes<TokenRequestContext>(
        tokens: TokenController(pool: pool, maxBodySize: maxBodySize), events: EventsController(pool: pool), health: HealthController(pool: pool),
        metrics: MetricsController(pool: pool, registry: registry), docs: DocsController(maxWait: pool.settings.maxWait, assetsDirectory: docsAssets),
        dashboard: DashboardController()
    )
    // Every route's, outermost first.
    var middlewares: [any MiddlewareProtocol<Request, Response, TokenRequestContext>] = []
    // Each request at debug level: only where that level prints (the level is fixed at start),
    // as each middleware costs every request about 1 % of its instructions.
    if logLevel <= .debug { middlewares.append(LogRequestsMiddleware<TokenRequestContext>(.debug)) }
    middlewares += [
        RequestMetricsMiddleware<TokenRequestContext>(),
        ProblemMiddleware<TokenRequestContext>(allowed: AllowedMethods(routes.routes.map { ($0.method, $0.path) })),
    ]
    return APIResponder(routes: routes.guarded(by: keys), middlewares: middlewares)
}
