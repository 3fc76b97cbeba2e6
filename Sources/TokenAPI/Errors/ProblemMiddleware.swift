import Hummingbird
import Logging
import RedisTokenPool

/// Turns every error a route throws into problem+json. Domain errors become 404/409,
/// Redis trouble 503 with `Retry-After`, HTTP errors keep their status, and anything else,
/// which is a bug, a logged 500.
struct ProblemMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // The router found no route: a known path with another method is 405.
            let allowed = AllowedMethods.shared.methods(for: request.uri.path)
            if allowed.isEmpty { throw Self.problem(for: error, logger: context.logger) }
            throw ProblemDetails(
                .methodNotAllowed, "method-not-allowed", "\(request.method) is not allowed here; allowed: \(allowed.joined(separator: ", "))",
                headers: [.allow: allowed.joined(separator: ", ")]
            )
        } catch {
            throw Self.problem(for: error, logger: context.logger)
        }
    }

    static func problem(for error: any Error, logger: Logger) -> ProblemDetails {
        switch error {
        case let problem as ProblemDetails:
            return problem
        case let error as TokenPoolError where error.isNoFreeToken:
            return ProblemDetails(.notFound, "no-free-token", error.message)
        case let error as TokenPoolError where error.isTokenNotFound:
            return ProblemDetails(.notFound, "token-not-found", error.message)
        case let error as TokenPoolError where error.isIdempotencyKeyInUse:
            return ProblemDetails(.conflict, "idempotency-key-in-use", error.message, headers: [.retryAfter: "1"])
        case let error as TokenPoolError:
            return ProblemDetails(.conflict, "lease-conflict", error.message)
        case let error as RedisClientError:
            logger.warning("Redis unavailable", metadata: ["error": "\(error)"])
            return ProblemDetails(.serviceUnavailable, "redis-unavailable", error.message, headers: [.retryAfter: "1"])
        case let error as RedisServerError:
            logger.error("Redis refused a command", metadata: ["error": "\(error)"])
            return ProblemDetails(.serviceUnavailable, "redis-error", error.message, headers: [.retryAfter: "1"])
        case let error as any HTTPResponseError:
            let slug = error.status.reasonPhrase.lowercased().split(separator: " ").joined(separator: "-")
            let detail = (error as? HTTPError)?.body ?? error.status.reasonPhrase
            return ProblemDetails(error.status, slug, detail)
        default:
            logger.error("Unexpected error", metadata: ["error": "\(String(reflecting: error))"])
            return ProblemDetails(.internalServerError, "internal", "an unexpected error; it was logged")
        }
    }
}
