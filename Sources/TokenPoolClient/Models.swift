import Foundation

/// A token as the server describes it (the OpenAPI document's TokenInfo).
public struct TokenInfo: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable {
        case free
        case assigned
    }

    public var token: String
    public var pool: String
    public var state: State
    /// RFC 3339, Redis's clock: when the token is deleted unless kept alive.
    public var expiresAt: String
    /// RFC 3339, Redis's clock: when the lease lapses; `nil` for a free token.
    public var leaseExpiresAt: String?
    /// The lease number (fencing token); `nil` for a free token.
    public var lease: Int64?
    /// Seconds left on the lease when the server answered, by Redis's clock: a duration, so it
    /// holds whatever this machine's clock says.
    public var leaseExpiresIn: Double?

    public init(
        token: String, pool: String, state: State, expiresAt: String, leaseExpiresAt: String? = nil, lease: Int64? = nil,
        leaseExpiresIn: Double? = nil
    ) {
        self.token = token
        self.pool = pool
        self.state = state
        self.expiresAt = expiresAt
        self.leaseExpiresAt = leaseExpiresAt
        self.lease = lease
        self.leaseExpiresIn = leaseExpiresIn
    }

    /// Equal when they say the same of the token; ``leaseExpiresIn`` depends on when it was read.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.token, lhs.pool, lhs.state, lhs.expiresAt, lhs.leaseExpiresAt, lhs.lease)
            == (rhs.token, rhs.pool, rhs.state, rhs.expiresAt, rhs.leaseExpiresAt, rhs.lease)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.token)
        hasher.combine(self.lease)
    }

    /// How often to keep this lease alive: a third of what was left of it, so two keep-alives
    /// may be lost before it lapses. Never less than 50 ms; `nil` for a free token.
    public var keepAliveInterval: Duration? {
        self.leaseExpiresIn.map { .milliseconds(max(50, Int64($0 * 1000 / 3))) }
    }

    /// ``expiresAt`` as a `Date` (Redis's clock: compare with care).
    public var expiresAtDate: Date? { Self.date(self.expiresAt) }
    /// ``leaseExpiresAt`` as a `Date` (Redis's clock: compare with care).
    public var leaseExpiresAtDate: Date? { self.leaseExpiresAt.flatMap(Self.date) }

    static func date(_ text: String) -> Date? {
        try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(text)
    }
}

/// A pool's counts (`GET /stats`).
public struct PoolStats: Codable, Sendable, Hashable {
    public var pool: String
    public var total: Int
    public var free: Int
    public var assigned: Int
    /// Waiting assigns in the pool's queue.
    public var waiting: Int

    public init(pool: String, total: Int, free: Int, assigned: Int, waiting: Int = 0) {
        self.pool = pool
        self.total = total
        self.free = free
        self.assigned = assigned
        self.waiting = waiting
    }
}

/// An RFC 9457 problem, the body of every error the server answers.
public struct Problem: Codable, Sendable, Hashable {
    /// `urn:tokenpool:problem:SLUG`.
    public var type: String
    public var title: String
    public var status: Int
    public var detail: String
    public var instance: String?

    /// The last part of ``type``: `no-free-token`, `lease-conflict`, `redis-unavailable`...
    public var slug: Substring { self.type.split(separator: ":").last ?? "" }
}

/// `{"tokens": [TokenInfo]}`, the answer of a batch.
struct TokenList: Codable, Sendable {
    var tokens: [TokenInfo]
}
