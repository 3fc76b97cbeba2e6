import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import ServiceLifecycle

/// Token pools kept in Redis. Every change is one atomic Lua script, timed by Redis's clock,
/// and no operation is O(n) in a pool's size.
public final class TokenPool: Sendable {
    public static let maxBatch = 10_000
    static let generateChunk = 1_000

    package let client: RedisClient
    public let settings: TokenPoolSettings
    private let leaseMillis: String
    private let keepAliveMillis: String
    private let registered = NIOLockedValueBox(Set<PoolName>())
    private let keyring: PoolKeyring
    let metrics = PoolMetrics()
    /// This replica's waiting assigns.
    let waitingRoom: WaitingRoom

    package init(client: RedisClient, settings: TokenPoolSettings = TokenPoolSettings(), logger: Logger = Logger(label: "tokenpool")) {
        self.client = client
        self.settings = settings
        self.leaseMillis = String(settings.leaseTTL.milliseconds)
        self.keepAliveMillis = String(settings.keepAliveTTL.milliseconds)
        self.keyring = PoolKeyring(prefix: settings.keyPrefix)
        self.waitingRoom = WaitingRoom(client: client, settings: settings, keyring: self.keyring, logger: logger)
    }

    /// A pool on Redis connections of its own. Run ``connections`` in your `ServiceGroup` for
    /// as long as you use the pool: it keeps them open and reconnects.
    public convenience init(redis: RedisConfiguration, settings: TokenPoolSettings = TokenPoolSettings(), logger: Logger) {
        self.init(client: RedisClient(configuration: redis, logger: logger), settings: settings, logger: logger)
    }

    /// The Redis connections this pool uses and its ear for waiting assigns, as a `Service` to run.
    public var connections: any Service { PoolConnections(client: self.client, waitingRoom: self.waitingRoom) }

    /// Adds `count` new free tokens (1 ... ``maxBatch``). O(count log n).
    ///
    /// With an `idempotencyKey`, a later call with the same key within one lease TTL gets the
    /// first call's tokens back (those still in the pool, with their current deadlines) instead
    /// of new ones; while the first call runs, a second is ``TokenPoolError/idempotencyKeyInUse(_:)``.
    /// Claim, replay and record happen in the same script as the tokens are added.
    public func generate(count: Int = 1, in pool: PoolName = .default, idempotencyKey: String? = nil) async throws -> [TokenRecord] {
        precondition((1...Self.maxBatch).contains(count), "count out of range")
        try await self.register(pool)
        let keys = self.keys(of: pool)
        let record = idempotencyKey.map { keys.idempotencyRecord("generate", $0) }
        let scriptKeys = keys.scriptKeys + (record.map { [$0] } ?? [])
        // Collisions of 144-bit random tokens do not happen in practice; the bound makes sure a
        // broken random source cannot loop forever.
        let maxCalls = count / Self.generateChunk + 8
        do {
            return try await self.generate(count, pool, keys: scriptKeys, idempotencyKey: idempotencyKey, maxCalls: maxCalls)
        } catch let error as TokenPoolError {
            throw error
        } catch {
            // A batch cut short must not leave its record 'pending' (409 to every retry for a lease TTL).
            if let record { _ = try? await self.client.send("DEL", record) }
            throw error
        }
    }

    private func generate(_ count: Int, _ pool: PoolName, keys scriptKeys: [String], idempotencyKey: String?, maxCalls: Int) async throws -> [TokenRecord] {
        var records: [TokenRecord] = []
        records.reserveCapacity(count)
        for call in 0..<maxCalls {
            let chunkSize = min(Self.generateChunk, count - records.count)
            let chunk = (0..<chunkSize).map { _ in Token.random() }
            let last = records.count + chunkSize == count
            let arguments = [self.keepAliveMillis, self.leaseMillis, call == 0 ? "first" : "next", last ? "done" : "pending"]
            let reply = try await self.client.evaluate(
                PoolScript.generate.script, keys: scriptKeys, arguments: arguments + chunk.map(\.rawValue), changesState: true
            )
            switch try GenerateReply.decode(reply, pool: pool) {
            case .busy:
                throw TokenPoolError.idempotencyKeyInUse(idempotencyKey ?? "")
            case .replay(let replayed):
                return replayed
            case .made(let expiresAt, let now, let collided):
                // A token already in the pool was left alone; the next call draws a new one instead.
                for token in chunk where !collided.contains(token.rawValue) {
                    records.append(TokenRecord(token: token, pool: pool, expiresAt: expiresAt, observedAt: now))
                }
            }
            if records.count == count {
                self.metrics.generated.increment(by: records.count)
                return records
            }
        }
        throw RedisClientError.unexpectedReply("generate: \(maxCalls) calls did not make \(count) new tokens")
    }

    /// Assigns a random free token under a new lease.
    ///
    /// With an `idempotencyKey`, a later call with the same key within one lease TTL gets the
    /// first call's assignment (same token, same lease number) instead of a second token, for as
    /// long as that assignment stands: the way out for a client that lost the answer. One key
    /// holds at most one live assignment.
    /// - Throws: ``TokenPoolError/noFreeToken(_:)`` when none is free.
    public func assign(in pool: PoolName = .default, idempotencyKey: String? = nil) async throws -> TokenRecord {
        switch try await self.runAssign(in: pool, idempotencyKey: idempotencyKey, waiter: nil) {
        case .ok(let record): return record
        case .empty: throw TokenPoolError.noFreeToken(pool)
        default: throw RedisClientError.unexpectedReply("assign: queued without a waiter")
        }
    }

    /// Runs assign.lua until it assigns, finds none free, or queues `waiter`.
    func runAssign(in pool: PoolName, idempotencyKey: String?, waiter: (id: String, wait: Duration)?) async throws -> TokenReply {
        let poolKeys = self.keys(of: pool)
        var keys = poolKeys.scriptKeys
        var arguments = [self.leaseMillis, String(self.settings.reclaimOnAssign), String(self.settings.maxPopsPerAssign), self.leaseMillis]
        if let idempotencyKey {
            keys.append(poolKeys.idempotencyRecord("assign", idempotencyKey))
        }
        if let waiter {
            arguments += [waiter.id, String(waiter.wait.milliseconds), String(self.settings.waitPresence.milliseconds)]
        }
        // Each 'retry' dropped at least one dead token for good, so this ends; the bound is a
        // guard against a script that breaks its word.
        for _ in 0..<1_000 {
            let reply = try await self.client.evaluate(PoolScript.assign.script, keys: keys, arguments: arguments, changesState: true)
            switch try TokenReply.decode(reply, script: PoolScript.assign.script.name, pool: pool) {
            case .ok(let record):
                self.metrics.assignments.increment()
                return .ok(record)
            case .retry: continue
            case .empty: return .empty
            case .queued(let waitUntil, let now) where waiter != nil: return .queued(waitUntil: waitUntil, observedAt: now)
            case .queued, .notFound, .conflict, .gone: throw RedisClientError.unexpectedReply("assign: a reply only other scripts give")
            }
        }
        throw RedisClientError.unexpectedReply("assign: 1000 retries in a row")
    }

    /// Frees an assigned token; a free token stays free.
    /// - Parameter lease: when given, must be the current lease, else ``TokenPoolError/leaseConflict(_:lease:)``.
    public func unblock(_ token: Token, lease: Int64? = nil, in pool: PoolName = .default) async throws -> TokenRecord {
        let record = try await self.tokenOperation(.unblock, token, lease, pool, [token.rawValue, lease.map { String($0) } ?? ""])
        self.metrics.unblocks.increment()
        return record
    }

    /// Extends the token's life by the keep-alive TTL and, if assigned, its lease by the lease TTL.
    public func keepAlive(_ token: Token, lease: Int64? = nil, in pool: PoolName = .default) async throws -> TokenRecord {
        let arguments = [token.rawValue, lease.map { String($0) } ?? "", self.leaseMillis, self.keepAliveMillis]
        let record = try await self.tokenOperation(.keepAlive, token, lease, pool, arguments)
        self.metrics.keepAlives.increment()
        return record
    }

    /// Removes the token for good.
    public func delete(_ token: Token, in pool: PoolName = .default) async throws {
        let reply = try await self.run(.delete, pool, [token.rawValue])
        switch reply.array?.first?.string {
        case "ok": self.metrics.deleted.increment()
        case "not_found": throw TokenPoolError.tokenNotFound(token)
        default: throw RedisClientError.unexpectedReply("delete: \(reply.shape)")
        }
    }

    /// The token's state now, changing nothing.
    public func inspect(_ token: Token, in pool: PoolName = .default) async throws -> TokenRecord {
        try await self.tokenOperation(.inspect, token, nil, pool, [token.rawValue])
    }

    /// Counts in O(1); they may lag lapses and expiries until the reaper's next pass.
    public func stats(of pool: PoolName = .default) async throws -> PoolStats {
        let counts = try await self.run(.stats, pool, []).integers(4, script: "stats")
        return PoolStats(pool: pool, total: counts[0], free: counts[1], assigned: counts[2], waiting: counts[3])
    }

    /// One bounded batch of reclaiming in `pool`: gone waiters out of the queue, lapsed leases
    /// to the queue or back to free, dead tokens out.
    public func reap(_ pool: PoolName, batch: Int? = nil) async throws -> (leasesEnded: Int, tokensExpired: Int) {
        let counts = try await self.run(.reap, pool, [String(batch ?? self.settings.reapBatch)]).integers(4, script: "reap")
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

    /// The keys of one pool.
    package func keys(of pool: PoolName) -> PoolKeys {
        self.keyring.keys(of: pool)
    }

    private var registryKey: String { "\(self.settings.keyPrefix):pools" }

    private func register(_ pool: PoolName) async throws {
        guard !self.registered.withLockedValue({ $0.contains(pool) }) else { return }
        _ = try await self.client.send("SADD", self.registryKey, pool.rawValue)
        self.registered.withLockedValue { _ = $0.insert(pool) }
    }

    private func run(_ script: PoolScript, _ pool: PoolName, _ arguments: [String]) async throws -> RESPValue {
        try await self.client.evaluate(script.script, keys: self.keys(of: pool).scriptKeys, arguments: arguments, changesState: script.changesState)
    }

    /// Runs a script on one token and maps its `record`, `not_found` and `conflict` replies.
    private func tokenOperation(
        _ script: PoolScript, _ token: Token, _ lease: Int64?, _ pool: PoolName, _ arguments: [String]
    ) async throws -> TokenRecord {
        let name = script.script.name
        let reply = try await self.run(script, pool, arguments)
        switch try TokenReply.decode(reply, script: name, pool: pool) {
        case .ok(let record): return record
        case .notFound: throw TokenPoolError.tokenNotFound(token)
        case .conflict: throw TokenPoolError.leaseConflict(token, lease: lease ?? 0)
        case .empty, .retry, .queued, .gone: throw RedisClientError.unexpectedReply("\(name): a reply only assign or leave gives")
        }
    }
}
