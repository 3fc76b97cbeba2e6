import RedisNIO

/// API keys' rates, counted in Redis (rate.lua) so that every replica draws on one budget per
/// key: a client spraying three replicas gets the rate it would get from one.
///
/// One `FCALL` a request of a key that has a rate, never followed by `WAIT`: a count lost in a
/// failover only forgives a few requests. Its key is the API key's name, on whatever slot that
/// hashes to; it is not folded into the pool's own script, whose keys share the pool's slot.
public struct RateLimiter: Sendable {
    private let client: RedisClient
    private let keyPrefix: String

    public init(pool: TokenPool) {
        self.client = pool.client
        self.keyPrefix = pool.settings.keyPrefix
    }

    /// Counts one request of `key` (an API key's name) against `perSecond` with `burst` at once:
    /// nil when it may go on, else how long until one more would be allowed.
    public func admit(key: String, perSecond: Double, burst: Int) async throws -> Duration? {
        let interval = max(1, Int((1_000_000 / perSecond).rounded()))
        let reply = try await self.client.evaluate(
            PoolScript.rate.script, keys: ["\(self.keyPrefix):rate:\(key)"], arguments: [String(interval), String(burst)], changesState: false
        )
        guard let fields = reply.array, fields.count == 2, let allowed = fields[0].int, let retry = fields[1].int else {
            throw RedisClientError.unexpectedReply("rate: \(reply.shape)")
        }
        return allowed == 1 ? nil : .milliseconds(retry)
    }
}
