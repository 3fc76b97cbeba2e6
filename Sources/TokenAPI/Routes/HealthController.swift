import Hummingbird
import RedisTokenPool

/// `/healthz`: the process answers. `/readyz`: and Redis answers too.
struct HealthController<Context: RequestContext>: Sendable {
    let pool: TokenPool

    func addRoutes(to router: Router<Context>) {
        router.get("healthz") { _, _ in
            Self.ok
        }
        router.get("readyz") { _, _ in
            do {
                try await self.pool.client.ping()
                return Self.ok
            } catch {
                throw ProblemDetails.unavailable("not-ready", "Redis does not answer: \(error)")
            }
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
