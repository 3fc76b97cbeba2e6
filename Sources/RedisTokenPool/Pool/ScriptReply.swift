/// The replies of the scripts in `Scripts/lua`, each decoded in one place. A reply that breaks
/// a script's documented contract is ``RedisClientError/unexpectedReply(_:)``: a bug or corrupt
/// data, never a guess. The error's text names the shape, never a token.
enum TokenReply: Sendable {
    /// `record(...)` of `prelude.lua`: `{'ok', token, expiresAt, leaseExpiresAt|false, lease|false, now, holder|false, metadata|false}`.
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
        case ("ok", 1 + TokenRecord.fieldCount):
            return .ok(try TokenRecord(fields[1...], script: script, pool: pool))
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

extension TokenRecord {
    /// The fields of prelude.lua's `record(...)` after its status.
    static let fieldCount = 7

    /// Decodes `token, expiresAt, leaseExpiresAt|false, lease|false, now, holder|false, metadata|false`.
    init(_ fields: ArraySlice<RESPValue>, script: String, pool: PoolName) throws(RedisClientError) {
        let at = fields.startIndex
        guard fields.count == Self.fieldCount, let token = fields[at].string.flatMap({ Token($0) }), let expiresAt = fields[at + 1].int64,
            let now = fields[at + 4].int64, let leaseExpiresAt = fields[at + 2].optionalInt64, let lease = fields[at + 3].optionalInt64,
            (leaseExpiresAt == nil) == (lease == nil), let holder = fields[at + 5].optionalString, let metadata = fields[at + 6].optionalString,
            metadata.map(Self.looksLikeObject) ?? true
        else {
            throw .unexpectedReply("\(script): a record whose fields are not {token, expiresAt, leaseExpiresAt, lease, now, holder, metadata}")
        }
        self.init(
            token: token, pool: pool, expiresAt: expiresAt, leaseExpiresAt: leaseExpiresAt, lease: lease, observedAt: now, holder: holder,
            metadata: metadata
        )
    }

    /// Metadata is written as a JSON object's text by this server only; anything else is corrupt
    /// data (e.g. written with redis-cli), never passed on as JSON. A cheap check, not a parse.
    static func looksLikeObject(_ text: String) -> Bool {
        text.utf8.first == UInt8(ascii: "{") && text.utf8.last == UInt8(ascii: "}")
    }
}

/// list.lua's reply: `{next|false, now, then 7 fields of a record per token}`.
func decodeTokenPage(_ reply: RESPValue, pool: PoolName) throws(RedisClientError) -> Page<TokenRecord> {
    guard let fields = reply.array, fields.count >= 2, (fields.count - 2) % TokenRecord.fieldCount == 0, let next = fields[0].optionalString else {
        throw .unexpectedReply("list: \(reply.shape), expected {next, now, records...}")
    }
    var records: [TokenRecord] = []
    records.reserveCapacity((fields.count - 2) / TokenRecord.fieldCount)
    for start in stride(from: 2, to: fields.count, by: TokenRecord.fieldCount) {
        records.append(try TokenRecord(fields[start..<start + TokenRecord.fieldCount], script: "list", pool: pool))
    }
    return Page(items: records, next: next)
}

/// generate.lua's reply.
enum GenerateReply: Sendable {
    /// `{'ok', expiresAt, now, wasEmpty, collided...}`: every token not listed as collided was
    /// added; `wasEmpty`: the pool had no token before.
    case made(expiresAt: Int64, observedAt: Int64, wasEmpty: Bool, collided: Set<String>)
    /// `{'replay', now, token, expiresAt, metadata|false, ...}`: the first call's tokens still alive.
    case replay([TokenRecord])
    /// `{'busy'}`: the first call with this Idempotency-Key is still running.
    case busy

    static func decode(_ reply: RESPValue, pool: PoolName) throws(RedisClientError) -> Self {
        guard let fields = reply.array, let status = fields.first?.string else {
            throw .unexpectedReply("generate: \(reply.shape), expected an array with a status")
        }
        switch status {
        case "ok":
            guard fields.count >= 4, let expiresAt = fields[1].int64, let now = fields[2].int64, let wasEmpty = fields[3].int64 else {
                throw .unexpectedReply("generate: 'ok' without expiresAt, now and wasEmpty")
            }
            let collided = fields.dropFirst(4).compactMap(\.string)
            guard collided.count == fields.count - 4 else { throw .unexpectedReply("generate: a collided token that is not a string") }
            return .made(expiresAt: expiresAt, observedAt: now, wasEmpty: wasEmpty == 1, collided: Set(collided))
        case "replay":
            guard fields.count >= 5, (fields.count - 2) % 3 == 0, let now = fields[1].int64 else {
                throw .unexpectedReply("generate: 'replay' with \(fields.count) fields")
            }
            var records: [TokenRecord] = []
            for index in stride(from: 2, to: fields.count, by: 3) {
                guard let token = fields[index].string.flatMap({ Token($0) }), let expiresAt = fields[index + 1].int64,
                    let metadata = fields[index + 2].optionalString, metadata.map(TokenRecord.looksLikeObject) ?? true
                else {
                    throw .unexpectedReply("generate: 'replay' triples are not {token, expiresAt, metadata}")
                }
                records.append(TokenRecord(token: token, pool: pool, expiresAt: expiresAt, observedAt: now, metadata: metadata))
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
    /// stats.lua's and settings.lua's `{total, free, assigned, waiting, leaseTTL|false, keepAliveTTL|false}`.
    func poolStats(_ pool: PoolName, defaults: TokenPoolSettings, script: String) throws(RedisClientError) -> PoolStats {
        guard let fields = self.array, fields.count == 6, let total = fields[0].int64, let free = fields[1].int64, let assigned = fields[2].int64,
            let waiting = fields[3].int64, let lease = fields[4].optionalInt64, let keepAlive = fields[5].optionalInt64
        else {
            throw .unexpectedReply("\(script): \(self.shape), expected {total, free, assigned, waiting, leaseTTL, keepAliveTTL}")
        }
        return PoolStats(
            pool: pool, total: Int(total), free: Int(free), assigned: Int(assigned), waiting: Int(waiting),
            leaseTTL: lease.map { .milliseconds($0) } ?? defaults.leaseTTL, keepAliveTTL: keepAlive.map { .milliseconds($0) } ?? defaults.keepAliveTTL
        )
    }

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

    /// A string, or Lua's `false` (a null reply): `.some(nil)`; anything else: `nil`.
    fileprivate var optionalString: String?? {
        switch self {
        case .null: .some(nil)
        default: self.string.map { .some($0) }
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
