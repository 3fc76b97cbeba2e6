import Foundation
import Synchronization
import Testing
import TokenPoolTestSupport

@testable import RedisNIO
@testable import RedisTokenPool

/// Metadata, holders, listings, pool settings and pool deletion, against a real Redis.
struct PoolManagementTests {
    private static let proxy = #"{"proxy":"10.0.0.7:3128","region":"eu"}"#

    @Test func metadataGoesWithTheTokenEverywhereAndOnlyTokensWithSomeCostAnEntry() async throws {
        try await TokenPoolTests.withPool { pool in
            let shared = try await pool.generate(count: 3, metadata: .shared(Self.proxy))
            #expect(shared.allSatisfy { $0.metadata == Self.proxy })
            let each = try await pool.generate(metadata: .each([#"{"n":1}"#, nil]))
            #expect(each.map(\.metadata) == [#"{"n":1}"#, nil])
            let plain = try await pool.generate(count: 2)
            #expect(try await pool.client.send("HLEN", pool.keys(of: .default).meta).int == 4)

            let token = shared[0].token
            #expect(try await pool.inspect(token).metadata == Self.proxy)
            #expect(try await pool.keepAlive(token).metadata == Self.proxy)
            #expect(try await pool.inspect(plain[0].token).metadata == nil)
            var assigned: [TokenRecord] = []
            for _ in 0..<7 { assigned.append(try await pool.assign()) }
            #expect(Set(assigned.map(\.metadata)) == [Self.proxy, #"{"n":1}"#, nil])
            #expect(try await pool.unblock(token).metadata == Self.proxy)

            #expect(try await pool.setMetadata(#"{"proxy":"10.0.0.8:3128"}"#, of: token).metadata == #"{"proxy":"10.0.0.8:3128"}"#)
            #expect(try await pool.setMetadata(nil, of: token).metadata == nil)
            #expect(try await pool.client.send("HEXISTS", pool.keys(of: .default).meta, token.rawValue).int == 0)
            await #expect(throws: TokenPoolError.tokenNotFound(token)) { try await pool.setMetadata("{}", of: Token.random()) }

            try await pool.delete(shared[1].token)
            #expect(try await pool.client.send("HEXISTS", pool.keys(of: .default).meta, shared[1].token.rawValue).int == 0)
        }
    }

    @Test func anIdempotentReplayOfAGenerateHasTheMetadataItMade() async throws {
        try await TokenPoolTests.withPool { pool in
            let first = try await pool.generate(metadata: .each([#"{"a":1}"#, #"{"b":2}"#]), idempotencyKey: "k")
            let again = try await pool.generate(metadata: .each([#"{"a":1}"#, #"{"b":2}"#]), idempotencyKey: "k")
            #expect(Set(again.map(\.token)) == Set(first.map(\.token)))
            #expect(Set(again.compactMap(\.metadata)) == [#"{"a":1}"#, #"{"b":2}"#])
        }
    }

    @Test func theHolderStaysWhileTheLeaseStandsAndGoesWithIt() async throws {
        try await TokenPoolTests.withPool(leaseTTL: .seconds(2)) { pool in
            _ = try await pool.generate(count: 2)
            let held = try await pool.assign(holder: "worker-7")
            #expect(held.holder == "worker-7")
            #expect(try await pool.keepAlive(held.token).holder == "worker-7")
            #expect(try await pool.inspect(held.token).holder == "worker-7")
            #expect(try await pool.unblock(held.token).holder == nil)
            #expect(try await pool.assign().holder == nil, "a holder from an earlier lease")

            let lapsing = try await pool.assign(holder: "worker-8")
            try await Task.sleep(for: try #require(lapsing.leaseExpiresIn) + .milliseconds(100))
            #expect(try await pool.inspect(lapsing.token).holder == nil)
            _ = try await pool.reap(.default)
            #expect(try await pool.client.send("HLEN", pool.keys(of: .default).holder).int == 0)
        }
    }

    @Test func aWaiterHandedATokenHoldsItUnderItsName() async throws {
        try await WaitingAssignTests.withReplicas(2) { pools, _ in
            let token = try await pools[0].generate()[0].token
            let first = try await pools[0].assign(holder: "first")
            let waiting = Task { try await pools[1].assign(holder: "second", wait: .seconds(10)) }
            try await WaitingAssignTests.waitForQueue(pools[0], 1)
            _ = try await pools[0].unblock(token, lease: first.lease)
            let record = try await waiting.value
            #expect(record.token == token && record.holder == "second")
        }
    }

    @Test func assignedTokensAreListedByLeaseDeadlinePageByPageEachOnce() async throws {
        try await TokenPoolTests.withPool { pool in
            _ = try await pool.generate(count: 60)
            // Many assigns in one millisecond share a deadline: the cursor must page through ties.
            var leases: [Token: Int64] = [:]
            try await withThrowingTaskGroup(of: TokenRecord.self) { group in
                for _ in 0..<45 { group.addTask { try await pool.assign() } }
                for try await record in group { leases[record.token] = record.leaseExpiresAt }
            }
            var listed: [TokenRecord] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await pool.tokens(.assigned, limit: 7, after: cursor)
                #expect(page.items.count <= 7)
                listed += page.items
                cursor = page.next
                pages += 1
            } while cursor != nil && pages < 20
            #expect(listed.count == 45)
            #expect(Set(listed.map(\.token)) == Set(leases.keys))
            #expect(listed.allSatisfy { $0.state == .assigned && $0.leaseExpiresAt == leases[$0.token] })
            #expect(listed.map { $0.leaseExpiresAt ?? 0 } == listed.map { $0.leaseExpiresAt ?? 0 }.sorted())

            let all = try await pool.tokens(.all, limit: 1000)
            #expect(all.items.count == 60 && all.next == nil)
        }
    }

    @Test func freeTokensAreListedFromTheFreeSetPageByPage() async throws {
        try await TokenPoolTests.withPool { pool in
            // Past 128 members the free set is a hash table: SSCAN's real paging.
            let made = Set(try await pool.generate(count: 400).map(\.token))
            let assigned = try await pool.assign().token
            var listed = Set<Token>()
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await pool.tokens(.free, limit: 50, after: cursor)
                #expect(page.items.allSatisfy { $0.state == .free })
                listed.formUnion(page.items.map(\.token))
                cursor = page.next
                pages += 1
            } while cursor != nil && pages < 100
            #expect(pages > 2)
            #expect(listed == made.subtracting([assigned]))
            await #expect(throws: TokenPoolError.invalidCursor("x")) { try await pool.tokens(.free, after: "x") }
            await #expect(throws: TokenPoolError.invalidCursor("1:x")) { try await pool.tokens(.assigned, after: "1:x") }
            // A deadline alone: the assigned tokens after it.
            #expect(try await pool.tokens(.assigned, after: "1").items.map(\.token) == [assigned])
            #expect(try await pool.tokens(.assigned, after: "99999999999999").items.isEmpty)
        }
    }

    @Test func aPoolsTTLsAreSharedInRedisAndNeverShortenADeadlineAlreadyGiven() async throws {
        try await withRedis { _, client in
            // Two replicas started with different flags agree once the pool has its own TTLs.
            let a = TokenPool(client: client, settings: TokenPoolSettings(leaseTTL: .seconds(60), keepAliveTTL: .seconds(300)))
            let b = TokenPool(client: client, settings: TokenPoolSettings(leaseTTL: .seconds(5), keepAliveTTL: .seconds(30)))
            _ = try await a.generate(count: 2)
            let long = try await a.assign()
            #expect(try #require(long.leaseExpiresIn) > .seconds(59))

            let configured = try await b.configure(.default, leaseTTL: .seconds(10), keepAliveTTL: .seconds(100))
            #expect(configured.leaseTTL == .seconds(10) && configured.keepAliveTTL == .seconds(100) && configured.total == 2)
            #expect(try await a.info(of: .default)?.leaseTTL == .seconds(10))
            let short = try await a.assign()
            #expect(try #require(short.leaseExpiresIn) <= .seconds(10) && short.leaseExpiresIn! > .seconds(9))
            // The lease told as 60 s stays 60 s through a keep-alive under the 10 s setting, and the life too.
            let kept = try await b.keepAlive(long.token)
            #expect(kept.leaseExpiresAt == long.leaseExpiresAt && kept.expiresAt == long.expiresAt)
            let made = try await b.generate()[0]
            #expect(made.expiresAt - made.observedAt == 100_000)

            let cleared = try await a.configure(.default, leaseTTL: nil, keepAliveTTL: nil)
            #expect(cleared.leaseTTL == .seconds(60) && cleared.keepAliveTTL == .seconds(300))
            #expect(try await b.info(of: .default)?.leaseTTL == .seconds(5), "each replica's own flag again")
        }
    }

    @Test func poolsArePagedWithTheirCounts() async throws {
        try await TokenPoolTests.withPool { pool in
            let names = (0..<25).map { PoolName("p\($0)")! }
            for (index, name) in names.enumerated() { _ = try await pool.generate(count: index % 3 + 1, in: name) }
            var seen: [PoolStats] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await pool.pools(limit: 5, after: cursor)
                seen += page.items
                cursor = page.next
                pages += 1
            } while cursor != nil && pages < 50
            #expect(Set(seen.map(\.pool)) == Set(names))
            #expect(seen.allSatisfy { $0.total == Int($0.pool.rawValue.dropFirst())! % 3 + 1 })
            #expect(try await pool.info(of: PoolName("never")!) == nil)
        }
    }

    @Test func theListIsSpreadOverShardsAndAPageIsBoundedWhateverTheirSizes() async throws {
        try await TokenPoolTests.withPool { pool in
            let names = (0..<60).map { PoolName("spread-\($0)")! }
            for name in names { _ = try await pool.configure(name, PoolSettings()) }
            // Each name in its shard, and the 60 over most of the 16 shards.
            var used = 0
            for shard in 0..<PoolRegistry.shards {
                let members = try await pool.client.send("SMEMBERS", pool.registry.key(ofShard: shard)).array ?? []
                #expect(members.allSatisfy { pool.registry.key(of: PoolName($0.string ?? "")!) == pool.registry.key(ofShard: shard) })
                used += members.isEmpty ? 0 : 1
            }
            #expect(used >= 12, "60 pools in only \(used) of 16 shards")
            #expect(try await pool.client.send("EXISTS", "tokenpool:pools").int == 0)
            // Pages of 7 across shard boundaries: each name at least once, a page never far past 7.
            var seen: Set<PoolName> = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await pool.pools(limit: 7, after: cursor)
                #expect(page.items.count <= 14)
                seen.formUnion(page.items.map(\.pool))
                cursor = page.next
                pages += 1
            } while cursor != nil && pages < 100
            #expect(seen == Set(names))
            #expect(pages >= 60 / 14)
        }
    }

    @Test func poolsListedBeforeTheShardsAreFoundAndMovedIntoThem() async throws {
        try await TokenPoolTests.withPool { pool in
            _ = try await pool.client.send("SADD", "tokenpool:pools", "old-a", "old-b")
            #expect(try await pool.info(of: PoolName("old-a")!) != nil)
            #expect(Set(try await pool.knownPools()) == [PoolName("old-a")!, PoolName("old-b")!])
            #expect(try await pool.client.send("EXISTS", "tokenpool:pools").int == 0)
            #expect(Set(try await pool.pools().items.map(\.pool)) == [PoolName("old-a")!, PoolName("old-b")!])
            #expect(try await pool.deletePool(PoolName("old-b")!))
            #expect(try await pool.knownPools() == [PoolName("old-a")!])
        }
    }

    @Test func aDeletedPoolIsGoneAtOnceAndNoTokenOfItIsAssignedAfter() async throws {
        try await withRedis { _, client in
            let pool = TokenPool(client: client)
            let other = TokenPool(client: client)
            let name = PoolName("doomed")!
            let before = Set(try await pool.generate(count: 500, metadata: .shared(Self.proxy), in: name).map(\.token))
            _ = try await pool.configure(name, leaseTTL: .seconds(9), keepAliveTTL: nil)
            _ = try await pool.assign(in: name, holder: "h")

            // Another replica assigns and frees as fast as it can while this one deletes.
            let deleted = ManagedAtomicFlag()
            let afterDelete = Task {
                var late: [Token] = []
                while !Task.isCancelled {
                    let wasDeleted = deleted.value
                    do {
                        let record = try await other.assign(in: name)
                        if wasDeleted { late.append(record.token) }
                        _ = try? await other.unblock(record.token, in: name)
                    } catch let error as TokenPoolError where error.code == .noFreeToken {
                        if wasDeleted { break }
                    }
                }
                return late
            }
            try await Task.sleep(for: .milliseconds(100))
            #expect(try await pool.deletePool(name))
            deleted.set()
            let late = try await afterDelete.value
            #expect(late.filter(before.contains).isEmpty, "a token of the deleted pool was assigned after the delete")

            for key in pool.keys(of: name).scriptKeys {
                #expect(try await client.send("EXISTS", key).int == 0, "\(key) survived")
            }
            #expect(try await pool.info(of: name) == nil)
            #expect(try await pool.pools().items.map(\.pool).contains(name) == false)
            #expect(try await pool.deletePool(name) == false)
            // Generating again, on a replica that listed it before, makes it a pool again.
            _ = try await other.generate(in: name)
            #expect(try await pool.info(of: name)?.total == 1)
            #expect(try await pool.info(of: name)?.leaseTTL == Defaults.leaseTTL)
        }
    }
}

/// A flag one task sets and another reads.
private final class ManagedAtomicFlag: Sendable {
    private let box = Mutex(false)
    var value: Bool { self.box.withLock { $0 } }
    func set() { self.box.withLock { $0 = true } }
}
