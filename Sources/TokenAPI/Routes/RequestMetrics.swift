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
    /// A request being answered: its method's active-requests meter and when it began.
    struct Started {
        fileprivate let active: Meter
        fileprivate let start: UInt64
    }

    private let meters = RequestMeters()

    /// Counts a request of `method` as active, from now.
    func start(_ method: HTTPRequest.Method) -> Started {
        let active = self.meters.active(method)
        active.increment()
        return Started(active: active, start: DispatchTime.now().uptimeNanoseconds)
    }

    /// Counts `started` answered with `status` on `route` (the router's template; nil when no
    /// route matched the path).
    func finish(_ started: Started, route: String?, method: HTTPRequest.Method, status: HTTPResponse.Status) {
        started.active.decrement()
        let failed = status.code >= 400
        let endpoint = self.meters.endpoint(route ?? (failed ? "NotFound" : "Unknown"), method, status)
        endpoint.requests.increment()
        endpoint.duration.recordNanoseconds(DispatchTime.now().uptimeNanoseconds - started.start)
        if failed { endpoint.errors.increment() }
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
