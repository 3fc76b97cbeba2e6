import HTTPTypes
import Hummingbird
import Logging
import RedisNIO
import RedisTokenPool

/// A request context that carries the key that made the request, once ``APIGuard`` let it in.
protocol CallerRequestContext: ChannelRequestContext {
    var caller: APIKey? { get set }
}

/// What stands in front of every route that is not open: the key (401), its role and pools
/// (403), its rate (429), and the audit trail of admin changes and refusals.
struct APIGuard: Sendable {
    let keys: KeyStore
    /// nil: no key has a rate, or there is no Redis to count in (tests of the route table).
    var rates: RateLimiter?
    var audit: AuditTrail?

    init(keys: KeyStore, rates: RateLimiter? = nil, audit: AuditTrail? = nil) {
        (self.keys, self.rates, self.audit) = (keys, rates, audit)
    }

    /// What the guard reads of a route.
    struct RouteFacts: Sendable {
        let method: HTTPRequest.Method
        let path: String
        let access: Access
        /// Whether it acts on one pool (`{pool}`, or the default pool's short path).
        let pooled: Bool
        /// A hot route (assign, unblock, keep-alive): its key's rate is counted by its script call.
        var hot = false
        /// Whether a call is an admin change the audit trail records, whatever its answer.
        var audited: Bool { self.method != .get && (self.access == .admin || self.access == .holderOrAdmin) }
    }

    /// A refused request: its problem, and the name of its key when the key was known.
    struct Refusal: Error {
        let problem: ProblemDetails
        let key: String?
    }

    /// The key a request is let in with (nil when the service is open), and on a hot route its
    /// rate, left for the request's script call to count (folded into it: one Redis call for both).
    struct Admission {
        var key: APIKey?
        var charge: RateCharge?
    }

    /// What `route` lets the request in with. Throws a ``Refusal`` with the problem a refused
    /// request gets (401, 403, 429).
    // Not inlined, here and in `record`: inlined, their locals would widen the guarded route's
    // async frame, which a request keeps for its whole life (a waiting assign: 3.6 KiB a waiter,
    // docs/scaling.md).
    @inline(never)
    func admission(_ request: Request, parameters: Parameters, route: RouteFacts) async throws -> Admission {
        let ring = self.keys.ring
        if ring.isOpen { return Admission() }
        guard let header = request.headers[.authorization], header.count > 7, header.prefix(7).lowercased() == "bearer ",
            let key = ring.key(presented: header.dropFirst(7).drop { $0 == " " })
        else {
            let problem = ProblemDetails(.unauthorized, "unauthorized", "a valid key is needed: Authorization: Bearer KEY", headers: [.wwwAuthenticate: "Bearer"])
            throw Refusal(problem: problem, key: nil)
        }
        do {
            try self.check(key, request, parameters: parameters, route: route)
        } catch let problem as ProblemDetails {
            throw Refusal(problem: problem, key: key.name)
        }
        guard let rate = key.rate, let rates = self.rates else { return Admission(key: key) }
        let charge = rates.charge(key: key.name, perSecond: rate.perSecond, burst: rate.burst)
        if route.hot { return Admission(key: key, charge: charge) }
        if let wait = try await rates.admit(charge) { throw Refusal(problem: Self.rateLimited(wait), key: key.name) }
        return Admission(key: key)
    }

    /// 429 `rate-limited`, with `Retry-After` in whole seconds.
    static func rateLimited(_ wait: Duration) -> ProblemDetails {
        let seconds = max(1, Int((Double(wait.milliseconds) / 1000).rounded(.up)))
        return ProblemDetails(.tooManyRequests, "rate-limited", "this key is over its rate; retry in \(seconds) s", headers: [.retryAfter: String(seconds)])
    }

    /// The role and pool checks of a known key.
    private func check(_ key: APIKey, _ request: Request, parameters: Parameters, route: RouteFacts) throws {
        switch route.access {
        case .open, .client: break
        case .admin:
            if key.role != .admin { throw ProblemDetails(.forbidden, "forbidden", "this route needs an admin key") }
        case .globalAdmin:
            if !key.isGlobalAdmin { throw ProblemDetails(.forbidden, "forbidden", "this route needs an admin key of every pool") }
        case .holderOrAdmin:
            if key.role != .admin && request.uri.queryParameters.get("lease") == nil {
                throw ProblemDetails(.forbidden, "forbidden", "a client key may do this only to the token it holds: name its lease with ?lease=N")
            }
        }
        if route.pooled, key.pools != .every, let pool = PoolName(parameters.get("pool") ?? PoolName.default.rawValue), !key.pools.allows(pool) {
            throw ProblemDetails(.forbidden, "forbidden-pool", "this key may not use pool '\(pool)'")
        }
    }

    /// Writes one audit entry (and its log line): never the key, only its name. A failure to
    /// write is logged, and the request's answer stands.
    @inline(never)
    func record(
        _ request: Request, parameters: Parameters, route: RouteFacts, key: String?, status: HTTPResponse.Status, result: String, client: String?,
        logger: Logger
    ) async {
        var fields: [(name: String, value: String)] = [
            ("key", key ?? "-"), ("method", route.method.rawValue), ("route", route.path), ("status", String(status.code)), ("result", result),
        ]
        if route.pooled { fields.append(("pool", String((parameters.get("pool") ?? PoolName.default.rawValue).prefix(64)))) }
        if let token = parameters.get("token") { fields.append(("token", String(token.prefix(64)))) }
        fields.append(("client", client ?? "-"))
        logger.info("audit", metadata: Dictionary(uniqueKeysWithValues: fields.map { ("tokenpool.audit.\($0.name)", .string($0.value)) }))
        guard let audit = self.audit else { return }
        do {
            try await audit.record(fields)
        } catch {
            logger.error("Audit entry not written", metadata: ["error": "\(error)"])
        }
    }
}

extension APIRoute where Context: CallerRequestContext {
    /// The route behind security: refused requests get their problem and an audit entry; an admin
    /// change runs with the caller in its context and is recorded with its answer's status.
    func guarded(by security: APIGuard) -> Self {
        guard self.access != .open else { return self }
        let handler = self.handler
        let facts = APIGuard.RouteFacts(method: self.method, path: self.path, access: self.access, pooled: self.pooled, hot: self.hot)
        return Self(self.method, self.path, self.access, hot: self.hot, documented: self.documented, pooled: self.pooled) { request, context in
            var context = context
            // An open service lets every request in as it is: no admission call to await.
            let admission =
                security.keys.ring.isOpen ? APIGuard.Admission() : try await Self.admit(request, context, security: security, route: facts)
            context.caller = admission.key
            if let charge = admission.charge {
                return try await Self.charged(handler, request, context, charge: charge, security: security, route: facts)
            }
            guard facts.audited else { return try await handler(request, context) }
            return try await Self.audited(handler, request, context, security: security, route: facts)
        }
    }

    // The admission and the charged and the audited call are functions of their own, never
    // inlined: inlined, their locals would widen the guarded route's async frame, which every
    // request (a waiting assign for as long as it waits) keeps (docs/scaling.md).

    /// What the request is let in with; a refusal is recorded and thrown as its problem.
    @inline(never)
    private static nonisolated(nonsending) func admit(_ request: Request, _ context: Context, security: APIGuard, route facts: APIGuard.RouteFacts) async throws -> APIGuard.Admission {
        do {
            return try await security.admission(request, parameters: context.parameters, route: facts)
        } catch let refusal as APIGuard.Refusal {
            await security.record(
                request, parameters: context.parameters, route: facts, key: refusal.key, status: refusal.problem.status, result: refusal.problem.slug,
                client: context.clientAddress, logger: context.logger
            )
            throw refusal.problem
        }
    }

    /// A hot route's call, its script counting the key's rate in the same Redis call.
    @inline(never)
    private static nonisolated(nonsending) func charged(
        _ handler: Handler, _ request: Request, _ context: Context, charge: RateCharge, security: APIGuard, route facts: APIGuard.RouteFacts
    ) async throws -> Response {
        do {
            let response = try await RateCharge.$current.withValue(charge) { try await handler(request, context) }
            if !charge.wasTaken { _ = try? await security.rates?.admit(charge) }
            return response
        } catch let limited as RateLimited {
            let problem = APIGuard.rateLimited(limited.retry)
            await security.record(
                request, parameters: context.parameters, route: facts, key: context.caller?.name, status: problem.status, result: problem.slug,
                client: context.clientAddress, logger: context.logger
            )
            throw problem
        } catch {
            // Refused before any script call (a bad lease, say): it still counts.
            if !charge.wasTaken { _ = try? await security.rates?.admit(charge) }
            throw error
        }
    }

    /// An audited route's call, recorded with its answer's status.
    @inline(never)
    private static nonisolated(nonsending) func audited(
        _ handler: Handler, _ request: Request, _ context: Context, security: APIGuard, route facts: APIGuard.RouteFacts
    ) async throws -> Response {
        let name = context.caller?.name
        do {
            let response = try await handler(request, context)
            await security.record(
                request, parameters: context.parameters, route: facts, key: name, status: response.status, result: "ok", client: context.clientAddress,
                logger: context.logger
            )
            return response
        } catch {
            let problem = (error as? ProblemDetails) ?? (error as? TokenPoolError).map(ProblemAnswers.problem(for:))
            await security.record(
                request, parameters: context.parameters, route: facts, key: name, status: problem?.status ?? .internalServerError,
                result: problem?.slug ?? "error", client: context.clientAddress, logger: context.logger
            )
            throw error
        }
    }
}

extension ChannelRequestContext {
    /// The client's address as the listener saw it (a proxy's, behind one).
    var clientAddress: String? {
        guard let address = self.channel?.remoteAddress else { return nil }
        if let ip = address.ipAddress, let port = address.port { return address.protocol == .inet6 ? "[\(ip)]:\(port)" : "\(ip):\(port)" }
        return "\(address)"
    }
}
