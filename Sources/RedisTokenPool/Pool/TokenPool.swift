import CoreMetrics
import Logging
import NIOConcurrencyHelpers
import RedisNIO
import ServiceLifecycle

/// Token pools kept in Redis. Every change is one atomic Lua script, timed by Redis's clock,
/// and no operation is O(n) in a pool's size.
public final class TokenPool: Sendable {
    public static let maxBatch = 10_000
    static let generateChunk = 1_000
    /// The longest metadata, as its JSON text's UTF-8 bytes.
    public static let maxMetadataBytes = 4_096
    /// The most tokens or pools a listing page holds.
    public static let maxPageSize = 1_000
    /// The most tokens one assign takes at once.
    public static let maxAssignCount = 100
    /// A waiting assign's priorities: higher is served first.
    public static let priorities = -100...100
    /// The highest `maxPerHolder` a pool may set.
    public static let maxPerHolderLimit = 100_000

    package let client: RedisClient
    public let settings: TokenPoolSettings
    private let leaseMillis: String
    private let keepAliveMillis: String
    /// The names of the pools, spread over the cluster.
    let registry: PoolRegistry
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
        self.registry = PoolRegistry(client: client, prefix: settings.keyPrefix)
        self.waitingRoom = WaitingRoom(client: client, settings: settings, keyring: self.keyring, logger: logger)
    }

    /// A pool on Redis connections of its own. Run ``connections`` in your `ServiceGroup` for
    /// as long as you use the pool: it keeps them open and reconnects.
    public convenience init(redis: RedisConfiguration, settings: TokenPoolSettings = TokenPoolSettings(), logger: Logger) {
        self.init(client: RedisClient(configuration: redis, logger: logger), settings: settings, logger: logger)
    }

    /// The Redis connections this pool uses and its ear for waiting assigns, as a `Service` to run.
    public var connections: any Service { PoolConnections(client: self.client, waitingRoom: self.waitingRoom) }

    /// Adds `count` new free tokens (1 ... ``maxBatch``), with `metadata` (for ``GeneratedMetadata/each(_:)``,
    /// `count` is its length). O(count log n).
    ///
    /// With an `idempotencyKey`, a later call with the same key within one lease TTL gets the
    /// first call's tokens back (those still in the pool, with their current deadlines) instead
    /// of new ones; while the first call runs, a second is ``TokenPoolError/idempotencyKeyInUse(_:)``.
    /// Claim, replay and record happen in the same script as the tokens are added.
    public func generate(
        count: Int = 1, metadata: GeneratedMetadata = .none, in pool: PoolName = .default, idempotencyKey: String? = nil, by: String? = nil
    ) async throws -> [TokenRecord] {
        var count = count
        if case .each(let each) = metadata { count = each.count }
        precondition((1...Self.maxBatch).contains(count), "count out of range")
        try await self.registry.register(pool)
        let keys = self.keys(of: pool)
        let record = idempotencyKey.map { keys.idempotencyRecord("generate", $0) }
        // Collisions of 144-bit random tokens do not happen in practice; the bound makes sure a
        // broken random source cannot loop forever.
        let maxCalls = count / Self.generateChunk + 8
        do {
            return try await self.generate(count, metadata, pool, keys: keys, idempotencyRecord: record, idempotencyKey: idempotencyKey, by: by, maxCalls: maxCalls)
        } catch let error as TokenPoolError {
            throw error
        } catch {
            // A batch cut short must not leave its record 'pending' (409 to every retry for a lease TTL).
            if let record { _ = try? await self.client.send("DEL", record) }
            throw error
        }
    }

    private func generate(
        _ count: Int, _ metadata: GeneratedMetadata, _ pool: PoolName, keys: PoolKeys, idempotencyRecord: String?, idempotencyKey: String?, by: String?,
        maxCalls: Int
    ) async throws -> [TokenRecord] {
        var records: [TokenRecord] = []
        records.reserveCapacity(count)
        // With one object each: those whose tokens are not made yet, in order.
        var pending: ArraySlice<String?> = if case .each(let each) = metadata { each[...] } else { [] }
        for callNumber in 0..<maxCalls {
            let chunkSize = min(Self.generateChunk, count - records.count)
            let chunk = (0..<chunkSize).map { _ in Token.random() }
            let chunkMetadata: [String?] =
                switch metadata {
                case .none: Array(repeating: nil, count: chunkSize)
                case .shared(let text): Array(repeating: text, count: chunkSize)
                case .each: Array(pending.prefix(chunkSize))
                }
            let chunkCall = GenerateCall(
                keepAliveTTL: self.keepAliveMillis, leaseTTL: self.leaseMillis, isFirst: callNumber == 0, isLast: records.count + chunkSize == count,
                tokens: chunk, metadata: metadata.chunk(chunkMetadata), idempotencyRecord: idempotencyRecord, by: by
            )
            switch try await self.client.run(chunkCall, in: pool, keys: keys) {
            case .busy:
                throw TokenPoolError.idempotencyKeyInUse(idempotencyKey ?? "")
            case .replay(let replayed):
                return replayed
            case .made(let expiresAt, let now, let wasEmpty, let collided):
                // A pool with no token may have been deleted since this replica listed it.
                if wasEmpty { try await self.registry.register(pool, again: true) }
                // A token already in the pool was left alone; the next call draws a new one instead
                // (with its object, when each has its own: the unmade ones go round again).
                var unmade: [String?] = []
                for (token, object) in zip(chunk, chunkMetadata) {
                    if collided.contains(token.rawValue) {
                        unmade.append(object)
                    } else {
                        records.append(TokenRecord(token: token, pool: pool, expiresAt: expiresAt, observedAt: now, metadata: object))
                    }
                }
                if case .each = metadata { pending = (unmade + pending.dropFirst(chunkSize))[...] }
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
    /// holds at most one live assignment. `holder` (checked by the caller) is kept with the lease.
    /// - Throws: ``TokenPoolError/noFreeToken(_:)`` when none is free,
    ///   ``TokenPoolError/holderLimit(_:holds:asked:max:)`` when `holder` holds the pool's `maxPerHolder`.
    public nonisolated(nonsending) func assign(in pool: PoolName = .default, idempotencyKey: String? = nil, holder: String? = nil) async throws -> TokenRecord {
        switch try await self.runAssign(in: pool, idempotencyKey: idempotencyKey, holder: holder, waiter: nil) {
        case .assigned(let record): return record
        case .empty: throw TokenPoolError.noFreeToken(pool)
        case .assignedMany, .queued: throw RedisClientError.unexpectedReply("assign: several tokens, or queued without a waiter")
        }
    }

    /// Assigns `count` distinct random free tokens (1 ... ``maxAssignCount``), each under its own
    /// lease, all or none. An `idempotencyKey`'s retry gets those of them that still stand.
    /// - Throws: ``TokenPoolError/noFreeToken(_:)`` when fewer than `count` are free (nothing
    ///   taken), ``TokenPoolError/holderLimit(_:holds:asked:max:)``.
    public nonisolated(nonsending) func assign(count: Int, in pool: PoolName = .default, idempotencyKey: String? = nil, holder: String? = nil) async throws -> [TokenRecord] {
        precondition((1...Self.maxAssignCount).contains(count), "count out of range")
        switch try await self.runAssign(in: pool, idempotencyKey: idempotencyKey, holder: holder, count: count, waiter: nil) {
        case .assigned(let record): return [record]
        case .assignedMany(let records): return records
        case .empty: throw TokenPoolError.noFreeToken(pool)
        case .queued: throw RedisClientError.unexpectedReply("assign: queued without a waiter")
        }
    }

    /// What one assign.lua run came to, its refusals thrown.
    enum AssignOutcome {
        case assigned(TokenRecord)
        case assignedMany([TokenRecord])
        case empty
        case queued(waitUntil: Int64, observedAt: Int64)
    }

    /// Runs assign.lua until it assigns, finds too few free, or queues `waiter`; never answers `.retry`.
    nonisolated(nonsending) func runAssign(
        in pool: PoolName, idempotencyKey: String?, holder: String?, count: Int = 1, priority: Int = 0,
        waiter: (id: String, wait: Duration)?
    ) async throws -> AssignOutcome {
        let keys = self.keys(of: pool)
        let call = AssignCall(
            leaseTTL: self.leaseMillis, reclaim: self.settings.reclaimOnAssign, maxPops: self.settings.maxPopsPerAssign,
            waiter: waiter.map { AssignCall.Waiter(id: $0.id, wait: $0.wait, presence: self.settings.waitPresence) }, holder: holder,
            count: count, priority: priority, idempotencyRecord: idempotencyKey.map { keys.idempotencyRecord("assign", $0) }
        )
        // Each 'retry' dropped at least one dead token for good, so this ends; the bound is a
        // guard against a script that breaks its word.
        for _ in 0..<1_000 {
            if let outcome = try self.outcome(of: try await self.client.run(call, in: pool, keys: keys), of: call, in: pool, idempotencyKey: idempotencyKey) {
                return outcome
            }
        }
        throw RedisClientError.unexpectedReply("assign: 1000 retries in a row")
    }

    /// What assign.lua's `reply` comes to (`nil`: 'retry', call again), its refusals thrown. Not
    /// async and never inlined: its locals stay out of `runAssign`'s async frame, which the
    /// connection's task keeps for as long as the connection lives (docs/scaling.md).
    @inline(never)
    private func outcome(of reply: AssignCall.Reply, of call: AssignCall, in pool: PoolName, idempotencyKey: String?) throws -> AssignOutcome? {
        switch reply {
        case .assigned(let record):
            self.metrics.assignments.increment()
            return .assigned(record)
        case .assignedMany(let records):
            self.metrics.assignments.increment(by: records.count)
            return .assignedMany(records)
        case .retry: return nil
        case .empty: return .empty
        case .holderLimit(let held, let max): throw TokenPoolError.holderLimit(pool, holds: held, asked: call.count, max: max)
        case .keyReused(let first):
            throw TokenPoolError.idempotencyKeyReused(idempotencyKey ?? "", firstCount: first, count: call.count)
        case .queued(let waitUntil, let now) where call.waiter != nil: return .queued(waitUntil: waitUntil, observedAt: now)
        case .queued: throw RedisClientError.unexpectedReply("assign: queued without a waiter")
        }
    }

    /// Ends an assigned token's lease; a token with none stays as it is.
    /// - Parameters:
    ///   - lease: when given, must be the current lease, else ``TokenPoolError/leaseConflict(_:lease:)``.
    ///   - cooldown: the token rests this long before it is free again (`nil`: the pool's cooldown, if any).
    ///   - outcome: how the assignment went: a failure counts toward the pool's `maxFailures`.
    public nonisolated(nonsending) func unblock(
        _ token: Token, lease: Int64? = nil, cooldown: Duration? = nil, outcome: Outcome = .success, in pool: PoolName = .default
    ) async throws -> TokenRecord {
        let record = try await self.tokenOperation(UnblockCall(token: token, lease: lease, cooldown: cooldown, outcome: outcome), token, lease, pool)
        self.metrics.unblocks.increment()
        return record
    }

    /// Takes the token out of service until ``enable(_:in:)``: its lease ends, it keeps its
    /// metadata and its life (it still dies without keep-alive). With an `idempotencyKey`, a
    /// retry within one lease TTL answers the token as it is, without checking `lease` again.
    /// - Parameter lease: when given, must be the current lease (the holder's own say).
    public func disable(
        _ token: Token, lease: Int64? = nil, reason: String? = nil, in pool: PoolName = .default, idempotencyKey: String? = nil, by: String? = nil
    ) async throws -> TokenRecord {
        let record = idempotencyKey.map { self.keys(of: pool).idempotencyRecord("disable", $0) }
        let call = DisableCall(token: token, lease: lease, reason: reason, recordTTL: self.leaseMillis, idempotencyRecord: record, by: by)
        return try await self.tokenOperation(call, token, lease, pool)
    }

    /// Puts a disabled token back in service (free, or to the first waiter), its failures and
    /// reason cleared. A token that is not disabled is left as it is.
    public func enable(_ token: Token, in pool: PoolName = .default, by: String? = nil) async throws -> TokenRecord {
        try await self.tokenOperation(EnableCall(token: token, by: by), token, nil, pool)
    }

    /// Extends the token's life by the keep-alive TTL and, if assigned, its lease by the lease TTL.
    public nonisolated(nonsending) func keepAlive(_ token: Token, lease: Int64? = nil, in pool: PoolName = .default) async throws -> TokenRecord {
        let call = KeepAliveCall(token: token, lease: lease, leaseTTL: self.leaseMillis, keepAliveTTL: self.keepAliveMillis)
        let record = try await self.tokenOperation(call, token, lease, pool)
        self.metrics.keepAlives.increment()
        return record
    }

    /// Removes the token for good.
    public func delete(_ token: Token, in pool: PoolName = .default, by: String? = nil) async throws {
        switch try await self.run(DeleteCall(token: token, by: by), pool) {
        case .deleted: self.metrics.deleted.increment()
        case .notFound: throw TokenPoolError.tokenNotFound(token)
        }
    }

    /// The token's state now, changing nothing.
    public func inspect(_ token: Token, in pool: PoolName = .default) async throws -> TokenRecord {
        try await self.tokenOperation(InspectCall(token: token), token, nil, pool)
    }

    /// Counts in O(1); they may lag lapses and expiries until the reaper's next pass.
    public func stats(of pool: PoolName = .default) async throws -> PoolStats {
        try await self.run(StatsCall(), pool).stats(of: pool, defaults: self.settings)
    }

    /// One page of the pool's queue, in the order it will be served, with the tokens set aside
    /// for its head. O(limit + log w) in Redis.
    public func waiters(of pool: PoolName = .default, limit: Int = 100, after cursor: String? = nil) async throws -> WaiterPage {
        precondition((1...Self.maxPageSize).contains(limit), "limit out of range")
        if let cursor, !Self.isNumber(cursor[...]) { throw TokenPoolError.invalidCursor(cursor) }
        return try await self.run(WaitersCall(limit: limit, cursor: cursor ?? ""), pool)
    }

    /// Replaces the token's metadata (a JSON object's text, checked by the caller), or removes it
    /// (`nil`). Its lease and life stay as they are.
    public func setMetadata(_ metadata: String?, of token: Token, in pool: PoolName = .default) async throws -> TokenRecord {
        try await self.tokenOperation(MetadataCall(token: token, metadata: metadata), token, nil, pool)
    }

    /// One page of the pool's tokens: at most `limit` (1 ... ``maxPageSize``; about as many for
    /// ``TokenListing/free``), after `cursor` (a page's `next`). O(limit log n) in Redis, never a scan.
    /// - Throws: ``TokenPoolError/invalidCursor(_:)`` for a cursor no page of this listing gave.
    public func tokens(_ listing: TokenListing, in pool: PoolName = .default, limit: Int = 100, after cursor: String? = nil) async throws -> Page<TokenRecord> {
        precondition((1...Self.maxPageSize).contains(limit), "limit out of range")
        var argument = ""
        if let cursor {
            let parts = cursor.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard Self.isNumber(parts[0]), parts.count == 1 || Token(parts[1]) != nil else { throw TokenPoolError.invalidCursor(cursor) }
            // The free set's cursor is SSCAN's number; what follows a ':' only places the sorted listings.
            argument = listing == .free ? String(parts[0]) : cursor
        }
        return try await self.run(ListCall(listing: listing, limit: limit, cursor: argument), pool)
    }

    /// A cursor's number: 1 to 18 digits (SSCAN's cursor, or a deadline in ms).
    private static func isNumber(_ text: Substring) -> Bool {
        (1...18).contains(text.utf8.count) && text.utf8.allSatisfy { (0x30...0x39).contains($0) }
    }

    /// A pool's counts and TTLs; `nil` for a pool never made (by generate or ``configure(_:leaseTTL:keepAliveTTL:)``)
    /// or deleted since.
    public func info(of pool: PoolName) async throws -> PoolStats? {
        // Two round trips, one after the other: an `async let` here crashes Swift 6.3's optimizer
        // (coroutine splitting) in release builds.
        guard try await self.registry.contains(pool) else { return nil }
        return try await self.stats(of: pool)
    }

    /// One page of the pools, by name within the page, with their counts and TTLs. O(limit) calls.
    public func pools(limit: Int = 100, after cursor: String? = nil) async throws -> Page<PoolStats> {
        precondition((1...Self.maxPageSize).contains(limit), "limit out of range")
        if let cursor, !Self.isNumber(cursor[...]) { throw TokenPoolError.invalidCursor(cursor) }
        let (names, next) = try await self.registry.page(limit: limit, after: cursor.flatMap { UInt64($0) })
        // Read at once; they finish in any order, so the page is sorted after.
        let stats = try await withThrowingTaskGroup(of: PoolStats.self) { group in
            for name in names { group.addTask { try await self.stats(of: name) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        return Page(items: stats.sorted { $0.pool.rawValue < $1.pool.rawValue }, next: next.map { String($0) })
    }

    /// Sets the pool's own TTLs (`nil`: the replicas' defaults), used by every replica from its
    /// next operation on. Leases and lives already granted keep their deadlines, and a keep-alive
    /// never moves a deadline earlier than it was. Lists the pool if it was not.
    public func configure(_ pool: PoolName, leaseTTL: Duration?, keepAliveTTL: Duration?) async throws -> PoolStats {
        try await self.configure(pool, PoolSettings(leaseTTL: leaseTTL, keepAliveTTL: keepAliveTTL))
    }

    /// Sets all the pool's own settings at once (what `settings` leaves `nil` is the default, or
    /// none). Rests and quarantines already begun keep their ends.
    public func configure(_ pool: PoolName, _ settings: PoolSettings) async throws -> PoolStats {
        try await self.registry.register(pool, again: true)
        return try await self.run(SettingsCall(settings: settings), pool).stats(of: pool, defaults: self.settings)
    }

    /// Removes the pool: its tokens, leases, queue and settings, in one step (UNLINK: Redis frees
    /// the memory in the background). From then on the pool is unknown and empty; waiting
    /// assigns in it wait for tokens generated anew. Returns whether there was such a pool.
    public func deletePool(_ pool: PoolName) async throws -> Bool {
        // Out of the list first: a generate that finds the pool empty afterwards lists it again.
        let listed = try await self.registry.remove(pool)
        let dropped = try await self.run(DropPoolCall(), pool)
        return listed || dropped.keys > 0
    }

    /// One bounded batch of reclaiming in `pool`: gone waiters out of the queue, lapsed leases
    /// to the queue or back to free, dead tokens out.
    public func reap(_ pool: PoolName, batch: Int? = nil) async throws -> (leasesEnded: Int, tokensExpired: Int) {
        let reaped = try await self.run(ReapCall(batch: batch ?? self.settings.reapBatch), pool)
        self.metrics.reaperBatches.increment()
        self.metrics.leasesLapsed.increment(by: reaped.leasesEnded)
        self.metrics.tokensExpired.increment(by: reaped.tokensExpired)
        return (reaped.leasesEnded, reaped.tokensExpired)
    }

    /// Every pool a token was ever generated in or given settings, and not deleted since (a
    /// set of names, not of tokens).
    public func knownPools() async throws -> [PoolName] {
        try await self.registry.all()
    }

    /// The keys of one pool.
    package func keys(of pool: PoolName) -> PoolKeys {
        self.keyring.keys(of: pool)
    }

    private nonisolated(nonsending) func run<Call: PoolScriptCall>(_ call: Call, _ pool: PoolName) async throws -> Call.Reply {
        try await self.client.run(call, in: pool, keys: self.keys(of: pool))
    }

    /// Runs a script on one token and maps its `not_found` and `conflict` replies to errors.
    private nonisolated(nonsending) func tokenOperation<Call: PoolScriptCall>(
        _ call: Call, _ token: Token, _ lease: Int64?, _ pool: PoolName
    ) async throws -> TokenRecord where Call.Reply == TokenReply {
        switch try await self.run(call, pool) {
        case .ok(let record): return record
        case .notFound: throw TokenPoolError.tokenNotFound(token)
        case .conflict: throw TokenPoolError.leaseConflict(token, lease: lease ?? 0)
        }
    }
}

extension GeneratedMetadata {
    /// The metadata of one chunk of a batch: `objects`, the chunk's own, where each token has its own.
    fileprivate func chunk(_ objects: [String?]) -> GeneratedMetadata {
        if case .each = self { return .each(objects) }
        return self
    }
}
