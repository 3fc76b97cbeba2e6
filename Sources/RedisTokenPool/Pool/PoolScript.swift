/// The scripts of `Scripts/lua`, embedded at build time by the EmbedTextFiles plugin.
///
/// Redis runs them as the functions of one library (Redis 7): `prelude.lua` once, then each
/// script the body of a function. Redis makes the prelude's helpers once, when the library
/// loads, where an `EVAL` makes them again on every call (a tenth of Redis's work on a cycle
/// request). The library is named after a hash of the scripts' text, so replicas of two versions
/// (a rolling upgrade) each call their own; a Redis before 7 gets each script by `EVALSHA`, with
/// the prelude in front of it.
enum PoolScript: Int, CaseIterable {
    case assign, unblock, keepAlive, delete, generate, inspect, stats, reap, leave, renew, list, metadata, settings, dropPool

    var script: RedisScript {
        Self.scripts[self.rawValue]
    }

    /// The script's name: its file's, and its function's after the library's name.
    var name: String {
        switch self {
        case .assign: "assign"
        case .unblock: "unblock"
        case .keepAlive: "keep_alive"
        case .delete: "delete"
        case .generate: "generate"
        case .inspect: "inspect"
        case .stats: "stats"
        case .reap: "reap"
        case .leave: "leave"
        case .renew: "renew"
        case .list: "list"
        case .metadata: "metadata"
        case .settings: "settings"
        case .dropPool: "drop_pool"
        }
    }

    /// The script's file, without the prelude.
    var body: String {
        switch self {
        case .assign: LuaSource.assign
        case .unblock: LuaSource.unblock
        case .keepAlive: LuaSource.keepAlive
        case .delete: LuaSource.delete
        case .generate: LuaSource.generate
        case .inspect: LuaSource.inspect
        case .stats: LuaSource.stats
        case .reap: LuaSource.reap
        case .leave: LuaSource.leave
        case .renew: LuaSource.renew
        case .list: LuaSource.list
        case .metadata: LuaSource.metadata
        case .settings: LuaSource.settings
        case .dropPool: LuaSource.dropPool
        }
    }

    /// Whether the script may write: with `--redis-wait-replicas` such a script is followed by `WAIT`.
    var changesState: Bool {
        switch self {
        case .assign, .unblock, .keepAlive, .delete, .generate, .reap, .leave, .renew, .metadata, .settings, .dropPool: true
        case .inspect, .stats, .list: false
        }
    }

    /// `tokenpool_` and 16 hex digits of the scripts' hash.
    static let libraryName: String = {
        let text = LuaSource.prelude + allCases.map(\.body).joined()
        return "tokenpool_" + String(fnv1a64(text), radix: 16).leftPadded(to: 16)
    }()

    /// Every script as a function `LIBRARY_SCRIPT` of one library: the prelude's `KEYS` and
    /// `ARGV` are the library's locals, set by each function before its body runs. A script
    /// that only reads is flagged `no-writes`.
    static let library: RedisLibrary = {
        var source = "#!lua name=\(libraryName)\n-- TokenPool's scripts, made from Scripts/lua by PoolScript.swift.\nlocal KEYS, ARGV\n"
        source += LuaSource.prelude
        for script in allCases {
            source += "\nlocal function script_\(script.name)()\n\(script.body)\nend\n"
            source += "redis.register_function{function_name = '\(libraryName)_\(script.name)', callback = function(keys, args)\n"
            source += "    KEYS, ARGV = keys, args\n    return script_\(script.name)()\nend"
            source += script.changesState ? "}\n" : ", flags = {'no-writes'}}\n"
        }
        return RedisLibrary(name: libraryName, source: source)
    }()

    /// In `allCases` order, which is the raw values'.
    private static let scripts: [RedisScript] = allCases.map { script in
        let function = RedisScript.Function(library: library, name: "\(libraryName)_\(script.name)")
        return RedisScript(name: script.name, source: LuaSource.prelude + script.body, function: function)
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
