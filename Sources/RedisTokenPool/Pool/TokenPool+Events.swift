import NIOCore

/// One entry of a pool's events stream.
public struct PoolEvent: Sendable, Hashable {
    /// The stream entry's id (`MS-SEQ`): strictly increasing; pass it back to read what follows.
    public var id: String
    /// `assigned`, `unblocked`, `lapsed`, `expired`, `deleted` or `generated`.
    public var type: String
    /// A JSON object: `type`, `at` (ms, Redis's clock) and `token`, `lease`, `holder` or `count`.
    public var data: String
}

extension TokenPool {
    /// The pool's events after `id` (exclusive), oldest first, at most `limit`. O(log N + limit)
    /// on a stream capped near 1000 entries.
    public func events(in pool: PoolName, after id: String, limit: Int = 200) async throws -> [PoolEvent] {
        let reply = try await self.client.send("XRANGE", self.keys(of: pool).events, "(" + id, "+", "COUNT", String(limit))
        return try Self.decodeEvents(reply)
    }

    /// The id of the pool's newest event, `0-0` when it has none: read after it for what happens next.
    public func lastEventID(in pool: PoolName) async throws -> String {
        let reply = try await self.client.send("XREVRANGE", self.keys(of: pool).events, "+", "-", "COUNT", "1")
        return try Self.decodeEvents(reply).first?.id ?? "0-0"
    }

    /// XRANGE's `[[id, [field, value, ...]], ...]`, each entry with its `type` and `data`.
    private static func decodeEvents(_ reply: RESPValue) throws(RedisClientError) -> [PoolEvent] {
        guard let entries = reply.array else { throw .unexpectedReply("XRANGE: \(reply.shape)") }
        var events: [PoolEvent] = []
        events.reserveCapacity(entries.count)
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string, let fields = parts[1].array?.compactMap(\.string),
                fields.count == 4, fields[0] == "type", fields[2] == "data", TokenRecord.looksLikeObject(fields[3])
            else {
                throw .unexpectedReply("XRANGE: an event that is not {type, data}")
            }
            events.append(PoolEvent(id: id, type: fields[1], data: fields[3]))
        }
        return events
    }
}
