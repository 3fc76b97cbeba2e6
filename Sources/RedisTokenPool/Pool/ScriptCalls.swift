import RedisNIO

/// One call of a script in `Scripts/lua`: its arguments as named fields, encoded here in the
/// order the script's header gives, and the one reply type the script can return.
protocol PoolScriptCall: Sendable {
    associatedtype Reply: PoolScriptReply
    static var script: PoolScript { get }
    /// ARGV, in the order of the script's header.
    var arguments: [String] { get }
    /// KEYS[13], for the scripts that take one: an Idempotency-Key's record.
    var idempotencyRecord: String? { get }
}

extension PoolScriptCall {
    var idempotencyRecord: String? { nil }
}

extension RedisClient {
    /// Runs one script on `pool`'s keys and decodes its reply: the one place a script's reply is read.
    func run<Call: PoolScriptCall>(_ call: Call, in pool: PoolName, keys: PoolKeys) async throws -> Call.Reply {
        var scriptKeys = keys.scriptKeys
        if let record = call.idempotencyRecord { scriptKeys.append(record) }
        let reply = try await self.evaluate(Call.script.script, keys: scriptKeys, arguments: call.arguments, changesState: Call.script.changesState)
        return try Call.Reply.decode(reply, script: Call.script, pool: pool)
    }
}

/// A lease TTL, in the text a script takes: whole milliseconds.
private func millis(_ duration: Duration) -> String {
    String(duration.milliseconds)
}

/// assign.lua: a random free token under a new lease, or a place in the queue.
struct AssignCall: PoolScriptCall {
    typealias Reply = AssignReply
    static let script = PoolScript.assign

    /// A waiting assign's place: its id (`CHANNEL#N`), how long it waits, and how long it stays
    /// queued past its replica's last renewal.
    struct Waiter: Sendable {
        let id: String
        let wait: Duration
        let presence: Duration
    }

    /// The replica's default; the pool's own setting wins. Also how long an Idempotency-Key's record answers.
    let leaseTTL: String
    let reclaim: Int
    let maxPops: Int
    let waiter: Waiter?
    let holder: String?
    let idempotencyRecord: String?

    /// A plain assign (no waiter, no holder: the hot case) sends only the three it needs; each
    /// argument costs Redis a string, and the script reads an absent one as none.
    var arguments: [String] {
        let plain = [self.leaseTTL, String(self.reclaim), String(self.maxPops)]
        guard self.waiter != nil || self.holder != nil else { return plain }
        return plain + [
            self.waiter?.id ?? "", self.waiter.map { millis($0.wait) } ?? "", self.waiter.map { millis($0.presence) } ?? "",
            self.holder ?? "",
        ]
    }
}

/// unblock.lua: the lease ends (only `lease`'s, when given).
struct UnblockCall: PoolScriptCall {
    typealias Reply = TokenReply
    static let script = PoolScript.unblock

    let token: Token
    let lease: Int64?

    var arguments: [String] { [self.token.rawValue, self.lease.map { String($0) } ?? ""] }
}

/// keep_alive.lua: the token's life, and its lease when it stands, start again.
struct KeepAliveCall: PoolScriptCall {
    typealias Reply = TokenReply
    static let script = PoolScript.keepAlive

    let token: Token
    let lease: Int64?
    /// The replica's defaults; the pool's own settings win.
    let leaseTTL: String
    let keepAliveTTL: String

    var arguments: [String] { [self.token.rawValue, self.lease.map { String($0) } ?? "", self.leaseTTL, self.keepAliveTTL] }
}

/// inspect.lua: the token as it is, changing nothing.
struct InspectCall: PoolScriptCall {
    typealias Reply = TokenReply
    static let script = PoolScript.inspect

    let token: Token

    var arguments: [String] { [self.token.rawValue] }
}

/// metadata.lua: the token's metadata replaced, or removed (`nil`).
struct MetadataCall: PoolScriptCall {
    typealias Reply = TokenReply
    static let script = PoolScript.metadata

    let token: Token
    let metadata: String?

    var arguments: [String] { [self.token.rawValue, self.metadata ?? ""] }
}

/// delete.lua: the token leaves every key of the pool.
struct DeleteCall: PoolScriptCall {
    typealias Reply = DeleteReply
    static let script = PoolScript.delete

    let token: Token

    var arguments: [String] { [self.token.rawValue] }
}

/// generate.lua: one chunk of new tokens.
struct GenerateCall: PoolScriptCall {
    typealias Reply = GenerateReply
    static let script = PoolScript.generate

    /// The replicas' defaults; the pool's own settings win.
    let keepAliveTTL: String
    let leaseTTL: String
    /// The first chunk of a batch claims its Idempotency-Key's record.
    let isFirst: Bool
    /// The last chunk of a batch marks its record done.
    let isLast: Bool
    let tokens: [Token]
    /// For `.each`, one element a token, in order.
    let metadata: GeneratedMetadata
    let idempotencyRecord: String?

    var arguments: [String] {
        var arguments = [self.keepAliveTTL, self.leaseTTL, self.isFirst ? "first" : "next", self.isLast ? "done" : "pending"]
        switch self.metadata {
        case .none: arguments += ["none"] + self.tokens.map(\.rawValue)
        case .shared(let text): arguments += ["shared", text] + self.tokens.map(\.rawValue)
        case .each(let objects): arguments += ["each"] + zip(self.tokens, objects).flatMap { [$0.rawValue, $1 ?? ""] }
        }
        return arguments
    }
}

/// list.lua: one page of a listing.
struct ListCall: PoolScriptCall {
    typealias Reply = Page<TokenRecord>
    static let script = PoolScript.list

    let listing: TokenListing
    let limit: Int
    /// SSCAN's cursor for the free set, `DEADLINE[:TOKEN]` for the others; "" for the first page.
    let cursor: String

    var arguments: [String] { [self.listing.rawValue, String(self.limit), self.cursor] }
}

/// stats.lua: the pool's counts and own TTLs.
struct StatsCall: PoolScriptCall {
    typealias Reply = PoolCounts
    static let script = PoolScript.stats

    var arguments: [String] { [] }
}

/// settings.lua: the pool's own TTLs set (`nil`: the replicas' defaults), then its counts.
struct SettingsCall: PoolScriptCall {
    typealias Reply = PoolCounts
    static let script = PoolScript.settings

    let leaseTTL: Duration?
    let keepAliveTTL: Duration?

    var arguments: [String] { [self.leaseTTL, self.keepAliveTTL].map { $0.map(millis) ?? "" } }
}

/// reap.lua: one bounded batch of reclaiming.
struct ReapCall: PoolScriptCall {
    typealias Reply = ReapReply
    static let script = PoolScript.reap

    let batch: Int

    var arguments: [String] { [String(self.batch)] }
}

/// drop_pool.lua: every key of the pool unlinked.
struct DropPoolCall: PoolScriptCall {
    typealias Reply = DropPoolReply
    static let script = PoolScript.dropPool

    var arguments: [String] { [] }
}

/// leave.lua: a waiter takes what was handed to it, or drops it on.
struct LeaveCall: PoolScriptCall {
    typealias Reply = LeaveReply
    static let script = PoolScript.leave

    enum Mode: String, Sendable {
        /// Its replica heard of a hand-over, or its wait ran out: a whole lease from now.
        case take
        /// Its client left: the token goes on to the next waiter or the free set.
        case drop
    }

    let id: String
    let mode: Mode
    /// The replica's default; the pool's own setting wins. Also how long an Idempotency-Key's record answers.
    let leaseTTL: String
    let holder: String?
    let idempotencyRecord: String?

    var arguments: [String] { [self.id, self.mode.rawValue, self.leaseTTL, self.holder ?? ""] }
}

/// renew.lua: a replica vouches for its waiters in one pool.
struct RenewCall: PoolScriptCall {
    typealias Reply = RenewReply
    static let script = PoolScript.renew

    /// A waiter's `until` moves to at most this far from now.
    let presence: Duration
    /// At most this many lapsed leases end in the call.
    let reclaim: Int
    /// Each waiter's id and its wait's end (ms, Redis's clock).
    let waiters: [(id: String, waitUntil: Int64)]

    var arguments: [String] { [millis(self.presence), String(self.reclaim)] + self.waiters.flatMap { [$0.id, String($0.waitUntil)] } }
}
