import HTTPTypes
import Hummingbird
import Logging
import RedisTokenPool

/// The server's responder, built from the route table (``APIRoutes``): a request spelt
/// canonically is found from its path's bytes (``RouteMatcher``), any other goes to
/// Hummingbird's router, which has every route. Around each it counts the request
/// (``RequestMetrics``), answers what its handling threw (``ProblemAnswers``) and, at debug
/// level, logs it.
///
/// Those are steps of this one function, not a chain of middlewares, and the router is left out
/// of a canonical request's path: each middleware was two async frames (its `handle` and the
/// closure chaining it), the router two more, on every request's path, and a connection's task
/// keeps the slabs its deepest request needed for as long as the connection lives
/// (docs/scaling.md).
struct APIResponder<Context: ChannelRequestContext>: HTTPResponder {
    typealias Handler = APIRoute<Context>.Handler

    private let router: RouterResponder<Context>
    private let matcher: RouteMatcher
    /// Each route's handler, in the matcher's order.
    private let handlers: [Handler]
    private let metrics: RequestMetrics
    private let problems: ProblemAnswers
    /// Each request logged at debug level: only where that level prints (fixed at start).
    private let logsRequests: Bool

    init(routes: [APIRoute<Context>], logsRequests: Bool) {
        let problems = ProblemAnswers(allowed: AllowedMethods(routes.map { ($0.method, $0.path) }))
        let router = Router(context: Context.self)
        for route in routes {
            // Answered inside the router, where the context has the route's parameters: the
            // router would answer an HTTP error it caught itself, without problem+json.
            let handler = route.handler
            router.on(RouterPath(route.path), method: route.method) { request, context in
                do {
                    return try await handler(request, context)
                } catch {
                    return problems.answer(error, to: request, context: context)
                }
            }
        }
        self.router = router.buildResponder()
        self.matcher = RouteMatcher(routes.map { ($0.method, $0.path, $0.hot) })
        self.metrics = RequestMetrics(routes: routes.map { ($0.method, $0.path) })
        self.handlers = routes.map(\.handler)
        self.problems = problems
        self.logsRequests = logsRequests
    }

    nonisolated(nonsending) func respond(to request: Request, context: Context) async throws -> Response {
        if self.logsRequests { Self.log(request, context.logger) }
        var context = context
        let response: Response
        let route = self.matcher.match(request.method, request.uri.path, parameters: &context.coreContext.parameters)
        let started = route.map { self.metrics.start(route: $0.index) } ?? self.metrics.start(request.method)
        do {
            if let route {
                // What the router sets for a route it found (the parameters are set).
                context.coreContext.endpointPath.value = route.template
                response = try await self.handlers[route.index](request, context)
            } else {
                let answer = try await self.router.respond(to: request, context: context)
                // The router names the route it found by its template (a path) and no route
                // "NotFound": that plain 404 becomes problem+json, or 405 with `Allow`.
                let found = context.endpointPath?.first == "/"
                response = found ? answer : self.problems.answer(HTTPError(.notFound), to: request, context: context)
            }
        } catch {
            response = self.problems.answer(error, to: request, context: context)
        }
        if let slot = context.parking, slot.waits {
            // A wait parked on its connection (ParkingHandler): answered, and counted, when it ends.
            self.finishParked(slot, request, context, started)
            return response
        }
        self.metrics.finish(started, route: context.endpointPath, method: request.method, status: response.status)
        return response
    }

    /// How a parked wait's outcome becomes its answer: as any route's, above.
    @inline(never)
    private func finishParked(_ slot: ParkingSlot, _ request: Request, _ context: Context, _ started: RequestMetrics.Started) {
        // Only what the answer needs is kept while it waits, not the request and its context.
        let (problems, metrics, route, method) = (self.problems, self.metrics, context.endpointPath, request.method)
        let (path, pool, logger) = (request.uri.path, context.parameters.get("pool") ?? PoolName.default.rawValue, context.logger)
        slot.finish { answer in
            let response: Response
            do {
                response = try answer().response
            } catch {
                response = problems.answer(error, path: path, pool: pool, logger: logger)
            }
            metrics.finish(started, route: route, method: method, status: response.status)
            return response
        }
    }

    /// What Hummingbird's `LogRequestsMiddleware` logs of a request.
    @inline(never)
    private static func log(_ request: Request, _ logger: Logger) {
        logger.debug("Request", metadata: ["hb.request.path": .stringConvertible(request.uri), "hb.request.method": .string(request.method.rawValue)])
    }
}

/// Finds a route from its path's bytes, ahead of the router: compiled from the route table's
/// templates, not written by hand.
///
/// Hummingbird's router splits a path one `Character` at a time (grapheme breaking included)
/// before it walks its trie: a tenth of an assign's instructions (docs/profile.md), and two more
/// async frames on the request's path. So the templates are compiled into segments of bytes,
/// and a path is matched against those. Only the one canonical spelling is taken: a literal
/// segment byte for byte, a parameter as one segment of `[A-Za-z0-9_-]` (so no `%`, never
/// empty) and `{token}` of exactly ``Token/length`` characters; no trailing slash. Anything else
/// goes to the router, which has the same routes and answers as it always did.
///
/// Not generic, and a match is an index into the templates it was given: a generic matcher or a
/// tuple answer made every request look up type metadata at run time (bench/insn_profile.py).
struct RouteMatcher: Sendable {
    /// A template's segment: its literal bytes (`start`, `count` in ``Route/literals``), or a
    /// parameter (`name` in ``Route/names``) of `minimum...maximum` bytes. Plain integers: the
    /// walk copies no payload, so it retains and releases nothing.
    struct Segment: Sendable, Equatable {
        let parameter: Int?
        let start: Int
        let count: Int
        let minimum: Int
        let maximum: Int
    }

    struct Route: Sendable {
        let method: HTTPRequest.Method
        /// As the router names it in `context.endpointPath` (the metrics' route label).
        let template: String
        let segments: [Segment]
        /// The literal segments' bytes, one after another.
        let literals: [UInt8]
        /// The parameters' names, in the template's order.
        let names: [Substring]
        /// Its place in the list the matcher was made from.
        let index: Int
        /// Assign, unblock or keep-alive: tried first among routes of as many literal segments.
        let hot: Bool
    }

    /// What a parameter may be, by name; any other is 1 or more bytes.
    static var parameterLengths: [String: ClosedRange<Int>] { ["token": Token.length...Token.length] }

    /// The most parameters a template has (the walk keeps their ranges on the stack).
    static let maximumParameters = 4

    /// The routes of each method by their number of segments (a path is only walked against
    /// templates of as many), most literal segments first (as the router prefers
    /// `/tokens/assign` to `/tokens/{token}`), the hot ones (assign, unblock, keep-alive) first
    /// among equals: one method comparison and one count of slashes a request, and few segment
    /// comparisons for the requests that are most of a busy pool's traffic.
    private let byMethod: [(method: HTTPRequest.Method, bySegments: [[Route]])]

    /// `routes` in order: a match answers its index in this list.
    init(_ routes: [(method: HTTPRequest.Method, template: String, hot: Bool)]) {
        var byMethod: [(method: HTTPRequest.Method, routes: [Route])] = []
        for (index, route) in routes.enumerated() {
            var (segments, literals, names) = ([Segment](), [UInt8](), [Substring]())
            for segment in route.template.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
                if segment.first == "{", segment.last == "}" {
                    let name = String(segment.dropFirst().dropLast())
                    let lengths = Self.parameterLengths[name] ?? 1...Int.max
                    segments.append(Segment(parameter: names.count, start: 0, count: 0, minimum: lengths.lowerBound, maximum: lengths.upperBound))
                    names.append(Substring(name))
                } else {
                    segments.append(Segment(parameter: nil, start: literals.count, count: segment.utf8.count, minimum: 0, maximum: 0))
                    literals += segment.utf8
                }
            }
            precondition(names.count <= Self.maximumParameters, "\(route.template): more parameters than the matcher keeps")
            let compiled = Route(
                method: route.method, template: route.template, segments: segments, literals: literals, names: names, index: index, hot: route.hot
            )
            if let group = byMethod.firstIndex(where: { $0.method == route.method }) {
                byMethod[group].routes.append(compiled)
            } else {
                byMethod.append((route.method, [compiled]))
            }
        }
        self.byMethod = byMethod.map { method, routes in
            let sorted = routes.sorted { ($0.literalCount, $0.hot ? 1 : 0, -$0.index) > ($1.literalCount, $1.hot ? 1 : 0, -$1.index) }
            let most = sorted.map(\.segments.count).max() ?? 0
            return (method, (0...most).map { count in sorted.filter { $0.segments.count == count } })
        }
    }

    /// Every route compiled, in no particular order.
    var routes: [Route] { self.byMethod.flatMap { $0.bySegments.joined() } }

    /// The route whose template `path` spells canonically, with its parameters in `parameters`;
    /// nil for any other.
    func match(_ method: HTTPRequest.Method, _ path: String, parameters: inout Parameters) -> Route? {
        guard let bySegments = self.byMethod.first(where: { $0.method == method })?.bySegments else { return nil }
        var path = path
        return path.withUTF8 { bytes in
            // Each segment starts with a slash.
            var segments = 0
            for byte in bytes where byte == UInt8(ascii: "/") { segments += 1 }
            guard segments < bySegments.count else { return nil }
            let routes = bySegments[segments]
            return withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: Self.maximumParameters) { ranges in
                guard let route = routes.first(where: { $0.walk(bytes, ranges) }) else { return nil }
                var captured = Parameters()
                for (name, range) in zip(route.names, ranges) {
                    captured.append(key: name, value: Substring(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self))
                }
                parameters = captured
                return route
            }
        }
    }
}

extension RouteMatcher.Route {
    fileprivate var literalCount: Int {
        self.segments.count { $0.parameter == nil }
    }

    /// `/SEGMENT/SEGMENT...` against the template, segment by segment: whether the path is this
    /// route's, each parameter's byte range put in `ranges` on the way.
    fileprivate func walk(_ bytes: UnsafeBufferPointer<UInt8>, _ ranges: UnsafeMutableBufferPointer<Range<Int>>) -> Bool {
        self.literals.withUnsafeBufferPointer { literals in
            var at = 0
            for segment in self.segments {
                guard at < bytes.count, bytes[at] == UInt8(ascii: "/") else { return false }
                at += 1
                let start = at
                while at < bytes.count, bytes[at] != UInt8(ascii: "/") { at += 1 }
                let count = at - start
                if let parameter = segment.parameter {
                    guard count >= segment.minimum, count <= segment.maximum else { return false }
                    for index in start..<at where !isBase64URL(bytes[index]) { return false }
                    ranges[parameter] = start..<at
                } else {
                    guard count == segment.count else { return false }
                    for offset in 0..<count where bytes[start + offset] != literals[segment.start + offset] { return false }
                }
            }
            return at == bytes.count
        }
    }
}
