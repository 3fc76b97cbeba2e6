import RedisNIO

/// What a pool knows of one token at one instant.
public struct TokenRecord: Sendable, Hashable {
    public enum State: String, Sendable, CaseIterable {
        /// May be assigned.
        case free
        /// Under a lease.
        case assigned
        /// Resting until ``TokenRecord/availableAt`` (a cooldown): not assignable until then.
        case cooling
        /// Out of service: by hand until enabled, or by failure reports until its quarantine
        /// ends (``TokenRecord/availableAt``) or it is enabled.
        case disabled
        /// Set aside for the waiting assign at the head of the queue, which asked for several:
        /// not assignable until it has them all (then assigned to it) or leaves (then free).
        case reserved
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
    public var state: State
    /// When a cooling token becomes free, or a quarantined one comes back (ms, Redis's clock);
    /// `nil` otherwise (a token disabled by hand waits for enable).
    public var availableAt: Int64?
    /// Failure reports in a row (0: none since the last success).
    public var failures: Int
    /// Why a disabled token is disabled (`failures`, or what disable was told); `nil` otherwise.
    public var reason: String?

    /// What is left of the lease by Redis's clock when this was read; `nil` for a free token.
    public var leaseExpiresIn: Duration? {
        self.leaseExpiresAt.map { .milliseconds(max(0, $0 - self.observedAt)) }
    }

    public init(
        token: Token, pool: PoolName, expiresAt: Int64, leaseExpiresAt: Int64? = nil, lease: Int64? = nil, observedAt: Int64,
        holder: String? = nil, metadata: String? = nil, state: State? = nil, availableAt: Int64? = nil, failures: Int = 0, reason: String? = nil
    ) {
        self.token = token
        self.pool = pool
        self.expiresAt = expiresAt
        self.leaseExpiresAt = leaseExpiresAt
        self.lease = lease
        self.observedAt = observedAt
        self.holder = holder
        self.metadata = metadata
        self.state = state ?? (lease == nil ? .free : .assigned)
        self.availableAt = availableAt
        self.failures = failures
        self.reason = reason
    }

    /// Two records are equal when they say the same of the token, whenever they were read.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.token, lhs.pool, lhs.expiresAt, lhs.leaseExpiresAt, lhs.lease) == (rhs.token, rhs.pool, rhs.expiresAt, rhs.leaseExpiresAt, rhs.lease)
            && (lhs.holder, lhs.metadata, lhs.state, lhs.availableAt, lhs.failures, lhs.reason)
            == (rhs.holder, rhs.metadata, rhs.state, rhs.availableAt, rhs.failures, rhs.reason)
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
    /// Tokens an assign may take now.
    public var free: Int
    public var assigned: Int
    /// Waiting assigns in the pool's queue.
    public var waiting: Int
    /// Tokens resting after a cooldown, not yet assignable.
    public var cooling: Int
    /// Tokens out of service (by hand, or by failure reports).
    public var disabled: Int
    /// The pool's own settings beside its TTLs: how long every assignment that ends rests
    /// (`nil`: none), how many failure reports in a row disable a token (`nil`: never), and how
    /// long such a token stays disabled (`nil`: until enabled by hand).
    public var cooldown: Duration?
    public var maxFailures: Int?
    public var quarantine: Duration?
    /// At most so many assignments of one token begin in any window of so long (`nil`: no limit).
    public var rateLimit: RateLimit?
    /// At most so many tokens held by one named holder (`nil`: no cap).
    public var maxPerHolder: Int?
    /// Tokens set aside for the waiting assign at the head of the queue.
    public var reserved: Int
    /// The lease TTL that the pool's next assign or keep-alive uses: its own, or the replica's default.
    public var leaseTTL: Duration
    /// The keep-alive TTL that the pool's next generate or keep-alive uses: its own, or the replica's default.
    public var keepAliveTTL: Duration

    public init(
        pool: PoolName, total: Int, free: Int, assigned: Int, waiting: Int = 0, leaseTTL: Duration = Defaults.leaseTTL,
        keepAliveTTL: Duration = Defaults.keepAliveTTL, cooling: Int = 0, disabled: Int = 0, cooldown: Duration? = nil, maxFailures: Int? = nil,
        quarantine: Duration? = nil, rateLimit: RateLimit? = nil, maxPerHolder: Int? = nil, reserved: Int = 0
    ) {
        self.pool = pool
        self.maxPerHolder = maxPerHolder
        self.reserved = reserved
        self.total = total
        self.free = free
        self.assigned = assigned
        self.waiting = waiting
        self.leaseTTL = leaseTTL
        self.keepAliveTTL = keepAliveTTL
        self.cooling = cooling
        self.disabled = disabled
        self.cooldown = cooldown
        self.maxFailures = maxFailures
        self.quarantine = quarantine
        self.rateLimit = rateLimit
    }
}

/// A rate budget per token: at most `assigns` assignments of one token begin in any window of
/// `per` (a sliding log of each token's last `assigns` starts, by Redis's clock: never more than
/// `assigns` in any window, so no burst beyond it).
public struct RateLimit: Sendable, Hashable {
    public var assigns: Int
    public var per: Duration

    public init(assigns: Int, per: Duration) {
        (self.assigns, self.per) = (assigns, per)
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
    /// Cooling tokens by the end of their rest, soonest first.
    case cooling
    /// Disabled tokens by their quarantine's end, soonest first, then those disabled until enabled.
    case disabled
}

/// Metadata for the tokens of one generate: JSON objects' text, checked by the caller.
public enum GeneratedMetadata: Sendable, Hashable {
    case none
    /// The same object on every token.
    case shared(String)
    /// One for each token (`nil`: none for that one); as many tokens as elements.
    case each([String?])
}

/// How an assignment went, told when it ends (unblock's `outcome`).
public enum Outcome: String, Sendable, CaseIterable {
    /// The token worked: its failures start again from 0.
    case success
    /// The token failed: one more failure in a row; the pool's `maxFailures`-th disables it.
    case failure
}

/// A pool's own settings, as `PUT /pools/{pool}` sets them all at once: `nil` is the replicas'
/// default for the TTLs, and none for the rest.
public struct PoolSettings: Sendable, Hashable {
    public var leaseTTL: Duration?
    public var keepAliveTTL: Duration?
    /// Every assignment that ends without a cooldown of its own rests this long.
    public var cooldown: Duration?
    /// This many failure reports in a row disable a token.
    public var maxFailures: Int?
    /// A token disabled by failure reports comes back after this long (`nil`: when enabled by hand).
    public var quarantine: Duration?
    /// Each token's rate budget (`nil`: none).
    public var rateLimit: RateLimit?
    /// At most so many tokens held by one named holder (`nil`: no cap); assigns naming no holder are not capped.
    public var maxPerHolder: Int?

    public init(
        leaseTTL: Duration? = nil, keepAliveTTL: Duration? = nil, cooldown: Duration? = nil, maxFailures: Int? = nil, quarantine: Duration? = nil,
        rateLimit: RateLimit? = nil, maxPerHolder: Int? = nil
    ) {
        (self.leaseTTL, self.keepAliveTTL, self.cooldown, self.maxFailures, self.quarantine) = (leaseTTL, keepAliveTTL, cooldown, maxFailures, quarantine)
        (self.rateLimit, self.maxPerHolder) = (rateLimit, maxPerHolder)
    }
}

/// A waiting assign in a pool's queue, as the queue shows it (``TokenPool/waiters(of:limit:after:)``).
public struct Waiter: Sendable, Hashable {
    /// Who asked, when the assign named a holder.
    public var holder: String?
    /// How many tokens it waits for, all at once.
    public var count: Int
    public var priority: Int
    /// When it joined the queue, and when its wait ends (ms since the epoch, Redis's clock).
    public var since: Int64
    public var waitUntil: Int64

    public init(holder: String?, count: Int, priority: Int, since: Int64, waitUntil: Int64) {
        (self.holder, self.count, self.priority, self.since, self.waitUntil) = (holder, count, priority, since, waitUntil)
    }
}

/// One page of a pool's queue, in the order it will be served.
public struct WaiterPage: Sendable {
    public var pool: PoolName
    public var waiters: [Waiter]
    /// The tokens set aside for the queue's head (the first page's first waiter), which waits for
    /// several; empty on later pages and when the head waits for one.
    public var setAside: [Token]
    /// Redis's clock when this was read (ms).
    public var observedAt: Int64
    /// Opaque: pass it back as it is for the next page (`nil`: the last).
    public var next: String?

    public init(pool: PoolName, waiters: [Waiter], setAside: [Token], observedAt: Int64, next: String?) {
        (self.pool, self.waiters, self.setAside, self.observedAt, self.next) = (pool, waiters, setAside, observedAt, next)
    }
}
