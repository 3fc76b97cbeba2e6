import HTTPTypes
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
            APIRoute(.get, "/metrics", .admin, metrics.scrape),
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
        _ handler: @escaping @Sendable (Request, Context, PoolName) async throws -> Output
    ) -> [APIRoute<Context>] {
        [
            APIRoute(method, path, access, hot: hot) { request, context in
                try await handler(request, context, .default).response(from: request, context: context)
            },
            APIRoute(method, "/pools/{pool}" + path, access, hot: hot) { request, context in
                try await handler(request, context, try poolName(context)).response(from: request, context: context)
            },
        ]
    }

    /// Each route behind the key check its access needs.
    func guarded(by keys: APIKeys) -> [APIRoute<Context>] {
        self.routes.map { $0.guarded(by: keys) }
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
}

/// One route of the API, as the route table (``APIRoutes``) declares it: everything the router,
/// the fast path, the metrics' route label, 405 `Allow` and the OpenAPI check read about it.
struct APIRoute<Context: RequestContext>: Sendable {
    typealias Handler = @Sendable (Request, Context) async throws -> Response

    let method: HTTPRequest.Method
    /// The template as OpenAPI and the metrics name it: `/pools/{pool}/tokens/{token}/unblock`.
    let path: String
    let access: Access
    /// Matched from its path's bytes ahead of the router (``HotRouteMatcher``): the few routes
    /// that are most of a busy pool's traffic.
    let hot: Bool
    /// Whether the OpenAPI document describes it: the docs' and dashboard's pages are not API.
    let documented: Bool
    let handler: Handler

    init<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method, _ path: String, _ access: Access, hot: Bool = false, documented: Bool = true,
        _ handler: @escaping @Sendable (Request, Context) async throws -> Output
    ) {
        self.method = method
        self.path = path
        self.access = access
        self.hot = hot
        self.documented = documented
        self.handler = { request, context in try await handler(request, context).response(from: request, context: context) }
    }

    /// A route whose handler answers a `Response` already.
    init(_ method: HTTPRequest.Method, _ path: String, _ access: Access, hot: Bool, documented: Bool = true, handler: @escaping Handler) {
        (self.method, self.path, self.access, self.hot, self.documented) = (method, path, access, hot, documented)
        self.handler = handler
    }

    /// The route behind `keys`: 401/403 for a key its access does not allow.
    func guarded(by keys: APIKeys) -> Self {
        guard self.access != .open else { return self }
        let (handler, access) = (self.handler, self.access)
        return Self(self.method, self.path, access, hot: self.hot, documented: self.documented) { request, context in
            try keys.authorize(request, for: access)
            return try await handler(request, context)
        }
    }
}

/// The `{pool}` of a route's path.
func poolName(_ context: some RequestContext) throws -> PoolName {
    guard let name = PoolName(context.parameters.get("pool") ?? "") else {
        throw ProblemDetails.badRequest("a pool name is 1 to 64 characters of [A-Za-z0-9_-]")
    }
    return name
}

/// The keys that may call the API, by role. Empty: the service is open.
struct APIKeys: Sendable {
    enum Role: Sendable {
        /// Generate, batch, delete, stats, and everything a client may do.
        case admin
        /// Assign, unblock, keep-alive, inspect.
        case client
    }

    var admin: [String] = []
    var client: [String] = []

    var isOpen: Bool { self.admin.isEmpty && self.client.isEmpty }

    /// The role of a presented key, comparing against every configured key in constant time.
    func role(of key: Substring) -> Role? {
        var found: Role?
        for candidate in self.admin where Self.constantTimeEqual(candidate, key) { found = .admin }
        for candidate in self.client where Self.constantTimeEqual(candidate, key) { found = found ?? .client }
        return found
    }

    /// Time depends on the lengths only, never on where the bytes first differ.
    static func constantTimeEqual(_ a: String, _ b: Substring) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        var difference = UInt8(truncatingIfNeeded: x.count ^ y.count)
        for index in 0..<max(x.count, y.count) {
            difference |= (index < x.count ? x[index] : 0) ^ (index < y.count ? y[index] : 0)
        }
        return difference == 0 && x.count == y.count
    }
}

extension APIKeys {
    /// Lets a request through only with `Authorization: Bearer KEY` of a role that may use a
    /// route of `access`: no or an unknown key is 401 with `WWW-Authenticate: Bearer`, a client
    /// key on an admin route 403. An open service lets every request through.
    func authorize(_ request: Request, for access: Access) throws {
        if self.isOpen || access == .open { return }
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer ",
            let role = self.role(of: header.dropFirst(7).drop { $0 == " " })
        else {
            throw ProblemDetails(
                .unauthorized, "unauthorized", "a valid key is needed: Authorization: Bearer KEY",
                headers: [.wwwAuthenticate: "Bearer"]
            )
        }
        if access == .admin && role != .admin {
            throw ProblemDetails(.forbidden, "forbidden", "this route needs an admin key")
        }
        if access == .holderOrAdmin && role != .admin && request.uri.queryParameters.get("lease") == nil {
            throw ProblemDetails(.forbidden, "forbidden", "a client key may do this only to the token it holds: name its lease with ?lease=N")
        }
    }
}
