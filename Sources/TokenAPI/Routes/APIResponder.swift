import Hummingbird
import Logging

/// The server's responder, built from the route table (``APIRoutes``) and one list of
/// middlewares: the router has every route behind those middlewares, and the hot routes are
/// also found from their path's bytes (``HotRouteMatcher``) and run the same middlewares around
/// the same handler.
struct APIResponder<Context: RequestContext>: HTTPResponder {
    private let router: RouterResponder<Context>
    private let hot: HotRouteMatcher<MiddlewareChain<Context>>

    /// `routes` in `middlewares`, outermost first.
    init(routes: [APIRoute<Context>], middlewares: [any MiddlewareProtocol<Request, Response, Context>]) {
        let router = Router(context: Context.self)
        for middleware in middlewares { router.add(middleware: middleware) }
        for route in routes { router.on(RouterPath(route.path), method: route.method, use: route.handler) }
        self.router = router.buildResponder()
        self.hot = HotRouteMatcher(routes.filter(\.hot).map { ($0.method, $0.path, MiddlewareChain(middlewares: middlewares, handler: $0.handler)) })
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        guard let (route, parameters) = self.hot.match(request.method, request.uri.path) else {
            return try await self.router.respond(to: request, context: context)
        }
        // What the router sets for a route it found.
        var context = context
        context.coreContext.parameters = parameters
        context.coreContext.endpointPath.value = route.template
        do {
            return try await route.payload.respond(to: request, context: context)
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
