import NIOCore

/// One entry of a pool's events stream.
public struct PoolEvent: Sendable, Hashable {
    /// The stream entry's id (`MS-SEQ`): strictly increasing; pass it back to read what follows.
    public var id: String
    /// `assigned`, `unblocked`, `lapsed`, `expired`, `deleted` or `generated`.
    public var type: String
    /// When, in ms since the epoch by Redis's clock.
    public var at: Int64
    /// The token it is about (all but `generated`).
    public var token: String?
    /// The lease given (`assigned`) or ended (`unblocked`, `lapsed`).
    public var lease: Int64?
    /// Who took the token (`assigned`, when its assign named a holder).
    public var holder: String?
    /// How many tokens were made (`generated`).
    public var count: Int?
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

    /// XRANGE's `[[id, [field, value, ...]], ...]`: each entry `type`, `at`, then what it is about.
    private static func decodeEvents(_ reply: RESPValue) throws(RedisClientError) -> [PoolEvent] {
        guard let entries = reply.array else { throw .unexpectedReply("XRANGE: \(reply.shape)") }
        var events: [PoolEvent] = []
        events.reserveCapacity(entries.count)
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string, let fields = parts[1].array?.compactMap(\.string),
                fields.count >= 4, fields.count % 2 == 0, fields[0] == "type", fields[2] == "at", let at = Int64(fields[3])
            else {
                throw .unexpectedReply("XRANGE: an event that is not {type, at, ...}")
            }
            var event = PoolEvent(id: id, type: fields[1], at: at)
            for index in stride(from: 4, to: fields.count, by: 2) {
                let value = fields[index + 1]
                switch fields[index] {
                case "token": event.token = value
                case "lease": event.lease = Int64(value)
                case "holder": event.holder = value
                case "count": event.count = Int(value)
                default: break  // a field a later version adds
                }
            }
            events.append(event)
        }
        return events
    }
}
