import HTTPTypes
import Hummingbird
import RedisTokenPool

/// The API's one list of routes: method, path, who may call it, whether it is hot, and its
/// handler. The router's registration, the byte matcher ahead of it (``RouteMatcher``), the
/// metrics' route labels, 405 `Allow` (``AllowedMethods``) and the test that the OpenAPI
/// document names exactly these routes all come from it. Adding a route is a line here and
/// its handler.
struct APIRoutes<Context: CallerRequestContext>: Sendable {
    let routes: [APIRoute<Context>]

    init(
        tokens: TokenController<Context>, events: EventsController<Context>, health: HealthController<Context>,
        metrics: MetricsController<Context>, docs: DocsController<Context>, dashboard: DashboardController<Context>, audit: AuditController<Context>
    ) {
        // The router tries a segment's literals in the order they were added: the probes first.
        let probes: [APIRoute<Context>] = [
            APIRoute(.get, "/healthz", .open, health.live),
            APIRoute(.get, "/readyz", .open, health.ready),
        ]
        // Every route of one pool, at `PATH` for the default pool and at `/pools/{pool}PATH`.
        let poolRoutes: [[APIRoute<Context>]] = [
            Self.pool(.post, "/tokens/assign", .client, hot: true, tokens.assign),
            Self.pool(.post, "/tokens/{token}/unblock", .client, hot: true, tokens.unblock),
            Self.pool(.post, "/tokens/{token}/keep-alive", .client, hot: true, tokens.keepAlive),
            Self.pool(.post, "/tokens/{token}/disable", .holderOrAdmin, tokens.disable),
            Self.pool(.post, "/tokens/{token}/enable", .admin, tokens.enable),
            Self.pool(.get, "/tokens/{token}", .client, tokens.inspect),
            Self.pool(.get, "/tokens", .client, tokens.list),
            Self.pool(.get, "/events", .client, events.stream),
            Self.pool(.post, "/tokens", .admin, tokens.generate),
            Self.pool(.post, "/tokens/batch", .admin, tokens.batch),
            Self.pool(.patch, "/tokens/{token}", .admin, tokens.setMetadata),
            Self.pool(.delete, "/tokens/{token}", .admin, tokens.delete),
            Self.pool(.get, "/stats", .admin, tokens.stats),
            Self.pool(.get, "/waiters", .client, tokens.waiters),
        ]
        let routes: [APIRoute<Context>] = [
            APIRoute(.get, "/pools", .client, tokens.pools),
            APIRoute(.get, "/pools/{pool}", .client, tokens.poolInfo),
            APIRoute(.put, "/pools/{pool}", .admin, tokens.configurePool),
            APIRoute(.delete, "/pools/{pool}", .admin, tokens.deletePool),
            APIRoute(.get, "/metrics", .globalAdmin, metrics.scrape),
            APIRoute(.get, "/audit", .globalAdmin, audit.list),
            APIRoute(.get, "/openapi.json", .open, documented: false, docs.json),
            APIRoute(.get, "/openapi.yaml", .open, documented: false, docs.yaml),
            APIRoute(.get, "/docs", .open, documented: false, docs.docs),
            APIRoute(.get, "/redoc", .open, documented: false, docs.redoc),
            APIRoute(.get, "/docs/assets/{name}", .open, documented: false, docs.asset),
            APIRoute(.get, "/dashboard", .open, documented: false, dashboard.page),
            APIRoute(.get, "/dashboard/pools/{pool}", .open, documented: false, dashboard.page),
        ]
        self.routes = probes + poolRoutes.joined() + routes
    }

    /// A route of one pool, declared once and served twice: for the `default` pool at `PATH` and
    /// for any pool at `/pools/{pool}PATH`.
    private static func pool<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method, _ path: String, _ access: Access, hot: Bool = false,
        _ handler: nonisolated(nonsending) @escaping @Sendable (Request, Context, PoolName) async throws -> Output
    ) -> [APIRoute<Context>] {
        [
            APIRoute(method, path, access, hot: hot, pooled: true) { request, context in
                try await handler(request, context, .default).response(from: request, context: context)
            },
            APIRoute(method, "/pools/{pool}" + path, access, hot: hot, pooled: true) { request, context in
                try await handler(request, context, try poolName(context)).response(from: request, context: context)
            },
        ]
    }

    /// Each route behind the key, scope, rate and audit checks its access needs.
    func guarded(by security: APIGuard) -> [APIRoute<Context>] {
        self.routes.map { $0.guarded(by: security) }
    }
}

/// Who may call a route.
enum Access: String, Sendable {
    /// Anyone: health, docs, the dashboard's page.
    case open
    /// A client key or an admin key.
    case client
    /// An admin key, or a client key that names the token's current lease (`?lease=N`): the
    /// holder's own say over the token it holds.
    case holderOrAdmin
    /// An admin key only.
    case admin
    /// An admin key of every pool: the audit trail and the metrics, which speak of every pool.
    case globalAdmin
}

/// One route of the API, as the route table (``APIRoutes``) declares it: everything the router,
/// the fast path, the metrics' route label, 405 `Allow` and the OpenAPI check read about it.
struct APIRoute<Context: RequestContext>: Sendable {
    /// Runs on its caller's executor, as the pool's and the Redis client's calls under it do
    /// (``RedisTopology``): no executor switch at each call of a request's path.
    typealias Handler = nonisolated(nonsending) @Sendable (Request, Context) async throws -> Response

    let method: HTTPRequest.Method
    /// The template as OpenAPI and the metrics name it: `/pools/{pool}/tokens/{token}/unblock`.
    let path: String
    let access: Access
    /// Assign, unblock, keep-alive: the few routes that are most of a busy pool's traffic. A key's
    /// rate is counted in their own script call (``RateCharge``), and the matcher tries them first.
    let hot: Bool
    /// Whether the OpenAPI document describes it: the docs' and dashboard's pages are not API.
    let documented: Bool
    /// Whether it acts on one pool: `{pool}` in its path, or the default pool's short path. A key
    /// limited to some pools gets 403 `forbidden-pool` on the others'.
    let pooled: Bool
    let handler: Handler

    init<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method, _ path: String, _ access: Access, hot: Bool = false, documented: Bool = true, pooled: Bool? = nil,
        _ handler: nonisolated(nonsending) @escaping @Sendable (Request, Context) async throws -> Output
    ) {
        self.init(method, path, access, hot: hot, documented: documented, pooled: pooled) { request, context in
            try await handler(request, context).response(from: request, context: context)
        }
    }

    /// A route whose handler answers a `Response` already.
    init(
        _ method: HTTPRequest.Method, _ path: String, _ access: Access, hot: Bool, documented: Bool = true, pooled: Bool? = nil,
        handler: @escaping Handler
    ) {
        (self.method, self.path, self.access, self.hot, self.documented) = (method, path, access, hot, documented)
        self.pooled = pooled ?? path.contains("{pool}")
        self.handler = handler
    }
}

/// The `{pool}` of a route's path.
func poolName(_ context: some RequestContext) throws -> PoolName {
    guard let name = PoolName(context.parameters.get("pool") ?? "") else {
        throw ProblemDetails.badRequest("a pool name is 1 to 64 characters of [A-Za-z0-9_-]")
    }
    return name
}
