import CoreMetrics
import Logging
import NIOConcurrencyHelpers

/// How long leases and lives last, and how much work one call may do.
public struct TokenPoolSettings: Sendable {
    /// An assignment lapses this long after assign or the last keep-alive.
    public var leaseTTL: Duration
    /// A token is deleted this long after it was generated or last kept alive.
    public var keepAliveTTL: Duration
    /// Lapsed leases that assign returns to the free set before it pops.
    public var reclaimOnAssign: Int
    /// Dead tokens that one assign script may pop and drop before it starts again.
    public var maxPopsPerAssign: Int
    /// Tokens that one reap script handles at most, of each kind.
    public var reapBatch: Int
    /// First part of every key: `PREFIX:{pool}:free`.
    public var keyPrefix: String

    public init(
        leaseTTL: Duration = .seconds(60),
        keepAliveTTL: Duration = .seconds(300),
        reclaimOnAssign: Int = 16,
        maxPopsPerAssign: Int = 32,
        reapBatch: Int = 1000,
        keyPrefix: String = "tokenpool"
    ) {
        self.leaseTTL = leaseTTL
        self.keepAliveTTL = keepAliveTTL
        self.reclaimOnAssign = reclaimOnAssign
        self.maxPopsPerAssign = maxPopsPerAssign
        self.reapBatch = reapBatch
        self.keyPrefix = keyPrefix
    }
}

/// Token pools kept in Redis. Every change is one atomic Lua script, timed by Redis's clock,
/// and no operation is O(n) in a pool's size.
public final class TokenPool: Sendable {
    public static let maxBatch = 10_000
    static let generateChunk = 1_000

    public let client: RedisClient
    public let settings: TokenPoolSettings
    private let leaseMillis: String
    private let keepAliveMillis: String
    private let registered = NIOLockedValueBox(Set<PoolName>())
    let metrics = PoolMetrics()

    public init(client: RedisClient, settings: TokenPoolSettings = TokenPoolSettings()) {
        self.client = client
        self.settings = settings
        self.leaseMillis = String(settings.leaseTTL.milliseconds)
        self.keepAliveMillis = String(settings.keepAliveTTL.milliseconds)
    }

    /// Adds `count` new free tokens (1 ... ``maxBatch``). O(count log n).
    ///
    /// With an `idempotencyKey`, a later call with the same key within one lease TTL gets the
    /// first call's tokens back (those still in the pool, with their current deadlines) instead
    /// of new ones; while the first call runs, a second is ``TokenPoolError/idempotencyKeyInUse(_:)``.
    public func generate(count: Int = 1, in pool: PoolName = .default, idempotencyKey: String? = nil) async throws -> [TokenRecord] {
        precondition((1...Self.maxBatch).contains(count), "count out of range")
        guard let idempotencyKey else { return try await self.generateNew(count: count, in: pool) }
        let record = self.idempotencyRecord("generate", idempotencyKey, pool)
        let claimed = try await self.client.send("SET", record, Self.pending, "NX", "PX", self.leaseMillis)
        if claimed.isNull {
            // The record may have expired between the SET and this GET: then this is a new call.
            guard let saved = try await self.client.send("GET", record).string else {
                return try await self.generate(count: count, in: pool, idempotencyKey: idempotencyKey)
            }
            guard saved != Self.pending else { throw TokenPoolError.idempotencyKeyInUse(idempotencyKey) }
            let tokens = saved.split(separator: ",").compactMap { Token($0) }
            let lives = try await self.client.send(["ZMSCORE", self.keys(of: pool)[2]] + tokens.map(\.rawValue)).array ?? []
            let alive = zip(tokens, lives).compactMap { token, life in
                life.int.map { TokenRecord(token: token, pool: pool, expiresAt: Int64($0)) }
            }
            if !alive.isEmpty { return alive }
            // Every token of the first answer is gone: nothing to answer with, so this is a new call.
            _ = try await self.client.send("DEL", record)
            return try await self.generate(count: count, in: pool, idempotencyKey: idempotencyKey)
        }
        do {
            let records = try await self.generateNew(count: count, in: pool)
            _ = try await self.client.send("SET", record, records.map(\.token.rawValue).joined(separator: ","), "PX", self.leaseMillis)
            return records
        } catch {
            _ = try? await self.client.send("DEL", record)
            throw error
        }
    }

    private static let pending = "pending"

    private func generateNew(count: Int, in pool: PoolName) async throws -> [TokenRecord] {
        try await self.register(pool)
        var records: [TokenRecord] = []
        records.reserveCapacity(count)
        while records.count < count {
            let chunk = (0..<min(Self.generateChunk, count - records.count)).map { _ in Token.random() }
            let reply = try await self.run(.generate, pool, [self.keepAliveMillis] + chunk.map(\.rawValue))
            guard let fields = reply.array, fields.first?.string == "ok", let expiresAt = fields.dropFirst().first?.int else {
                throw RedisClientError.unexpectedReply("generate: \(reply)")
            }
            // A token already in the pool was left alone; the loop draws a new one instead.
            let collided = Set(fields.dropFirst(2).compactMap(\.string))
            for token in chunk where !collided.contains(token.rawValue) {
                records.append(TokenRecord(token: token, pool: pool, expiresAt: Int64(expiresAt)))
            }
        }
        self.metrics.generated.increment(by: records.count)
        return records
    }

    /// Assigns a random free token under a new lease.
    ///
    /// With an `idempotencyKey`, a later call with the same key within one lease TTL gets the
    /// first call's assignment (same token, same lease number) instead of a second token, for as
    /// long as that assignment stands: the way out for a client that lost the answer. One key
    /// holds at most one live assignment.
    /// - Throws: ``TokenPoolError/noFreeToken(_:)`` when none is free.
    public func assign(in pool: PoolName = .default, idempotencyKey: String? = nil) async throws -> TokenRecord {
        var keys = self.keys(of: pool)
        var arguments = [self.leaseMillis, String(self.settings.reclaimOnAssign), String(self.settings.maxPopsPerAssign)]
        if let idempotencyKey {
            keys.append(self.idempotencyRecord("assign", idempotencyKey, pool))
            arguments.append(self.leaseMillis)
        }
        while true {
            let reply = try await self.client.evaluate(PoolScript.assign.script, keys: keys, arguments: arguments)
            switch reply.array?.first?.string {
            case "ok":
                self.metrics.assignments.increment()
                return try Self.record(reply, pool)
            case "empty": throw TokenPoolError.noFreeToken(pool)
            case "retry": continue  // only dead tokens were popped; each pass drops some
            default: throw RedisClientError.unexpectedReply("assign: \(reply)")
            }
        }
    }

    /// Frees an assigned token; a free token stays free.
    /// - Parameter lease: when given, must be the current lease, else ``TokenPoolError/leaseConflict(_:lease:)``.
    public func unblock(_ token: Token, lease: Int64? = nil, in pool: PoolName = .default) async throws -> TokenRecord {
        let reply = try await self.run(.unblock, pool, [token.rawValue, lease.map { String($0) } ?? ""])
        let record = try Self.answer(reply, pool, token, lease)
        self.metrics.unblocks.increment()
        return record
    }

    /// Extends the token's life by the keep-alive TTL and, if assigned, its lease by the lease TTL.
    public func keepAlive(_ token: Token, lease: Int64? = nil, in pool: PoolName = .default) async throws -> TokenRecord {
        let reply = try await self.run(
            .keepAlive, pool, [token.rawValue, lease.map { String($0) } ?? "", self.leaseMillis, self.keepAliveMillis]
        )
        let record = try Self.answer(reply, pool, token, lease)
        self.metrics.keepAlives.increment()
        return record
    }

    /// Removes the token for good.
    public func delete(_ token: Token, in pool: PoolName = .default) async throws {
        let reply = try await self.run(.delete, pool, [token.rawValue])
        guard reply.array?.first?.string == "ok" else { throw TokenPoolError.tokenNotFound(token) }
        self.metrics.deleted.increment()
    }

    /// The token's state now, changing nothing.
    public func inspect(_ token: Token, in pool: PoolName = .default) async throws -> TokenRecord {
        let reply = try await self.run(.inspect, pool, [token.rawValue])
        return try Self.answer(reply, pool, token, nil)
    }

    /// Counts in O(1); they may lag lapses and expiries until the reaper's next pass.
    public func stats(of pool: PoolName = .default) async throws -> PoolStats {
        let reply = try await self.run(.stats, pool, [])
        guard let counts = reply.array?.compactMap(\.int), counts.count == 3 else {
            throw RedisClientError.unexpectedReply("stats: \(reply)")
        }
        return PoolStats(pool: pool, total: counts[0], free: counts[1], assigned: counts[2])
    }

    /// One bounded batch of reclaiming in `pool`: lapsed leases back to free, dead tokens out.
    public func reap(_ pool: PoolName, batch: Int? = nil) async throws -> (leasesEnded: Int, tokensExpired: Int) {
        let reply = try await self.run(.reap, pool, [String(batch ?? self.settings.reapBatch)])
        guard let counts = reply.array?.compactMap(\.int), counts.count == 2 else {
            throw RedisClientError.unexpectedReply("reap: \(reply)")
        }
        self.metrics.reaperBatches.increment()
        self.metrics.leasesLapsed.increment(by: counts[0])
        self.metrics.tokensExpired.increment(by: counts[1])
        return (counts[0], counts[1])
    }

    /// Every pool a token was ever generated in (a set of names, not of tokens).
    public func knownPools() async throws -> [PoolName] {
        let reply = try await self.client.send("SMEMBERS", self.registryKey)
        return (reply.array ?? []).compactMap { $0.string.flatMap(PoolName.init) }
    }

    /// The keys of one pool, in the order every script takes them.
    public func keys(of pool: PoolName) -> [String] {
        let base = "\(self.settings.keyPrefix):{\(pool.rawValue)}:"
        return [base + "free", base + "leases", base + "alive", base + "lease", base + "seq"]
    }

    private var registryKey: String { "\(self.settings.keyPrefix):pools" }

    /// `tokenpool:{pool}:idem:OPERATION:KEY`: in the pool's slot, gone after one lease TTL.
    private func idempotencyRecord(_ operation: String, _ key: String, _ pool: PoolName) -> String {
        "\(self.settings.keyPrefix):{\(pool.rawValue)}:idem:\(operation):\(key)"
    }

    private func register(_ pool: PoolName) async throws {
        guard !self.registered.withLockedValue({ $0.contains(pool) }) else { return }
        _ = try await self.client.send("SADD", self.registryKey, pool.rawValue)
        self.registered.withLockedValue { _ = $0.insert(pool) }
    }

    private func run(_ script: PoolScript, _ pool: PoolName, _ arguments: [String]) async throws -> RESPValue {
        try await self.client.evaluate(script.script, keys: self.keys(of: pool), arguments: arguments)
    }

    /// Maps `{'ok', ...}`, `{'not_found'}` and `{'conflict'}` replies.
    private static func answer(_ reply: RESPValue, _ pool: PoolName, _ token: Token, _ lease: Int64?) throws -> TokenRecord {
        switch reply.array?.first?.string {
        case "ok": return try Self.record(reply, pool)
        case "not_found": throw TokenPoolError.tokenNotFound(token)
        case "conflict": throw TokenPoolError.leaseConflict(token, lease: lease ?? 0)
        default: throw RedisClientError.unexpectedReply("\(reply)")
        }
    }

    /// `{'ok', token, expiresAt, leaseExpiresAt|nil, lease|nil}`.
    private static func record(_ reply: RESPValue, _ pool: PoolName) throws -> TokenRecord {
        guard let fields = reply.array, fields.count >= 3,
            let token = fields[1].string.flatMap({ Token($0) }),
            let expiresAt = fields[2].int
        else {
            throw RedisClientError.unexpectedReply("\(reply)")
        }
        let leaseExpiresAt = fields.count > 3 ? fields[3].int.map(Int64.init) : nil
        let lease = fields.count > 4 ? fields[4].int.map(Int64.init) : nil
        return TokenRecord(token: token, pool: pool, expiresAt: Int64(expiresAt), leaseExpiresAt: leaseExpiresAt, lease: lease)
    }
}

/// The scripts of `Scripts/lua`, embedded at build time by the EmbedLuaScripts plugin.
enum PoolScript {
    case assign, unblock, keepAlive, delete, generate, inspect, stats, reap

    var script: RedisScript {
        switch self {
        case .assign: Self.assignScript
        case .unblock: Self.unblockScript
        case .keepAlive: Self.keepAliveScript
        case .delete: Self.deleteScript
        case .generate: Self.generateScript
        case .inspect: Self.inspectScript
        case .stats: Self.statsScript
        case .reap: Self.reapScript
        }
    }

    private static let assignScript = RedisScript(name: "assign", source: LuaSource.assign)
    private static let unblockScript = RedisScript(name: "unblock", source: LuaSource.unblock)
    private static let keepAliveScript = RedisScript(name: "keep_alive", source: LuaSource.keepAlive)
    private static let deleteScript = RedisScript(name: "delete", source: LuaSource.delete)
    private static let generateScript = RedisScript(name: "generate", source: LuaSource.generate)
    private static let inspectScript = RedisScript(name: "inspect", source: LuaSource.inspect)
    private static let statsScript = RedisScript(name: "stats", source: LuaSource.stats)
    private static let reapScript = RedisScript(name: "reap", source: LuaSource.reap)
}

extension Duration {
    /// Whole milliseconds, rounded down (at least 1 for any positive duration).
    var milliseconds: Int64 {
        let (seconds, attoseconds) = self.components
        let millis = seconds * 1000 + attoseconds / 1_000_000_000_000_000
        return self > .zero ? max(1, millis) : millis
    }
}
