import RedisNIO

/// The reply of one script in `Scripts/lua`, decoded once where it arrives. A reply that breaks
/// the script's documented contract is ``RedisClientError/unexpectedReply(_:)``: a bug or
/// corrupt data, never a guess. The error's text names the shape, never a token.
package protocol PoolScriptReply: Sendable {
    static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self
}

/// assign.lua's reply.
enum AssignReply: PoolScriptReply {
    /// `record(...)` of `prelude.lua`: one token.
    case assigned(TokenRecord)
    /// `many(...)` of `prelude.lua`: several tokens, all asked for.
    case assignedMany([TokenRecord])
    /// Too few free tokens.
    case empty
    /// Only dead tokens were popped; calling again makes progress.
    case retry
    /// `{'holder_limit', held, maxPerHolder}`: the holder holds `held`, and more would pass the pool's maxPerHolder.
    case holderLimit(held: Int, max: Int)
    /// `{'queued', waitUntil, now}`: in the queue until `waitUntil` (ms).
    case queued(waitUntil: Int64, observedAt: Int64)
    /// `{'key_reused', count}`: the Idempotency-Key's first call asked for `count` tokens, not as many.
    case keyReused(count: Int)

    static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self {
        let (status, fields) = try statusFields(of: reply, script)
        switch (status, fields.count) {
        case ("ok", _): return .assigned(try TokenRecord(fields, script: script, pool: pool))
        case ("many", _): return .assignedMany(try TokenRecord.many(fields, script: script, pool: pool))
        case ("holder_limit", 3):
            guard let held = fields[1].int64, let max = fields[2].int64 else {
                throw .unexpectedReply("\(script.name): 'holder_limit' without held and maxPerHolder")
            }
            return .holderLimit(held: Int(held), max: Int(max))
        case ("empty", 1): return .empty
        case ("retry", 1): return .retry
        case ("key_reused", 2):
            guard let count = fields[1].int64 else { throw .unexpectedReply("\(script.name): 'key_reused' without a count") }
            return .keyReused(count: Int(count))
        case ("queued", 3):
            guard let waitUntil = fields[1].int64, let now = fields[2].int64 else {
                throw .unexpectedReply("\(script.name): 'queued' without waitUntil and now")
            }
            return .queued(waitUntil: waitUntil, observedAt: now)
        default: throw RESPValue.unknownStatus(fields, script)
        }
    }
}

/// The reply of the scripts on one token: unblock, keep_alive, inspect, metadata. (Package
/// access for `Benchmarks/CodecBenchmarks`, which times reading one.)
package enum TokenReply: PoolScriptReply {
    case ok(TokenRecord)
    /// The pool does not know the token, or its life is over.
    case notFound
    /// The lease named is not the current one.
    case conflict

    package static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self {
        let (status, fields) = try statusFields(of: reply, script)
        switch (status, fields.count) {
        case ("ok", _): return .ok(try TokenRecord(fields, script: script, pool: pool))
        case ("not_found", 1): return .notFound
        case ("conflict", 1): return .conflict
        default: throw RESPValue.unknownStatus(fields, script)
        }
    }
}

/// delete.lua's reply: `{'ok'}` or `{'not_found'}`.
enum DeleteReply: PoolScriptReply {
    case deleted, notFound

    static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self {
        let (status, fields) = try statusFields(of: reply, script)
        switch (status, fields.count) {
        case ("ok", 1): return .deleted
        case ("not_found", 1): return .notFound
        default: throw RESPValue.unknownStatus(fields, script)
        }
    }
}

/// leave.lua's reply.
enum LeaveReply: PoolScriptReply {
    /// `record(...)` or `many(...)`: the tokens handed to the waiter, now under whole leases.
    case taken([TokenRecord])
    /// `{'gone'}`: nothing was handed to the waiter, or the hand-over ran out.
    case gone

    static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self {
        let (status, fields) = try statusFields(of: reply, script)
        switch (status, fields.count) {
        case ("ok", _): return .taken([try TokenRecord(fields, script: script, pool: pool)])
        case ("many", _): return .taken(try TokenRecord.many(fields, script: script, pool: pool))
        case ("gone", 1): return .gone
        default: throw RESPValue.unknownStatus(fields, script)
        }
    }
}

/// renew.lua's reply: pairs `{id, report}` for the waiters with news.
struct RenewReply: PoolScriptReply {
    enum Report: Sendable, Equatable {
        /// `TOKEN LEASE`: a token was handed to it.
        case handed
        /// A retry with the same Idempotency-Key took its place.
        case taken
        /// No longer in the queue.
        case lost
    }

    var reports: [(id: String, report: Report)]

    static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self {
        guard let fields = reply.array, fields.count % 2 == 0 else { throw .unexpectedReply("\(script.name): \(reply.shape), expected pairs") }
        var reports: [(String, Report)] = []
        for index in stride(from: 0, to: fields.count, by: 2) {
            guard let id = fields[index].string, let report = fields[index + 1].string else {
                throw .unexpectedReply("\(script.name): a pair that is not two strings")
            }
            reports.append((id, report == "lost" ? .lost : report == "taken" ? .taken : .handed))
        }
        return RenewReply(reports: reports)
    }
}

/// reap.lua's reply: `{leasesEnded, tokensExpired, waitersGone, waiting, backFromRest}`.
struct ReapReply: PoolScriptReply {
    var leasesEnded: Int
    var tokensExpired: Int
    var waitersGone: Int
    var waiting: Int
    /// Rests and quarantines that ended.
    var backFromRest: Int

    static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self {
        let counts = try reply.integers(5, script: script.name)
        return ReapReply(leasesEnded: counts[0], tokensExpired: counts[1], waitersGone: counts[2], waiting: counts[3], backFromRest: counts[4])
    }
}

/// drop_pool.lua's reply: how many of the pool's keys there were.
struct DropPoolReply: PoolScriptReply {
    var keys: Int

    static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self {
        guard case .integer(let keys) = reply else { throw .unexpectedReply("\(script.name): \(reply.shape)") }
        return DropPoolReply(keys: keys)
    }
}

/// stats.lua's and settings.lua's reply, prelude.lua's `counts()`: `{total, free, assigned,
/// waiting, leaseTTL|false, keepAliveTTL|false, cooling, disabled, cooldown|false,
/// maxFailures|false, quarantine|false, rateAssigns|false, ratePer|false, maxPerHolder|false, reserved}`.
struct PoolCounts: PoolScriptReply {
    var total: Int
    var free: Int
    var assigned: Int
    var waiting: Int
    /// The pool's own TTLs in ms; nil where it has none.
    var leaseTTL: Int64?
    var keepAliveTTL: Int64?
    var cooling: Int
    var disabled: Int
    /// The pool's own cooldown and quarantine (ms) and maxFailures; nil where it has none.
    var cooldown: Int64?
    var maxFailures: Int64?
    var quarantine: Int64?
    /// The pool's rate limit: assignments per window (ms); nil where it has none.
    var rateAssigns: Int64?
    var ratePer: Int64?
    /// The pool's cap per holder; nil where it has none.
    var maxPerHolder: Int64?
    /// Tokens set aside for the queue's head.
    var reserved: Int

    static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self {
        guard let fields = reply.array, fields.count == 15, let total = fields[0].int64, let free = fields[1].int64, let assigned = fields[2].int64,
            let waiting = fields[3].int64, let lease = fields[4].optionalInt64, let keepAlive = fields[5].optionalInt64,
            let cooling = fields[6].int64, let disabled = fields[7].int64, let cooldown = fields[8].optionalInt64,
            let maxFailures = fields[9].optionalInt64, let quarantine = fields[10].optionalInt64,
            let rateAssigns = fields[11].optionalInt64, let ratePer = fields[12].optionalInt64, let maxPerHolder = fields[13].optionalInt64,
            let reserved = fields[14].int64
        else {
            throw .unexpectedReply(
                "\(script.name): \(reply.shape), expected {total, free, assigned, waiting, leaseTTL, keepAliveTTL, cooling, disabled, cooldown, maxFailures, quarantine, rateAssigns, ratePer, maxPerHolder, reserved}"
            )
        }
        return PoolCounts(
            total: Int(total), free: Int(free), assigned: Int(assigned), waiting: Int(waiting), leaseTTL: lease, keepAliveTTL: keepAlive,
            cooling: Int(cooling), disabled: Int(disabled), cooldown: cooldown, maxFailures: maxFailures, quarantine: quarantine,
            rateAssigns: rateAssigns, ratePer: ratePer, maxPerHolder: maxPerHolder, reserved: Int(reserved)
        )
    }

    /// The counts as a pool's stats, its TTLs the replica's `defaults` where it has none of its own.
    func stats(of pool: PoolName, defaults: TokenPoolSettings) -> PoolStats {
        PoolStats(
            pool: pool, total: self.total, free: self.free, assigned: self.assigned, waiting: self.waiting,
            leaseTTL: self.leaseTTL.map { .milliseconds($0) } ?? defaults.leaseTTL,
            keepAliveTTL: self.keepAliveTTL.map { .milliseconds($0) } ?? defaults.keepAliveTTL,
            cooling: self.cooling, disabled: self.disabled, cooldown: self.cooldown.map { .milliseconds($0) },
            maxFailures: self.maxFailures.map { Int($0) }, quarantine: self.quarantine.map { .milliseconds($0) },
            rateLimit: self.rateAssigns.flatMap { assigns in self.ratePer.map { RateLimit(assigns: Int(assigns), per: .milliseconds($0)) } },
            maxPerHolder: self.maxPerHolder.map { Int($0) }, reserved: self.reserved
        )
    }
}

/// list.lua's reply: `{next|false, now, then 11 fields of a record per token}`.
extension Page: PoolScriptReply where Element == TokenRecord {
    package static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self {
        guard let fields = reply.array, fields.count >= 2, (fields.count - 2) % TokenRecord.fieldCount == 0, let next = fields[0].optionalString else {
            throw .unexpectedReply("\(script.name): \(reply.shape), expected {next, now, records...}")
        }
        var records: [TokenRecord] = []
        records.reserveCapacity((fields.count - 2) / TokenRecord.fieldCount)
        for start in stride(from: 2, to: fields.count, by: TokenRecord.fieldCount) {
            records.append(try TokenRecord(fields[start..<start + TokenRecord.fieldCount], script: script.name, pool: pool))
        }
        return Page(items: records, next: next)
    }
}

/// waiters.lua's reply: `{next|false, now, aside, then 5 fields a waiter}`.
extension WaiterPage: PoolScriptReply {
    package static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self {
        guard let fields = reply.array, fields.count >= 3, (fields.count - 3) % 5 == 0, let next = fields[0].optionalString,
            let now = fields[1].int64, let aside = fields[2].array
        else {
            throw .unexpectedReply("\(script.name): \(reply.shape), expected {next, now, aside, waiters...}")
        }
        let setAside = aside.compactMap { $0.string.flatMap { Token($0) } }
        guard setAside.count == aside.count else { throw .unexpectedReply("\(script.name): a token set aside that is not a token") }
        var waiters: [Waiter] = []
        for start in stride(from: 3, to: fields.count, by: 5) {
            guard let holder = fields[start].optionalString, let count = fields[start + 1].int64, let priority = fields[start + 2].int64,
                let since = fields[start + 3].int64, let waitUntil = fields[start + 4].int64
            else {
                throw .unexpectedReply("\(script.name): a waiter whose fields are not {holder, count, priority, since, waitUntil}")
            }
            waiters.append(Waiter(holder: holder, count: Int(count), priority: Int(priority), since: since, waitUntil: waitUntil))
        }
        return WaiterPage(pool: pool, waiters: waiters, setAside: setAside, observedAt: now, next: next)
    }
}

extension TokenRecord {
    /// The fields of prelude.lua's `record(...)` after its status; a short one has the first 5.
    static let fieldCount = 11
    static let shortFieldCount = 5

    /// A whole `many(...)` reply: `'many'` and 11 fields a token, at least two tokens.
    fileprivate static func many(_ fields: [RESPValue], script: PoolScript, pool: PoolName) throws(RedisClientError) -> [TokenRecord] {
        guard fields.count > 1, (fields.count - 1) % Self.fieldCount == 0 else {
            throw .unexpectedReply("\(script.name): 'many' with \(fields.count) fields")
        }
        var records: [TokenRecord] = []
        for start in stride(from: 1, to: fields.count, by: Self.fieldCount) {
            records.append(try TokenRecord(fields[start..<start + Self.fieldCount], script: script.name, pool: pool))
        }
        return records
    }

    /// A whole `record(...)` reply: `'ok'` and the 11 fields, or the first 5.
    fileprivate init(_ fields: [RESPValue], script: PoolScript, pool: PoolName) throws(RedisClientError) {
        guard fields.count == 1 + Self.fieldCount || fields.count == 1 + Self.shortFieldCount else {
            throw .unexpectedReply("\(script.name): 'ok' with \(fields.count) fields")
        }
        try self.init(fields[1...], script: script.name, pool: pool)
    }

    /// Decodes `token, expiresAt, leaseExpiresAt|false, lease|false, now, holder|false,
    /// metadata|false, state, availableAt|false, failures, reason|false`, or a short record's
    /// first five: then nobody is named, there is no metadata, the state is `assigned` with a
    /// lease and `free` without, and there are no failures (prelude.lua's `record`).
    init(_ fields: ArraySlice<RESPValue>, script: String, pool: PoolName) throws(RedisClientError) {
        let at = fields.startIndex
        let whole = fields.count == Self.fieldCount
        guard whole || fields.count == Self.shortFieldCount, let token = fields[at].string.flatMap({ Token($0) }),
            let expiresAt = fields[at + 1].int64, let now = fields[at + 4].int64, let leaseExpiresAt = fields[at + 2].optionalInt64,
            let lease = fields[at + 3].optionalInt64, (leaseExpiresAt == nil) == (lease == nil),
            let holder = whole ? fields[at + 5].optionalString : .some(nil), let metadata = whole ? fields[at + 6].optionalString : .some(nil),
            metadata.map(Self.looksLikeObject) ?? true,
            let state = whole ? fields[at + 7].string.flatMap(State.init(rawValue:)) : (lease == nil ? .free : .assigned),
            (state == .assigned) == (lease != nil), let availableAt = whole ? fields[at + 8].optionalInt64 : .some(nil),
            let failures = whole ? fields[at + 9].int64 : 0, let reason = whole ? fields[at + 10].optionalString : .some(nil)
        else {
            throw .unexpectedReply(
                "\(script): a record whose fields are not {token, expiresAt, leaseExpiresAt, lease, now, holder, metadata, state, availableAt, failures, reason}"
            )
        }
        self.init(
            token: token, pool: pool, expiresAt: expiresAt, leaseExpiresAt: leaseExpiresAt, lease: lease, observedAt: now, holder: holder,
            metadata: metadata, state: state, availableAt: availableAt, failures: Int(failures), reason: reason
        )
    }

    /// Metadata is written as a JSON object's text by this server only; anything else is corrupt
    /// data (e.g. written with redis-cli), never passed on as JSON. A cheap check, not a parse.
    static func looksLikeObject(_ text: String) -> Bool {
        text.utf8.first == UInt8(ascii: "{") && text.utf8.last == UInt8(ascii: "}")
    }
}

/// generate.lua's reply.
enum GenerateReply: PoolScriptReply {
    /// `{'ok', expiresAt, now, wasEmpty, collided...}`: every token not listed as collided was
    /// added; `wasEmpty`: the pool had no token before.
    case made(expiresAt: Int64, observedAt: Int64, wasEmpty: Bool, collided: Set<String>)
    /// `{'replay', now, token, expiresAt, metadata|false, ...}`: the first call's tokens still alive.
    case replay([TokenRecord])
    /// `{'busy'}`: the first call with this Idempotency-Key is still running.
    case busy

    static func decode(_ reply: RESPValue, script: PoolScript, pool: PoolName) throws(RedisClientError) -> Self {
        let (status, fields) = try statusFields(of: reply, script)
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
            throw RESPValue.unknownStatus(fields, script)
        }
    }
}

/// An array whose first element is a status string, and that status; or unexpectedReply.
private func statusFields(of reply: RESPValue, _ script: PoolScript) throws(RedisClientError) -> (status: String, fields: [RESPValue]) {
    guard let fields = reply.array, let status = fields.first?.string else {
        throw .unexpectedReply("\(script.name): \(reply.shape), expected an array with a status")
    }
    return (status, fields)
}

extension RESPValue {
    fileprivate static func unknownStatus(_ fields: [RESPValue], _ script: PoolScript) -> RedisClientError {
        .unexpectedReply("\(script.name): status '\(fields[0].string?.prefix(16) ?? "")' with \(fields.count) fields")
    }

    /// An array of exactly `count` integers, or unexpectedReply.
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
}
