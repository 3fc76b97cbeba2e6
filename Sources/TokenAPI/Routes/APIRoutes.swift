import Hummingbird
import RedisTokenPool

/// The API's one list of routes: method, path, who may call it, whether it is hot, and its
/// handler. The router's registration, the fast path for hot routes (``HotRouteMatcher``), the
/// metrics' route labels, 405 `Allow` (``AllowedMethods``) and the test that the OpenAPI
/// document names exactly these routes all come from it. Adding a route is a line here and
/// its handler.
struct APIRoutes<Context: ChannelRequestContext>: Sendable {
    let routes: [APIRoute<Context>]

    init(
        tokens: TokenController<Context>, events: EventsController<Context>, health: HealthController<Context>,
        metrics: MetricsController<Context>, docs: DocsController<Context>, dashboard: DashboardController<Context>
    ) {
        // The router tries a segment's literals in the order they were added: the probes first.
        let probes: [APIRoute<Context>] = [
            APIRoute(.get, "/healthz", .open, health.live),
            APIRoute(.get, "/readyz", .open, health.ready),
        ]
        // Every route of one pool, at `PATH` for the default pool and at `/pools/{pool}PATH`.
        let poolRoutes: [PoolRoute<Context>] = [
            PoolRoute(.post, "/tokens/assign", .client, hot: true, tokens.assign),
            PoolRoute(.post, "/tokens/{token}/unblock", .client, hot: true, tokens.unblock),
            PoolRoute(.post, "/tokens/{token}/keep-alive", .client, hot: true, tokens.keepAlive),
            PoolRoute(.get, "/tokens/{token}", .client, tokens.inspect),
            PoolRoute(.get, "/tokens", .client, tokens.list),
            PoolRoute(.get, "/events", .client, events.stream),
            PoolRoute(.post, "/tokens", .admin, tokens.generate),
            PoolRoute(.post, "/tokens/batch", .admin, tokens.batch),
            PoolRoute(.patch, "/tokens/{token}", .admin, tokens.setMetadata),
            PoolRoute(.delete, "/tokens/{token}", .admin, tokens.delete),
            PoolRoute(.get, "/stats", .admin, tokens.stats),
        ]
        let routes: [APIRoute<Context>] = [
            APIRoute(.get, "/pools", .client, tokens.pools),
            APIRoute(.get, "/pools/{pool}", .client, tokens.poolInfo),
            APIRoute(.put, "/pools/{pool}", .admin, tokens.configurePool),
            APIRoute(.delete, "/pools/{pool}", .admin, tokens.deletePool),
            APIRoute(.get, "/metrics", .admin, metrics.scrape),
            APIRoute(.get, "/openapi.json", .open, documented: false, docs.json),
            APIRoute(.get, "/openapi.yaml", .open, documented: false, docs.yaml),
            APIRoute(.get, "/docs", .open, documented: false, docs.docs),
            APIRoute(.get, "/redoc", .open, documented: false, docs.redoc),
            APIRoute(.get, "/docs/assets/{name}", .open, documented: false, docs.asset),
            APIRoute(.get, "/dashboard", .open, documented: false, dashboard.page),
            APIRoute(.get, "/dashboard/pools/{pool}", .open, documented: false, dashboard.page),
        ]
        self.routes = probes + poolRoutes.flatMap(\.routes) + routes
    }

    /// Each route behind the key check its access needs.
    func guarded(by keys: APIKeys) -> [APIRoute<Context>] {
        self.routes.map { $0.guarded { request, access in try keys.authorize(request, for: access) } }
    }
}
