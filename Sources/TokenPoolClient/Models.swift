import Foundation

/// A token as the server describes it (the OpenAPI document's TokenInfo).
public struct TokenInfo: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable {
        case free
        case assigned
        /// Resting until ``TokenInfo/availableAt``: no assign gets it before.
        case cooling
        /// Out of service until enabled (or its quarantine, ``TokenInfo/availableAt``, ends).
        case disabled
        /// Set aside for the waiting assign at the head of the pool's queue, which asked for several.
        case reserved
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
    /// Who holds the lease, when its assign named a holder.
    public var holder: String?
    /// What the token stands for (a proxy's address, an account), as generate or PATCH gave it.
    public var metadata: [String: JSONValue]?
    /// RFC 3339, Redis's clock: when a cooling token is free again, or a quarantined one comes back.
    public var availableAt: String?
    /// Failure reports in a row (`unblock(…, outcome: .failure)`).
    public var failures: Int
    /// Why a disabled token is disabled: `failures`, or what ``TokenPoolClient/disable(_:lease:reason:in:idempotencyKey:)`` was told.
    public var reason: String?

    public init(
        token: String, pool: String, state: State, expiresAt: String, leaseExpiresAt: String? = nil, lease: Int64? = nil,
        leaseExpiresIn: Double? = nil, holder: String? = nil, metadata: [String: JSONValue]? = nil, availableAt: String? = nil,
        failures: Int = 0, reason: String? = nil
    ) {
        self.token = token
        self.pool = pool
        self.state = state
        self.expiresAt = expiresAt
        self.leaseExpiresAt = leaseExpiresAt
        self.lease = lease
        self.leaseExpiresIn = leaseExpiresIn
        self.holder = holder
        self.metadata = metadata
        self.availableAt = availableAt
        self.failures = failures
        self.reason = reason
    }

    /// Equal when they say the same of the token; ``leaseExpiresIn`` depends on when it was read.
    public static func == (lhs: Self, rhs: Self) -> Bool {
        (lhs.token, lhs.pool, lhs.state, lhs.expiresAt, lhs.leaseExpiresAt, lhs.lease)
            == (rhs.token, rhs.pool, rhs.state, rhs.expiresAt, rhs.leaseExpiresAt, rhs.lease)
            && (lhs.holder, lhs.metadata, lhs.availableAt, lhs.failures, lhs.reason) == (rhs.holder, rhs.metadata, rhs.availableAt, rhs.failures, rhs.reason)
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
    /// ``availableAt`` as a `Date` (Redis's clock: compare with care).
    public var availableAtDate: Date? { self.availableAt.flatMap(Self.date) }

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
    /// Tokens resting after a cooldown.
    public var cooling: Int
    /// Tokens out of service.
    public var disabled: Int
    /// Tokens set aside for the waiting assign at the head of the queue.
    public var reserved: Int

    public init(pool: String, total: Int, free: Int, assigned: Int, waiting: Int = 0, cooling: Int = 0, disabled: Int = 0, reserved: Int = 0) {
        self.reserved = reserved
        self.pool = pool
        self.total = total
        self.free = free
        self.assigned = assigned
        self.waiting = waiting
        self.cooling = cooling
        self.disabled = disabled
    }
}

/// A pool's counts and its settings, durations in seconds: the TTLs its own or the server's
/// defaults (`GET /pools/{pool}`).
public struct PoolInfo: Codable, Sendable, Hashable {
    public var pool: String
    public var total: Int
    public var free: Int
    public var assigned: Int
    public var waiting: Int
    public var cooling: Int
    public var disabled: Int
    public var reserved: Int
    public var leaseTTL: Double
    public var keepAliveTTL: Double
    /// How long every ended assignment rests; `nil`: none.
    public var cooldown: Double?
    /// Failure reports in a row that disable a token; `nil`: never.
    public var maxFailures: Int?
    /// How long a token disabled by failures stays so; `nil`: until enabled.
    public var quarantine: Double?
    /// Each token's rate budget; `nil`: none.
    public var rateLimit: RateLimit?
    /// At most so many tokens held by one named holder; `nil`: no cap.
    public var maxPerHolder: Int?
}

/// A waiting assign in a pool's queue (`GET /pools/{pool}/waiters`).
public struct Waiter: Codable, Sendable, Hashable {
    /// Who asked, when the assign named a holder.
    public var holder: String?
    /// How many tokens it waits for, all at once.
    public var count: Int
    public var priority: Int
    /// When it joined, and when its wait ends (RFC 3339, the server's Redis clock).
    public var since: String
    public var waitUntil: String

    /// ``since`` and ``waitUntil`` as `Date`s (Redis's clock: compare with care).
    public var sinceDate: Date? { TokenInfo.date(self.since) }
    public var waitUntilDate: Date? { TokenInfo.date(self.waitUntil) }
}

/// One page of a pool's queue, in the order it will be served.
public struct WaiterPage: Codable, Sendable {
    public var waiters: [Waiter]
    /// The tokens set aside for the queue's head, which waits for several.
    public var setAside: [String]
    public var next: String?
}

/// At most `assigns` assignments of one token begin in any window of `per` seconds.
public struct RateLimit: Codable, Sendable, Hashable {
    public var assigns: Int
    public var per: Double

    public init(assigns: Int, per: Double) {
        (self.assigns, self.per) = (assigns, per)
    }
}

/// How an assignment went, told when it ends.
public enum Outcome: String, Codable, Sendable, CaseIterable {
    case success
    case failure
}

/// Which tokens a listing shows.
public enum TokenListing: String, Codable, Sendable, CaseIterable {
    /// By lease deadline, soonest first.
    case assigned
    case free
    /// By life deadline, soonest first.
    case all
    /// By the end of their rest, soonest first.
    case cooling
    /// By the end of their quarantine, soonest first, then those disabled until enabled.
    case disabled
}

/// One page of `GET /tokens`; ``next`` is the cursor of the next page, `nil` on the last.
public struct TokenPage: Codable, Sendable {
    public var tokens: [TokenInfo]
    public var next: String?
}

/// One page of `GET /pools`.
public struct PoolPage: Codable, Sendable {
    public var pools: [PoolInfo]
    public var next: String?
}

/// Any JSON value: what metadata holds.
public enum JSONValue: Codable, Sendable, Hashable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let flag = try? container.decode(Bool.self) {
            self = .bool(flag)
        } else if let number = try? container.decode(Double.self) {
            self = .number(number)
        } else if let text = try? container.decode(String.self) {
            self = .string(text)
        } else if let elements = try? container.decode([JSONValue].self) {
            self = .array(elements)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let flag): try container.encode(flag)
        case .number(let number): try container.encode(number)
        case .string(let text): try container.encode(text)
        case .array(let elements): try container.encode(elements)
        case .object(let members): try container.encode(members)
        }
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .number(Double(value)) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
}

/// `POST /tokens/batch`'s body.
struct BatchBody: Encodable {
    var count: Int?
    var metadata: JSONValue?
}

/// `PATCH /tokens/{token}`'s body: `metadata` is always written, `null` included.
struct MetadataBody: Encodable {
    var metadata: JSONValue

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.metadata, forKey: .metadata)
    }

    enum CodingKeys: String, CodingKey { case metadata }
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
public struct TokenList: Codable, Sendable {
    public var tokens: [TokenInfo]

    public init(tokens: [TokenInfo]) {
        self.tokens = tokens
    }
}

extension Duration {
    /// In seconds, fractions and all.
    var seconds: Double {
        Double(self.components.seconds) + Double(self.components.attoseconds) / 1e18
    }
}
