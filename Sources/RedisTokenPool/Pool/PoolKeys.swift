import NIOConcurrencyHelpers
import RedisNIO

/// The Redis keys of one pool. Every key shares the `{pool}` hash tag, so a script touches one
/// Redis Cluster slot.
///
/// A class, made once per pool (``PoolKeyring``) and shared: as a struct of twenty strings it was
/// copied, with a retain of each string, into every async frame on a call's path that held it,
/// and every frame a connection's task needed is kept in its slabs (docs/scaling.md).
package final class PoolKeys: Sendable {
    /// `PREFIX:{pool}:free`, a set: tokens that may be assigned.
    package let free: String
    /// `PREFIX:{pool}:leases`, a sorted set: assigned token -> lease deadline (ms).
    package let leases: String
    /// `PREFIX:{pool}:alive`, a sorted set: every token -> life deadline (ms).
    package let alive: String
    /// `PREFIX:{pool}:lease`, a hash: assigned token -> lease number.
    package let lease: String
    /// `PREFIX:{pool}:seq`, a string: the pool's counter of lease numbers and queue tickets.
    package let seq: String
    /// `PREFIX:{pool}:queue`, a sorted set: waiter id -> its place, `(100 - priority) * 2^44 +
    /// ticket` (0 for the head that tokens are set aside for), in the order it is served.
    package let queue: String
    /// `PREFIX:{pool}:waiters`, a sorted set: waiter id -> until (ms).
    package let waiters: String
    /// `PREFIX:{pool}:handed`, a hash: waiter id -> "TOKEN LEASE[ TOKEN LEASE...]" handed over, not yet picked up.
    package let handed: String
    /// `PREFIX:{pool}:meta`, a hash: token -> its metadata (a JSON object's text), for tokens that have some.
    package let meta: String
    /// `PREFIX:{pool}:holder`, a hash: assigned token -> who holds it, when assign named a holder.
    package let holder: String
    /// `PREFIX:{pool}:settings`, a hash: the pool's own `leaseTTL`, `keepAliveTTL`, `cooldown`
    /// and `quarantine` (ms), `maxFailures`, `rateAssigns` and `ratePer`, `maxPerHolder`,
    /// `events` = `off`, and the scripts' marks (see prelude.lua).
    package let settings: String
    /// `PREFIX:{pool}:events`, a stream: what happened in the pool, capped near 1000 entries.
    package let events: String
    /// The keys below are the scripts' too, but never passed: they name them after `free` (a
    /// key passed costs Redis about a twentieth of a call, and a pool that uses no cooldown, rate
    /// limit, failure reports, holders or waiters never touches these). Named here for the tests that check
    /// the scripts' names and their slot.
    /// `PREFIX:{pool}:cooling`, a sorted set: resting token -> availableAt (ms).
    package let cooling: String
    /// `PREFIX:{pool}:disabled`, a sorted set: disabled token -> its quarantine's end (ms), `+inf` until enabled.
    package let disabled: String
    /// `PREFIX:{pool}:health`, a hash: token -> `FAILURES[ REASON]`, for tokens with failures or a reason.
    package let health: String
    /// `PREFIX:{pool}:wants`, a hash: waiter id -> `COUNT PRIORITY SINCE WAITUNTIL[ HOLDER]`.
    package let wants: String
    /// `PREFIX:{pool}:aside`, a set: tokens set aside for the queue's head, which waits for several.
    package let aside: String
    /// `PREFIX:{pool}:held`, a hash: holder -> how many of the pool's tokens it holds.
    package let held: String
    /// `PREFIX:{pool}:absent`: never written. Declared by every call on Redis Cluster (see ``clusterKeys``).
    package let absent: String
    private let base: String

    package init(prefix: String, pool: PoolName) {
        self.base = "\(prefix):{\(pool.rawValue)}:"
        self.free = self.base + "free"
        self.leases = self.base + "leases"
        self.alive = self.base + "alive"
        self.lease = self.base + "lease"
        self.seq = self.base + "seq"
        self.queue = self.base + "queue"
        self.waiters = self.base + "waiters"
        self.handed = self.base + "handed"
        self.meta = self.base + "meta"
        self.holder = self.base + "holder"
        self.settings = self.base + "settings"
        self.events = self.base + "events"
        self.cooling = self.base + "cooling"
        self.disabled = self.base + "disabled"
        self.health = self.base + "health"
        self.wants = self.base + "wants"
        self.aside = self.base + "aside"
        self.held = self.base + "held"
        self.absent = self.base + "absent"
        self.callKeys = [self.free]
        self.clusterKeys = [self.free, self.absent]
        self.scriptKeys = [
            self.free, self.leases, self.alive, self.lease, self.seq, self.queue, self.waiters, self.handed, self.meta, self.holder, self.settings,
            self.events,
        ]
    }

    /// KEYS[1...12] of every script, in the order `Scripts/lua/prelude.lua` names them.
    package let scriptKeys: [String]

    /// What a call passes on one Redis or Sentinel: KEYS[1] alone, as the scripts name the other
    /// eleven after it (`expandKeys` in prelude.lua). A key passed costs Redis some 1,300
    /// instructions a call; eleven of them were a tenth of an assign's (docs/profile.md).
    package let callKeys: [String]

    /// What a call passes on Redis Cluster: KEYS[1] and ``absent``. While a slot migrates, Redis
    /// runs a call only if every key it declares is on the node it reached (else `TRYAGAIN` or
    /// `ASK`, then `TRYAGAIN` at the target); a key that is never anywhere means no script on the
    /// pool runs until the migration ends, so none can stop half-way, its first writes made, at
    /// a key it did not declare that has moved (Redis ends a script there: "Script attempted to
    /// access a non local key"). ``RedisClusterClient`` retries `TRYAGAIN` within the call's deadline.
    package let clusterKeys: [String]

    /// `PREFIX:{pool}:idem:OPERATION:KEY`: an Idempotency-Key's record, in the pool's slot.
    package func idempotencyRecord(_ operation: String, _ key: String) -> String {
        self.base + "idem:\(operation):\(key)"
    }
}

/// Each pool's keys, made once rather than nine strings per operation; shared by the pool's
/// operations and its waiting room.
final class PoolKeyring: Sendable {
    private let prefix: String
    private let cache = NIOLockedValueBox([PoolName: PoolKeys]())

    init(prefix: String) {
        self.prefix = prefix
    }

    func keys(of pool: PoolName) -> PoolKeys {
        if let known = self.cache.withLockedValue({ $0[pool] }) { return known }
        let keys = PoolKeys(prefix: self.prefix, pool: pool)
        self.cache.withLockedValue { cache in
            // Pool names come from requests: a bound, so many one-off names cannot grow it forever.
            if cache.count >= 10_000 { cache.removeAll(keepingCapacity: true) }
            cache[pool] = keys
        }
        return keys
    }
}
