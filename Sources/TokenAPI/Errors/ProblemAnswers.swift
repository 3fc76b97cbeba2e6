import Hummingbird
import Logging
import RedisNIO
import RedisTokenPool

/// Turns every error a request's handling throws into its problem+json answer: the pool's
/// refusals become 404/409, transient Redis trouble 503 with `Retry-After`, HTTP errors keep
/// their status, and everything else (a bug, corrupt data, a reply that breaks a script's
/// contract) a 500, logged once at error level.
///
/// ``APIResponder`` asks it around every route; the answer is returned, never thrown on, and
/// it is no middleware: a middleware is an async frame (and a closure's) on every request's
/// path, kept in the connection task's slabs for as long as the connection lives.
struct ProblemAnswers: Sendable {
    /// For 405 `Allow`, from the route table.
    let allowed: AllowedMethods

    /// The answer to `error`, thrown while answering `request`.
    @inline(never)
    func answer(_ error: any Error, to request: Request, context: some RequestContext) -> Response {
        switch error {
        case let error as TokenPoolError:
            // The common refusal (a 404 of an exhausted pool) first: one cast, not four.
            return Self.problem(for: error).response(from: request, context: context)
        case let error as HTTPError where error.status == .notFound:
            // The router found no route: a known path with another method is 405.
            let allowed = self.allowed.methods(for: request.uri.path)
            if allowed.isEmpty { return Self.problem(for: error, pool: nil, logger: context.logger).response(from: request, context: context) }
            return ProblemDetails(
                .methodNotAllowed, "method-not-allowed", "\(request.method) is not allowed here; allowed: \(allowed.joined(separator: ", "))",
                headers: [.allow: allowed.joined(separator: ", ")]
            ).response(from: request, context: context)
        default:
            return self.answer(error, path: request.uri.path, pool: context.parameters.get("pool") ?? PoolName.default.rawValue, logger: context.logger)
        }
    }

    /// The answer to `error`, thrown by a route of `pool` at `path`, once the request and its
    /// context are gone: a parked wait's (``ParkingHandler``), which keeps only these.
    func answer(_ error: any Error, path: String, pool: String, logger: Logger) -> Response {
        Self.problem(for: error, pool: pool, logger: logger).response(instance: path)
    }

    static func problem(for error: any Error, pool: String?, logger: Logger) -> ProblemDetails {
        switch error {
        case let problem as ProblemDetails:
            return problem
        case let error as TokenPoolError:
            return Self.problem(for: error)
        case let error as RedisClientError where error.code == .notReplicated:
            logger.warning("A change was not replicated in time", metadata: ["tokenpool.pool": "\(pool ?? "-")", "error": "\(error)"])
            return .unavailable("not-replicated", error.message + "; retry with the same Idempotency-Key")
        case let error as RedisClientError where error.isTransient:
            logger.warning("Redis unavailable", metadata: ["error": "\(error)"])
            return .unavailable("redis-unavailable", error.message)
        case let error as RedisServerError where error.isTransient:
            logger.warning("Redis cannot serve for now", metadata: ["tokenpool.pool": "\(pool ?? "-")", "tokenpool.redis.error": "\(error.message)"])
            return .unavailable("redis-busy", "Redis cannot serve for now: \(error.prefix)")
        // WRONGTYPE, a script error, a reply that breaks a script's contract: a bug or corrupt
        // data. A retry would fail the same way, so this is no 503.
        case let error as RedisServerError:
            return Self.unusableReply(redisMessage: error.message, pool: pool, logger: logger)
        case let error as RedisClientError:
            return Self.unusableReply(redisMessage: error.message, pool: pool, logger: logger)
        case let error as any HTTPResponseError:
            let slug = error.status.reasonPhrase.lowercased().split(separator: " ").joined(separator: "-")
            let detail = (error as? HTTPError)?.body ?? error.status.reasonPhrase
            return ProblemDetails(error.status, slug, detail)
        default:
            logger.error("Unexpected error", metadata: ["tokenpool.pool": "\(pool ?? "-")", "error": "\(String(reflecting: error))"])
            return .internal
        }
    }

    private static func unusableReply(redisMessage: String, pool: String?, logger: Logger) -> ProblemDetails {
        logger.error("Redis answered what TokenPool cannot use", metadata: ["tokenpool.pool": "\(pool ?? "-")", "tokenpool.redis.error": "\(redisMessage)"])
        return .internal
    }

    /// Every refusal of the pool has its own answer; a new code will not compile until it has one.
    static func problem(for error: TokenPoolError) -> ProblemDetails {
        switch error.code {
        case .noFreeToken: ProblemDetails(.notFound, "no-free-token", error.message)
        case .tokenNotFound: ProblemDetails(.notFound, "token-not-found", error.message)
        case .leaseConflict: ProblemDetails(.conflict, "lease-conflict", error.message)
        case .idempotencyKeyInUse: ProblemDetails(.conflict, "idempotency-key-in-use", error.message, headers: [.retryAfter: ProblemDetails.retryAfter])
        case .waitInterrupted: .unavailable("wait-interrupted", error.message)
        case .poolNotFound: ProblemDetails(.notFound, "pool-not-found", error.message)
        case .invalidCursor: ProblemDetails(.badRequest, "invalid-cursor", error.message)
        case .idempotencyKeyReused: ProblemDetails(.conflict, "idempotency-key-reused", error.message)
        case .holderLimit: ProblemDetails(.tooManyRequests, "holder-limit", error.message, headers: [.retryAfter: ProblemDetails.retryAfter])
        }
    }
}
