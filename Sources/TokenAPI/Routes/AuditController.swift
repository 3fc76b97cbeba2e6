import Foundation
import Hummingbird
import RedisTokenPool

/// `GET /audit`: the audit trail, oldest first, a page at a time (admin keys of every pool).
struct AuditController<Context: RequestContext>: Sendable {
    /// nil: no Redis to read from (the route table's own tests).
    let trail: AuditTrail?

    /// `?since=TIME` (RFC 3339, or ms since the epoch), `?limit=L` (1..1000, default 100),
    /// `?cursor=C` (a page's `next`, which wins over `since`).
    func list(_ request: Request, _ context: Context) async throws -> JSONResponse {
        let query = request.uri.queryParameters
        var limit = 100
        if let text = query.get("limit") {
            guard let number = Int(text), (1...1000).contains(number) else { throw ProblemDetails.badRequest("limit must be a whole number from 1 to 1000") }
            limit = number
        }
        let cursor = query.get("cursor")
        if let cursor, !AuditTrail.isCursor(cursor) { throw ProblemDetails.badRequest("cursor must be a page's next, as it was given") }
        var since: Int64?
        if let text = query.get("since") {
            guard let ms = Self.milliseconds(text) else {
                throw ProblemDetails.badRequest("since must be an RFC 3339 time (2026-12-05T10:00:00Z) or ms since the epoch")
            }
            since = ms
        }
        let page = try await self.trail?.entries(since: since, after: cursor, limit: limit) ?? Page(items: [], next: nil)
        var writer = JSONWriter(capacity: 64 + page.items.count * 256)
        writer.beginObject()
        writer.beginArray("entries")
        for entry in page.items {
            writer.beginObject()
            writer.field("id", entry.id)
            writer.field("time", timestampFromMilliseconds: entry.milliseconds)
            for (name, value) in entry.fields {
                writer.key(name)
                if name == "status", let code = Int(value) { writer.raw(String(code)) } else { writer.element(value) }
            }
            writer.endObject()
        }
        writer.endArray()
        writer.field("next", page.next)
        writer.endObject()
        return JSONResponse(status: .ok, body: writer.buffer)
    }

    static func milliseconds(_ text: String) -> Int64? {
        if let ms = Int64(text) { return (0...100_000_000_000_000).contains(ms) ? ms : nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        guard let date = formatter.date(from: text) ?? plain.date(from: text) else { return nil }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
}
