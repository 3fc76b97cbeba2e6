import RedisNIO

/// How long leases and lives last, and how much work one call may do. Defaults: ``Defaults``.
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
    /// The longest wait a waiting assign may ask for.
    public var maxWait: Duration
    /// How long a waiter stays queued past its replica's last renewal.
    public var waitPresence: Duration
    /// How often this replica renews its waiters.
    public var waitRenewInterval: Duration

    public init(
        leaseTTL: Duration = Defaults.leaseTTL,
        keepAliveTTL: Duration = Defaults.keepAliveTTL,
        reclaimOnAssign: Int = Defaults.reclaimOnAssign,
        maxPopsPerAssign: Int = Defaults.maxPopsPerAssign,
        reapBatch: Int = Defaults.reapBatch,
        keyPrefix: String = Defaults.keyPrefix,
        maxWait: Duration = Defaults.maxWait,
        waitPresence: Duration = Defaults.waitPresence,
        waitRenewInterval: Duration = Defaults.waitRenewInterval
    ) {
        self.leaseTTL = leaseTTL
        self.keepAliveTTL = keepAliveTTL
        self.reclaimOnAssign = reclaimOnAssign
        self.maxPopsPerAssign = maxPopsPerAssign
        self.reapBatch = reapBatch
        self.keyPrefix = keyPrefix
        self.maxWait = maxWait
        self.waitPresence = waitPresence
        self.waitRenewInterval = waitRenewInterval
    }
}
