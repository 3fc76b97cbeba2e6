import RedisNIO

/// The pool refused an operation. Each case is an answer, not a fault.
public struct TokenPoolError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of refusal. Switch on it exhaustively: a new case must be given its answer.
    public enum Code: Hashable, Sendable, CaseIterable {
        /// Every token of the pool is assigned (or the pool is empty).
        case noFreeToken
        /// The token never was in the pool, was deleted, or its life ran out.
        case tokenNotFound
        /// The lease given is not the token's current lease: it lapsed, or the token is free.
        case leaseConflict
        /// A call with the same Idempotency-Key is still running.
        case idempotencyKeyInUse
        /// A waiting assign ended without a token before its time: a retry with its
        /// Idempotency-Key took its place, or the server is shutting down. Transient: ask again.
        case waitInterrupted
        /// The pool was never made (generate, or settings) or was deleted.
        case poolNotFound
        /// A listing's cursor that no page of that listing gave.
        case invalidCursor
        /// The assign's holder holds as many tokens as the pool's `maxPerHolder` allows (or
        /// would, with the count asked for). Never queued: ask again once it gave one back.
        case holderLimit
        /// An assign's Idempotency-Key was first used for another count of tokens: a retry must
        /// ask what its first call asked.
        case idempotencyKeyReused
    }

    public let code: Code
    public let message: String

    private init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public static func noFreeToken(_ pool: PoolName) -> Self {
        Self(.noFreeToken, "no free token in pool '\(pool)'")
    }
    public static func tokenNotFound(_ token: Token) -> Self {
        Self(.tokenNotFound, "token \(token) is not in the pool (unknown, deleted or expired)")
    }
    public static func leaseConflict(_ token: Token, lease: Int64) -> Self {
        Self(.leaseConflict, "lease \(lease) is not the current lease of token \(token)")
    }
    public static func idempotencyKeyInUse(_ key: String) -> Self {
        Self(.idempotencyKeyInUse, "a request with Idempotency-Key '\(key)' is still in progress")
    }

    public static func waitInterrupted(_ pool: PoolName) -> Self {
        Self(.waitInterrupted, "the wait in pool '\(pool)' was interrupted; ask again")
    }
    public static func waitInterrupted(_ pool: PoolName, because reason: String) -> Self {
        Self(.waitInterrupted, "the wait in pool '\(pool)' ended: \(reason); ask again")
    }

    public static func poolNotFound(_ pool: PoolName) -> Self {
        Self(.poolNotFound, "there is no pool '\(pool)' (never generated into, or deleted)")
    }
    public static func invalidCursor(_ cursor: String) -> Self {
        Self(.invalidCursor, "cursor '\(cursor.prefix(64))' is not one this listing gave; start again without one")
    }

    public static func holderLimit(_ pool: PoolName, holds held: Int, asked count: Int, max: Int) -> Self {
        let asked = count == 1 ? "another" : "\(count) more"
        return Self(.holderLimit, "this holder holds \(held) of pool '\(pool)''s tokens, and \(asked) would pass its maxPerHolder of \(max)")
    }

    public static func idempotencyKeyReused(_ key: String, firstCount: Int, count: Int) -> Self {
        Self(.idempotencyKeyReused, "Idempotency-Key '\(key.prefix(64))' was first used to assign \(firstCount) token(s), not \(count); use a new key")
    }

    public var description: String { self.message }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    public func hash(into hasher: inout Hasher) { hasher.combine(self.code) }
}
