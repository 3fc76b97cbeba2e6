import RedisNIO

/// The scripts of `Scripts/lua`, embedded at build time by the EmbedTextFiles plugin.
///
/// Redis runs them as the functions of one library (Redis 7): `prelude.lua` once, then each
/// script the body of a function. Redis makes the prelude's helpers once, when the library
/// loads, where an `EVAL` makes them again on every call (a tenth of Redis's work on a cycle
/// request). The library is named after a hash of the scripts' text, so replicas of two versions
/// (a rolling upgrade) each call their own; a Redis before 7 gets each script by `EVALSHA`, with
/// the prelude in front of it.
package enum PoolScript: Int, CaseIterable {
    case assign, unblock, keepAlive, delete, generate, inspect, stats, reap, leave, renew, list, metadata, settings, dropPool, disable, enable, waiters
    /// Not a pool's: an API key's rate (``RateLimiter``) and the audit trail (``AuditTrail``).
    case rate, audit

    var script: RedisScript {
        Self.scripts[self.rawValue]
    }

    /// The script's name (its file's, and its function's after the library's name), its file
    /// without the prelude, and whether it may write (with `--redis-wait-replicas` such a script
    /// is followed by `WAIT`; one that only reads is flagged `no-writes`).
    private var definition: (name: String, body: String, changesState: Bool) {
        switch self {
        case .assign: ("assign", LuaSource.assign, true)
        case .unblock: ("unblock", LuaSource.unblock, true)
        case .keepAlive: ("keep_alive", LuaSource.keepAlive, true)
        case .delete: ("delete", LuaSource.delete, true)
        case .generate: ("generate", LuaSource.generate, true)
        case .inspect: ("inspect", LuaSource.inspect, false)
        case .stats: ("stats", LuaSource.stats, false)
        case .reap: ("reap", LuaSource.reap, true)
        case .leave: ("leave", LuaSource.leave, true)
        case .renew: ("renew", LuaSource.renew, true)
        case .list: ("list", LuaSource.list, false)
        case .metadata: ("metadata", LuaSource.metadata, true)
        case .settings: ("settings", LuaSource.settings, true)
        case .dropPool: ("drop_pool", LuaSource.dropPool, true)
        case .disable: ("disable", LuaSource.disable, true)
        case .enable: ("enable", LuaSource.enable, true)
        case .waiters: ("waiters", LuaSource.waiters, false)
        case .rate: ("rate", LuaSource.rate, true)
        case .audit: ("audit", LuaSource.audit, true)
        }
    }

    /// Read on every call (a reply's error names its script): from a table made once.
    var name: String { Self.definitions[self.rawValue].name }
    var body: String { Self.definitions[self.rawValue].body }
    var changesState: Bool { Self.definitions[self.rawValue].changesState }

    /// In `allCases` order, which is the raw values'.
    private static let definitions = allCases.map(\.definition)

    /// `tokenpool_` and 16 hex digits of the scripts' hash (and of the rated wrapper's).
    static let libraryName: String = {
        let text = LuaSource.prelude + allCases.map(\.body).joined() + ratedWrapper
        return "tokenpool_" + String(fnv1a64(text), radix: 16).leftPadded(to: 16)
    }()

    /// Whether a `SCRIPT_rated` function runs the script after an API key's rate (rate.lua):
    /// every pool script does; the rate and the audit trail are not a pool's.
    var foldsRate: Bool { self != .rate && self != .audit }

    /// The body of each `LIBRARY_SCRIPT_rated` function: the last key is an API key's rate, the
    /// last two arguments its interval (µs) and burst. The rate is counted first (rate.lua); over
    /// it, the script does not run and the answer is `{'rate_limited', RETRY_MS}`. One call for
    /// both, where Redis holds the key's rate and the pool together (not on Redis Cluster).
    static let ratedWrapper = """
            local rateKey = table.remove(keys)
            local burst = table.remove(args)
            local interval = table.remove(args)
            KEYS, ARGV = {rateKey}, {interval, burst}
            reset()
            local verdict = script_rate()
            if verdict[1] == 0 then
                return {'rate_limited', verdict[2]}
            end
        """

    /// Every script as a function `LIBRARY_SCRIPT` of one library.
    static let library = makeLibrary(
        name: libraryName, prelude: LuaSource.prelude, scripts: allCases.map { ($0.name, $0.body, $0.changesState) },
        rated: allCases.filter(\.foldsRate).map(\.name)
    )

    /// A library of `scripts` after `prelude`: the prelude's `KEYS` and `ARGV` are the library's
    /// locals, and each function sets them and calls the prelude's `reset()` before its body
    /// runs, so no script can read the clock or settings of the call before it.
    /// `rated` names the scripts that also get a `NAME_rated` function (``ratedWrapper`` first;
    /// it writes the rate, so it is never `no-writes`); they come after `rate` is defined.
    static func makeLibrary(name: String, prelude: String, scripts: [(name: String, body: String, changesState: Bool)], rated: [String] = []) -> RedisLibrary {
        var source = "#!lua name=\(name)\n-- TokenPool's scripts, made from Scripts/lua by PoolScript.swift.\nlocal KEYS, ARGV\n"
        source += prelude
        for script in scripts {
            source += "\nlocal function script_\(script.name)()\n\(script.body)\nend\n"
            source += "redis.register_function{function_name = '\(name)_\(script.name)', callback = function(keys, args)\n"
            source += "    KEYS, ARGV = keys, args\n    reset()\n    return script_\(script.name)()\nend"
            source += script.changesState ? "}\n" : ", flags = {'no-writes'}}\n"
        }
        for script in rated {
            source += "redis.register_function{function_name = '\(name)_\(script)_rated', callback = function(keys, args)\n"
            source += ratedWrapper
            source += "    KEYS, ARGV = keys, args\n    reset()\n    return script_\(script)()\nend}\n"
        }
        return RedisLibrary(name: name, source: source)
    }

    /// In `allCases` order, which is the raw values'.
    private static let scripts: [RedisScript] = allCases.map { script in
        let function = RedisScript.Function(library: library, name: "\(libraryName)_\(script.name)")
        return RedisScript(name: script.name, source: LuaSource.prelude + script.body, function: function)
    }

    /// The script with an API key's rate counted first, in the same call: only as a function.
    /// Where Redis runs no functions its script answers `NORATED`, and the caller counts the
    /// rate by itself first (``RedisClient/run(_:in:keys:)``).
    var rated: RedisScript { Self.ratedScripts[self.rawValue] }

    private static let ratedScripts: [RedisScript] = allCases.map { script in
        let function = RedisScript.Function(library: library, name: "\(libraryName)_\(script.name)_rated")
        return RedisScript(name: script.name + "_rated", source: "return redis.error_reply('NORATED no functions: the rate is counted by itself')", function: function)
    }
}

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
    ///
    /// The first script call of a request that carries a ``RateCharge`` (an API key's rate) counts
    /// it in the same call (`SCRIPT_rated`) on one Redis or Sentinel; over the rate, nothing runs
    /// and the call throws ``TokenPoolError/rateLimited(_:)``. On Redis Cluster (the rate's key is
    /// in another slot) or without functions, the rate is counted by its own call first.
    func run<Call: PoolScriptCall>(_ call: Call, in pool: PoolName, keys: PoolKeys) async throws -> Call.Reply {
        var scriptKeys = keys.scriptKeys
        if let record = call.idempotencyRecord { scriptKeys.append(record) }
        if let charge = RateCharge.current, charge.take() {
            if self.configuration.cluster == nil {
                do {
                    let reply = try await self.evaluate(
                        Call.script.rated, keys: scriptKeys + [charge.key], arguments: call.arguments + charge.arguments,
                        changesState: Call.script.changesState
                    )
                    try RateCharge.checkFolded(reply)
                    return try Call.Reply.decode(reply, script: Call.script, pool: pool)
                } catch let error as RedisServerError where error.prefix == "NORATED" {
                    // No functions here: counted by itself below.
                }
            }
            try RateCharge.checkRate(try await self.evaluate(PoolScript.rate.script, keys: [charge.key], arguments: charge.arguments, changesState: false))
        }
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

/// FNV-1a, 64 bits: a name for a text that changes when the text does (not a defence against anyone).
private func fnv1a64(_ text: String) -> UInt64 {
    text.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        String(repeating: "0", count: max(0, width - self.count)) + self
    }
}
