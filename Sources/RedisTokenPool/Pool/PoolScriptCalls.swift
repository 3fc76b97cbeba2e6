import RedisNIO

// Each script's call: its arguments as named fields, in the order of its header in Scripts/lua,
// and its one reply type (see PoolScriptCall in PoolScript.swift).

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
    /// How many tokens, all or none (1 ... ``TokenPool/maxAssignCount``).
    var count: Int = 1
    /// A waiter's priority (``TokenPool/priorities``): higher is served first.
    var priority: Int = 0
    let idempotencyRecord: String?

    /// A plain assign (one token, no waiter, no holder: the hot case) sends only the three it
    /// needs; each argument costs Redis a string, and the script reads an absent one as none.
    @inline(__always) var arguments: [String] {
        let plain = [self.leaseTTL, String(self.reclaim), String(self.maxPops)]
        guard self.waiter != nil || self.holder != nil || self.count != 1 || self.priority != 0 else { return plain }
        return plain + [
            self.waiter?.id ?? "", self.waiter.map { millis($0.wait) } ?? "", self.waiter.map { millis($0.presence) } ?? "",
            self.holder ?? "", String(self.count), String(self.priority),
        ]
    }
}

/// unblock.lua: the lease ends (only `lease`'s, when given), with a report of how it went; the
/// token rests `cooldown` first (`nil`: the pool's cooldown).
struct UnblockCall: PoolScriptCall {
    typealias Reply = TokenReply
    static let script = PoolScript.unblock

    let token: Token
    let lease: Int64?
    let cooldown: Duration?
    let outcome: Outcome

    var arguments: [String] {
        [self.token.rawValue, self.lease.map { String($0) } ?? "", self.cooldown.map(millis) ?? "", self.outcome.rawValue]
    }
}

/// disable.lua: the token out of service until enabled (its lease, when `lease` is given, must be the current one).
struct DisableCall: PoolScriptCall {
    typealias Reply = TokenReply
    static let script = PoolScript.disable

    let token: Token
    let lease: Int64?
    let reason: String?
    /// How long an Idempotency-Key's record answers.
    let recordTTL: String
    let idempotencyRecord: String?
    /// The name of the API key that asked (the event's `by`).
    let by: String?

    var arguments: [String] { [self.token.rawValue, self.lease.map { String($0) } ?? "", self.reason ?? "", self.recordTTL, self.by ?? ""] }
}

/// enable.lua: a disabled token back in service; any other left as it is.
struct EnableCall: PoolScriptCall {
    typealias Reply = TokenReply
    static let script = PoolScript.enable

    let token: Token
    /// The name of the API key that asked (the event's `by`).
    let by: String?

    var arguments: [String] { [self.token.rawValue, self.by ?? ""] }
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
    /// The name of the API key that asked (the event's `by`).
    let by: String?

    var arguments: [String] { [self.token.rawValue, self.by ?? ""] }
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
    /// The name of the API key that asked (the event's `by`).
    let by: String?

    var arguments: [String] {
        var arguments = [self.keepAliveTTL, self.leaseTTL, self.isFirst ? "first" : "next", self.isLast ? "done" : "pending", self.by ?? ""]
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

/// settings.lua: the pool's own settings set (`nil`: the replicas' defaults, or none), then its counts.
struct SettingsCall: PoolScriptCall {
    typealias Reply = PoolCounts
    static let script = PoolScript.settings

    let settings: PoolSettings

    var arguments: [String] {
        [self.settings.leaseTTL, self.settings.keepAliveTTL, self.settings.cooldown].map { $0.map(millis) ?? "" }
            + [self.settings.maxFailures.map { String($0) } ?? "", self.settings.quarantine.map(millis) ?? ""]
            + [self.settings.rateLimit.map { String($0.assigns) } ?? "", self.settings.rateLimit.map { millis($0.per) } ?? ""]
            + [self.settings.maxPerHolder.map { String($0) } ?? ""]
    }
}

/// waiters.lua: one page of the pool's queue, in the order it will be served.
struct WaitersCall: PoolScriptCall {
    typealias Reply = WaiterPage
    static let script = PoolScript.waiters

    let limit: Int
    /// The place after which the page goes on; "" for the first page.
    let cursor: String

    var arguments: [String] { [String(self.limit), self.cursor] }
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

/// renew.lua: a replica vouches for all its waiters in one pool at once, and hears their news.
struct RenewCall: PoolScriptCall {
    typealias Reply = RenewReply
    static let script = PoolScript.renew

    /// The replica's waiters stand this far from now without another renewal.
    let presence: Duration
    /// At most this many lapsed leases end in the call.
    let reclaim: Int
    /// The waiters' ids, all of this replica.
    let waiters: [String]

    var arguments: [String] { [millis(self.presence), String(self.reclaim)] + self.waiters }
}
