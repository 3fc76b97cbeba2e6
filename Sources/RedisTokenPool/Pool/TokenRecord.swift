/// What a pool knows of one token at one instant.
public struct TokenRecord: Sendable, Hashable {
    public enum State: String, Sendable {
        case free
        case assigned
    }

    public var token: Token
    public var pool: PoolName
    /// When the token's life ends without a keep-alive, in ms since the epoch (Redis's clock).
    public var expiresAt: Int64
    /// When the current lease lapses; `nil` for a free token.
    public var leaseExpiresAt: Int64?
    /// The current lease number (fencing token); `nil` for a free token.
    public var lease: Int64?
    /// Redis's clock when this was read, so durations can be told without another clock.
    public var observedAt: Int64

    public var state: State { self.lease == nil ? .free : .assigned }

    /// What is left of the lease by Redis's clock when this was read; `nil` for a free token.
    public var leaseExpiresIn: Duration? {
        self.leaseExpiresAt.map { .milliseconds(max(0, $0 - self.observedAt)) }
    }

    public init(token: Token, pool: PoolName, expiresAt: Int64, leaseExpiresAt: Int64? = nil, lease: Int64? = nil, observedAt: Int64) {
        self.token = token
        self.pool = pool
        self.expiresAt = expiresAt
        self.leaseExpiresAt = leaseExpiresAt
        self.lease = lease
        self.observedAt = observedAt
    }

    /// Two records are equal when they say the same of the token, whenever they were read.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.token, lhs.pool, lhs.expiresAt, lhs.leaseExpiresAt, lhs.lease) == (rhs.token, rhs.pool, rhs.expiresAt, rhs.leaseExpiresAt, rhs.lease)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.token)
        hasher.combine(self.lease)
        hasher.combine(self.expiresAt)
    }
}

/// A pool's counts. They may lag a lapse or an expiry until the reaper's next pass.
public struct PoolStats: Sendable, Hashable {
    public var pool: PoolName
    public var total: Int
    public var free: Int
    public var assigned: Int
    /// Waiting assigns in the pool's queue.
    public var waiting: Int

    public init(pool: PoolName, total: Int, free: Int, assigned: Int, waiting: Int = 0) {
        self.pool = pool
        self.total = total
        self.free = free
        self.assigned = assigned
        self.waiting = waiting
    }
}
