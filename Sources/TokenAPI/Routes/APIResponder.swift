import Hummingbird
import Logging

/// The server's responder, built from the route table (``APIRoutes``) and one list of
/// middlewares: the router has every route behind those middlewares, and the hot routes are
/// also found from their path's bytes (``HotRouteMatcher``) and run the same middlewares around
/// the same handler.
struct APIResponder<Context: RequestContext>: HTTPResponder {
    private let router: RouterResponder<Context>
    private let hot: HotRouteMatcher
    /// Each hot route's handler in the middlewares, in the matcher's order.
    private let hotChains: [MiddlewareChain<Context>]

    /// `routes` in `middlewares`, outermost first.
    init(routes: [APIRoute<Context>], middlewares: [any MiddlewareProtocol<Request, Response, Context>]) {
        let router = Router(context: Context.self)
        for middleware in middlewares { router.add(middleware: middleware) }
        for route in routes { router.on(RouterPath(route.path), method: route.method, use: route.handler) }
        self.router = router.buildResponder()
        let hot = routes.filter(\.hot)
        self.hot = HotRouteMatcher(hot.map { ($0.method, $0.path) })
        self.hotChains = hot.map { MiddlewareChain(middlewares: middlewares, handler: $0.handler) }
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        var context = context
        guard let route = self.hot.match(request.method, request.uri.path, parameters: &context.coreContext.parameters) else {
            return try await self.router.respond(to: request, context: context)
        }
        // What the router sets for a route it found (the parameters are set).
        context.coreContext.endpointPath.value = route.template
        do {
            return try await self.hotChains[route.index].respond(to: request, context: context)
        } catch let error as any HTTPResponseError {
            // What the router does with an error no middleware answered.
            return try error.response(from: request, context: context)
        }
    }
}

/// Middlewares in order around a handler, as Hummingbird's router chains a route's.
struct MiddlewareChain<Context: RequestContext>: HTTPResponder, Sendable {
    let middlewares: [any MiddlewareProtocol<Request, Response, Context>]
    let handler: APIRoute<Context>.Handler

    func respond(to request: Request, context: Context) async throws -> Response {
        try await self.run(from: 0, request, context)
    }

    private func run(from index: Int, _ request: Request, _ context: Context) async throws -> Response {
        guard index < self.middlewares.count else { return try await self.handler(request, context) }
        return try await self.middlewares[index].handle(request, context: context) { request, context in
            try await self.run(from: index + 1, request, context)
        }
    }
}
