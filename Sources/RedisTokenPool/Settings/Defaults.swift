import RedisNIO

/// Every default of the pool's rules, in one place (the Redis client's are `RedisDefaults`, the
/// HTTP server's `ServerDefaults`).
///
/// `TokenPoolSettings`, the server's option table (its help text too) and the OpenAPI
/// description read these; `openapi/build_openapi.py` parses this file, so keep each value a
/// literal (`.seconds(N)`, `.milliseconds(N)` or a number).
public enum Defaults {
    /// An assignment lapses this long after assign or its last keep-alive.
    public static let leaseTTL: Duration = .seconds(60)
    /// A token is deleted this long after it was generated or last kept alive.
    public static let keepAliveTTL: Duration = .seconds(300)
    /// Lapsed leases an assign returns to the free set before it pops.
    public static let reclaimOnAssign = 16
    /// Dead tokens one assign script may pop and drop before it starts again.
    public static let maxPopsPerAssign = 32
    /// Tokens one reap script handles at most, of each kind. A script holds Redis for its whole
    /// batch: with 100,000 leases lapsing at once, batches of 1,000 put the other requests' p99 at
    /// ~18 ms, of 250 at ~8 ms (and all leases back sooner); 100 took longer to catch up
    /// (`Benchmarks/lapse_ab.py`).
    public static let reapBatch = 250
    /// Time between the reaper's passes.
    public static let reapInterval: Duration = .seconds(1)
    /// Work one reaper pass may do per pool before it yields.
    public static let reapTimePerPass: Duration = .milliseconds(250)
    /// The longest wait a waiting assign may ask for (`?wait=`); more is 400.
    public static let maxWait: Duration = .seconds(60)
    /// A waiter stays in the queue this long past its replica's last word (its replica renews
    /// it every ``waitRenewInterval``): so long a dead replica's waiters, and a token handed to
    /// one of them, hold up the queue at most.
    public static let waitPresence: Duration = .milliseconds(750)
    /// How often a replica renews its waiters and catches up on hand-overs it may have missed.
    public static let waitRenewInterval: Duration = .milliseconds(250)
    /// The first part of every Redis key.
    public static let keyPrefix = "tokenpool"
}
