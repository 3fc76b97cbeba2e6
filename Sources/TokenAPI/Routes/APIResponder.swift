import HTTPTypes
import Hummingbird
import Logging
import RedisTokenPool

/// The server's responder, built from the route table (``APIRoutes``) and one list of
/// middlewares: the router has every route behind those middlewares, and the hot routes are
/// also found from their path's bytes (``HotRouteMatcher``) and run the same middlewares around
/// the same handler.
struct APIResponder<Context: RequestContext>: HTTPResponder {
    typealias Handler = APIRoute<Context>.Handler

    private let router: RouterResponder<Context>
    private let hot: HotRouteMatcher
    /// Each hot route's handler inside the middlewares, in the matcher's order.
    private let hotHandlers: [Handler]

    /// `routes` in `middlewares`, outermost first.
    init(routes: [APIRoute<Context>], middlewares: [any MiddlewareProtocol<Request, Response, Context>]) {
        let router = Router(context: Context.self)
        for middleware in middlewares { router.add(middleware: middleware) }
        for route in routes { router.on(RouterPath(route.path), method: route.method, use: route.handler) }
        self.router = router.buildResponder()
        let hot = routes.filter(\.hot)
        self.hot = HotRouteMatcher(hot.map { ($0.method, $0.path) })
        self.hotHandlers = hot.map { Self.chain(middlewares, around: $0.handler) }
    }

    func respond(to request: Request, context: Context) async throws -> Response {
        var context = context
        guard let route = self.hot.match(request.method, request.uri.path, parameters: &context.coreContext.parameters) else {
            return try await self.router.respond(to: request, context: context)
        }
        // What the router sets for a route it found (the parameters are set).
        context.coreContext.endpointPath.value = route.template
        do {
            return try await self.hotHandlers[route.index](request, context)
        } catch let error as any HTTPResponseError {
            // What the router does with an error no middleware answered.
            return try error.response(from: request, context: context)
        }
    }

    /// `handler` inside `middlewares`, outermost first, as Hummingbird's router chains a route's.
    private static func chain(_ middlewares: [any MiddlewareProtocol<Request, Response, Context>], around handler: @escaping Handler) -> Handler {
        middlewares.reversed().reduce(handler) { next, middleware in
            { request, context in try await middleware.handle(request, context: context, next: next) }
        }
    }
}

/// Finds a hot route from its path's bytes, ahead of the router: compiled from the route
/// table's templates, not written by hand.
///
/// The hot routes are most of a busy pool's traffic, and Hummingbird's router splits a path one
/// `Character` at a time (grapheme breaking included) before it walks its trie: a tenth of such
/// a request's instructions (docs/profile.md). So their templates are compiled into segments of
/// bytes, and a path is matched against those. Only the one canonical spelling is taken: a
/// literal segment byte for byte, a parameter as one segment of `[A-Za-z0-9_-]` (so no `%`, never
/// empty) and `{token}` of exactly ``Token/length`` characters; no trailing slash. Anything else
/// goes to the router, which has the same routes and answers as it always did.
///
/// Not generic, and a match is an index into the templates it was given: a generic matcher or a
/// tuple answer made every request look up type metadata at run time (bench/insn_profile.py).
struct HotRouteMatcher: Sendable {
    /// A template's segment.
    enum Segment: Sendable, Equatable {
        case literal([UInt8])
        /// A parameter, and how many bytes it may have.
        case parameter(String, ClosedRange<Int>)
    }

    struct Route: Sendable {
        let method: HTTPRequest.Method
        /// As the router names it in `context.endpointPath` (the metrics' route label).
        let template: String
        let segments: [Segment]
        /// Its place in the list the matcher was made from.
        let index: Int
    }

    /// What a parameter may be, by name; any other is 1 or more bytes.
    static var parameterLengths: [String: ClosedRange<Int>] { ["token": Token.length...Token.length] }

    /// The routes of each method, most literal segments first (as the router prefers
    /// `/tokens/assign` to `/tokens/{token}`): one method comparison a request.
    private let byMethod: [(method: HTTPRequest.Method, routes: [Route])]

    /// `routes` in order: a match answers its index in this list.
    init(_ routes: [(method: HTTPRequest.Method, template: String)]) {
        var byMethod: [(method: HTTPRequest.Method, routes: [Route])] = []
        for (index, route) in routes.enumerated() {
            let segments = route.template.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map { segment -> Segment in
                guard segment.first == "{", segment.last == "}" else { return .literal(Array(segment.utf8)) }
                let name = String(segment.dropFirst().dropLast())
                return .parameter(name, Self.parameterLengths[name] ?? 1...Int.max)
            }
            let compiled = Route(method: route.method, template: route.template, segments: segments, index: index)
            if let group = byMethod.firstIndex(where: { $0.method == route.method }) {
                byMethod[group].routes.append(compiled)
            } else {
                byMethod.append((route.method, [compiled]))
            }
        }
        self.byMethod = byMethod.map { ($0.method, $0.routes.sorted { $0.literalCount > $1.literalCount }) }
    }

    /// Every route compiled, in no particular order.
    var routes: [Route] { self.byMethod.flatMap(\.routes) }

    /// The route whose template `path` spells canonically, with its parameters in `parameters`;
    /// nil for any other.
    func match(_ method: HTTPRequest.Method, _ path: String, parameters: inout Parameters) -> Route? {
        guard let routes = self.byMethod.first(where: { $0.method == method })?.routes else { return nil }
        let found = path.utf8.withContiguousStorageIfAvailable { bytes -> Int? in
            // Which route first, with nothing kept; then its parameters, once.
            guard let index = routes.firstIndex(where: { $0.walk(bytes) { _, _, _ in } }) else { return nil }
            var captured = Parameters()
            _ = routes[index].walk(bytes) { name, start, end in
                let utf8 = path.utf8
                captured.append(key: Substring(name), value: Substring(utf8[utf8.index(utf8.startIndex, offsetBy: start)..<utf8.index(utf8.startIndex, offsetBy: end)]))
            }
            parameters = captured
            return index
        }
        return (found ?? nil).map { routes[$0] }
    }
}

extension HotRouteMatcher.Route {
    fileprivate var literalCount: Int {
        self.segments.count { if case .literal = $0 { true } else { false } }
    }

    /// `/SEGMENT/SEGMENT...` against the template, segment by segment: whether the path is this
    /// route's, each parameter's name and byte range handed to `parameter` on the way.
    fileprivate func walk(_ bytes: UnsafeBufferPointer<UInt8>, _ parameter: (String, Int, Int) -> Void) -> Bool {
        var at = 0
        for segment in self.segments {
            guard at < bytes.count, bytes[at] == UInt8(ascii: "/") else { return false }
            at += 1
            let start = at
            while at < bytes.count, bytes[at] != UInt8(ascii: "/") { at += 1 }
            let value = UnsafeBufferPointer(rebasing: bytes[start..<at])
            switch segment {
            case .literal(let literal):
                guard value.elementsEqual(literal) else { return false }
            case .parameter(let name, let lengths):
                guard lengths.contains(value.count), value.allSatisfy(isBase64URL) else { return false }
                parameter(name, start, at)
            }
        }
        return at == bytes.count
    }
}
