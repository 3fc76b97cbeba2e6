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
        // Its own `KEYS`, which the prelude's `expandKeys` may replace: EVAL's global one is read-only.
        return RedisScript(name: script.name, source: "local KEYS = KEYS\n" + LuaSource.prelude + script.body, function: function)
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
    nonisolated(nonsending) func run<Call: PoolScriptCall>(_ call: Call, in pool: PoolName, keys: PoolKeys) async throws -> Call.Reply {
        // On Redis Cluster the pool's `absent` key too: no call runs while the slot migrates.
        var scriptKeys = self.configuration.cluster == nil ? keys.callKeys : keys.clusterKeys
        if let record = call.idempotencyRecord { scriptKeys.append(record) }
        if let charge = RateCharge.current, charge.take() {
            if let reply = try await self.runCharged(call, in: pool, keys: scriptKeys, charge: charge) { return reply }
        }
        let reply = try await self.evaluate(Call.script.script, keys: scriptKeys, arguments: call.arguments, changesState: Call.script.changesState)
        return try Self.decode(reply, as: Call.self, in: pool)
    }

    /// The script's reply, typed. Never inlined: the decoder's locals would widen `run`'s async
    /// frame, which every request's task keeps in its slabs (docs/scaling.md).
    @inline(never)
    private static func decode<Call: PoolScriptCall>(_ reply: RESPValue, as _: Call.Type, in pool: PoolName) throws -> Call.Reply {
        try Call.Reply.decode(reply, script: Call.script, pool: pool)
    }

    /// The key's rate counted in the script's own call (`SCRIPT_rated`): its reply; or, where
    /// that cannot be (Redis Cluster, no functions), counted by its own call, and nil: the script
    /// is still to run. Never inlined: its locals would widen `run`'s async frame, which every
    /// request's task keeps in its slabs (docs/scaling.md).
    @inline(never)
    private nonisolated(nonsending) func runCharged<Call: PoolScriptCall>(_ call: Call, in pool: PoolName, keys scriptKeys: [String], charge: RateCharge) async throws -> Call.Reply? {
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
        return nil
    }
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
