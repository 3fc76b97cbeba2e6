import Hummingbird
import NIOCore
import RedisTokenPool

/// A JSON body already written, with its status.
struct JSONResponse: ResponseGenerator {
    var status: HTTPResponse.Status
    var body: ByteBuffer

    func response(from request: Request, context: some RequestContext) -> Response {
        Response(
            status: self.status,
            headers: [.contentType: "application/json", .contentLength: String(self.body.readableBytes)],
            body: ResponseBody(byteBuffer: self.body)
        )
    }
}

extension JSONWriter {
    /// TokenInfo: `{"token","pool","state","expiresAt","leaseExpiresAt","lease","leaseExpiresIn"}`.
    mutating func tokenInfo(_ record: TokenRecord) {
        self.beginObject()
        self.field("token", record.token.rawValue)
        self.field("pool", record.pool.rawValue)
        self.field("state", record.state.rawValue)
        self.field("expiresAt", RFC3339.string(fromMilliseconds: record.expiresAt))
        self.field("leaseExpiresAt", record.leaseExpiresAt.map(RFC3339.string(fromMilliseconds:)))
        self.field("lease", record.lease)
        self.field("leaseExpiresIn", secondsFromMilliseconds: record.leaseExpiresAt.map { max(0, $0 - record.observedAt) })
        self.endObject()
    }
}

extension TokenRecord {
    func json(status: HTTPResponse.Status = .ok) -> JSONResponse {
        var writer = JSONWriter(capacity: 192)
        writer.tokenInfo(self)
        return JSONResponse(status: status, body: writer.buffer)
    }
}

extension [TokenRecord] {
    /// `{"tokens": [TokenInfo]}`.
    func json(status: HTTPResponse.Status) -> JSONResponse {
        var writer = JSONWriter(capacity: 32 + 180 * self.count)
        writer.beginObject()
        writer.beginArray("tokens")
        for record in self { writer.tokenInfo(record) }
        writer.endArray()
        writer.endObject()
        return JSONResponse(status: status, body: writer.buffer)
    }
}

extension PoolStats {
    func json() -> JSONResponse {
        var writer = JSONWriter(capacity: 96)
        writer.beginObject()
        writer.field("pool", self.pool.rawValue)
        writer.field("total", self.total)
        writer.field("free", self.free)
        writer.field("assigned", self.assigned)
        writer.field("waiting", self.waiting)
        writer.endObject()
        return JSONResponse(status: .ok, body: writer.buffer)
    }
}
