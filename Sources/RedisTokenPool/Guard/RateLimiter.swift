import NIOConcurrencyHelpers
import RedisNIO

/// API keys' rates, counted in Redis (rate.lua) so that every replica draws on one budget per
/// key: a client spraying three replicas gets the rate it would get from one.
///
/// At most one Redis call a request of a key that has a rate, never followed by `WAIT` of its
/// own: a count lost in a failover only forgives a few requests. On one Redis or Sentinel the
/// hot routes fold it into the request's own script (``RateCharge``); on Redis Cluster its key,
/// the API key's name on whatever slot that hashes to, cannot share the pool's slot, so it is
/// its own `FCALL` before the script.
public struct RateLimiter: Sendable {
    private let client: RedisClient
    private let keyPrefix: String

    public init(pool: TokenPool) {
        self.client = pool.client
        self.keyPrefix = pool.settings.keyPrefix
    }

    /// The charge of one request of `key` (an API key's name) against `perSecond` with `burst`
    /// at once, for the request's first script call to count (``RateCharge``).
    public func charge(key: String, perSecond: Double, burst: Int) -> RateCharge {
        RateCharge(key: "\(self.keyPrefix):rate:\(key)", perSecond: perSecond, burst: burst)
    }

    /// Counts `charge` by its own call: nil when the request may go on, else how long until one
    /// more would be allowed.
    public func admit(_ charge: RateCharge) async throws -> Duration? {
        do {
            try RateCharge.checkRate(try await self.client.evaluate(PoolScript.rate.script, keys: [charge.key], arguments: charge.arguments, changesState: false))
            return nil
        } catch let limited as RateLimited {
            return limited.retry
        }
    }
}

/// One request's API-key rate, to be counted by the request's first script call: folded into it
/// where Redis holds both (``RedisClient/run(_:in:keys:)``), else by its own call. Carried as a
/// task-local value from the guard to that call; counted once.
public final class RateCharge: Sendable {
    /// The charge of the request this task serves, if its key has a rate.
    @TaskLocal public static var current: RateCharge?

    /// The rate's Redis key, and rate.lua's interval (µs) and burst.
    let key: String
    let arguments: [String]
    private let taken = NIOLockedValueBox(false)

    init(key: String, perSecond: Double, burst: Int) {
        self.key = key
        self.arguments = [String(max(1, Int((1_000_000 / perSecond).rounded()))), String(burst)]
    }

    /// Whether a script call has counted it (or is about to).
    public var wasTaken: Bool { self.taken.withLockedValue { $0 } }

    /// True for the one call that counts it.
    func take() -> Bool {
        self.taken.withLockedValue { taken in
            defer { taken = true }
            return !taken
        }
    }

    /// A folded call's reply: `{'rate_limited', RETRY_MS}` means the script did not run.
    static func checkFolded(_ reply: RESPValue) throws {
        guard let fields = reply.array, fields.count == 2, fields[0].string == "rate_limited" else { return }
        throw RateLimited(retry: .milliseconds(fields[1].int ?? 1000))
    }

    /// rate.lua's reply: `{1, 0}` goes on, `{0, RETRY_MS}` is over the rate.
    static func checkRate(_ reply: RESPValue) throws {
        guard let fields = reply.array, fields.count == 2, let allowed = fields[0].int, let retry = fields[1].int else {
            throw RedisClientError.unexpectedReply("rate: \(reply.shape)")
        }
        if allowed == 0 { throw RateLimited(retry: .milliseconds(retry)) }
    }
}

/// A request over its API key's rate: nothing of it ran. `retry`: until one more is allowed.
public struct RateLimited: Error, Sendable {
    public let retry: Duration
}
