import Hummingbird
import RedisTokenPool

/// Assign, unblock and keep-alive found from their path's bytes, everything else by the router.
///
/// These three routes are most of a busy pool's traffic, and Hummingbird's router splits a path
/// one `Character` at a time (grapheme breaking included) before it walks its trie: a tenth of
/// such a request's instructions (docs/profile.md). Their paths have a fixed shape, so their
/// bytes are matched here instead. Only the one canonical spelling is taken: `POST`, segments
/// of `[A-Za-z0-9_-]` (so no `%`), no empty segment, a token of exactly ``Token/length``
/// characters. Anything else (a trailing slash, `%`, a token of another length) goes to the
/// router, which has the same routes and answers as it always did. A taken request gets the
/// parameters and route the router would have set, then the same middlewares and handler.
struct HotRouteResponder<Context: RequestContext>: HTTPResponder {
    let router: RouterResponder<Context>
    let routes: HotRoutes<Context>

    func respond(to request: Request, context: Context) async throws -> Response {
        guard request.method == .post, let path = HotPath(request.uri.path) else {
            return try await self.router.respond(to: request, context: context)
        }
        var context = context
        context.coreContext.parameters = path.parameters
        context.coreContext.endpointPath.value = path.template
        do {
            return try await self.routes.responder(for: path).respond(to: request, context: context)
        } catch let error as any HTTPResponseError {
            // What the router does with an error no middleware answered.
            return try error.response(from: request, context: context)
        }
    }
}

/// What runs each hot route: the router's middlewares, the route group's, then the handler.
struct HotRoutes<Context: RequestContext>: Sendable {
    typealias Handler = @Sendable (Request, Context) async throws -> JSONResponse

    struct Handlers: Sendable {
        let assign: Handler
        let unblock: Handler
        let keepAlive: Handler
    }

    private struct Chains: Sendable {
        let assign: MiddlewareChain<Context>
        let unblock: MiddlewareChain<Context>
        let keepAlive: MiddlewareChain<Context>

        init(_ middlewares: [any MiddlewareProtocol<Request, Response, Context>], _ handlers: Handlers) {
            self.assign = MiddlewareChain(middlewares: middlewares, handler: handlers.assign)
            self.unblock = MiddlewareChain(middlewares: middlewares, handler: handlers.unblock)
            self.keepAlive = MiddlewareChain(middlewares: middlewares, handler: handlers.keepAlive)
        }
    }

    /// For `/tokens/...` (the default pool) and `/pools/{pool}/tokens/...`.
    private let defaultPool: Chains
    private let namedPool: Chains

    init(middlewares: [any MiddlewareProtocol<Request, Response, Context>], defaultPool: Handlers, namedPool: Handlers) {
        self.defaultPool = Chains(middlewares, defaultPool)
        self.namedPool = Chains(middlewares, namedPool)
    }

    func responder(for path: HotPath) -> MiddlewareChain<Context> {
        let chains = path.pool == nil ? self.defaultPool : self.namedPool
        switch path.route {
        case .assign: return chains.assign
        case .unblock: return chains.unblock
        case .keepAlive: return chains.keepAlive
        }
    }
}

/// Middlewares in order around a handler, as Hummingbird's router chains a route's.
struct MiddlewareChain<Context: RequestContext>: HTTPResponder, Sendable {
    let middlewares: [any MiddlewareProtocol<Request, Response, Context>]
    let handler: HotRoutes<Context>.Handler

    func respond(to request: Request, context: Context) async throws -> Response {
        try await self.run(from: 0, request, context)
    }

    private func run(from index: Int, _ request: Request, _ context: Context) async throws -> Response {
        guard index < self.middlewares.count else {
            return try await self.handler(request, context).response(from: request, context: context)
        }
        return try await self.middlewares[index].handle(request, context: context) { request, context in
            try await self.run(from: index + 1, request, context)
        }
    }
}

/// A hot route's path, parsed from its bytes; nil for any other path or spelling.
struct HotPath {
    enum Route {
        case assign, unblock, keepAlive
    }

    let route: Route
    /// nil: the default pool (`/tokens/...`).
    let pool: Substring?
    let token: Substring?

    init?(_ path: String) {
        guard let match = path.utf8.withContiguousStorageIfAvailable(Self.match) ?? nil else { return nil }
        let utf8 = path.utf8
        func slice(_ range: Range<Int>?) -> Substring? {
            range.map { Substring(utf8[utf8.index(utf8.startIndex, offsetBy: $0.lowerBound)..<utf8.index(utf8.startIndex, offsetBy: $0.upperBound)]) }
        }
        (self.route, self.pool, self.token) = (match.route, slice(match.pool), slice(match.token))
    }

    /// `[/pools/NAME]/tokens/assign` or `[/pools/NAME]/tokens/TOKEN/unblock|keep-alive`, with
    /// where the name and token are; nil for anything else.
    private static func match(_ bytes: UnsafeBufferPointer<UInt8>) -> (route: Route, pool: Range<Int>?, token: Range<Int>?)? {
        var at = 0
        func take(_ literal: StaticString) -> Bool {
            let (text, count) = (literal.utf8Start, literal.utf8CodeUnitCount)
            guard bytes.count - at >= count else { return false }
            for offset in 0..<count where bytes[at + offset] != text[offset] { return false }
            at += count
            return true
        }
        /// One segment of `[A-Za-z0-9_-]`, up to the next `/` or the end; nil if empty or
        /// any other byte comes first.
        func name() -> Range<Int>? {
            let start = at
            while at < bytes.count, bytes[at] != UInt8(ascii: "/") {
                guard isBase64URL(bytes[at]) else { return nil }
                at += 1
            }
            return at > start ? start..<at : nil
        }
        var pool: Range<Int>?
        if take("/pools/") {
            guard let name = name(), take("/") else { return nil }
            pool = name
        } else if !take("/") {
            return nil
        }
        guard take("tokens/") else { return nil }
        let tokenStart = at
        if take("assign"), at == bytes.count { return (.assign, pool, nil) }
        at = tokenStart
        guard let token = name(), token.count == Token.length else { return nil }
        let route: Route
        if take("/unblock") {
            route = .unblock
        } else if take("/keep-alive") {
            route = .keepAlive
        } else {
            return nil
        }
        return at == bytes.count ? (route, pool, token) : nil
    }

    /// The route as the router names it in `context.endpointPath` (the metrics' route label).
    var template: String {
        switch (self.route, self.pool == nil) {
        case (.assign, true): "/tokens/assign"
        case (.unblock, true): "/tokens/{token}/unblock"
        case (.keepAlive, true): "/tokens/{token}/keep-alive"
        case (.assign, false): "/pools/{pool}/tokens/assign"
        case (.unblock, false): "/pools/{pool}/tokens/{token}/unblock"
        case (.keepAlive, false): "/pools/{pool}/tokens/{token}/keep-alive"
        }
    }

    var parameters: Parameters {
        var parameters = Parameters()
        if let pool = self.pool { parameters.append(key: "pool", value: pool) }
        if let token = self.token { parameters.append(key: "token", value: token) }
        return parameters
    }
}
