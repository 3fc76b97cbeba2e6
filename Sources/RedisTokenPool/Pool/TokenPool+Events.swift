import NIOCore
import RedisNIO

/// One entry of a pool's events stream.
public struct PoolEvent: Sendable, Hashable {
    /// The stream entry's id (`MS-SEQ`): strictly increasing; pass it back to read what follows.
    public var id: String
    /// `assigned`, `unblocked`, `lapsed`, `expired`, `deleted`, `generated`, `cooling`,
    /// `available`, `disabled` or `enabled`.
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
    /// When the token is assignable again (`cooling`; `disabled` with a quarantine), ms by Redis's clock.
    public var availableAt: Int64?
    /// Why (`disabled`, when a reason was given).
    public var reason: String?
    /// The name of the API key that asked for the change (`generated`, `deleted`, `disabled` and
    /// `enabled` by a request that presented a key).
    public var by: String?

    public init(
        id: String, type: String, at: Int64, token: String? = nil, lease: Int64? = nil, holder: String? = nil, count: Int? = nil,
        availableAt: Int64? = nil, reason: String? = nil, by: String? = nil
    ) {
        (self.id, self.type, self.at, self.token, self.lease, self.holder, self.count) = (id, type, at, token, lease, holder, count)
        (self.availableAt, self.reason, self.by) = (availableAt, reason, by)
    }

    /// `KIND AT TOKEN LEASE [HOLDER]` (lease 0: none; the holder may hold spaces), `generated AT
    /// COUNT`, or `cooling|disabled AT TOKEN LEASE AVAILABLEAT|- [REASON]`.
    init?(id: String, text: String) {
        let parts = text.split(separator: " ", maxSplits: 4, omittingEmptySubsequences: false)
        guard parts.count >= 3, let at = Int64(parts[1]) else { return nil }
        self.init(id: id, type: String(parts[0]), at: at)
        if self.type == "generated" {
            guard parts.count == 3, let count = Int(parts[2]) else { return nil }
            self.count = count
            return
        }
        guard parts.count >= 4, let lease = Int64(parts[3]) else { return nil }
        self.token = String(parts[2])
        self.lease = lease > 0 ? lease : nil
        guard parts.count == 5 else { return }
        guard self.type == "cooling" || self.type == "disabled" else {
            self.holder = String(parts[4])
            return
        }
        let rest = parts[4].split(separator: " ", maxSplits: 1, omittingEmptySubsequences: false)
        self.availableAt = Int64(rest[0])
        self.reason = rest.count == 2 ? String(rest[1]) : nil
    }
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

    /// XRANGE's `[[id, ["e", "KIND AT WHAT"(, "b", KEYNAME)]], ...]` (see `emit` in prelude.lua).
    private static func decodeEvents(_ reply: RESPValue) throws(RedisClientError) -> [PoolEvent] {
        guard let entries = reply.array else { throw .unexpectedReply("XRANGE: \(reply.shape)") }
        var events: [PoolEvent] = []
        events.reserveCapacity(entries.count)
        for entry in entries {
            guard let parts = entry.array, parts.count == 2, let id = parts[0].string, let fields = parts[1].array?.compactMap(\.string),
                fields.count == 2 || (fields.count == 4 && fields[2] == "b"), fields[0] == "e", var event = PoolEvent(id: id, text: fields[1])
            else {
                throw .unexpectedReply("XRANGE: an event that is not e = 'KIND AT WHAT' (and b = KEYNAME)")
            }
            if fields.count == 4 { event.by = fields[3] }
            events.append(event)
        }
        return events
    }
}
