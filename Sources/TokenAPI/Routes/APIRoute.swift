import HTTPTypes
import Hummingbird
import RedisTokenPool

/// Who may call a route.
enum Access: String, Sendable {
    /// Anyone: health, docs, the dashboard's page.
    case open
    /// A client key or an admin key.
    case client
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

    /// The route behind `check`, which throws 401/403 for a key its access does not allow.
    func guarded(by check: @escaping @Sendable (Request, Access) throws -> Void) -> Self {
        guard self.access != .open else { return self }
        let (handler, access) = (self.handler, self.access)
        return Self(self.method, self.path, access, hot: self.hot, documented: self.documented) { request, context in
            try check(request, access)
            return try await handler(request, context)
        }
    }
}

/// A route of one pool, declared once and served twice: for the `default` pool at `PATH` and for
/// any pool at `/pools/{pool}PATH`.
struct PoolRoute<Context: RequestContext>: Sendable {
    typealias Handler = @Sendable (Request, Context, PoolName) async throws -> Response

    let method: HTTPRequest.Method
    let path: String
    let access: Access
    let hot: Bool
    let handler: Handler

    init<Output: ResponseGenerator>(
        _ method: HTTPRequest.Method, _ path: String, _ access: Access, hot: Bool = false,
        _ handler: @escaping @Sendable (Request, Context, PoolName) async throws -> Output
    ) {
        (self.method, self.path, self.access, self.hot) = (method, path, access, hot)
        self.handler = { request, context, pool in try await handler(request, context, pool).response(from: request, context: context) }
    }

    /// `PATH` on the default pool, and `/pools/{pool}PATH`.
    var routes: [APIRoute<Context>] {
        let handler = self.handler
        return [
            APIRoute(self.method, self.path, self.access, hot: self.hot, handler: { request, context in try await handler(request, context, .default) }),
            APIRoute(self.method, "/pools/{pool}" + self.path, self.access, hot: self.hot, handler: { request, context in
                try await handler(request, context, try poolName(context))
            }),
        ]
    }
}

/// The `{pool}` of a route's path.
func poolName(_ context: some RequestContext) throws -> PoolName {
    guard let name = PoolName(context.parameters.get("pool") ?? "") else {
        throw ProblemDetails.badRequest("a pool name is 1 to 64 characters of [A-Za-z0-9_-]")
    }
    return name
}
