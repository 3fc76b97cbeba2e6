import Hummingbird
import NIOCore
import RedisNIO
import RedisTokenPool

/// A JSON body already written, with its status.
struct JSONResponse: ResponseGenerator {
    var status: HTTPResponse.Status
    var body: ByteBuffer

    func response(from request: Request, context: some RequestContext) -> Response {
        self.response
    }

    var response: Response {
        Response(
            status: self.status,
            headers: [.contentType: "application/json", .contentLength: String(self.body.readableBytes)],
            body: ResponseBody(byteBuffer: self.body)
        )
    }
}

extension JSONWriter {
    /// TokenInfo: `{"token","pool","state","expiresAt","leaseExpiresAt","lease","leaseExpiresIn","holder","metadata",
    /// "availableAt","failures","reason"}`.
    mutating func tokenInfo(_ record: TokenRecord) {
        self.beginObject()
        self.field("token", record.token.rawValue)
        self.field("pool", record.pool.rawValue)
        self.field("state", record.state.rawValue)
        self.field("expiresAt", timestampFromMilliseconds: record.expiresAt)
        self.field("leaseExpiresAt", timestampFromMilliseconds: record.leaseExpiresAt)
        self.field("lease", record.lease)
        self.field("leaseExpiresIn", secondsFromMilliseconds: record.leaseExpiresAt.map { max(0, $0 - record.observedAt) })
        self.field("holder", record.holder)
        self.field("metadata", json: record.metadata)
        self.field("availableAt", timestampFromMilliseconds: record.availableAt)
        self.field("failures", record.failures)
        self.field("reason", record.reason)
        self.endObject()
    }
}

extension TokenRecord {
    /// About how many bytes its TokenInfo takes, metadata included: the writer's one allocation.
    var jsonSize: Int { 288 + (self.metadata?.utf8.count ?? 0) + (self.reason?.utf8.count ?? 0) }

    func json(status: HTTPResponse.Status = .ok) -> JSONResponse {
        var writer = JSONWriter(capacity: self.jsonSize)
        writer.tokenInfo(self)
        return JSONResponse(status: status, body: writer.buffer)
    }
}

extension JSONWriter {
    /// A writer sized for `{"tokens": [...]}` of `records`, the object begun and the array written.
    static func tokenList(_ records: [TokenRecord]) -> JSONWriter {
        var writer = JSONWriter(capacity: 48 + records.reduce(0) { $0 + $1.jsonSize })
        writer.beginObject()
        writer.beginArray("tokens")
        for record in records { writer.tokenInfo(record) }
        writer.endArray()
        return writer
    }
}

extension [TokenRecord] {
    /// `{"tokens": [TokenInfo]}`.
    func json(status: HTTPResponse.Status) -> JSONResponse {
        var writer = JSONWriter.tokenList(self)
        writer.endObject()
        return JSONResponse(status: status, body: writer.buffer)
    }
}

extension Page<TokenRecord> {
    /// `{"tokens": [TokenInfo], "next": CURSOR|null}`.
    func json() -> JSONResponse {
        var writer = JSONWriter.tokenList(self.items)
        writer.field("next", self.next)
        writer.endObject()
        return JSONResponse(status: .ok, body: writer.buffer)
    }
}

extension Page<PoolStats> {
    /// `{"pools": [Pool], "next": CURSOR|null}`.
    func json() -> JSONResponse {
        var writer = JSONWriter(capacity: 48 + 256 * self.items.count)
        writer.beginObject()
        writer.beginArray("pools")
        for stats in self.items { writer.poolStats(stats, detailed: true) }
        writer.endArray()
        writer.field("next", self.next)
        writer.endObject()
        return JSONResponse(status: .ok, body: writer.buffer)
    }
}

extension JSONWriter {
    /// Stats: `{"pool","total","free","assigned","waiting","cooling","disabled","reserved"}`;
    /// `detailed` (Pool) adds the pool's settings: the TTLs, `cooldown` and `quarantine` in
    /// seconds, `maxFailures`, `rateLimit` (`{"assigns", "per"}`, or null), `maxPerHolder`.
    mutating func poolStats(_ stats: PoolStats, detailed: Bool) {
        self.beginObject()
        self.field("pool", stats.pool.rawValue)
        self.field("total", stats.total)
        self.field("free", stats.free)
        self.field("assigned", stats.assigned)
        self.field("waiting", stats.waiting)
        self.field("cooling", stats.cooling)
        self.field("disabled", stats.disabled)
        self.field("reserved", stats.reserved)
        if detailed {
            self.field("leaseTTL", secondsFromMilliseconds: stats.leaseTTL.milliseconds)
            self.field("keepAliveTTL", secondsFromMilliseconds: stats.keepAliveTTL.milliseconds)
            self.field("cooldown", secondsFromMilliseconds: stats.cooldown?.milliseconds)
            self.field("maxFailures", stats.maxFailures.map { Int64($0) })
            self.field("quarantine", secondsFromMilliseconds: stats.quarantine?.milliseconds)
            if let rate = stats.rateLimit {
                self.beginObject("rateLimit")
                self.field("assigns", rate.assigns)
                self.field("per", secondsFromMilliseconds: rate.per.milliseconds)
                self.endObject()
            } else {
                self.field("rateLimit", json: nil)
            }
            self.field("maxPerHolder", stats.maxPerHolder.map { Int64($0) })
        }
        self.endObject()
    }
}

extension PoolStats {
    func json(status: HTTPResponse.Status = .ok, detailed: Bool = false) -> JSONResponse {
        var writer = JSONWriter(capacity: 256)
        writer.poolStats(self, detailed: detailed)
        return JSONResponse(status: status, body: writer.buffer)
    }
}

extension WaiterPage {
    /// `{"waiters": [{"holder","count","priority","since","waitUntil"}], "setAside": [TOKEN], "next": CURSOR|null}`.
    func json() -> JSONResponse {
        var writer = JSONWriter(capacity: 64 + 128 * self.waiters.count + 40 * self.setAside.count)
        writer.beginObject()
        writer.beginArray("waiters")
        for waiter in self.waiters {
            writer.beginObject()
            writer.field("holder", waiter.holder)
            writer.field("count", waiter.count)
            writer.field("priority", waiter.priority)
            writer.field("since", timestampFromMilliseconds: waiter.since)
            writer.field("waitUntil", timestampFromMilliseconds: waiter.waitUntil)
            writer.endObject()
        }
        writer.endArray()
        writer.beginArray("setAside")
        for token in self.setAside { writer.element(token.rawValue) }
        writer.endArray()
        writer.field("next", self.next)
        writer.endObject()
        return JSONResponse(status: .ok, body: writer.buffer)
    }
}
