/// The replies of the scripts in `Scripts/lua`, each decoded in one place. A reply that breaks
/// a script's documented contract is ``RedisClientError/unexpectedReply(_:)``: a bug or corrupt
/// data, never a guess. The error's text names the shape, never a token.
enum TokenReply: Sendable {
    /// `record(...)` of `prelude.lua`: `{'ok', token, expiresAt, leaseExpiresAt|false, lease|false, now}`.
    case ok(TokenRecord)
    case notFound
    case conflict
    /// assign: no free token.
    case empty
    /// assign: only dead tokens were popped; calling again makes progress.
    case retry
    /// assign with a waiter: `{'queued', waitUntil, now}`, in the queue until `waitUntil` (ms).
    case queued(waitUntil: Int64, observedAt: Int64)
    /// leave: nothing was handed to the waiter, or the hand-over ran out.
    case gone

    static func decode(_ reply: RESPValue, script: String, pool: PoolName) throws(RedisClientError) -> Self {
        guard let fields = reply.array, let status = fields.first?.string else {
            throw .unexpectedReply("\(script): \(reply.shape), expected an array with a status")
        }
        switch (status, fields.count) {
        case ("ok", 6):
            guard let token = fields[1].string.flatMap({ Token($0) }), let expiresAt = fields[2].int64, let now = fields[5].int64,
                let leaseExpiresAt = fields[3].optionalInt64, let lease = fields[4].optionalInt64, (leaseExpiresAt == nil) == (lease == nil)
            else {
                throw .unexpectedReply("\(script): a record whose fields are not {token, expiresAt, leaseExpiresAt, lease, now}")
            }
            return .ok(TokenRecord(token: token, pool: pool, expiresAt: expiresAt, leaseExpiresAt: leaseExpiresAt, lease: lease, observedAt: now))
        case ("not_found", 1): return .notFound
        case ("conflict", 1): return .conflict
        case ("empty", 1): return .empty
        case ("retry", 1): return .retry
        case ("gone", 1): return .gone
        case ("queued", 3):
            guard let waitUntil = fields[1].int64, let now = fields[2].int64 else {
                throw .unexpectedReply("\(script): 'queued' without waitUntil and now")
            }
            return .queued(waitUntil: waitUntil, observedAt: now)
        default:
            throw .unexpectedReply("\(script): status '\(status.prefix(16))' with \(fields.count) fields")
        }
    }
}

/// generate.lua's reply.
enum GenerateReply: Sendable {
    /// `{'ok', expiresAt, now, collided...}`: every token not listed as collided was added.
    case made(expiresAt: Int64, observedAt: Int64, collided: Set<String>)
    /// `{'replay', now, token, expiresAt, ...}`: the first call's tokens still alive.
    case replay([TokenRecord])
    /// `{'busy'}`: the first call with this Idempotency-Key is still running.
    case busy

    static func decode(_ reply: RESPValue, pool: PoolName) throws(RedisClientError) -> Self {
        guard let fields = reply.array, let status = fields.first?.string else {
            throw .unexpectedReply("generate: \(reply.shape), expected an array with a status")
        }
        switch status {
        case "ok":
            guard fields.count >= 3, let expiresAt = fields[1].int64, let now = fields[2].int64 else {
                throw .unexpectedReply("generate: 'ok' without expiresAt and now")
            }
            let collided = fields.dropFirst(3).compactMap(\.string)
            guard collided.count == fields.count - 3 else { throw .unexpectedReply("generate: a collided token that is not a string") }
            return .made(expiresAt: expiresAt, observedAt: now, collided: Set(collided))
        case "replay":
            guard fields.count >= 4, fields.count % 2 == 0, let now = fields[1].int64 else {
                throw .unexpectedReply("generate: 'replay' with \(fields.count) fields")
            }
            var records: [TokenRecord] = []
            for index in stride(from: 2, to: fields.count, by: 2) {
                guard let token = fields[index].string.flatMap({ Token($0) }), let expiresAt = fields[index + 1].int64 else {
                    throw .unexpectedReply("generate: 'replay' pairs are not {token, expiresAt}")
                }
                records.append(TokenRecord(token: token, pool: pool, expiresAt: expiresAt, observedAt: now))
            }
            return .replay(records)
        case "busy" where fields.count == 1:
            return .busy
        default:
            throw .unexpectedReply("generate: status '\(status.prefix(16))' with \(fields.count) fields")
        }
    }
}

extension RESPValue {
    /// An array of exactly `count` integers (stats, reap), or unexpectedReply.
    func integers(_ count: Int, script: String) throws(RedisClientError) -> [Int] {
        guard let fields = self.array, fields.count == count else {
            throw .unexpectedReply("\(script): \(self.shape), expected \(count) integers")
        }
        var values: [Int] = []
        for field in fields {
            guard case .integer(let value) = field else { throw .unexpectedReply("\(script): \(self.shape), expected \(count) integers") }
            values.append(value)
        }
        return values
    }

    fileprivate var int64: Int64? {
        if case .integer(let value) = self { return Int64(value) }
        return nil
    }

    /// An integer, or Lua's `false` (a null reply): `.some(nil)`; anything else: `nil`.
    fileprivate var optionalInt64: Int64?? {
        switch self {
        case .integer(let value): .some(Int64(value))
        case .null: .some(nil)
        default: nil
        }
    }

    /// The reply's kind and size, for an error message that must not hold a token.
    var shape: String {
        switch self {
        case .simpleString: "a status reply"
        case .error: "an error reply"
        case .integer: "an integer"
        case .bulkString: "a string"
        case .null: "a null"
        case .array(let elements): "an array of \(elements.count)"
        }
    }
}
