import RedisNIO

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
    /// Who holds the current lease, when its assign named a holder; `nil` for a free token.
    public var holder: String?
    /// The token's metadata: a JSON object's text, as it was given (minified); `nil` for none.
    public var metadata: String?

    public var state: State { self.lease == nil ? .free : .assigned }

    /// What is left of the lease by Redis's clock when this was read; `nil` for a free token.
    public var leaseExpiresIn: Duration? {
        self.leaseExpiresAt.map { .milliseconds(max(0, $0 - self.observedAt)) }
    }

    public init(
        token: Token, pool: PoolName, expiresAt: Int64, leaseExpiresAt: Int64? = nil, lease: Int64? = nil, observedAt: Int64,
        holder: String? = nil, metadata: String? = nil
    ) {
        self.token = token
        self.pool = pool
        self.expiresAt = expiresAt
        self.leaseExpiresAt = leaseExpiresAt
        self.lease = lease
        self.observedAt = observedAt
        self.holder = holder
        self.metadata = metadata
    }

    /// Two records are equal when they say the same of the token, whenever they were read.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.token, lhs.pool, lhs.expiresAt, lhs.leaseExpiresAt, lhs.lease) == (rhs.token, rhs.pool, rhs.expiresAt, rhs.leaseExpiresAt, rhs.lease)
            && (lhs.holder, lhs.metadata) == (rhs.holder, rhs.metadata)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.token)
        hasher.combine(self.lease)
        hasher.combine(self.expiresAt)
    }
}

/// A pool's counts and TTLs. The counts may lag a lapse or an expiry until the reaper's next pass.
public struct PoolStats: Sendable, Hashable {
    public var pool: PoolName
    public var total: Int
    public var free: Int
    public var assigned: Int
    /// Waiting assigns in the pool's queue.
    public var waiting: Int
    /// The lease TTL that the pool's next assign or keep-alive uses: its own, or the replica's default.
    public var leaseTTL: Duration
    /// The keep-alive TTL that the pool's next generate or keep-alive uses: its own, or the replica's default.
    public var keepAliveTTL: Duration

    public init(
        pool: PoolName, total: Int, free: Int, assigned: Int, waiting: Int = 0, leaseTTL: Duration = Defaults.leaseTTL,
        keepAliveTTL: Duration = Defaults.keepAliveTTL
    ) {
        self.pool = pool
        self.total = total
        self.free = free
        self.assigned = assigned
        self.waiting = waiting
        self.leaseTTL = leaseTTL
        self.keepAliveTTL = keepAliveTTL
    }
}

/// One page of a listing: what it holds, and the cursor of the next page (`nil`: the last).
public struct Page<Element: Sendable>: Sendable {
    public var items: [Element]
    /// Opaque: pass it back as it is for the next page.
    public var next: String?

    public init(items: [Element], next: String?) {
        self.items = items
        self.next = next
    }
}

/// Which of a pool's tokens a listing shows, and in what order.
public enum TokenListing: String, Sendable, CaseIterable {
    /// Assigned tokens by lease deadline, soonest first: who is about to lapse.
    case assigned
    /// Free tokens, in the free set's own order (SSCAN).
    case free
    /// Every token by life deadline, soonest first.
    case all
}

/// Metadata for the tokens of one generate: JSON objects' text, checked by the caller.
public enum GeneratedMetadata: Sendable, Hashable {
    case none
    /// The same object on every token.
    case shared(String)
    /// One for each token (`nil`: none for that one); as many tokens as elements.
    case each([String?])
}
