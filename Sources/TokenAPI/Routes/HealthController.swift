import Hummingbird
import RedisNIO
import RedisTokenPool

/// `/healthz`: the process answers. `/readyz`: and Redis answers too.
struct HealthController<Context: RequestContext>: Sendable {
    let pool: TokenPool

    /// `/healthz`.
    func live(_ request: Request, _ context: Context) -> JSONResponse {
        Self.ok
    }

    /// `/readyz`.
    func ready(_ request: Request, _ context: Context) async throws -> JSONResponse {
        do {
            try await self.pool.client.ping()
            return Self.ok
        } catch {
            throw ProblemDetails.unavailable("not-ready", "Redis does not answer: \(error)")
        }
    }

    private static var ok: JSONResponse {
        var writer = JSONWriter(capacity: 16)
        writer.beginObject()
        writer.field("status", "ok")
        writer.endObject()
        return JSONResponse(status: .ok, body: writer.buffer)
    }
}
