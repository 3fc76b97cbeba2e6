import Dispatch
import Hummingbird
import Metrics
import NIOConcurrencyHelpers

/// Counts and times requests under the names and dimensions of Hummingbird's `MetricsMiddleware`
/// (`hb_requests`, `hb_request_errors`, `http_server_request_duration`, by route, method and
/// status; `http_server_active_requests` by method), so dashboards built on those keep working.
///
/// ``APIResponder`` calls it before and after every request's handling: no middleware, whose
/// async frame every request (and every idle connection, in its task's slabs) would carry. Every
/// answer is counted, problem+json ones included (``ProblemAnswers``); one of 400 or more
/// counts in `hb_request_errors` too, by its status (as `error.type`).
///
/// Unlike Hummingbird's, it records when the handler returns instead of after the body is
/// written: wrapping every response body in a post-write closure cost 22,000 instructions a
/// request, an eighth of a whole `/healthz` (Benchmarks/instructions.py). Our bodies are one buffer
/// written at once, so the duration differs by the write alone; for an event stream it is the
/// time to its first byte, not the stream's length.
struct RequestMetrics: Sendable {
    /// A request being answered: its method's active-requests meter, when it began, and its
    /// route's meters when the matcher found it.
    struct Started {
        fileprivate let active: Meter
        fileprivate let start: UInt64
        fileprivate let route: RouteMeters?
    }

    private let meters = RequestMeters()
    /// The meters of each route the matcher finds, by its index in the route table.
    private let routes: [RouteMeters]

    /// `routes`: the route table's methods and templates, in its order (``RouteMatcher``'s indices).
    init(routes: [(method: HTTPRequest.Method, template: String)]) {
        let meters = self.meters
        self.routes = routes.map { RouteMeters(method: $0.method, template: $0.template, meters: meters) }
    }

    /// Counts a request of `method` as active, from now.
    func start(_ method: HTTPRequest.Method) -> Started {
        let active = self.meters.active(method)
        active.increment()
        return Started(active: active, start: DispatchTime.now().uptimeNanoseconds, route: nil)
    }

    /// Counts a request of the route table's route `index` as active, from now: its meters are
    /// the route's own, found without hashing its template or its method.
    func start(route index: Int) -> Started {
        let route = self.routes[index]
        route.active.increment()
        return Started(active: route.active, start: DispatchTime.now().uptimeNanoseconds, route: route)
    }

    /// Counts `started` answered with `status` on `route` (the router's template; nil when no
    /// route matched the path). A request started on its route is counted on that route.
    func finish(_ started: Started, route: String?, method: HTTPRequest.Method, status: HTTPResponse.Status) {
        started.active.decrement()
        let failed = status.code >= 400
        let endpoint = started.route?.endpoint(status) ?? self.meters.endpoint(route ?? (failed ? "NotFound" : "Unknown"), method, status)
        endpoint.requests.increment()
        endpoint.duration.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - started.start)
        if failed { endpoint.errors.increment() }
    }
}

/// One route's meters: its method's active-requests meter, and its endpoints by status, each
/// the one ``RequestMeters`` keeps for the route, method and status (the same meters as a request
/// of the route that the router found), looked up here by the status's code alone.
private final class RouteMeters: Sendable {
    let active: Meter
    private let method: HTTPRequest.Method
    private let template: String
    private let meters: RequestMeters
    private let byStatus = NIOLockedValueBox<[(code: Int, endpoint: RequestMeters.Endpoint)]>([])

    init(method: HTTPRequest.Method, template: String, meters: RequestMeters) {
        (self.method, self.template, self.meters) = (method, template, meters)
        self.active = meters.active(method)
    }

    func endpoint(_ status: HTTPResponse.Status) -> RequestMeters.Endpoint {
        self.byStatus.withLockedValue { byStatus in
            if let found = byStatus.first(where: { $0.code == status.code }) { return found.endpoint }
            let endpoint = self.meters.endpoint(self.template, self.method, status)
            byStatus.append((status.code, endpoint))
            return endpoint
        }
    }
}

/// The metrics, made once for each method and each route, method and status seen.
private final class RequestMeters: Sendable {
    struct Endpoint: Sendable {
        let requests: Counter
        let errors: Counter
        let duration: Timer
    }

    private struct Key: Hashable {
        let route: String
        let method: HTTPRequest.Method
        let status: HTTPResponse.Status
    }

    /// The methods the API uses, made up front so most requests take no lock for them.
    private let knownMethods: [HTTPRequest.Method: Meter]
    private let otherMethods = NIOLockedValueBox<[HTTPRequest.Method: Meter]>([:])
    private let endpoints = NIOLockedValueBox<[Key: Endpoint]>([:])

    init() {
        self.knownMethods = Dictionary(uniqueKeysWithValues: [.get, .post, .put, .patch, .delete, .head, .options].map { ($0, Self.meter($0)) })
    }

    func active(_ method: HTTPRequest.Method) -> Meter {
        if let meter = self.knownMethods[method] { return meter }
        return self.otherMethods.withLockedValue { meters in
            if let meter = meters[method] { return meter }
            let meter = Self.meter(method)
            meters[method] = meter
            return meter
        }
    }

    func endpoint(_ route: String, _ method: HTTPRequest.Method, _ status: HTTPResponse.Status) -> Endpoint {
        let key = Key(route: route, method: method, status: status)
        return self.endpoints.withLockedValue { endpoints in
            if let endpoint = endpoints[key] { return endpoint }
            let code = String(status.code)
            let dimensions = [("http.route", route), ("http.request.method", method.rawValue)]
            let endpoint = Endpoint(
                requests: Counter(label: "hb.requests", dimensions: dimensions + [("http.response.status_code", code)]),
                errors: Counter(label: "hb.request.errors", dimensions: dimensions + [("error.type", code)]),
                duration: Timer(
                    label: "http.server.request.duration", dimensions: dimensions + [("http.response.status_code", code)], preferredDisplayUnit: .seconds
                )
            )
            endpoints[key] = endpoint
            return endpoint
        }
    }

    private static func meter(_ method: HTTPRequest.Method) -> Meter {
        Meter(label: "http.server.active_requests", dimensions: [("http.request.method", method.rawValue)])
    }
}
