import NIOConcurrencyHelpers
import RedisNIO

/// The names of the pools, spread over ``shards`` sets `PREFIX:pools:{0}` ... `PREFIX:pools:{15}`:
/// each its own hash slot, so on Redis Cluster the list lies on every master and no one key is
/// touched by every pool's changes. A pool's shard is its name's hash slot modulo ``shards``.
///
/// A page of the listing scans the shards in order, one `SSCAN` a shard until it has `limit`
/// names: O(limit + shards) work, whatever the number of pools. Its cursor is one number,
/// `scan × 16 + shard`.
///
/// Earlier releases kept one set, `PREFIX:pools`; ``all()`` moves what is left there into the
/// shards (the reaper calls it every pass), and ``contains(_:)`` still finds a pool there
/// until then.
struct PoolRegistry: Sendable {
    static let shards = 16

    let client: RedisClient
    let prefix: String
    /// The pools this replica listed since it started (or deleted: taken out).
    private let listed = NIOLockedValueBox(Set<PoolName>())

    init(client: RedisClient, prefix: String) {
        self.client = client
        self.prefix = prefix
    }

    func key(ofShard shard: Int) -> String {
        "\(self.prefix):pools:{\(shard)}"
    }

    func key(of pool: PoolName) -> String {
        self.key(ofShard: HashSlot.of(pool.rawValue) % Self.shards)
    }

    /// The one set earlier releases kept.
    private var legacyKey: String { "\(self.prefix):pools" }

    func contains(_ pool: PoolName) async throws -> Bool {
        if try await self.client.send("SISMEMBER", self.key(of: pool), pool.rawValue).int == 1 { return true }
        return try await self.client.send("SISMEMBER", self.legacyKey, pool.rawValue).int == 1
    }

    /// Lists the pool (once per replica, or `again`: it may have been deleted since).
    func register(_ pool: PoolName, again: Bool = false) async throws {
        guard again || !self.listed.withLockedValue({ $0.contains(pool) }) else { return }
        _ = try await self.client.send("SADD", self.key(of: pool), pool.rawValue)
        self.listed.withLockedValue { _ = $0.insert(pool) }
    }

    /// Takes the pool off the list; whether it was on it.
    func remove(_ pool: PoolName) async throws -> Bool {
        self.listed.withLockedValue { _ = $0.remove(pool) }
        let removed = try await self.client.send("SREM", self.key(of: pool), pool.rawValue).int == 1
        return try await self.client.send("SREM", self.legacyKey, pool.rawValue).int == 1 || removed
    }

    /// One page of names: about `limit`, and the cursor of the next page (`nil`: the last).
    func page(limit: Int, after cursor: UInt64?) async throws -> (names: [PoolName], next: UInt64?) {
        var shard = Int((cursor ?? 0) % UInt64(Self.shards))
        var scan = (cursor ?? 0) / UInt64(Self.shards)
        var names: [PoolName] = []
        while names.count < limit {
            let reply = try await self.client.send("SSCAN", self.key(ofShard: shard), String(scan), "COUNT", String(limit - names.count))
            guard let fields = reply.array, fields.count == 2, let next = fields[0].string.flatMap(UInt64.init), let members = fields[1].array else {
                throw RedisClientError.unexpectedReply("SSCAN: \(reply.shape)")
            }
            names += members.compactMap { $0.string.flatMap(PoolName.init) }
            scan = next
            if next == 0 {
                shard += 1
                if shard == Self.shards { return (names, nil) }
            }
        }
        let (high, overflow) = scan.multipliedReportingOverflow(by: UInt64(Self.shards))
        precondition(!overflow, "an SSCAN cursor past 2^60")
        return (names, high + UInt64(shard))
    }

    /// Every listed pool (a set of names, not of tokens); first moves the pools still on the
    /// list of earlier releases into their shards.
    func all() async throws -> [PoolName] {
        for name in try await self.client.send("SMEMBERS", self.legacyKey).array ?? [] {
            guard let text = name.string, let pool = PoolName(text) else { continue }
            _ = try await self.client.send("SADD", self.key(of: pool), text)
            _ = try await self.client.send("SREM", self.legacyKey, text)
        }
        var pools: [PoolName] = []
        for shard in 0..<Self.shards {
            let reply = try await self.client.send("SMEMBERS", self.key(ofShard: shard))
            pools += (reply.array ?? []).compactMap { $0.string.flatMap(PoolName.init) }
        }
        return pools
    }
}
