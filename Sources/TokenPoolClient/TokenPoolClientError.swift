/// Why a call to TokenPool did not succeed: what the server said (with its ``Problem``), or
/// that no answer came.
public struct TokenPoolClientError: Error, Sendable, CustomStringConvertible {
    public enum Code: Sendable, Hashable {
        /// 404 `no-free-token`: every token of the pool is assigned.
        case noFreeToken
        /// 404 `token-not-found`: unknown, deleted or expired.
        case tokenNotFound
        /// 404 `pool-not-found`: never generated into, or deleted.
        case poolNotFound
        /// 409 `lease-conflict`: the lease given is not the current one.
        case leaseConflict
        /// 409 `idempotency-key-in-use`: the first call with this key still runs; retry.
        case idempotencyKeyInUse
        /// 409 `idempotency-key-reused`: the key's first call asked for another count; use a new key.
        case idempotencyKeyReused
        /// 400 or 413: the request itself is wrong.
        case badRequest
        /// 401 or 403: no key, or a key without the role.
        case unauthorized
        /// 429 `holder-limit`: the holder holds as many of the pool's tokens as its
        /// `maxPerHolder` allows; give one back first.
        case holderLimit
        /// 503 with `Retry-After`: transient trouble, worth a retry.
        case unavailable
        /// 500 or another status this client does not expect: a fault of the server.
        case server
        /// No answer: connection refused or reset, or the timeout passed.
        case transport
    }

    public let code: Code
    /// The HTTP status, 0 when no answer came.
    public let status: Int
    /// The server's problem+json, when it sent one.
    public let problem: Problem?
    /// From `Retry-After`, on 503, 429 and 409 `idempotency-key-in-use`.
    public let retryAfter: Duration?
    public let message: String

    init(code: Code, status: Int, problem: Problem?, retryAfter: Duration? = nil, message: String) {
        self.code = code
        self.status = status
        self.problem = problem
        self.retryAfter = retryAfter
        self.message = message
    }

    /// What a response's status and problem mean.
    static func from(status: Int, problem: Problem?, retryAfter: Duration?) -> Self {
        let code: Code =
            switch (status, problem?.slug) {
            case (404, "no-free-token"): .noFreeToken
            case (404, "pool-not-found"): .poolNotFound
            case (404, _): .tokenNotFound
            case (409, "idempotency-key-in-use"): .idempotencyKeyInUse
            case (409, "idempotency-key-reused"): .idempotencyKeyReused
            case (409, _): .leaseConflict
            case (400, _), (413, _): .badRequest
            case (401, _), (403, _): .unauthorized
            case (429, "holder-limit"): .holderLimit
            case (503, _): .unavailable
            default: .server
            }
        return Self(code: code, status: status, problem: problem, retryAfter: retryAfter, message: problem?.detail ?? "HTTP \(status)")
    }

    /// Worth trying again: transient trouble or a call still in progress.
    public var isRetryable: Bool { [.unavailable, .transport, .idempotencyKeyInUse].contains(self.code) }

    public var description: String {
        self.status == 0 ? self.message : "\(self.status) \(self.message)"
    }
}
